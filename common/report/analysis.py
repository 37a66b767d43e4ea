"""Per-example scores, length buckets, examples to show, and paired bootstrap significance."""

from __future__ import annotations

import random
from typing import Callable, Sequence

from sacrebleu.metrics import BLEU
from sacrebleu.significance import PairedTest

Scorer = Callable[[list[str], list[list[str]]], dict]  # a module's `score`: corpus metrics with "bleu"


def sentence_scores(task: str, hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> list[float]:
    """Sentence-level BLEU (0-100) per example: sacrebleu's (translation), smoothed nltk BLEU-4 (captioning)."""
    if task == "translation":
        bleu = BLEU(effective_order=True)
        return [bleu.sentence_score(h, list(r)).score for h, r in zip(hypotheses, references)]
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    smooth = SmoothingFunction().method1
    return [100.0 * sentence_bleu([x.split() for x in r], h.split(), smoothing_function=smooth) if h.split() else 0.0
            for h, r in zip(hypotheses, references)]


def length_buckets(lengths: Sequence[int], count: int = 5) -> list[tuple[str, list[int]]]:
    """Up to `count` buckets of roughly equal size by length: (label "lo-hi", example rows)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    size = max(1, -(-len(order) // count))
    buckets = []
    for start in range(0, len(order), size):
        rows = order[start : start + size]
        buckets.append((f"{lengths[rows[0]]}-{lengths[rows[-1]]}", sorted(rows)))
    return buckets


def bucket_bleu(score: Scorer, hypotheses: Sequence[str], references: Sequence[Sequence[str]],
                buckets: list[tuple[str, list[int]]]) -> list[tuple[str, int, float]]:
    """(label, examples, corpus BLEU) per bucket."""
    return [(label, len(rows), float(score([hypotheses[i] for i in rows], [list(references[i]) for i in rows])["bleu"]))
            for label, rows in buckets]


def pick_examples(scores: Sequence[float], count: int = 3, seed: int = 0) -> dict[str, list[int]]:
    """Rows of the best, worst and some random examples by sentence score."""
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    rng = random.Random(seed)
    return {"best": order[::-1][:count], "worst": order[:count], "random": sorted(rng.sample(range(len(scores)), min(count, len(scores))))}


def paired_bootstrap(task: str, score: Scorer, baseline: Sequence[str], other: Sequence[str],
                     references: Sequence[Sequence[str]], samples: int = 1000, seed: int = 12345) -> dict[str, float | str]:
    """Is `other` better than `baseline`? Paired bootstrap resampling (Koehn 2004).

    Translation: sacrebleu's paired bootstrap (`PairedTest`, test_type "bs") on cased BLEU.
    Captioning: the same resampling on captra's BLEU-4 (nltk): p is the share of resampled test sets on
    which `other` is not better than `baseline`.
    """
    if list(baseline) == list(other):
        return {"p_value": 1.0, "method": "identical outputs: nothing to test"}
    if task == "translation":
        streams = [list(stream) for stream in zip(*references)]
        test = PairedTest([("baseline", list(baseline)), ("other", list(other))], {"BLEU": BLEU()}, streams,
                          test_type="bs", n_samples=samples)
        signatures, results = test()
        result = results["BLEU"][1]
        return {"p_value": float(result.p_value), "mean": float(result.mean), "ci95": float(result.ci),
                "method": f"sacrebleu paired bootstrap ({signatures['BLEU']})"}
    rng = random.Random(seed)
    rows = range(len(references))
    not_better = 0
    for _ in range(samples):
        sample = [rng.choice(rows) for _ in rows]
        refs = [list(references[i]) for i in sample]
        delta = score([other[i] for i in sample], refs)["bleu"] - score([baseline[i] for i in sample], refs)["bleu"]
        not_better += delta <= 0
    return {"p_value": (not_better + 1) / (samples + 1), "method": f"paired bootstrap on BLEU-4, {samples} samples, seed {seed}"}
