"""Corpus-level scores from the reference implementation (sacrebleu), never a hand-written BLEU.

Every score is on the 0-100 scale.
"""

from __future__ import annotations

from typing import Sequence

from sacrebleu.metrics import BLEU, CHRF

TRANSLATION_PROTOCOL = (
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


CAPTIONING_PROTOCOL = (
    "nltk corpus_bleu (BLEU-1..4, uniform n-gram weights, no smoothing) of lowercased, punctuation-free "
    "word tokens against all reference captions of each image."
)


def captioning_scores(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, float | str]:
    """BLEU-1..4 (0-100) with nltk's corpus_bleu over whitespace tokens; "bleu" is BLEU-4."""
    from nltk.translate.bleu_score import corpus_bleu

    hyps = [h.split() for h in hypotheses]
    refs = [[r.split() for r in refs] for refs in references]
    weights = [(1.0,), (1 / 2,) * 2, (1 / 3,) * 3, (1 / 4,) * 4]
    scores = corpus_bleu(refs, hyps, weights=weights)
    result: dict[str, float | str] = {f"bleu{n}": 100.0 * score for n, score in enumerate(scores, start=1)}
    result["bleu"] = result["bleu4"]
    result["signature"] = f"nltk-{_nltk_version()}|corpus_bleu|refs:{max(map(len, refs), default=0)}|lowercase|no-punct"
    return result


def _nltk_version() -> str:
    import nltk

    return nltk.__version__
