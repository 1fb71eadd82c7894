"""The engine API: streams hold state, the recognizer decodes one or many of them."""
from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

from benchlib import CountingBackend
from conftest import SAMPLES
from speechlstm import ModelConfig, Recognizer, StreamError, load_bundle


@pytest.fixture(scope="module")
def greedy(tiny_bundle):
    return Recognizer.from_bundle(tiny_bundle, decoder="greedy")


def _audio(count, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(int(rng.integers(9000, 40000))) * 0.3).astype(np.float32) for _ in range(count)]


def _alone(recognizer, audio):
    stream = recognizer.create_stream()
    stream.accept_waveform(16000, audio)
    stream.input_finished()
    while recognizer.is_ready(stream):  # the single steps that decode_ready repeats
        recognizer.decode_stream(stream)
    return recognizer.get_result(stream)


def _feed(recognizer, audios, block, decode_round):
    """Feed ``audios`` to one stream each in blocks, round robin as from several callers, calling
    ``decode_round(streams)`` after every round of blocks and once more after the input ends."""
    streams = [recognizer.create_stream() for _ in audios]
    for start in range(0, max(map(len, audios)), block):
        for stream, audio in zip(streams, audios):
            if start < len(audio):
                stream.accept_waveform(16000, audio[start:start + block])
        decode_round(streams)
    for stream in streams:
        stream.input_finished()
    decode_round(streams)
    return [recognizer.get_result(stream) for stream in streams]


