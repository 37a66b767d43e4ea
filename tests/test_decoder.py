"""Teacher forcing against the search step: the same decoder must give the same logits both ways."""

import pytest
import torch

from tests.helpers import random_memory, tiny_decoder

LENGTHS = [6, 2, 4]


def stepwise_logits(decoder, memory, inputs):
    """The search path: `step` once per position. inputs (B, T) -> logits (B, T, V)."""
    prepared = decoder.prepare(memory)
    state, logits = decoder.init_state(prepared), []
    for t in range(inputs.size(1)):
        step_logits, state, _ = decoder.step(inputs[:, t], state, prepared)
        logits.append(step_logits)
    return torch.stack(logits, dim=1)


@pytest.mark.parametrize("attention,cell,layers", [
    ("none", "lstm", 1), ("none", "lstm", 2), ("none", "gru", 2), ("none", "rnn", 2), ("additive", "lstm", 2),
])
def test_teacher_forcing_equals_the_search_step_loop(attention, cell, layers):
    decoder = tiny_decoder(attention, cell, num_layers=layers)
    memory = random_memory(LENGTHS, seed=5)
    inputs = torch.randint(0, 20, (len(LENGTHS), 7), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        forced, weights = decoder(memory, inputs)
        stepped = stepwise_logits(decoder, memory, inputs)
    assert forced.shape == (3, 7, 20)
    assert torch.allclose(forced, stepped, atol=1e-5)
    assert (weights is None) == (attention == "none")


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_fused_recurrence_gives_the_step_loops_gradients(cell):
    """Without attention, training runs one fused RNN call; its gradients are the step loop's."""
    decoder = tiny_decoder("none", cell, num_layers=2).train()  # dropout 0: both paths deterministic
    memory = random_memory(LENGTHS, seed=6)
    inputs = torch.randint(0, 20, (len(LENGTHS), 5), generator=torch.Generator().manual_seed(6))
    gradients = []
    for logits_of in (lambda: decoder(memory, inputs)[0], lambda: stepwise_logits(decoder, memory, inputs)):
        decoder.zero_grad()
        logits_of().log_softmax(-1)[..., 3].sum().backward()
        gradients.append({name: p.grad.clone() for name, p in decoder.named_parameters() if p.grad is not None})
    assert gradients[0].keys() == gradients[1].keys()
    assert "cells.1.weight_hh" in gradients[0]
    for name in gradients[0]:
        assert torch.allclose(gradients[0][name], gradients[1][name], atol=1e-5), name


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_fused_recurrence_trains_under_cpu_bf16_autocast(cell):
    decoder = tiny_decoder("none", cell).train()
    memory = random_memory(LENGTHS, seed=7)
    inputs = torch.randint(0, 20, (len(LENGTHS), 5), generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        reference = decoder(memory, inputs)[0]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, _ = decoder(memory, inputs)
    logits.float().sum().backward()
    assert decoder.cells[0].weight_hh.grad is not None and torch.isfinite(decoder.cells[0].weight_hh.grad).all()
    assert torch.allclose(logits.float(), reference, atol=5e-2)  # bf16 output layer, fp32 recurrence


@pytest.mark.parametrize("attention,cell", [("none", "lstm"), ("none", "gru"), ("none", "rnn"), ("additive", "lstm")])
def test_unrolling_in_two_halves_from_the_carried_state_equals_one_unroll(attention, cell):
    """What truncated BPTT relies on: the state after the first half, passed back in, continues the sequence."""
    decoder = tiny_decoder(attention, cell, num_layers=2)
    memory = random_memory(LENGTHS, seed=3)
    inputs = torch.randint(0, 20, (len(LENGTHS), 8), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        whole, _, last = decoder.unroll(memory, inputs)
        first, _, middle = decoder.unroll(memory, inputs[:, :5])
        second, _, end = decoder.unroll(memory, inputs[:, 5:], middle)
        fresh, _, _ = decoder.unroll(memory, inputs[:, 5:])
    assert torch.allclose(torch.cat([first, second], dim=1), whole, atol=1e-5)
    assert torch.allclose(end.hidden, last.hidden, atol=1e-5)
    assert not torch.allclose(fresh, second, atol=1e-3)  # without the state the second half reads differently


def test_a_zero_start_state_is_zero_and_a_learned_one_is_not():
    memory = random_memory(LENGTHS, seed=1)
    decoder = tiny_decoder("none", "lstm", start_state="zero")
    assert decoder.init_hidden is None and decoder.init_cell is None  # no layers DDP would find unused
    zero = decoder.init_state(memory)
    assert not zero.hidden.any() and not zero.cell.any() and zero.hidden.shape == (3, 1, 16)
    assert tiny_decoder("none", "lstm").init_state(memory).hidden.abs().sum() > 0
