import pytest
import torch

from common.attention import build_attention
from tests.helpers import random_memory


@pytest.mark.parametrize("kind", ["additive", "dot", "general"])
def test_padding_gets_no_weight_and_does_not_change_the_context(kind):
    torch.manual_seed(0)
    attention = build_attention(kind, query_size=16, memory_size=16, attention_size=8)
    padded = random_memory([5, 2])  # row 1 has 3 padding positions full of 1e3
    query = torch.randn(2, 16)
    context, weights = attention(query, attention.project_keys(padded.states), padded.states, padded.mask)
    assert torch.all(weights[1, 2:] == 0)
    assert torch.allclose(weights.sum(1), torch.ones(2))
    alone = padded.select(torch.tensor([1]))
    alone_states, alone_mask = alone.states[:, :2], alone.mask[:, :2]
    context_alone, weights_alone = attention(query[1:], attention.project_keys(alone_states), alone_states, alone_mask)
    assert torch.allclose(context[1], context_alone[0], atol=1e-6)
    assert torch.allclose(weights[1, :2], weights_alone[0], atol=1e-6)


def test_dot_attention_refuses_mismatched_sizes():
    with pytest.raises(ValueError, match="dot attention needs"):
        build_attention("dot", query_size=16, memory_size=32, attention_size=8)


def test_none_builds_no_attention():
    assert build_attention("none", 16, 16, 8) is None
