import pytest
import torch

from captra.common.decoding.beam_search import beam_search
from captra.common.decoding.settings import SearchConfig, length_limits
from captra.common.decoding.search import greedy_search, search
from captra.common.text.vocab import EOS_ID
from tests.helpers import random_memory, tiny_decoder

LENGTHS = [7, 3, 5, 1, 6]


def memory_row(memory, row: int):
    """Row `row` of a memory of LENGTHS alone, cut to its own length (no padding)."""
    alone = memory.select(torch.tensor([row]))
    alone.states, alone.mask = alone.states[:, :LENGTHS[row]], alone.mask[:, :LENGTHS[row]]
    return alone


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
        alone = beam_search(decoder, memory_row(memory, row), config)[0]
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


def prefix_tensor(rows: list[list[int]]) -> torch.Tensor:
    """(B, P) prefix ids, padded with <pad> (0) at the end of shorter rows."""
    width = max(1, max(map(len, rows)))
    return torch.tensor([row + [0] * (width - len(row)) for row in rows])


PREFIXES = [[5, 6, 7], [], [9], [4, 4], [8, 5, 6, 7, 9, 10, 11]]  # the last is longer than its max length (5)


@pytest.mark.parametrize("strategy", ["greedy", "sample", "beam"])
def test_every_hypothesis_starts_with_its_prompt_and_the_search_goes_on_after_it(strategy):
    decoder = tiny_decoder(vocab=25, seed=2)
    memory = random_memory(LENGTHS, seed=5)
    config = SearchConfig(strategy=strategy, beam_size=3, n_best=3, max_len_a=0.5, max_len_b=2, min_len_b=0)
    torch.manual_seed(0)
    results = search(decoder, memory, config, prefix=prefix_tensor(PREFIXES))
    _, max_len = length_limits(memory, config)
    for prompt, nbest, limit in zip(PREFIXES, results, max_len.tolist()):
        assert nbest and all(h.tokens[: len(prompt)] == prompt for h in nbest)
        assert all(len(h.tokens) <= max(limit, len(prompt)) for h in nbest)
    assert results[4][0].tokens == PREFIXES[4]  # past its max length the prompt is written whole, then it ends
    assert any(len(h.tokens) > len(p) for p, nbest in zip(PREFIXES, results) for h in nbest)  # it went on


@pytest.mark.parametrize("strategy", ["greedy", "beam"])
def test_forcing_what_the_search_would_choose_changes_nothing(strategy):
    decoder = tiny_decoder(vocab=25, seed=2)
    memory = random_memory(LENGTHS, seed=5)
    config = SearchConfig(strategy=strategy, beam_size=1, length_penalty=0.0, max_len_a=1.0, max_len_b=4)
    free = search(decoder, memory, config)
    prompts = [h[0].tokens[:2] for h in free]
    forced = search(decoder, memory, config, prefix=prefix_tensor(prompts))
    assert [h[0].tokens for h in forced] == [h[0].tokens for h in free]
    assert [h[0].score for h in forced] == pytest.approx([h[0].score for h in free], abs=1e-5)


def test_an_unlikely_prompt_is_scored_as_the_model_scores_it_and_decodes_alone_as_in_a_batch():
    decoder = tiny_decoder(vocab=25, seed=2)
    memory = random_memory(LENGTHS, seed=5)
    config = SearchConfig(beam_size=3, n_best=3, max_len_a=1.0, max_len_b=3)
    free = beam_search(decoder, memory, config)
    batched = beam_search(decoder, memory, config, prefix=prefix_tensor(PREFIXES))
    assert batched[0][0].score < free[0][0].score  # 5 6 7 is not what the model would write
    for row in range(len(LENGTHS)):
        alone = beam_search(decoder, memory_row(memory, row), config, prefix=prefix_tensor([PREFIXES[row]]))[0]
        assert [h.tokens for h in alone] == [h.tokens for h in batched[row]]


@pytest.mark.parametrize("rows, message", [([[5, EOS_ID]], "without <s> and </s>"), ([[0, 5]], "padded at its end only"),
                                           ([[-1]], "none is negative"), ([[20]], r"\(20\) is not in the vocabulary of 20")])
def test_a_malformed_prompt_is_refused(rows, message):
    with pytest.raises(ValueError, match=message):
        search(tiny_decoder(), random_memory([3]), SearchConfig(), prefix=torch.tensor(rows))


@pytest.mark.parametrize("strategy", ["greedy", "sample", "beam"])
def test_a_decoder_without_a_source_continues_prompts_from_an_empty_memory(strategy):
    from captra.common.nn.memory import Memory

    decoder = tiny_decoder("none", vocab=25, seed=6)
    config = SearchConfig(strategy=strategy, beam_size=3, max_len_a=1.5, max_len_b=6, min_len_b=0)
    prompts = [[5, 6], [7], [], [8, 9, 10]]
    memory = Memory.empty(torch.zeros(len(prompts), 16))  # the learned start state for every row
    torch.manual_seed(0)
    results = search(decoder, memory, config, prefix=prefix_tensor(prompts))
    assert all(nbest[0].tokens[: len(p)] == p and len(nbest[0].tokens) <= 6 for p, nbest in zip(prompts, results))
    if strategy != "sample":  # each prompt decodes alone as in the batch
        alone = [search(decoder, Memory.empty(torch.zeros(1, 16)), config, prefix=prefix_tensor([p]))[0] for p in prompts]
        assert [a[0].tokens for a in alone] == [r[0].tokens for r in results]
    logits, weights = decoder(memory, torch.tensor([[1, 5, 6]] * len(prompts)))  # teacher forcing (B, T, V)
    assert logits.shape == (4, 3, 25) and weights is None and bool(torch.isfinite(logits).all())


def test_attention_over_an_empty_memory_is_refused():
    from captra.common.nn.memory import Memory

    with pytest.raises(ValueError, match="additive attention over an empty memory: a decoder without a source needs"):
        search(tiny_decoder("additive"), Memory.empty(torch.zeros(2, 16)), SearchConfig())
