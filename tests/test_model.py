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
