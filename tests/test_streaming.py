import numpy as np
import pytest
import torch

from benchlib import LogProbRecorder
from speechlstm import AudioError, Recognizer, StreamError
from speechlstm.bundle import load_bundle


@pytest.fixture(scope="module")
def recognizer(tiny_bundle):
    return Recognizer.from_bundle(tiny_bundle)


def _chunked_offline(recognizer, samples):
    frames = recognizer.bundle.feature_extractor()(samples)
    model = recognizer.backend.model
    with torch.no_grad():
        return model.forward_chunked(torch.from_numpy(frames)[None], torch.tensor([len(frames)]))[0][0].numpy()


def stream_log_probs(recognizer, samples, rng, head="chars"):
    """``head``'s log-probs of a stream fed ``samples`` in random block sizes, from 1 sample to 0.6 s."""
    recording = Recognizer(recognizer.bundle, recognizer.backend, recognizer.config, LogProbRecorder(head))
    stream = recording.create_stream()
    start = 0
    while start < len(samples):
        size = int(rng.choice([1, 7, 160, 401, 1234, 9999]))
        stream.accept_waveform(16000, samples[start:start + size])
        recording.decode_ready(stream)
        start += size
    recording.finish(stream)
    return np.concatenate(stream.decoder_state)


@pytest.mark.parametrize("seed", range(6))
def test_stream_equals_chunked_offline_for_random_blocks(recognizer, seed):
    rng = np.random.default_rng(seed)
    samples = (rng.standard_normal(int(rng.integers(3000, 40000))) * 0.2).astype(np.float32)
    np.testing.assert_allclose(stream_log_probs(recognizer, samples, rng), _chunked_offline(recognizer, samples),
                               atol=1e-4)


@pytest.mark.parametrize("seed", range(2))
def test_stream_with_speaker_norm_equals_chunked_offline(normed_bundle, seed):
    """The running per-speaker normalization keeps streaming equal to the offline computation."""
    recognizer = Recognizer.from_bundle(normed_bundle)
    rng = np.random.default_rng(seed)
    samples = (rng.standard_normal(int(rng.integers(20000, 40000))) * 0.2).astype(np.float32)
    np.testing.assert_allclose(stream_log_probs(recognizer, samples, rng), _chunked_offline(recognizer, samples),
                               atol=1e-4)


def test_reset_keeps_the_speaker_normalization(normed_bundle):
    """After an endpoint the next utterance is the same speaker: the running mean goes on, the LSTM starts over."""
    recognizer = Recognizer.from_bundle(normed_bundle)
    stream = recognizer.create_stream()
    stream.accept_waveform(16000, (np.random.default_rng(0).standard_normal(16000) * 0.2).astype(np.float32))
    recognizer.decode_ready(stream)
    seen, norm = stream.features.norm.count, stream.features.norm
    recognizer.reset(stream)
    assert seen == 98 and stream.features.norm is norm and stream.features.norm.count == seen
    assert recognizer.create_stream().features.norm.count == 0


def test_stream_text_independent_of_block_size(recognizer):
    samples = (np.random.default_rng(3).standard_normal(32000) * 0.3).astype(np.float32)
    texts = {recognizer.with_options(mode="streaming", chunk_ms=ms).transcribe(samples, 16000).text
             for ms in (1, 37, 400, 5000)}
    assert len(texts) == 1


def test_partial_results_grow_and_finalize_is_idempotent(recognizer):
    stream = recognizer.create_stream()
    samples = (np.random.default_rng(0).standard_normal(16000) * 0.3).astype(np.float32)
    stream.accept_waveform(16000, samples)
    recognizer.decode_ready(stream)
    assert not recognizer.is_ready(stream)
    final = recognizer.finish(stream)
    assert recognizer.finish(stream) == final == recognizer.get_result(stream)


def test_stream_rejects_misuse(recognizer):
    stream = recognizer.create_stream()
    with pytest.raises(AudioError):
        stream.accept_waveform(0, np.zeros(10, np.float32))
    with pytest.raises(AudioError):
        stream.accept_waveform(-8000, np.zeros(10, np.float32))
    stream.accept_waveform(8000, np.zeros(800, np.float32))
    with pytest.raises(AudioError):
        stream.accept_waveform(16000, np.zeros(10, np.float32))
    recognizer.finish(stream)
    with pytest.raises(StreamError):
        stream.accept_waveform(8000, np.zeros(10, np.float32))


def test_stream_resamples_and_mixes(recognizer):
    stream = recognizer.create_stream()
    stereo = np.zeros((44100, 2), dtype=np.int16)
    stream.accept_waveform(44100, stereo)
    streaming = recognizer.with_options(mode="streaming")
    assert recognizer.finish(stream).text == streaming.transcribe(stereo, 44100).text
    assert abs(stream.seconds_received - 1.0) < 0.01


def test_bundle_round_trip_and_metadata(tiny_bundle):
    bundle = load_bundle(tiny_bundle)
    assert bundle.sample_rate == 16000
    assert bundle.frame_shift == pytest.approx(0.03)
    assert bundle.chunk_seconds == pytest.approx(0.15)
    assert bundle.right_context_seconds == pytest.approx(0.09)
    assert bundle.vocabulary[:3] == ("<blk>", " ", "'")


def test_with_options_refuses_what_needs_a_reload(recognizer):
    with pytest.raises(ValueError, match="backend"):
        recognizer.with_options(backend="onnx")
