"""Caption scores: nltk corpus BLEU-1..4, the protocol of the SAT-era Flickr8k numbers; 0-100 scale."""

from __future__ import annotations

from typing import Sequence

import nltk
from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu, sentence_bleu

PROTOCOL = (
    "nltk corpus_bleu (BLEU-1..4, uniform n-gram weights, no smoothing) of lowercased, punctuation-free "
    "word tokens against all reference captions of each image."
)


def captioning_scores(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, float | str]:
    """BLEU-1..4 (0-100) with nltk's corpus_bleu over whitespace tokens; "bleu" is BLEU-4."""
    hyps = [h.split() for h in hypotheses]
    refs = [[r.split() for r in refs] for refs in references]
    weights = [(1.0,), (1 / 2,) * 2, (1 / 3,) * 3, (1 / 4,) * 4]
    scores = corpus_bleu(refs, hyps, weights=weights)
    result: dict[str, float | str] = {f"bleu{n}": 100.0 * score for n, score in enumerate(scores, start=1)}
    result["bleu"] = result["bleu4"]
    result["signature"] = f"nltk-{nltk.__version__}|corpus_bleu|refs:{max(map(len, refs), default=0)}|lowercase|no-punct"
    return result


def sentence_bleu4(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> list[float]:
    """Smoothed (method 1) nltk sentence BLEU-4 per caption; an empty caption scores 0."""
    smooth = SmoothingFunction().method1
    return [100.0 * sentence_bleu([x.split() for x in r], h.split(), smoothing_function=smooth) if h.split() else 0.0
            for h, r in zip(hypotheses, references)]
