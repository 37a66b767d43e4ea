"""What a language model's report adds after its scores: samples at several temperatures (a text), or accuracy by
string size and the hidden-unit analysis of the lecture decks (a formal language)."""

from __future__ import annotations

import io
import random
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from captra.common.report.render import Block
from captra.common.text.vocab import BOS_ID, PAD_ID
from captra.language_model.model import LanguageModelModule
from captra.language_model.sampling import continue_prompt, prompt_ids
from captra.language_model.scoring import predicted_correctly

if TYPE_CHECKING:
    from captra.language_model.data import TextStreamDataModule
    from captra.language_model.formal_data import FormalLanguageDataModule

TEMPERATURES = (0.5, 0.8, 1.0)
SAMPLE_LENGTH = 300
SIZE_BIN = 10


def report_prompt(module: LanguageModelModule, text: str, longest: int = 60) -> str:
    """The split's first whole line (at most `longest` characters) whose tokens the model knows, with its line
    break: the prompt of the report's samples; a line break alone where there is none."""
    for line in text.split("\n")[1:]:
        try:
            if line.strip() and prompt_ids(module, line[:longest]):
                return line[:longest] + "\n"
        except ValueError:  # a token outside the vocabulary: the next line
            continue
    return "\n"


def sample_sections(module: LanguageModelModule, data: TextStreamDataModule, split: str, device: torch.device) -> list[Block]:
    """Continuations of the split's first line: greedy, and sampled (seed 0) at each of TEMPERATURES."""
    prompt = report_prompt(module, data.split_text(split))
    blocks = [Block("h2", "Samples"),
              Block("p", f"Each continues the first whole line of split {split} ({prompt.strip()!r}) by "
                         f"{SAMPLE_LENGTH} tokens; sampled with seed 0 (`captra sample --seed 0`).")]
    strategies = [("greedy", replace(module.search_config, strategy="greedy"))]
    strategies += [(f"temperature {t}", replace(module.search_config, strategy="sample", temperature=t)) for t in TEMPERATURES]
    for title, config in strategies:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(0)
            text = continue_prompt(module, prompt, SAMPLE_LENGTH, config, device=device)[0]
        blocks += [Block("h3", title), Block("pre", text)]
    return blocks


@torch.no_grad()
def correct_by_string(module: LanguageModelModule, data: FormalLanguageDataModule, split: str,
                      device: torch.device) -> list[tuple[int, bool]]:
    """(size, predicted) of every string of the split."""
    data.setup("test" if split == data.test_split else "validate")
    dataset = data.datasets[split]
    results = []
    for start in range(0, len(dataset), data.eval_batch_size):
        batch = dataset.__getitems__(list(range(start, min(start + data.eval_batch_size, len(dataset)))))
        batch = {key: value.to(device) for key, value in batch.items()}
        logits, _ = module(batch)
        targets = batch["tgt"][:, 1:]
        correct = predicted_correctly(logits, batch["legal"], batch["scored"], targets != PAD_ID, module.legal_threshold)
        results += list(zip(batch["size"].tolist(), correct.tolist()))
    return results


def largest_solved(results: list[tuple[int, bool]]) -> int:
    """The largest size up to which every string (of every size from the smallest) is predicted; 0 if none."""
    solved = 0
    for size in sorted({size for size, _ in results}):
        if not all(correct for s, correct in results if s == size):
            break
        solved = size
    return solved


