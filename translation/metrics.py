"""Translation scores from the reference implementation (sacrebleu), never a hand-written BLEU; 0-100 scale."""

from __future__ import annotations

from typing import Any, Sequence

from sacrebleu.metrics import BLEU, CHRF, TER
from sacrebleu.significance import PairedTest
from sacremoses import MosesTokenizer

PROTOCOL = (
    "sacrebleu corpus BLEU on detokenized, cased hypotheses against the raw references "
    "(tokenize=13a); beside it lowercased BLEU (-lc), chrF and TER; and tok-lc BLEU: hypotheses and references "
    "Moses-tokenized (sacremoses, the target language's rules) and lowercased, then BLEU on those tokens "
    "(tokenize=none), as multi-bleu.perl computed it for the WMT multimodal tables: comparable with published "
    "Multi30k tables, not with sacrebleu's cased BLEU."
)


def _by_reference(references: Sequence[Sequence[str]]) -> list[list[str]]:
    """Per-example reference lists -> sacrebleu's per-reference-stream lists (equal counts needed)."""
    counts = {len(refs) for refs in references}
    if len(counts) != 1:
        raise ValueError("sacrebleu needs the same number of references for every example")
    return [list(stream) for stream in zip(*references)]


def moses_lowercased(sentences: Sequence[str], language: str) -> list[str]:
    """Moses-tokenized (sacremoses, no XML escaping), lowercased, tokens joined by single spaces."""
    tokenizer = MosesTokenizer(lang=language)
    return [tokenizer.tokenize(sentence, escape=False, return_str=True).lower() for sentence in sentences]


def tok_lc_bleu(hypotheses: Sequence[str], references: Sequence[Sequence[str]], language: str) -> tuple[float, str]:
    """BLEU of Moses-tokenized, lowercased text (multi-bleu.perl's protocol) and its signature."""
    bleu = BLEU(tokenize="none", force=True)
    streams = [moses_lowercased(stream, language) for stream in _by_reference(references)]
    score = bleu.corpus_score(moses_lowercased(hypotheses, language), streams).score
    return score, f"{bleu.get_signature()}|pretok:sacremoses-{language}|lc (tok-lc, comparable with published Multi30k tables)"


def translation_scores(hypotheses: Sequence[str], references: Sequence[Sequence[str]],
                       language: str | None = None) -> dict[str, float | str]:
    """Cased and lowercased BLEU, chrF and TER with their sacrebleu signatures, and tok-lc BLEU where the target
    `language` is known (checkpoints written before captra recorded it have none)."""
    streams = _by_reference(references)
    bleu, bleu_lc, chrf, ter = BLEU(), BLEU(lowercase=True), CHRF(), TER()
    scores: dict[str, float | str] = {
        "bleu": bleu.corpus_score(list(hypotheses), streams).score,
        "bleu_lc": bleu_lc.corpus_score(list(hypotheses), streams).score,
        "chrf": chrf.corpus_score(list(hypotheses), streams).score,
        "ter": ter.corpus_score(list(hypotheses), streams).score,
        "signature": str(bleu.get_signature()),
        "signature_lc": str(bleu_lc.get_signature()),
        "signature_chrf": str(chrf.get_signature()),
        "signature_ter": str(ter.get_signature()),
    }
    if language is not None:
        scores["bleu_tok_lc"], scores["signature_tok_lc"] = tok_lc_bleu(hypotheses, references, language)
    else:
        scores["notes"] = "tok-lc BLEU not computed: this checkpoint does not record its target language"
    return scores


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
