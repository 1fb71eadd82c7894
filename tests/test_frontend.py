import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from speechlstm.config import FrontendConfig
from speechlstm.frontend import LogMel, StreamingLogMel, mel_filterbank


def test_filterbank_matches_librosa():
    librosa = pytest.importorskip("librosa")
    config = FrontendConfig()
    reference = librosa.filters.mel(sr=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels,
                                    fmin=config.f_min, fmax=config.f_max)
    np.testing.assert_allclose(mel_filterbank(config), reference, atol=1e-6)


def test_frame_count_and_shape():
    extractor = LogMel()
    assert extractor(np.zeros(399, np.float32)).shape == (0, 80)
    assert extractor(np.zeros(400, np.float32)).shape == (1, 80)
    assert extractor(np.zeros(16000, np.float32)).shape == (98, 80)


def _stream(samples: np.ndarray, sizes: list[int]) -> np.ndarray:
    stream, parts, start = StreamingLogMel(), [], 0
    for size in sizes:
        parts.append(stream.accept(samples[start:start + size]))
        start += size
    parts.append(stream.accept(samples[start:]))
    return np.concatenate(parts)


@pytest.mark.parametrize("sizes", [[1] * 1000, [160] * 30, [399, 1, 401, 7000], [50000]])
def test_streaming_equals_batch_fixed_splits(sizes):
    samples = np.random.default_rng(1).standard_normal(12345).astype(np.float32) * 0.3
    np.testing.assert_allclose(_stream(samples, sizes), LogMel()(samples), atol=1e-5)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=3000), min_size=1, max_size=30),
       st.integers(min_value=0, max_value=2**31 - 1))
def test_streaming_equals_batch_random_splits(sizes, seed):
    samples = np.random.default_rng(seed).standard_normal(sum(sizes) + 500).astype(np.float32)
    np.testing.assert_allclose(_stream(samples, sizes), LogMel()(samples), atol=1e-5)


def test_silence_and_extremes_are_finite():
    extractor = LogMel()
    for signal in (np.zeros(4000), np.ones(4000), np.full(4000, -1.0), np.tile([1.0, -1.0], 2000)):
        assert np.isfinite(extractor(signal.astype(np.float32))).all()