def check_decode_streams(plain):
    """Five streams fed in blocks and decoded together give each stream's own results (decoded
    alone, from the same blocks), with one backend call per round of full chunks."""
    counter = CountingBackend(plain.backend)
    batched = Recognizer(plain.bundle, counter, plain.config, plain.decoder)
    audios = _audio(5)

    def one_by_one(streams):
        for stream in streams:
            plain.decode_ready(stream)

    def together(streams):
        while True:
            ready = [s for s in streams if batched.is_ready(s)]
            if not ready:
                return
            full = all(len(s.pending) // counter.stack >= counter.chunk + counter.right for s in ready)
            before = counter.calls
            assert batched.decode_streams(streams) == len(ready)
            if full:
                assert counter.calls == before + 1, "a round of full chunks is one backend call"

    expected = _feed(plain, audios, 1600, one_by_one)
    assert _feed(batched, audios, 1600, together) == expected  # texts, word times and confidences
    assert _feed(batched, audios, 1600, batched.decode_ready) == expected
    assert any(result.text for result in expected)
    # and the same text as a stream fed the whole audio at once
    assert [r.text for r in expected] == [_alone(plain, audio).text for audio in audios]


@pytest.mark.parametrize("decoder", ["greedy", "prefix"])
def test_decode_streams_equals_each_stream_alone_with_one_backend_call_per_round(tiny_bundle, decoder):
    check_decode_streams(Recognizer.from_bundle(tiny_bundle, decoder=decoder, lm=None))


def test_decode_ready_and_order_of_use(greedy):
    audio = _audio(1, seed=3)[0]
    stream = greedy.create_stream()
    stream.accept_waveform(16000, audio)
    assert greedy.decode_ready(stream) > 0
    assert not greedy.is_ready(stream) and greedy.decode_ready([stream]) == 0
    final = greedy.finish(stream)
    assert final == greedy.get_result(stream) == _alone(greedy, audio)
    with pytest.raises(StreamError, match="after input_finished"):
        stream.accept_waveform(16000, audio)


def test_a_stream_is_state_that_only_buffers_its_audio(greedy):
    audio = _audio(1, seed=7)[0]
    stream = greedy.create_stream()
    assert not any(isinstance(value, (Recognizer, type(greedy.backend))) for value in vars(stream).values())
    block = audio.copy()
    stream.accept_waveform(16000, block)
    assert stream.samples_received == 0 and len(stream.pending) == 0  # no features until the recognizer runs
    block[:] = 0.0  # the caller reuses its buffer: the stream kept a copy
    assert greedy.finish(stream) == _alone(greedy, audio)
    assert stream.samples_received == len(audio)


def test_reset_starts_the_stream_over(greedy):
    audio = _audio(1, seed=4)[0]
    stream = greedy.create_stream()
    first = greedy.accept_blocks(stream, [audio])
    greedy.finish(first)
    greedy.reset(stream)
    assert stream.seconds_accepted == 0 and stream.samples_received == 0 and greedy.get_result(stream).text == ""
    stream.accept_waveform(16000, audio)
    assert greedy.finish(stream) == _alone(greedy, audio)


def test_is_endpoint_after_trailing_silence_and_at_the_maximum_length(tiny_bundle):
    recognizer = Recognizer.from_bundle(tiny_bundle, decoder="greedy")
    loud = (np.random.default_rng(5).standard_normal(8000) * 0.3).astype(np.float32)
    stream = recognizer.create_stream()
    recognizer.accept_blocks(stream, [loud])
    assert not recognizer.is_endpoint(stream)
    recognizer.accept_blocks(stream, [np.zeros(16000 * 3, np.float32)])  # silence past both limits
    assert recognizer.is_endpoint(stream)
    short = recognizer.with_options(endpoint=recognizer.config.endpoint.__class__(max_utterance=0.4))
    stream = short.create_stream()
    short.accept_blocks(stream, [loud])
    assert short.is_endpoint(stream)


def test_per_stream_hotwords(tiny_bundle):
    recognizer = Recognizer.from_bundle(tiny_bundle, decoder="prefix", lm=None, hotwords=["anne"])
    plain, boosted = recognizer.create_stream(), recognizer.create_stream(hotwords=[("marianne", 9.0)])
    assert plain.decoder is recognizer.decoder
    assert boosted.decoder.hotwords.words == {"anne", "marianne"}
    assert recognizer.create_stream(hotwords={"marianne": 9.0}).decoder is boosted.decoder  # built once
    audio = _audio(1, seed=6)[0]
    for stream in (plain, boosted):
        stream.accept_waveform(16000, audio)
        recognizer.decode_ready(stream)
    assert recognizer.decode_streams([plain, boosted]) == 0  # nothing left that is ready
    with pytest.raises(ValueError, match="beam decoder"):
        Recognizer.from_bundle(tiny_bundle, decoder="greedy").create_stream(hotwords=["marianne"])


def test_transcribe_file_takes_the_mode_per_call(tiny_bundle):
    plain = Recognizer.from_bundle(tiny_bundle, decoder="greedy")
    counter = CountingBackend(plain.backend)
    recognizer = Recognizer(plain.bundle, counter, plain.config, plain.decoder)
    wav = SAMPLES / "goforward.wav"
    offline = recognizer.transcribe_file(wav)
    assert counter.calls == 1  # one full-BiLSTM run
    streaming = recognizer.transcribe_file(wav, mode="streaming")
    assert counter.calls > 10 and recognizer.config.mode == "offline"
    assert streaming.duration == pytest.approx(offline.duration, abs=0.01)
    assert streaming == plain.with_options(mode="streaming").transcribe_file(wav)
    with pytest.raises(ValueError, match="mode"):
        recognizer.transcribe_file(wav, mode="live")


def test_bundles_written_before_typed_configs_still_load(tiny_bundle, tmp_path):
    """Version-1 bundles (and ONNX files) stored the model config as a plain dict, the oldest
    ones without ``phone_vocab_size``, and no training config."""
    with safe_open(str(tiny_bundle), framework="np") as handle:
        header = json.loads(handle.metadata()["speechlstm"])
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    assert header["version"] == 2 and "train" in header
    old = {key: header[key] for key in ("format", "frontend", "vocabulary", "info")}
    old["version"] = 1
    old["model"] = {key: value for key, value in header["model"].items() if key != "phone_vocab_size"}
    path = tmp_path / "old.safetensors"
    save_file(tensors, str(path), metadata={"speechlstm": json.dumps(old)})
    bundle = load_bundle(path)
    assert isinstance(bundle.model, ModelConfig) and bundle.model.phone_vocab_size == 0 and bundle.train == {}
    assert bundle.model == load_bundle(tiny_bundle).model
    assert bundle.header()["version"] == 2
    old_text = Recognizer.from_bundle(path, decoder="greedy").transcribe_file(SAMPLES / "goforward.wav").text
    assert old_text == Recognizer.from_bundle(tiny_bundle, decoder="greedy").transcribe_file(
        SAMPLES / "goforward.wav").text
