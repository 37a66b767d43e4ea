"""Attention maps as in Xu et al. (2015), Fig. 2/3: the picture once per generated word, with where the
model looked while writing that word overlaid (the region weights upsampled to the picture)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402
from torch import Tensor  # noqa: E402

PANEL_INCHES = 2.2
COLUMNS = 5
WORDS_KEY = "captra:words"  # PNG text chunk with the panel words, space-separated


def upsample(weights: Tensor, size: tuple[int, int]) -> np.ndarray:
    """Region weights (S,) on a square grid -> (height, width) map scaled to [0, 1]."""
    side = math.isqrt(weights.numel())
    if side * side != weights.numel():
        raise ValueError(f"{weights.numel()} attention weights do not form a square grid")
    grid = weights.float().view(1, 1, side, side)
    heat = F.interpolate(grid, size=size, mode="bilinear", align_corners=False)[0, 0]
    heat = heat - heat.min()
    return (heat / heat.max().clamp(min=1e-12)).numpy()


def save_attention_map(image: Image.Image, words: list[str], attention: Tensor, path: Path) -> int:
    """Write one panel per word (attention (T, S) for the T words) to `path`; returns the panel count."""
    if attention.size(0) != len(words):
        raise ValueError(f"{len(words)} words but attention for {attention.size(0)} steps")
    picture = np.asarray(image.convert("RGB"))
    rows = max(1, math.ceil(len(words) / COLUMNS))
    columns = min(COLUMNS, max(1, len(words)))
    figure, axes = plt.subplots(rows, columns, figsize=(columns * PANEL_INCHES, rows * PANEL_INCHES), squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index < len(words):
            axis.imshow(picture)
            axis.imshow(upsample(attention[index], picture.shape[:2]), cmap="gray", alpha=0.6)
            axis.set_title(words[index], fontsize=11)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=80, metadata={WORDS_KEY: " ".join(words)})
    plt.close(figure)
    return len(words)


def map_path(target: Path, image: Path, count: int) -> Path:
    """Where the map of `image` goes: `target` itself for one image, `target/<stem>.png` for several."""
    if count == 1 and target.suffix.lower() == ".png":
        return target
    return target / f"{image.stem}.png"
