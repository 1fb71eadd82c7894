import numpy as np
import pytest
import torch

from speechlstm.backends.torch import TorchBackend
from speechlstm.config import ModelConfig
from speechlstm.nn.model import AcousticModel, reverse_within


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return AcousticModel(ModelConfig(hidden=16, layers=3, chunk=4, right=3)).eval()


def test_reverse_within_keeps_padding():
    x = torch.arange(10.0).reshape(2, 5, 1)
    out = reverse_within(x, torch.tensor([5, 3]))
    assert out[0, :, 0].tolist() == [4, 3, 2, 1, 0]
    assert out[1, :, 0].tolist() == [7, 6, 5, 8, 9]


def test_chunked_with_one_huge_chunk_is_full(model):
    x = torch.randn(1, 100, 80)
    with torch.no_grad():
        full, _ = model.forward_full(x, torch.tensor([100]))
        chunked, _, _ = model.forward_chunked(x, torch.tensor([100]), chunk=1000, right=0)
    torch.testing.assert_close(full, chunked, atol=1e-5, rtol=0)


def test_padding_does_not_change_outputs(model):
    a, b = torch.randn(1, 120, 80), torch.randn(1, 61, 80)
    batch = torch.zeros(2, 120, 80)
    batch[0], batch[1, :61] = a[0], b[0]
    with torch.no_grad():
        for forward in (model.forward_full, lambda x, n: model.forward_chunked(x, n)[:2]):
            both, lengths = forward(batch, torch.tensor([120, 61]))
            alone, _ = forward(b, torch.tensor([61]))
            assert lengths.tolist() == [40, 20]
            torch.testing.assert_close(both[1, :20], alone[0], atol=1e-5, rtol=0)


def test_step_by_step_equals_chunked(model):
    frames = np.random.default_rng(0).standard_normal((3 * 37 + 2, 80)).astype(np.float32)
    backend = TorchBackend(model)
    with torch.no_grad():
        reference = model.forward_chunked(torch.from_numpy(frames)[None], torch.tensor([len(frames)]))[0][0].numpy()
    state, outputs, steps = backend.initial_state(), [], len(frames) // 3
    for start in range(0, steps, 4):
        main = min(4, steps - start)
        right = min(3, steps - start - main)
        out, state = backend.step(frames[3 * start:3 * (start + main + right)], main, state)
        outputs.append(out)
    np.testing.assert_allclose(np.concatenate(outputs), reference, atol=1e-5)


def test_full_backend_handles_tiny_input(model):
    assert TorchBackend(model).full(np.zeros((2, 80), np.float32)).shape == (0, 29)


def _chunk_by_chunk(model: AcousticModel, feats: torch.Tensor, length: int, chunk: int, right: int) -> torch.Tensor:
    """The latency-controlled BiLSTM written plainly for one utterance, chunk after chunk as a
    stream runs it: the reference the batched :meth:`encode_chunked` must equal."""
    x, _ = model._stack(feats[None, :length], torch.tensor([length]))
    steps = x.shape[1]
    n_chunks = -(-steps // chunk)
    x = torch.nn.functional.pad(x, (0, 0, 0, n_chunks * chunk + right - steps))
    states = [(s[0], s[1]) for s in model.zero_state(1)]
    outputs = []
    for k in range(n_chunks):
        start = k * chunk
        valid = max(1, min(chunk + right, steps - start))
        segment = x[:, start:start + chunk + right]
        for layer, (fwd, bwd) in enumerate(zip(model.forward_lstms, model.backward_lstms)):
            main_out, end = fwd(segment[:, :chunk], states[layer])
            look_out, _ = fwd(segment[:, chunk:], end) if right else (main_out[:, :0], None)
            states[layer] = end
            backward = torch.zeros(1, chunk + right, model.config.hidden)
            backward[:, :valid] = bwd(segment[:, :valid].flip(1))[0].flip(1)
            segment = torch.cat([torch.cat([main_out, look_out], 1), backward], -1)
        outputs.append(segment[:, :chunk])
    return torch.cat(outputs, 1)[0, :steps]


@pytest.mark.parametrize("chunk,right", [(4, 3), (3, 7), (5, 0), (6, 1)])
def test_batched_chunks_equal_chunk_by_chunk_in_value_and_gradient(chunk, right):
    torch.manual_seed(1)
    model = AcousticModel(ModelConfig(hidden=12, layers=3, dropout=0.0))
    lengths = [95, 61, 31]
    feats = torch.randn(len(lengths), max(lengths), 80)
    out, out_lengths, _ = model.encode_chunked(feats, torch.tensor(lengths), chunk, right)
    batched = [out[b, :n] for b, n in enumerate(out_lengths.tolist())]
    reference = [_chunk_by_chunk(model, feats[b], n, chunk, right) for b, n in enumerate(lengths)]
    for got, want in zip(batched, reference):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    weights = [torch.randn_like(r) for r in reference]
    grads = [torch.autograd.grad(sum((o * w).sum() for o, w in zip(outs, weights)), list(model.parameters()),
                                 allow_unused=True) for outs in (batched, reference)]
    for got, want in zip(*grads):
        if want is not None:
            torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
