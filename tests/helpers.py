"""Tiny models and data shared by the tests."""

from __future__ import annotations

import csv
import gzip
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback

from captra.common.nn.decoder import AttentionDecoder, DecoderConfig
from captra.common.nn.memory import Memory, padding_mask

SYMBOLS = "a b c d e f g h i j k l".split()


def random_memory(lengths: list[int], size: int = 16, seed: int = 0) -> Memory:
    """A memory of random states; padding positions hold large garbage so leaks would show."""
    generator = torch.Generator().manual_seed(seed)
    lengths_tensor = torch.tensor(lengths)
    states = torch.randn(len(lengths), max(lengths), size, generator=generator)
    mask = padding_mask(lengths_tensor)
    states = torch.where(mask.unsqueeze(2), states, torch.full_like(states, 1e3))
    summary = torch.randn(len(lengths), size, generator=generator)
    return Memory(states=states, mask=mask, summary=summary)


def tiny_decoder(attention: str = "additive", cell: str = "lstm", vocab: int = 20, size: int = 16, seed: int = 0, **kw) -> AttentionDecoder:
    torch.manual_seed(seed)
    config = DecoderConfig(cell=cell, embedding_size=8, hidden_size=size, attention=attention, attention_size=8,
                           output_size=8, dropout=0.0, **kw)
    return AttentionDecoder(config, vocab, memory_size=size, summary_size=size).eval()


def write_reverse_corpus(folder: Path, sizes: dict[str, int], seed: int = 0) -> None:
    """A synthetic parallel corpus: the target is the source reversed (`{split}.src/.tgt[.gz]`)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, count in sizes.items():
        sources = [" ".join(rng.choice(SYMBOLS) for _ in range(rng.randint(3, 8))) for _ in range(count)]
        targets = [" ".join(reversed(s.split())) for s in sources]
        with gzip.open(folder / f"{split}.src.gz", "wt", encoding="utf-8") as handle:
            handle.write("".join(s + "\n" for s in sources))
        (folder / f"{split}.tgt").write_text("".join(t + "\n" for t in targets), encoding="utf-8")


SHAPE_COLOURS = {"red": (220, 30, 30), "green": (30, 180, 40), "blue": (40, 60, 220)}
SHAPES = ("circle", "square", "triangle")


def draw_shape(colour: str, shape: str, size: tuple[int, int] = (96, 96)):
    """A white picture with one coloured shape in the middle (a PIL image)."""
    from PIL import Image, ImageDraw

    width, height = size
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    box = (width * 0.2, height * 0.2, width * 0.8, height * 0.8)
    fill = SHAPE_COLOURS[colour]
    if shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "square":
        draw.rectangle(box, fill=fill)
    else:
        draw.polygon([(box[0], box[3]), (box[2], box[3]), ((box[0] + box[2]) / 2, box[1])], fill=fill)
    return image


def shape_captions(colour: str, shape: str) -> list[str]:
    return [f"A {colour} {shape} on a white background.", f"there is one {colour} {shape} here"]


def write_shapes_dataset(folder: Path) -> list[str]:
    """Nine pictures (3 colours x 3 shapes) as a Flickr8k-style folder; every split holds all nine.

    Returns the image names.
    """
    (folder / "images").mkdir(parents=True, exist_ok=True)
    names, tokens = [], []
    for colour in SHAPE_COLOURS:
        for shape in SHAPES:
            name = f"{colour}_{shape}.png"
            draw_shape(colour, shape).save(folder / "images" / name)
            names.append(name)
            tokens += [f"{name}#{n}\t{caption}" for n, caption in enumerate(shape_captions(colour, shape))]
    (folder / "Flickr8k.token.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")
    for split in ("train", "dev", "test"):
        (folder / f"Flickr_8k.{split}Images.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    return names


class KillAtStep(Callback):
    """SIGKILLs its own process once `step` optimizer steps are done: a crash or a preemption, mid-epoch."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step >= self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def run_captra(*args: str) -> subprocess.CompletedProcess:
    """`captra ARGS` in a new process (DDP launches and SIGKILL need their own processes)."""
    environment = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    return subprocess.run([sys.executable, "-m", "captra", *args], capture_output=True, text=True, timeout=600,
                          env=environment)


def validation(root: Path, version: int = 0, metric: str = "val/bleu") -> list[tuple[str, str, str]]:
    """(step, val/loss, `metric`) of every validation in a run folder's metrics.csv."""
    with open(root / f"version_{version}" / "metrics.csv") as handle:
        return [(row["step"], row["val/loss"], row[metric]) for row in csv.DictReader(handle) if row.get("val/loss")]


class SaveAtTrainEnd(Callback):
    """Writes the state a run ends with (weights, optimizer, schedule) to `final.ckpt` in its run folder."""

    def on_train_end(self, trainer, pl_module) -> None:
        trainer.save_checkpoint(Path(trainer.log_dir) / "final.ckpt")
