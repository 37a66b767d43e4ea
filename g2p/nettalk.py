"""NetTalk (Sejnowski & Rosenberg 1987) as a baseline: a window of letters -> the phonemes of its middle letter.

NetTalk was trained on a dictionary whose every letter was aligned by hand to one phoneme (or to silence). CMUdict
has no alignment, so it is derived here from a trained attention model: each phoneme goes to the letter its
teacher-forced attention weighs most, made monotonic (a phoneme never goes to a letter before the previous
phoneme's letter). A letter's class is then its phonemes joined by "+" ("K+S" for the x of "box"), or "_" for a
silent letter, as NetTalk's own "x" and silence codes; the window classifier is NetTalk's: the one-hot letters of a
window (7 by default), one hidden layer of sigmoid units (80), a softmax over the classes. A word's pronunciation is
its letters' classes, silences dropped and "+" split.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from captra.common.data.batching import pad
from captra.common.text.vocab import BOS_ID, EOS_ID, PAD_ID
from captra.g2p.model import G2PModule

SILENT = "_"
JOIN = "+"


def monotonic_alignment(attention: Tensor, letters: int, phonemes: int) -> list[int]:
    """The letter of each phoneme: the attention's argmax (T, S), never before the previous phoneme's letter."""
    chosen, previous = [], 0
    for row in attention[:phonemes, :letters].argmax(dim=1).tolist():
        previous = max(previous, row)
        chosen.append(previous)
    return chosen


def letter_classes(phonemes: list[str], alignment: list[int], letters: int) -> list[str]:
    """Per letter: its aligned phonemes joined by "+", or "_" (silent)."""
    grouped: list[list[str]] = [[] for _ in range(letters)]
    for phoneme, letter in zip(phonemes, alignment):
        grouped[letter].append(phoneme)
    return [JOIN.join(group) if group else SILENT for group in grouped]


def pronunciation(classes: list[str]) -> str:
    """Letter classes -> the word's phonemes ("_" dropped, "+" split), space-separated."""
    return " ".join(phoneme for label in classes if label != SILENT for phoneme in label.split(JOIN))


@torch.no_grad()
def align_words(module: G2PModule, words: list[str], pronunciations: list[tuple[str, ...]], batch_size: int = 512,
                device: torch.device = torch.device("cpu")) -> list[list[str]]:
    """Each (word, pronunciation)'s letter classes, from the module's teacher-forced attention."""
    letters, phonemes = module.texts["src"], module.texts["tgt"].vocab
    module = module.to(device).eval()
    classes = []
    for start in range(0, len(words), batch_size):
        chunk = range(start, min(start + batch_size, len(words)))
        src = [letters.encode(words[i]) for i in chunk]
        tgt = [[BOS_ID, *phonemes.encode(list(pronunciations[i])), EOS_ID] for i in chunk]
        batch = {"src": pad(src).to(device), "src_lengths": torch.tensor([len(s) for s in src], device=device)}
        _, attention = module.decoder(module.encode(batch), pad(tgt)[:, :-1].to(device))  # (B, T, S)
        for row, i in enumerate(chunk):
            alignment = monotonic_alignment(attention[row].cpu(), len(src[row]), len(pronunciations[i]))
            classes.append(letter_classes(list(pronunciations[i]), alignment, len(src[row])))
    return classes


@dataclass
class Windows:
    """Every letter of some words as a window of letter ids (N, width), padded at the word's ends, and its class."""

    letters: Tensor  # (N, width)
    labels: Tensor  # (N,)


def windows(word_ids: list[list[int]], classes: list[list[str]] | None, class_ids: dict[str, int],
            width: int) -> Windows:
    """The letter windows of words (`classes` None: labels -1, to be predicted); an unseen class is -1 too."""
    half = width // 2
    rows, labels = [], []
    for index, ids in enumerate(word_ids):
        padded = [PAD_ID] * half + ids + [PAD_ID] * half
        for position in range(len(ids)):
            rows.append(padded[position : position + width])
            labels.append(-1 if classes is None else class_ids.get(classes[index][position], -1))
    return Windows(torch.tensor(rows, dtype=torch.long), torch.tensor(labels, dtype=torch.long))


class WindowClassifier(nn.Module):
    """NetTalk's network: one-hot letters of the window -> sigmoid hidden layer -> class logits."""

    def __init__(self, letters: int, width: int, hidden: int, classes: int) -> None:
        super().__init__()
        self.letters = letters
        self.hidden = nn.Sequential(nn.Linear(letters * width, hidden), nn.Sigmoid())
        self.output = nn.Linear(hidden, classes)

    def forward(self, windows: Tensor) -> Tensor:
        one_hot = nn.functional.one_hot(windows, self.letters).flatten(1).float()  # (N, width * letters)
        return self.output(self.hidden(one_hot))  # (N, classes)


def class_vocabulary(classes: list[list[str]], min_count: int = 1) -> list[str]:
    """The letter classes seen at least `min_count` times, most frequent first."""
    counts = Counter(label for word in classes for label in word)
    return [label for label, count in counts.most_common() if count >= min_count]


def train_classifier(model: WindowClassifier, data: Windows, epochs: int, batch_size: int, lr: float,
                     seed: int) -> list[float]:
    """Adam on the cross-entropy of the windows (unseen classes left out); the mean loss of each epoch."""
    keep = data.labels >= 0
    letters, labels = data.letters[keep], data.labels[keep]
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        order = torch.randperm(len(labels), generator=generator)
        total = 0.0
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            loss = nn.functional.cross_entropy(model(letters[rows]), labels[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss) * len(rows)
        losses.append(total / len(labels))
    return losses


@torch.no_grad()
def pronounce_words(model: WindowClassifier, word_ids: list[list[int]], vocabulary: list[str], width: int) -> list[str]:
    """Each word's pronunciation: its letters' predicted classes, assembled."""
    data = windows(word_ids, None, {}, width)
    predicted = model(data.letters).argmax(dim=1).tolist()
    outputs, start = [], 0
    for ids in word_ids:
        outputs.append(pronunciation([vocabulary[c] for c in predicted[start : start + len(ids)]]))
        start += len(ids)
    return outputs
