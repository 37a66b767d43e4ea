"""The report's figures as PNG bytes (matplotlib, no display)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from torch import Tensor  # noqa: E402


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return buffer.getvalue()


def score_by_length(buckets: dict[str, list[tuple[str, int, float]]], length_name: str, metric: str) -> bytes:
    """Grouped bars: corpus score per length bucket, one bar per checkpoint."""
    figure, axis = plt.subplots(figsize=(7, 3.6))
    names = list(buckets)
    labels = [label for label, _, _ in buckets[names[0]]]
    width = 0.8 / len(names)
    for index, name in enumerate(names):
        positions = [i + index * width for i in range(len(labels))]
        axis.bar(positions, [value for _, _, value in buckets[name]], width, label=name)
    axis.set_xticks([i + 0.4 - width / 2 for i in range(len(labels))], labels)
    axis.set_xlabel(f"{length_name} (buckets of equal size)")
    axis.set_ylabel(metric)
    axis.legend(fontsize=8)
    return _png(figure)


def length_scatter(hypothesis_lengths: list[int], reference_lengths: list[int], name: str) -> bytes:
    """Hypothesis length against (first) reference length, in words, with the diagonal."""
    figure, axis = plt.subplots(figsize=(4.2, 4.2))
    axis.scatter(reference_lengths, hypothesis_lengths, s=6, alpha=0.4)
    top = max(reference_lengths + hypothesis_lengths + [1])
    axis.plot([0, top], [0, top], color="black", linewidth=0.8)
    axis.set_xlabel("reference words")
    axis.set_ylabel("hypothesis words")
    axis.set_title(name, fontsize=9)
    return _png(figure)


def alignment_matrix(source: list[str], output: list[str], attention: Tensor) -> bytes:
    """Attention (T output tokens x S source tokens) as a grey-scale matrix (Bahdanau et al., Fig. 3)."""
    figure, axis = plt.subplots(figsize=(max(3.0, 0.35 * len(source) + 1.5), max(2.5, 0.3 * len(output) + 1.2)))
    axis.imshow(attention[: len(output), : len(source)].float().numpy(), cmap="gray", vmin=0.0, vmax=1.0)
    axis.set_xticks(range(len(source)), source, rotation=90, fontsize=8)
    axis.set_yticks(range(len(output)), output, fontsize=8)
    return _png(figure)
