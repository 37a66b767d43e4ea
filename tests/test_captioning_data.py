"""Caption corpora (Flickr8k files, Karpathy JSON) and the captioning DataModule."""

import json
import logging

import pytest
import torch

from captra.captioning.corpus import normalize_caption, read_flickr8k, read_karpathy
from captra.captioning.data import CaptioningDataModule
from captra.captioning.encoder import ImageEncoder, ImageEncoderConfig
from captra.common.text.files import DataError
from tests.helpers import write_shapes_dataset


def test_captions_are_lowercased_words_without_punctuation():
    assert normalize_caption("A dog's ball, in  the GRASS .") == "a dog's ball in the grass"
    assert normalize_caption("...") == ""


def test_flickr8k_files_give_each_image_with_its_references(tmp_path):
    names = write_shapes_dataset(tmp_path)
    images = read_flickr8k(tmp_path, "val", tmp_path / "images")
    assert [i.path.name for i in images] == names
    assert images[0].captions == ["a red circle on a white background", "there is one red circle here"]
    with pytest.raises(DataError, match="no split 'dev2'"):
        read_flickr8k(tmp_path, "dev2", tmp_path / "images")


def test_a_malformed_token_line_is_named_by_file_and_line(tmp_path):
    write_shapes_dataset(tmp_path)
    token_file = tmp_path / "Flickr8k.token.txt"
    token_file.write_text(token_file.read_text() + "no tab on this line\n")
    with pytest.raises(DataError, match=r"Flickr8k.token.txt:19: expected"):
        read_flickr8k(tmp_path, "train", tmp_path / "images")


def test_karpathy_json_splits_with_restval_in_train(tmp_path):
    def image(name, split):
        return {"filename": name, "filepath": "val2014", "split": split, "sentences": [{"raw": f"A {name}."}]}

    path = tmp_path / "dataset_coco.json"
    path.write_text(json.dumps({"images": [image("a", "train"), image("b", "restval"), image("c", "val"), image("d", "test")]}))
    train = read_karpathy(path, "train", tmp_path)
    assert [i.path for i in train] == [tmp_path / "val2014" / "a", tmp_path / "val2014" / "b"]
    assert read_karpathy(path, "test", tmp_path)[0].captions == ["a d"]
    path.write_text(json.dumps({"images": [{"split": "train"}]}))
    with pytest.raises(DataError, match=r"images\[0\] lacks 'sentences'"):
        read_karpathy(path, "train", tmp_path)


def data_module(folder, **kwargs) -> CaptioningDataModule:
    module = CaptioningDataModule(str(folder), min_freq=1, batch_size=4, eval_batch_size=5, num_workers=0,
                                  cache_dir=str(folder / "cache"), **kwargs)
    torch.manual_seed(0)
    module.attach(ImageEncoder(ImageEncoderConfig(backbone="timm:test_efficientnet", weights="random")))
    return module


def test_training_sees_every_caption_and_evaluation_every_image_once(tmp_path):
    write_shapes_dataset(tmp_path)
    module = data_module(tmp_path)
    module.setup("fit")
    train, val = module.datasets["train"], module.datasets["val"]
    assert len(train) == 18 and len(val) == 9
    assert all(len(references) == 2 for references in val.split.references(val.images))
    batch = next(iter(module.val_dataloader()))
    assert batch["features"].shape == (5, 25, 256)  # frozen encoder: cached features, not images
    assert batch["references"][0] == ["a red circle on a white background", "there is one red circle here"]
    text = module.pipelines["tgt"]
    assert text.decode(batch["tgt"][0].tolist()[1:]) == "a red circle on a white background"


def test_a_fine_tuned_encoder_gets_images_and_augmentation_only_in_training(tmp_path):
    write_shapes_dataset(tmp_path)
    module = data_module(tmp_path)
    module.encoder = ImageEncoder(ImageEncoderConfig(backbone="timm:test_efficientnet", weights="random", fine_tune_blocks=1))
    module.setup("fit")
    batch = next(iter(module.val_dataloader()))
    assert batch["images"].shape == (5, 3, 160, 160)
    again = next(iter(module.val_dataloader()))
    assert torch.equal(batch["images"], again["images"])  # no augmentation at evaluation


def test_cached_features_load_in_the_main_process_and_images_in_workers(tmp_path):
    write_shapes_dataset(tmp_path)
    module = data_module(tmp_path)
    module.num_workers = 2
    module.setup("fit")
    assert module.train_dataloader().num_workers == 0 and module.val_dataloader().num_workers == 0
    module.cache_features = False  # the CNN runs every step on decoded images: workers decode them
    module.setup("fit")
    assert module.train_dataloader().num_workers == 2 and module.val_dataloader().num_workers == 2


@pytest.mark.parametrize("cache_features", [True, False])
def test_a_batch_read_at_once_equals_the_batch_of_single_reads(tmp_path, cache_features):
    write_shapes_dataset(tmp_path)
    module = data_module(tmp_path, cache_features=cache_features)
    module.setup("fit")
    dataset = module.datasets["val"]
    indices = [4, 0, 7, 0]
    batch, singles = dataset.__getitems__(indices), [dataset[i] for i in indices]
    name = "features" if cache_features else "images"
    assert batch[name].shape[0] == 4 and torch.equal(batch[name], torch.cat([single[name] for single in singles]))
    assert batch["ids"].tolist() == [int(single["ids"]) for single in singles] == [4, 0, 7, 0]
    assert batch["references"] == [single["references"][0] for single in singles]
    for row, single in enumerate(singles):  # each caption, padded to the batch's longest
        assert batch["tgt"][row, : single["tgt"].shape[1]].tolist() == single["tgt"][0].tolist()
        assert batch["tgt"][row, single["tgt"].shape[1]:].eq(0).all()


def test_unreadable_images_are_skipped_by_name_with_a_count(tmp_path, caplog):
    write_shapes_dataset(tmp_path)
    (tmp_path / "images" / "red_circle.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (tmp_path / "images" / "blue_square.png").unlink()
    module = data_module(tmp_path)
    with caplog.at_level(logging.WARNING):
        module.setup("fit")
    assert len(module.datasets["train"]) == 14 and len(module.datasets["val"]) == 7
    assert "red_circle.png" in caplog.text and "blue_square.png" in caplog.text
    assert "skipped 2 unreadable images of 9" in caplog.text


def test_a_karpathy_json_is_prepared_into_the_same_examples_as_its_images_and_captions(tmp_path):
    names = write_shapes_dataset(tmp_path)
    splits = {name: ("train" if i < 5 else "restval" if i < 6 else "val" if i < 8 else "test") for i, name in enumerate(names)}
    images = [{"filename": name, "split": splits[name], "sentences": [{"raw": f"A shape called {name[:-4]}."}, {"raw": "..."}]}
              for name in names]
    (tmp_path / "dataset_shapes.json").write_text(json.dumps({"images": images}))
    module = data_module(tmp_path, annotations=str(tmp_path / "dataset_shapes.json"), image_dir=str(tmp_path / "images"))
    module.setup("fit")
    train, val = module.datasets["train"], module.datasets["val"]
    assert len(train) == 6 and len(val) == 2  # restval trains; "..." normalises to nothing and is left out
    batch = val.__getitems__([0, 1])
    assert batch["references"] == [["a shape called blue circle"], ["a shape called blue square"]]
    assert module.captions.folder.parent == tmp_path / "cache" / "corpora"
