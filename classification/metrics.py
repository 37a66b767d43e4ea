"""Classification metrics (scikit-learn) and a paired bootstrap test of two classifiers on the same examples."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

PROTOCOL = (
    "Accuracy (%) and macro-averaged F1 (%, the unweighted mean of the per-class F1 over the classes that occur "
    "among the labels or the predictions) of the predicted class (the most probable one) against the gold class "
    "of every example of the split, computed by scikit-learn (accuracy_score, f1_score average='macro'); "
    "checkpoints are selected by validation accuracy. Significance: paired bootstrap resampling of the split's "
    "examples (1,000 resamples, seed 0), two-sided p-value of the accuracy difference against its resampled "
    "distribution centred on zero."
)


def scores(labels: Sequence[int], predictions: Sequence[int]) -> dict[str, float]:
    """{"accuracy", "macro_f1"}, 0-100."""
    return {"accuracy": 100.0 * float(accuracy_score(labels, predictions)),
            "macro_f1": 100.0 * float(f1_score(labels, predictions, average="macro", zero_division=0))}


def confusion(labels: Sequence[int], predictions: Sequence[int], classes: int) -> np.ndarray:
    """(K, K) counts: row = gold class, column = predicted class."""
    return confusion_matrix(labels, predictions, labels=list(range(classes)))


def per_class(labels: Sequence[int], predictions: Sequence[int], classes: int) -> list[dict[str, float]]:
    """Per class k: precision, recall, F1 (0-100) and support (gold examples)."""
    precision, recall, f1, support = precision_recall_fscore_support(labels, predictions, labels=list(range(classes)),
                                                                     zero_division=0)
    return [{"precision": 100.0 * p, "recall": 100.0 * r, "f1": 100.0 * f, "support": int(s)}
            for p, r, f, s in zip(precision, recall, f1, support)]


def paired_bootstrap(labels: Sequence[int], first: Sequence[int], second: Sequence[int], resamples: int = 1000,
                     seed: int = 0, confidence: float = 0.95) -> dict[str, Any]:
    """Paired bootstrap of two systems' predictions on the same examples (Koehn 2004; Berg-Kirkpatrick et al.
    2012): the examples are resampled with replacement `resamples` times (a seeded numpy generator) and both
    systems scored on each resample.

    Returns both accuracies (0-100) with their `confidence` intervals (percentiles of the resampled accuracies),
    the difference second - first, and the two-sided p-value: the share of resampled differences, centred on
    zero (the null hypothesis), at least as far from zero as the observed one (with the +1 correction)."""
    gold = np.asarray(labels)
    if not (len(gold) == len(first) == len(second)) or len(gold) == 0:
        raise ValueError(f"paired bootstrap: {len(first)} and {len(second)} predictions of {len(gold)} examples")
    correct = np.stack([np.asarray(first) == gold, np.asarray(second) == gold]).astype(np.float64)  # (2, N)
    rng = np.random.default_rng(seed)
    accuracies = np.empty((resamples, 2))
    for sample in range(resamples):
        index = rng.integers(0, len(gold), len(gold))  # (N,) examples drawn with replacement
        accuracies[sample] = correct[:, index].mean(axis=1)
    observed = correct.mean(axis=1)  # (2,)
    differences = accuracies[:, 1] - accuracies[:, 0]
    delta = observed[1] - observed[0]
    p_value = (np.sum(np.abs(differences - differences.mean()) >= abs(delta)) + 1) / (resamples + 1)
    tail = 100.0 * (1.0 - confidence) / 2
    low, high = np.percentile(100.0 * accuracies, [tail, 100.0 - tail], axis=0)  # (2,) each
    return {"accuracy": [100.0 * float(observed[0]), 100.0 * float(observed[1])],
            "interval": [[float(low[0]), float(high[0])], [float(low[1]), float(high[1])]],
            "difference": 100.0 * float(delta), "p_value": float(p_value), "resamples": resamples,
            "confidence": confidence, "seed": seed}