def formal_sections(module: LanguageModelModule, data: FormalLanguageDataModule, split: str,
                    device: torch.device) -> list[Block]:
    """Strings predicted by size (in bins of SIZE_BIN), the largest size solved, and the hidden-state figure."""
    results = correct_by_string(module, data, split, device)
    counting = not data.lang.choices_scored
    what = "n" if counting else "length"
    rows = [[what, "strings", "predicted", "%"]]
    for low in range(1 + (min(s for s, _ in results) - 1) // SIZE_BIN * SIZE_BIN, max(s for s, _ in results) + 1, SIZE_BIN):
        chosen = [correct for size, correct in results if low <= size < low + SIZE_BIN]
        if chosen:
            rows.append([f"{low}–{low + SIZE_BIN - 1}", str(len(chosen)), str(sum(chosen)),
                         f"{100.0 * sum(chosen) / len(chosen):.1f}"])
    rule = ("every prediction after the first b (and the first a) is the one legal symbol" if counting else
            "at every position the symbols of probability ≥ the threshold are exactly the legal ones")
    trained = f"trained on n ≤ {data.train_max_n}" if counting else "trained on random walks of any length"
    blocks = [Block("h2", "Strings predicted by size"),
              Block("p", f"{data.language}, split {split}: a string counts as predicted when {rule} (threshold "
                         f"{module.legal_threshold}). Largest {what} with every string up to it predicted: "
                         f"{largest_solved(results)} ({trained})."),
              Block("table", rows=rows)]
    if counting:
        sizes = sorted({max(1, data.train_max_n // 2), data.train_max_n, 2 * data.train_max_n})
        blocks += [Block("h2", "Hidden units"),
                   Block("p", f"The top layer's hidden state after each symbol of the strings of n = "
                              f"{', '.join(map(str, sizes))}, projected on its first two principal components (the "
                              "decks' counting trajectory: where the a's go, how the b's come back, and where a "
                              "longer string than the training ones leaves the path)."),
                   Block("img", "hidden_states_pca.png", image=hidden_state_figure(module, data, sizes, device))]
    return blocks


@torch.no_grad()
def hidden_states(module: LanguageModelModule, ids: list[int], device: torch.device) -> np.ndarray:
    """(T, H) the top layer's hidden state after each of `ids`, from the start state after <s>."""
    decoder = module.decoder
    memory = decoder.prepare(module.encode({"ids": [0]}))
    state = decoder.init_state(memory)
    states = []
    for token in [BOS_ID, *ids]:
        _, state, _ = decoder.step(torch.tensor([token], device=device), state, memory)
        states.append(state.hidden[0, -1].float().cpu().numpy())
    return np.stack(states[1:])


def hidden_state_figure(module: LanguageModelModule, data: FormalLanguageDataModule, sizes: list[int],
                        device: torch.device) -> bytes:
    """PNG: hidden-state trajectories along the strings of `sizes`, on their first two principal components."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    vocab = data.pipeline.vocab
    strings = {n: data.lang.generate(random.Random(0), n) for n in sizes}  # one string per n
    trajectories = {n: hidden_states(module, vocab.encode(string), device) for n, string in strings.items()}
    stacked = np.concatenate(list(trajectories.values()))
    mean = stacked.mean(0)
    _, _, components = np.linalg.svd(stacked - mean, full_matrices=False)  # rows: principal directions
    figure, axis = plt.subplots(figsize=(6, 4.5))
    markers = {"a": "o", "b": "x", "c": "^"}
    for n, states in trajectories.items():
        points = (states - mean) @ components[:2].T  # (T, 2)
        line, = axis.plot(points[:, 0], points[:, 1], "-", alpha=0.5, label=f"n = {n}")
        for symbol, marker in markers.items():
            chosen = [i for i, s in enumerate(strings[n]) if s == symbol]
            if chosen:
                axis.scatter(points[chosen, 0], points[chosen, 1], marker=marker, color=line.get_color(), s=18)
    axis.set_xlabel("principal component 1")
    axis.set_ylabel("principal component 2")
    axis.set_title(f"{data.language}: hidden state after each symbol (o a, x b, ^ c)")
    axis.legend()
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def report_sections(module: Any, data: Any, split: str, device: torch.device) -> list[Block]:
    """The data module's own sections (samples of a text, or the formal-language analysis)."""
    return data.report_sections(module, split, device)
