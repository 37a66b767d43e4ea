import pytest
import torch

from captra.common.nn.attention import build_attention
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


@pytest.mark.parametrize("kind", ["additive", "dot", "general"])
def test_grouped_queries_equal_each_query_with_its_own_copy_of_the_memory(kind):
    """Beam search attends G hypotheses over one memory row; that must equal copying the row G times."""
    torch.manual_seed(1)
    attention = build_attention(kind, query_size=16, memory_size=16, attention_size=8)
    memory = random_memory([5, 2, 4])
    group = 3
    query = torch.randn(3 * group, 16)  # rows 0-2 attend over memory row 0, 3-5 over row 1, ...
    keys = attention.project_keys(memory.states)
    context, weights = attention(query, keys, memory.states, memory.mask)
    copied = memory.select(torch.arange(3).repeat_interleave(group))
    context_copied, weights_copied = attention(query, attention.project_keys(copied.states), copied.states, copied.mask)
    assert context.shape == (9, 16) and weights.shape == (9, 5)
    assert torch.allclose(context, context_copied, atol=1e-6)
    assert torch.allclose(weights, weights_copied, atol=1e-6)
    assert torch.all(weights[3:6, 2:] == 0)  # padding of memory row 1
    with pytest.raises(ValueError, match="cannot be grouped"):
        attention(query[:8], keys, memory.states, memory.mask)


@pytest.mark.parametrize("scale", [0.1, 1.0, 10.0])
def test_additive_attention_weights_are_bahdanaus_tanh_formula(scale):
    """The sigmoid form differs from v^T tanh(W_k s + W_q q + b) by a constant per query: same weights."""
    torch.manual_seed(2)
    attention = build_attention("additive", query_size=12, memory_size=16, attention_size=6)
    memory = random_memory([7, 3])
    states = memory.states.masked_fill(~memory.mask.unsqueeze(2), 0.0) * scale
    query = torch.randn(2, 12) * scale
    _, weights = attention(query, attention.project_keys(states), states, memory.mask)
    energy = torch.tanh(attention.key_layer(states) + attention.query_layer(query).unsqueeze(1))  # (B, S, A)
    scores = attention.energy_layer(energy).squeeze(2).masked_fill(~memory.mask, float("-inf"))
    assert torch.allclose(weights, torch.softmax(scores, dim=-1), atol=1e-6)
    assert weights[0].std() > 1e-3  # the weights are not trivially uniform


def test_cpu_inference_chunks_give_the_same_attention_as_training(monkeypatch):
    """Without gradients the CPU scores a few memory rows at a time in one buffer; same result."""
    import captra.common.nn.attention as attention_module

    torch.manual_seed(3)
    attention = build_attention("additive", query_size=8, memory_size=16, attention_size=4)
    memory = random_memory([6, 6, 3, 5, 2])
    query = torch.randn(10, 8)  # two hypotheses per memory row
    keys = attention.project_keys(memory.states).detach()
    whole = attention(query, keys, memory.states, memory.mask)  # gradients on: one energy tensor
    assert whole[1].requires_grad
    monkeypatch.setattr(attention_module, "CPU_ENERGY_CHUNK", 2 * 6 * 4 * 2)  # two memory rows per chunk
    with torch.no_grad():
        chunked = attention(query, keys, memory.states, memory.mask)
    for a, b in zip(whole, chunked):
        assert torch.allclose(a, b, atol=1e-6)
    assert torch.all(chunked[1][4:6, 3:] == 0)  # queries 4, 5 attend over memory row 2: 3 real positions


@pytest.mark.parametrize("kind", ["additive", "dot", "general"])
def test_inference_under_cpu_bf16_autocast_matches_fp32(kind):
    """`--trainer.precision bf16-mixed` on a CPU evaluates under autocast; attention must work there too."""
    torch.manual_seed(4)
    attention = build_attention(kind, query_size=16, memory_size=16, attention_size=8)
    memory = random_memory([5, 3])
    query = torch.randn(6, 16)  # three hypotheses per memory row
    with torch.no_grad():
        reference = attention(query, attention.project_keys(memory.states), memory.states, memory.mask)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = attention(query, attention.project_keys(memory.states), memory.states, memory.mask)
    assert mixed[1].dtype in (torch.bfloat16, torch.float32)
    assert torch.allclose(mixed[1].float(), reference[1], atol=3e-2)
    assert torch.all(mixed[1][3:, 3:] == 0)  # padding still gets no weight
