import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from speechlstm.bundle import load_bundle
from speechlstm.config import ConfigError, FrontendConfig, SpeakerNormConfig
from speechlstm.frontend import LogMel, SpeakerNorm, StreamingLogMel, mel_filterbank


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


NORMED = FrontendConfig(speaker_norm=SpeakerNormConfig(0.5, 0.3, (-6.0,) * 80))


def _stream(samples: np.ndarray, sizes: list[int], config: FrontendConfig = FrontendConfig()) -> np.ndarray:
    stream, parts, start = StreamingLogMel(config), [], 0
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


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=3000), min_size=1, max_size=30),
       st.integers(min_value=0, max_value=2**31 - 1))
def test_speaker_norm_streams(sizes, seed):
    """Normalized in pieces as they stream, frames equal those of one whole-input run (the
    normalization exactly, test below; the log-mel frames as closely as unnormalized ones)."""
    samples = np.random.default_rng(seed).standard_normal(sum(sizes) + 500).astype(np.float32)
    whole = LogMel(NORMED)(samples)
    assert not np.allclose(whole, LogMel()(samples), atol=0.1)
    np.testing.assert_allclose(_stream(samples, sizes, NORMED), whole, atol=1e-5)


def test_speaker_norm_counts_only_the_frames_kept():
    """Pieces give exactly what one call gives; a piece normalized with ``keep`` leaves the state
    where its first ``keep`` frames end (overlapping segments)."""
    frames = np.random.default_rng(0).standard_normal((50, 80)).astype(np.float32) - 5
    whole = SpeakerNorm(NORMED)(frames)
    pieces = SpeakerNorm(NORMED)
    np.testing.assert_array_equal(pieces(frames[:30], keep=20), whole[:30])
    np.testing.assert_array_equal(pieces(frames[20:]), whole[20:])


def test_speaker_norm_removes_a_change_of_level():
    """At full weight and no prior, a louder copy of a signal (log-mel shifted by a constant) gets
    the same features: the running mean absorbs the microphone's gain from the first frame on."""
    config = FrontendConfig(speaker_norm=SpeakerNormConfig(1.0, 0.0, (0.0,) * 80))
    samples = np.random.default_rng(2).standard_normal(8000).astype(np.float32) * 0.1
    np.testing.assert_allclose(LogMel(config)(samples * 4), LogMel(config)(samples), atol=2e-3)
    assert np.abs(LogMel()(samples * 4) - LogMel()(samples)).min() > 2.7  # log(16)


def test_speaker_norm_off_passes_frames_through():
    frames = np.ones((4, 80), np.float32)
    assert SpeakerNorm(FrontendConfig())(frames) is frames


@pytest.mark.parametrize("settings, message", [
    ({"weight": 1.5, "prior": (0.0,) * 80}, "weight"), ({"weight": 0.5, "prior_seconds": -1.0, "prior": (0.0,) * 80},
                                                         "prior_seconds"),
    ({"weight": 0.5}, "needs its 'prior'"), ({"weight": 0.5, "prior": (0.0,) * 40}, "40 values for 80")])
def test_speaker_norm_settings_are_checked(settings, message):
    with pytest.raises(ConfigError, match=message):
        FrontendConfig(speaker_norm=SpeakerNormConfig(**settings))


def test_bundles_keep_the_speaker_norm_and_older_headers_read_as_off(normed_bundle, tiny_bundle):
    frontend = load_bundle(normed_bundle).frontend
    assert frontend.speaker_norm.weight == 0.5 and FrontendConfig.from_dict(frontend.to_dict()) == frontend
    older = {key: value for key, value in load_bundle(tiny_bundle).frontend.to_dict().items() if key != "speaker_norm"}
    assert FrontendConfig.from_dict(older).speaker_norm.weight == 0.0


def test_set_speaker_norm_tool_sets_it_from_the_model_mean(tiny_bundle, tmp_path, monkeypatch, capsys):
    import runpy
    import sys

    from conftest import ROOT

    output = tmp_path / "normed.safetensors"
    monkeypatch.setattr(sys, "argv", ["set_speaker_norm.py", str(tiny_bundle), "-o", str(output), "--weight", "0.4",
                                      "--prior-seconds", "2", "--dev-wer", "12.3 % (test)"])
    runpy.run_path(str(ROOT / "tools" / "set_speaker_norm.py"), run_name="__main__")
    before, after = load_bundle(tiny_bundle), load_bundle(output)
    assert after.frontend.speaker_norm == SpeakerNormConfig(0.4, 2.0, tuple(before.tensors["feat_mean"].tolist()))
    assert after.info["dev_wer"] == "12.3 % (test)" and after.model == before.model
    assert all(np.array_equal(after.tensors[name], before.tensors[name]) for name in before.tensors)
