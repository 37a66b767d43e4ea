"""Token rules of the search: never `<unk>` (captioning's default), and `captra translate --scores`."""

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from captra.common.checkpoints.loading import load_module
from captra.common.cli.main import main
from captra.common.decoding.settings import TokenRules, constrain
from captra.common.text.vocab import UNK_ID
from captra.translation.translate import translate_ids

FIXTURES = Path(__file__).parent / "fixtures"
CKPT = FIXTURES / "legacy_translation.ckpt"
INPUT = FIXTURES / "legacy_translation.input.en"


def test_never_generated_tokens_get_no_probability():
    log_probs = constrain(torch.zeros(2, 8), 3, torch.zeros(2), torch.full((2,), 9),
                          rules=TokenRules(never=torch.tensor([UNK_ID, 6])))
    assert log_probs[:, UNK_ID].tolist() == [float("-inf")] * 2 and log_probs[:, 6].tolist() == [float("-inf")] * 2
    assert log_probs[:, 7].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("strategy", ["beam", "greedy", "sample"])
def test_without_unk_no_strategy_writes_unk(strategy):
    module = load_module(CKPT)
    torch.manual_seed(0)
    encoded = [module.texts["src"].encode(line) for line in INPUT.read_text().splitlines()]
    config = replace(module.search_config, strategy=strategy, beam_size=5)
    with_unk = translate_ids(module, encoded, config, 16, torch.device("cpu"))
    without = translate_ids(module, encoded, replace(config, allow_unk=False), 16, torch.device("cpu"))
    assert sum("<unk>" in nbest[0] for nbest in with_unk) >= 10  # this tiny model writes <unk> a lot ...
    assert not any("<unk>" in nbest[0] for nbest in without)  # ... and never when told so


def test_the_captioning_default_is_no_unk():
    from captra.captioning.model import CaptioningModule
    import inspect

    search = inspect.signature(CaptioningModule).parameters["search"].default
    assert search.allow_unk is False


def test_translate_scores_prints_each_n_best_translation_with_its_score(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["translate", "--ckpt", str(CKPT), "--input", str(INPUT), "--beam", "5", "--n-best", "2", "--scores",
              "--device", "cpu"])
    assert exit_info.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    expected = (FIXTURES / "legacy_translation.beam5_nbest2.de").read_text().splitlines()
    assert [line.split("\t", 1)[1] for line in lines] == expected
    scores = [float(line.split("\t", 1)[0]) for line in lines]
    assert all(score < 0 for score in scores)
    assert all(first >= second for first, second in zip(scores[::2], scores[1::2]))  # best first
