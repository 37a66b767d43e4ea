"""Translation scores from the reference implementation (sacrebleu), never a hand-written BLEU; 0-100 scale."""

from __future__ import annotations

from typing import Any, Sequence

from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.significance import PairedTest

PROTOCOL = (
    "sacrebleu corpus BLEU on detokenized, cased hypotheses against the raw references "
    "(tokenize=13a); beside it lowercased BLEU (-lc) and chrF."
)


def _by_reference(references: Sequence[Sequence[str]]) -> list[list[str]]:
    """Per-example reference lists -> sacrebleu's per-reference-stream lists (equal counts needed)."""
    counts = {len(refs) for refs in references}
    if len(counts) != 1:
        raise ValueError("sacrebleu needs the same number of references for every example")
    return [list(stream) for stream in zip(*references)]


def translation_scores(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, float | str]:
    """Cased BLEU, lowercased BLEU and chrF with their sacrebleu signatures."""
    streams = _by_reference(references)
    bleu, bleu_lc, chrf = BLEU(), BLEU(lowercase=True), CHRF()
    return {
        "bleu": bleu.corpus_score(list(hypotheses), streams).score,
        "bleu_lc": bleu_lc.corpus_score(list(hypotheses), streams).score,
        "chrf": chrf.corpus_score(list(hypotheses), streams).score,
        "signature": str(bleu.get_signature()),
        "signature_lc": str(bleu_lc.get_signature()),
        "signature_chrf": str(chrf.get_signature()),
    }


def sentence_bleu(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> list[float]:
    """sacrebleu's sentence BLEU (effective order) per example."""
    bleu = BLEU(effective_order=True)
    return [bleu.sentence_score(h, list(r)).score for h, r in zip(hypotheses, references)]


def paired_bootstrap(baseline: Sequence[str], other: Sequence[str], references: Sequence[Sequence[str]],
                     samples: int) -> dict[str, Any]:
    """sacrebleu's paired bootstrap resampling (`PairedTest`, test_type "bs") on cased BLEU."""
    test = PairedTest([("baseline", list(baseline)), ("other", list(other))], {"BLEU": BLEU()},
                      _by_reference(references), test_type="bs", n_samples=samples)
    signatures, results = test()
    result = results["BLEU"][1]
    return {"p_value": float(result.p_value), "mean": float(result.mean), "ci95": float(result.ci),
            "method": f"sacrebleu paired bootstrap ({signatures['BLEU']})"}
