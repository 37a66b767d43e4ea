"""Show, Attend and Tell's loss terms and optimiser groups."""

import torch

from captra.captioning.encoder import ImageEncoderConfig
from captra.captioning.model import CaptioningModule
from captra.common.text.pipeline import TextPipeline
from captra.common.text.vocab import PAD_ID


def module(**encoder) -> CaptioningModule:
    text = TextPipeline.build(["a red circle", "a blue square"], kind="word")
    return CaptioningModule(encoder=ImageEncoderConfig(backbone="timm:test_efficientnet", weights="random", **encoder),
                            attention_penalty=0.5, text={"tgt": text.to_state()})


def test_the_doubly_stochastic_penalty_ignores_padding_steps():
    model = module()
    tgt = torch.tensor([[2, 4, 5, 3], [2, 4, 3, PAD_ID]])  # targets tgt[:, 1:] have 3 and 2 real steps
    attention = torch.zeros(2, 3, 4)  # (B, T, S)
    attention[0, :, 0] = 1.0  # first caption looks only at region 0, three times: coverage (3, 0, 0, 0)
    attention[1, :, 1] = 1.0  # second looks at region 1 twice; its padding step must not count
    penalty = model.auxiliary_loss(attention, {"tgt": tgt})
    expected = 0.5 * ((torch.tensor([[3.0, 0, 0, 0], [0, 2.0, 0, 0]]) - 1.0).neg() ** 2).mean()
    torch.testing.assert_close(penalty, expected)


def test_fine_tuned_cnn_blocks_get_their_own_learning_rate():
    frozen_model = module()
    frozen = frozen_model.configure_optimizers()["optimizer"]
    assert len(frozen.param_groups) == 1
    optimised, cnn = {id(p) for p in frozen.param_groups[0]["params"]}, {id(p) for p in frozen_model.encoder.parameters()}
    assert optimised and cnn and not optimised & cnn  # the frozen CNN's parameters (of this model) are not optimised
    tuned_model = module(fine_tune_blocks=2, fine_tune_lr=3e-5)
    tuned = tuned_model.configure_optimizers()["optimizer"]
    assert [group["lr"] for group in tuned.param_groups] == [tuned_model.optimizer_config.lr, 3e-5]
    assert {id(p) for p in tuned.param_groups[1]["params"]} == {
        id(p) for block in tuned_model.encoder.tuned_blocks for p in block.parameters()
    }
