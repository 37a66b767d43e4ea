import pytest
import torch

from captra.common.decoding.beam_search import beam_search
from captra.common.decoding.settings import SearchConfig, length_limits
from captra.common.decoding.search import greedy_search, search
from captra.common.text.vocab import EOS_ID
from tests.helpers import random_memory, tiny_decoder

LENGTHS = [7, 3, 5, 1, 6]


@pytest.mark.parametrize("attention,cell", [("additive", "lstm"), ("general", "gru"), ("none", "lstm"), ("dot", "rnn")])
def test_beam_of_one_equals_greedy(attention, cell):
    decoder = tiny_decoder(attention, cell)
    memory = random_memory(LENGTHS)
    config = SearchConfig(beam_size=1, length_penalty=0.0, max_len_a=1.0, max_len_b=4)
    greedy = greedy_search(decoder, memory, config)
    beam = beam_search(decoder, memory, config)
    assert [g[0].tokens for g in greedy] == [b[0].tokens for b in beam]
    assert [round(g[0].score, 4) for g in greedy] == [round(b[0].score, 4) for b in beam]
    assert any(len(g[0].tokens) > 0 for g in greedy)


@pytest.mark.parametrize("beam_size", [2, 5])
def test_beam_search_gives_the_same_hypotheses_alone_and_in_a_batch(beam_size):
    decoder = tiny_decoder(vocab=30)
    memory = random_memory(LENGTHS, seed=3)
    config = SearchConfig(beam_size=beam_size, n_best=beam_size, max_len_a=1.0, max_len_b=5)
    batched = beam_search(decoder, memory, config)
    for row in range(len(LENGTHS)):
        alone_memory = memory.select(torch.tensor([row]))
        length = LENGTHS[row]
        alone_memory.states, alone_memory.mask = alone_memory.states[:, :length], alone_memory.mask[:, :length]
        alone = beam_search(decoder, alone_memory, config)[0]
        assert [h.tokens for h in alone] == [h.tokens for h in batched[row]]
        assert [h.score for h in alone] == pytest.approx([h.score for h in batched[row]], abs=1e-5)


def test_nbest_is_sorted_distinct_and_within_length_limits():
    decoder = tiny_decoder(vocab=25)
    memory = random_memory(LENGTHS, seed=1)
    config = SearchConfig(beam_size=4, n_best=4, max_len_a=0.5, max_len_b=2, min_len_b=2)
    min_len, max_len = length_limits(memory, config)
    for row, nbest in enumerate(beam_search(decoder, memory, config)):
        assert len(nbest) == 4
        scores = [h.score for h in nbest]
        assert scores == sorted(scores, reverse=True)
        assert len({tuple(h.tokens) for h in nbest}) == 4
        for h in nbest:
            assert int(min_len[row]) <= len(h.tokens) <= int(max_len[row])


def test_length_penalty_favours_longer_outputs():
    decoder = tiny_decoder(vocab=25, seed=4)
    with torch.no_grad():
        decoder.output.bias[EOS_ID] += 0.5  # </s> likely early: without a penalty outputs stay short
    memory = random_memory(LENGTHS, seed=4)
    short = beam_search(decoder, memory, SearchConfig(beam_size=5, length_penalty=0.0, max_len_b=20, max_len_a=0))
    long = beam_search(decoder, memory, SearchConfig(beam_size=5, length_penalty=3.0, max_len_b=20, max_len_a=0))
    assert sum(len(n[0].tokens) for n in long) > sum(len(n[0].tokens) for n in short)


def test_attention_is_kept_per_output_token():
    decoder = tiny_decoder()
    memory = random_memory(LENGTHS)
    for strategy in ("beam", "greedy"):
        results = search(decoder, memory, SearchConfig(strategy=strategy, beam_size=3, max_len_b=6), keep_attention=True)
        for row, nbest in enumerate(results):
            attention = nbest[0].attention
            assert attention.shape == (len(nbest[0].tokens), max(LENGTHS))
            assert torch.all(attention[:, LENGTHS[row]:] == 0)


def test_sampling_follows_the_seed_and_temperature():
    decoder = tiny_decoder(vocab=40)
    memory = random_memory(LENGTHS)
    config = SearchConfig(strategy="sample", temperature=5.0, max_len_b=8, max_len_a=0)
    torch.manual_seed(0)
    first = [h[0].tokens for h in search(decoder, memory, config)]
    torch.manual_seed(0)
    second = [h[0].tokens for h in search(decoder, memory, config)]
    torch.manual_seed(1)
    third = [h[0].tokens for h in search(decoder, memory, config)]
    assert first == second
    assert first != third


def test_beam_search_reuses_compaction_storage_but_never_writes_the_callers_memory():
    decoder = tiny_decoder(vocab=30)
    memory = random_memory([7, 3, 5, 1, 6, 2, 4, 7], seed=8)
    original = [memory.states.clone(), memory.mask.clone(), memory.summary.clone()]
    config = SearchConfig(beam_size=3, n_best=3, max_len_a=1.0, max_len_b=3)
    batched = beam_search(decoder, memory, config)
    assert all(torch.equal(a, b) for a, b in zip(original, [memory.states, memory.mask, memory.summary]))
    for row in range(8):  # many compactions happened; every sentence still gets its own hypotheses
        alone = beam_search(decoder, memory.select(torch.tensor([row])), config)[0]
        assert [h.tokens for h in alone] == [h.tokens for h in batched[row]]


def test_memory_select_into_out_writes_its_first_rows():
    memory = random_memory([4, 2, 3], seed=9)
    out = random_memory([4, 4, 4], seed=10)
    index = torch.tensor([2, 0])
    selected = memory.select(index, out=out)
    expected = memory.select(index)
    assert torch.equal(selected.states, expected.states) and torch.equal(selected.mask, expected.mask)
    assert torch.equal(selected.summary, expected.summary)
    assert selected.states.data_ptr() == out.states.data_ptr()  # no new storage
