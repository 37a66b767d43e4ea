"""The frozen CNN's features are computed once, reused, and rebuilt when what they depend on changes."""

import os

import numpy as np
import pytest
import torch

import captra.captioning.features as features
from captra.captioning.encoder import ImageEncoder, ImageEncoderConfig
from captra.captioning.images import read_image_tensor
from tests.helpers import draw_shape


@pytest.fixture()
def pictures(tmp_path):
    paths = []
    for index, (colour, shape) in enumerate([("red", "circle"), ("green", "square"), ("blue", "triangle")]):
        path = tmp_path / "images" / f"{index}.png"
        path.parent.mkdir(exist_ok=True)
        draw_shape(colour, shape, (64 + 30 * index, 80)).save(path)
        paths.append(path)
    return paths


def encoder(seed: int = 0) -> ImageEncoder:
    torch.manual_seed(seed)
    return ImageEncoder(ImageEncoderConfig(backbone="timm:test_efficientnet", weights="random")).eval()


@pytest.fixture()
def builds(monkeypatch):
    """Counts how often the CNN is run over an image list."""
    calls = []
    original = features.build_features

    def counting(*args, **kwargs):
        calls.append(args[1])
        return original(*args, **kwargs)

    monkeypatch.setattr(features, "build_features", counting)
    return calls


def test_cached_features_equal_the_encoder_output(tmp_path, pictures):
    model = encoder()
    store = features.cached_features(model, pictures, tmp_path / "cache")
    images = torch.stack([read_image_tensor(p, model.spec) for p in pictures])  # (3, 3, H, W)
    with torch.no_grad():
        from_images = model(images=images)  # what `captra caption` and the report decode from
        from_cache = model(features=torch.stack([store[row] for row in range(3)]))  # what training and test decode from
    for row in range(3):
        assert store[row].dtype == torch.float16 and store[row].shape == (25, 256)
    assert torch.equal(from_images.states, from_cache.states) and torch.equal(from_images.summary, from_cache.summary)


def test_the_cache_is_reused_and_invalidated_when_its_inputs_change(tmp_path, pictures, builds):
    cache = tmp_path / "cache"
    first = features.cached_features(encoder(), pictures, cache)
    features.cached_features(encoder(), pictures, cache)
    assert len(builds) == 1  # same backbone, same weights, same images: read from disk

    features.cached_features(encoder(), pictures[:2], cache)  # another image list
    assert len(builds) == 2
    features.cached_features(encoder(seed=1), pictures, cache)  # other weights
    assert len(builds) == 3
    stat = pictures[0].stat()
    os.utime(pictures[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # an image was edited
    changed = features.cached_features(encoder(), pictures, cache)
    assert len(builds) == 4 and changed.path != first.path
    assert len(list(cache.glob("*.npy"))) == 4 and not list(cache.glob("*partial*"))


def test_a_half_written_cache_is_never_read(tmp_path, pictures, builds):
    cache = tmp_path / "cache"
    store = features.cached_features(encoder(), pictures, cache)
    store.path.with_suffix(".json").unlink()  # killed after the array, before its metadata
    np.save(store.path, np.zeros(1))
    rebuilt = features.cached_features(encoder(), pictures, cache)
    assert len(builds) == 2 and rebuilt[0].shape == (25, 256)


def test_unreadable_images_are_recorded_by_name_and_the_rest_cached(tmp_path, pictures):
    broken = tmp_path / "images" / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    missing = tmp_path / "images" / "missing.png"
    store = features.cached_features(encoder(), [pictures[0], broken, missing, pictures[1]], tmp_path / "cache")
    assert set(store.bad) == {1, 2}
    assert "broken.jpg" in store.bad[1] and "missing.png" in store.bad[2]
    assert store[3].abs().sum() > 0
