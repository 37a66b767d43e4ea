"""ImageEncoder: a pretrained CNN's region grid as the decoder's Memory (Xu et al. 2015, sec. 3.1.1).

Images (B, 3, H, W) -> grid (B, C, h, w) -> regions (B, h*w, C), all real (mask True);
summary = mean over regions (initialises the decoder state, as in the paper).
When the backbone is frozen the data module may hand over cached region features instead of images.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from captra.captioning.backbones import Backbone, InputSpec, build_backbone
from captra.common.nn.memory import Memory


@dataclass
class ImageEncoderConfig:
    """Which CNN and how much of it trains.

    Attributes:
        backbone: efficientnet_lite2, timm:NAME or torchvision:NAME (captioning/backbones.py).
        weights: pretrained (from local packages or caches, never downloaded), random, or a weights file.
        fine_tune_blocks: 0 keeps the CNN frozen (its features are cached); N trains its last N blocks.
        fine_tune_lr: learning rate of the fine-tuned blocks (the decoder uses the optimizer's lr).
        dropout: on the region features, before attention.
    """

    backbone: str = "efficientnet_lite2"
    weights: str = "pretrained"
    fine_tune_blocks: int = 0
    fine_tune_lr: float = 1e-4
    dropout: float = 0.0


class ImageEncoder(nn.Module):
    def __init__(self, config: ImageEncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone: Backbone = build_backbone(config.backbone, config.weights)
        self.backbone.to(memory_format=torch.channels_last)  # ~1.7x faster convolutions on CPU
        if not 0 <= config.fine_tune_blocks <= len(self.backbone.blocks):
            raise ValueError(f"fine_tune_blocks must be in 0..{len(self.backbone.blocks)} for {config.backbone}")
        self.backbone.requires_grad_(False)
        for block in self.tuned_blocks:
            block.requires_grad_(True)
        self.dropout = nn.Dropout(config.dropout)

    @property
    def tuned_blocks(self) -> list[nn.Module]:
        count = self.config.fine_tune_blocks
        return self.backbone.blocks[len(self.backbone.blocks) - count :] if count else []

    @property
    def frozen(self) -> bool:
        return self.config.fine_tune_blocks == 0

    @property
    def output_size(self) -> int:
        return self.backbone.channels

    @property
    def spec(self) -> InputSpec:
        return self.backbone.spec

    def train(self, mode: bool = True) -> "ImageEncoder":
        """Frozen layers stay in eval mode (batch-norm statistics are ImageNet's)."""
        super().train(mode)
        self.backbone.eval()
        for block in self.tuned_blocks:
            block.train(mode)
        return self

    def regions(self, images: Tensor) -> Tensor:
        """Normalised images (B, 3, H, W) -> region features (B, h*w, C). A frozen CNN's features are rounded to
        float16 as the feature cache stores them, so that captions decoded from images (`captra caption`, the
        report) are those decoded from the cache (training, validation, `captra test`)."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            grid = self.backbone(images.contiguous(memory_format=torch.channels_last))  # (B, C, h, w)
        regions = grid.flatten(2).transpose(1, 2)  # (B, h*w, C)
        return regions.half().to(regions.dtype) if self.frozen else regions

    def forward(self, images: Tensor | None = None, features: Tensor | None = None) -> Memory:
        """Images (B, 3, H, W) or precomputed region features (B, S, C) -> Memory (B, S, C)."""
        regions = self.regions(images) if features is None else features.float()
        regions = self.dropout(regions)
        mask = torch.ones(regions.shape[:2], dtype=torch.bool, device=regions.device)  # (B, S)
        return Memory(states=regions, mask=mask, summary=regions.mean(dim=1))
