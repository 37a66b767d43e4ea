"""Length buckets, examples to show, and paired bootstrap significance on any corpus score."""

from __future__ import annotations

import random
from typing import Callable, Sequence

MainScore = Callable[[list[str], list[list[str]]], float]  # (outputs, references) -> corpus main metric


def length_buckets(lengths: Sequence[int], count: int = 5) -> list[tuple[str, list[int]]]:
    """Up to `count` buckets of roughly equal size by length: (label "lo-hi", example rows)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    size = max(1, -(-len(order) // count))
    buckets = []
    for start in range(0, len(order), size):
        rows = order[start : start + size]
        buckets.append((f"{lengths[rows[0]]}-{lengths[rows[-1]]}", sorted(rows)))
    return buckets


def bucket_scores(score: MainScore, hypotheses: Sequence[str], references: Sequence[Sequence[str]],
                  buckets: list[tuple[str, list[int]]]) -> list[tuple[str, int, float]]:
    """(label, examples, corpus main metric) per bucket."""
    return [(label, len(rows), score([hypotheses[i] for i in rows], [list(references[i]) for i in rows]))
            for label, rows in buckets]


def pick_examples(scores: Sequence[float], count: int = 3, seed: int = 0) -> dict[str, list[int]]:
    """Rows of the best, worst and some random examples by sentence score."""
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    rng = random.Random(seed)
    return {"best": order[::-1][:count], "worst": order[:count], "random": sorted(rng.sample(range(len(scores)), min(count, len(scores))))}


def bootstrap_p_value(gain: Callable[[list[int]], float], size: int, samples: int, seed: int) -> float:
    """Paired bootstrap resampling (Koehn 2004): the share of `samples` resampled test sets (`size` rows drawn with
    replacement, seeded) on which `gain(rows)`, the second system's advantage on those rows, is not positive."""
    rng = random.Random(seed)
    rows = range(size)
    not_better = sum(gain([rng.choice(rows) for _ in rows]) <= 0 for _ in range(samples))
    return (not_better + 1) / (samples + 1)


def paired_bootstrap(score: MainScore, label: str, baseline: Sequence[str], other: Sequence[str],
                     references: Sequence[Sequence[str]], samples: int = 1000, seed: int = 12345,
                     lower_is_better: bool = False) -> dict[str, float | str]:
    """Is `other` better than `baseline` on the corpus score `score` (named `label`; better is higher, or lower
    with `lower_is_better`, e.g. an error rate)? p is the share of resampled test sets on which `other` is not
    better than `baseline`."""
    sign = -1.0 if lower_is_better else 1.0

    def gain(sample: list[int]) -> float:
        refs = [list(references[i]) for i in sample]
        return sign * (score([other[i] for i in sample], refs) - score([baseline[i] for i in sample], refs))

    return {"p_value": bootstrap_p_value(gain, len(references), samples, seed),
            "method": f"paired bootstrap on {label}, {samples} samples, seed {seed}"}
