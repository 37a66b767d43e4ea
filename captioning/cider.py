"""CIDEr-D with document frequencies fixed by a reference corpus: the reward of self-critical training.

pycocoevalcap's `Cider` takes its document frequencies (and the log corpus size) from the very set it scores.
A reward must not: during training the frequencies come from the training split's references (as
self-critical.pytorch does), never from validation or test. `CiderD` is pycocoevalcap's CiderScorer arithmetic
(n-grams 1..4, tf-idf vectors, clipped cosine, Gaussian length penalty sigma 6, x10, mean over references) with
the frequencies given once; given the frequencies of the scored set it equals pycocoevalcap exactly (tested).
Reference vectors are cached: the same training image's references are scored many times.
"""

from __future__ import annotations

import math
from collections import Counter
from functools import lru_cache
from typing import Sequence

Ngram = tuple[str, ...]
Vector = tuple[list[dict[Ngram, float]], list[float], int]  # tf-idf per n, norm per n, length (bigram count)


def ngram_counts(sentence: str, n: int = 4) -> Counter[Ngram]:
    """Counts of the 1..n-grams of a whitespace-tokenised sentence."""
    words = sentence.split()
    return Counter(tuple(words[i : i + k]) for k in range(1, n + 1) for i in range(len(words) - k + 1))


class CiderD:
    """CIDEr-D (x10 as pycocoevalcap reports it per image) against document frequencies of `corpus`.

    Args:
        corpus: one list of reference captions per image (normalised, whitespace-tokenised text).
        n: longest n-gram.
        sigma: width of the Gaussian length penalty.
    """

    def __init__(self, corpus: Sequence[Sequence[str]], n: int = 4, sigma: float = 6.0) -> None:
        if not corpus:
            raise ValueError("CIDEr-D needs a reference corpus with at least one image")
        self.n, self.sigma = n, sigma
        self.document_frequency: Counter[Ngram] = Counter()
        for references in corpus:
            self.document_frequency.update({gram for ref in references for gram in ngram_counts(ref, n)})
        self.log_documents = math.log(float(len(corpus)))
        self._reference_vector = lru_cache(maxsize=200_000)(self._vector)

    def _vector(self, sentence: str) -> Vector:
        """tf-idf weights per n-gram order, their norms, and pycocoevalcap's 'length' (its bigram count)."""
        vector: list[dict[Ngram, float]] = [{} for _ in range(self.n)]
        norm = [0.0] * self.n
        length = 0
        for gram, term_frequency in ngram_counts(sentence, self.n).items():
            order = len(gram) - 1
            weight = float(term_frequency) * (self.log_documents - math.log(max(1.0, self.document_frequency[gram])))
            vector[order][gram] = weight
            norm[order] += weight * weight
            if order == 1:
                length += term_frequency
        return vector, [math.sqrt(value) for value in norm], length

    def _similarity(self, hypothesis: Vector, reference: Vector) -> float:
        """Sum over n-gram orders of the clipped cosine, times the length penalty."""
        (vec_h, norm_h, len_h), (vec_r, norm_r, len_r) = hypothesis, reference
        penalty = math.e ** (-(float(len_h - len_r) ** 2) / (2 * self.sigma**2))
        total = 0.0
        for order in range(self.n):
            value = 0.0
            ref_order = vec_r[order]
            for gram, weight in vec_h[order].items():
                ref_weight = ref_order.get(gram, 0.0)
                value += min(weight, ref_weight) * ref_weight
            if norm_h[order] != 0 and norm_r[order] != 0:
                value /= norm_h[order] * norm_r[order]
            total += value * penalty
        return total

    def score(self, hypothesis: str, references: Sequence[str]) -> float:
        """CIDEr-D of one caption against its image's references (pycocoevalcap's per-image value)."""
        vector = self._vector(hypothesis)
        total = sum(self._similarity(vector, self._reference_vector(ref)) for ref in references)
        return total / self.n / len(references) * 10.0

    def scores(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> list[float]:
        """`score` of each caption against its own references."""
        return [self.score(hyp, refs) for hyp, refs in zip(hypotheses, references)]
