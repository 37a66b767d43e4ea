import torch

from captra.common.nn.encoder import EncoderConfig, RecurrentEncoder, reverse_padded


def test_reverse_padded_keeps_padding_in_place():
    ids = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]])
    assert reverse_padded(ids, torch.tensor([3, 2])).tolist() == [[3, 2, 1, 0], [5, 4, 0, 0]]


def test_packed_encoder_gives_the_same_states_alone_and_in_a_batch():
    torch.manual_seed(0)
    encoder = RecurrentEncoder(EncoderConfig(embedding_size=8, hidden_size=6, num_layers=2, dropout=0.0), 20).eval()
    src = torch.tensor([[5, 6, 7, 8, 9], [10, 11, 0, 0, 0]])
    batch = encoder(src, torch.tensor([5, 2]))
    alone = encoder(src[1:, :2], torch.tensor([2]))
    assert batch.states.shape == (2, 5, 12) and batch.summary.shape == (2, 12)
    assert torch.allclose(batch.states[1, :2], alone.states[0], atol=1e-6)
    assert torch.allclose(batch.summary[1], alone.summary[0], atol=1e-6)
    assert torch.all(batch.states[1, 2:] == 0)
    assert batch.mask.tolist() == [[True] * 5, [True, True, False, False, False]]


def test_encoder_runs_under_cpu_bf16_autocast_with_fp32_recurrence():
    """bf16-mixed on a CPU without bf16 RNN kernels: the packed LSTM runs in fp32, the result matches."""
    torch.manual_seed(1)
    encoder = RecurrentEncoder(EncoderConfig(embedding_size=8, hidden_size=6, dropout=0.0), 20).eval()
    src, lengths = torch.tensor([[5, 6, 7, 8], [9, 10, 0, 0]]), torch.tensor([4, 2])
    reference = encoder(src, lengths)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = encoder(src, lengths)
    assert mixed.states.dtype == torch.float32
    assert torch.allclose(mixed.states, reference.states, atol=1e-6)
