"""What a classifier's report adds after its scores: the confusion matrix, precision and recall per class,
accuracy by input length (a table of buckets and a figure per length), the attention pooling's weight of every
word in a few examples, and, with two or more checkpoints, a paired bootstrap of each against the first."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch

from captra.common.report.render import Block
from captra.common.data.datamodule import SplitDataModule
from captra.classification.metrics import confusion, paired_bootstrap, per_class
from captra.classification.model import ClassificationModule

ATTENTION_EXAMPLES = 6
BOOTSTRAP_RESAMPLES = 1000


@dataclass
class SplitPredictions:
    """Every example of a split, in order: gold and predicted classes, lengths, texts, pooling weights."""

    labels: list[int]
    predicted: list[int]
    lengths: list[int]
    texts: list[str]
    tokens: list[list[str]]
    weights: list[list[float]] | None  # per example, one weight per token (attention pooling only)


@torch.no_grad()
def predict_split(module: ClassificationModule, data: SplitDataModule, split: str, device: torch.device) -> SplitPredictions:
    """The module's predictions on every example of `split` of `data`."""
    data.setup("test" if split == data.test_split else "validate")
    dataset = data.datasets[split]
    vocab = module.texts["src"].vocab
    predicted: list[int] = []
    weights: list[list[float]] | None = []
    for start in range(0, len(dataset), data.eval_batch_size):
        batch = dataset.__getitems__(list(range(start, min(start + data.eval_batch_size, len(dataset)))))
        probabilities, attention = module.classify({key: value.to(device) for key, value in batch.items()})
        predicted += probabilities.argmax(-1).tolist()
        if attention is None:
            weights = None
        elif weights is not None:
            weights += [row[:length].tolist() for row, length in zip(attention.cpu(), batch["src_lengths"].tolist())]
    return SplitPredictions(list(dataset.labels), predicted, dataset.lengths.tolist(), list(dataset.texts),
                            [[vocab.itos[i] for i in ids] for ids in dataset.ids], weights)


def confusion_sections(module: ClassificationModule, result: SplitPredictions) -> list[Block]:
    classes = module.classes
    matrix = confusion(result.labels, result.predicted, len(classes))
    rows = [["gold \\ predicted", *classes], *[[name, *map(str, row)] for name, row in zip(classes, matrix.tolist())]]
    measures = per_class(result.labels, result.predicted, len(classes))
    per_class_rows = [["class", "precision", "recall", "F1", "support"],
                      *[[name, f"{m['precision']:.1f}", f"{m['recall']:.1f}", f"{m['f1']:.1f}", str(m["support"])]
                        for name, m in zip(classes, measures)]]
    return [Block("h2", "Confusion matrix"), Block("p", "Rows: gold class; columns: predicted class."),
            Block("table", rows=rows), Block("h2", "Precision and recall per class"),
            Block("p", "Percentages (scikit-learn precision_recall_fscore_support); support: gold examples."),
            Block("table", rows=per_class_rows)]


def accuracy_by_length(result: SplitPredictions, starts: tuple[int, ...]) -> list[list[str]]:
    """Table rows: accuracy in the length buckets that begin at `starts` (the last is open-ended)."""
    lengths, correct = np.asarray(result.lengths), np.asarray(result.labels) == np.asarray(result.predicted)
    rows = [["length", "examples", "accuracy (%)"]]
    edges = [*starts, max(lengths.max() + 1, starts[-1] + 1)]
    for low, high in zip(edges, edges[1:]):
        chosen = (lengths >= low) & (lengths < high)
        if chosen.any():
            rows.append([f"{low}–{high - 1}", str(int(chosen.sum())), f"{100.0 * correct[chosen].mean():.1f}"])
    return rows


def length_figure(result: SplitPredictions) -> bytes:
    """PNG: accuracy per input length."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lengths, correct = np.asarray(result.lengths), np.asarray(result.labels) == np.asarray(result.predicted)
    values = sorted(set(lengths.tolist()))
    figure, axis = plt.subplots(figsize=(6, 3.5))
    axis.plot(values, [100.0 * correct[lengths == n].mean() for n in values], "o-", markersize=3)
    axis.set_xlabel("input length (tokens)")
    axis.set_ylabel("accuracy (%)")
    axis.set_ylim(-2, 102)
    axis.grid(alpha=0.3)
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def attention_rows(module: ClassificationModule, result: SplitPredictions, count: int) -> list[list[str]]:
    """Table rows: the first `count` examples, each word followed by its pooling weight (in %)."""
    rows = [["example", "gold", "predicted", "words (pooling weight, %)"]]
    for index in range(min(count, len(result.labels))):
        words = " ".join(f"{token} ({100.0 * weight:.0f})" for token, weight in zip(result.tokens[index], result.weights[index]))
        rows.append([str(index), module.classes[result.labels[index]], module.classes[result.predicted[index]], words])
    return rows


def report_sections(module: ClassificationModule, data: SplitDataModule, split: str, device: torch.device) -> list[Block]:
    """The first checkpoint's confusion matrix, per-class precision and recall, accuracy by length and (attention
    pooling) word weights."""
    result = predict_split(module, data, split, device)
    blocks = confusion_sections(module, result)
    blocks += [Block("h2", "Accuracy by input length"),
               Block("p", f"Split {split}, by the number of tokens of the input."),
               Block("table", rows=accuracy_by_length(result, data.length_buckets)),
               Block("img", "accuracy_by_length.png", image=length_figure(result))]
    if result.weights is not None:
        blocks += [Block("h2", "Attention pooling: the weight of every word"),
                   Block("p", f"The first {ATTENTION_EXAMPLES} examples of split {split}; each token (as the "
                              "vocabulary has it, <unk> for an unseen word) is followed by the weight the pooling "
                              "gives its state, in % of the sentence's total."),
                   Block("table", rows=attention_rows(module, result, ATTENTION_EXAMPLES))]
    return blocks


def comparison_sections(systems: list[tuple[str, ClassificationModule]], data: SplitDataModule, split: str,
                        device: torch.device) -> list[Block]:
    """Each checkpoint after the first against the first: a paired bootstrap of their accuracies."""
    first_name, first = systems[0]
    baseline = predict_split(first, data, split, device)
    rows = [["system", "accuracy (%)", "95 % interval", f"difference to {first_name}", "p-value"]]
    for name, module in systems[1:]:
        other = predict_split(module, data, split, device)
        test = paired_bootstrap(baseline.labels, baseline.predicted, other.predicted, BOOTSTRAP_RESAMPLES)
        if len(rows) == 1:
            rows.append([first_name, f"{test['accuracy'][0]:.2f}", "{:.2f}–{:.2f}".format(*test["interval"][0]), "", ""])
        rows.append([name, f"{test['accuracy'][1]:.2f}", "{:.2f}–{:.2f}".format(*test["interval"][1]),
                     f"{test['difference']:+.2f}", f"{test['p_value']:.4f}"])
    return [Block("h2", "Paired bootstrap"),
            Block("p", f"Split {split}: {BOOTSTRAP_RESAMPLES} resamples of its examples (seed 0), every system "
                       "scored on the same resamples; two-sided p-value of the accuracy difference to the first."),
            Block("table", rows=rows)]
