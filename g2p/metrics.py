"""Word and phoneme error rates of pronunciations against every reference pronunciation of their word.

Edit distances are rapidfuzz's Levenshtein distance over phoneme sequences (insertions, deletions and
substitutions of whole phonemes, each costing 1).
"""

from __future__ import annotations

from typing import Sequence

from rapidfuzz.distance import Levenshtein

PROTOCOL = (
    "Grapheme-to-phoneme on a split of the dictionary by word (every pronunciation of a word in the word's split). "
    "Word error rate (WER): the percentage of words whose output phoneme sequence equals none of the word's "
    "reference pronunciations. Phoneme error rate (PER): the Levenshtein distance (rapidfuzz; insertions, deletions "
    "and substitutions of phonemes) between the output and the closest reference, summed over words and divided by "
    "the summed phoneme counts of those closest references (an empty output costs its reference's length). Ties "
    "between equally close references go to the first in dictionary order. Lower is better for both; checkpoints "
    "are selected by WER."
)


def closest_reference(hypothesis: Sequence[str], references: Sequence[Sequence[str]]) -> tuple[int, int]:
    """(edit distance, reference length) to the reference closest to `hypothesis` (the first of equal ones)."""
    return min(((Levenshtein.distance(hypothesis, reference), len(reference)) for reference in references),
               key=lambda pair: pair[0])


def error_rates(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, float]:
    """{"wer": ..., "per": ...} in percent, for space-separated phoneme strings; each word's references are all
    its pronunciations."""
    if len(hypotheses) != len(references) or not hypotheses:
        raise ValueError(f"{len(hypotheses)} outputs and {len(references)} reference lists: need as many, at least one")
    wrong = distance_sum = length_sum = 0
    for hypothesis, word_references in zip(hypotheses, references):
        phonemes = hypothesis.split()
        candidates = [reference.split() for reference in word_references]
        distance, length = closest_reference(phonemes, candidates)
        wrong += phonemes not in candidates
        distance_sum += distance
        length_sum += length
    return {"wer": 100.0 * wrong / len(hypotheses), "per": 100.0 * distance_sum / max(1, length_sum)}


def word_error_rate(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """The corpus WER alone (the report's per-bucket and bootstrap score)."""
    return error_rates(hypotheses, references)["wer"]


def sentence_scores(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> list[float]:
    """Per word, 100 x (1 - its phoneme error rate, capped at 1): 100 for a right pronunciation, higher is better (the
    report's best and worst examples; self-critical training's reward)."""
    scores = []
    for hypothesis, word_references in zip(hypotheses, references):
        distance, length = closest_reference(hypothesis.split(), [reference.split() for reference in word_references])
        scores.append(100.0 * (1.0 - min(1.0, distance / max(1, length))))
    return scores
