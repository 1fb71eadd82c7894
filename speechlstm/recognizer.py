"""The engine: a :class:`Recognizer` runs the model and the decoders for any number of streams.

The API has the shape sherpa-onnx users know::

    recognizer = Recognizer.from_config(RecognizerConfig(...))   # or Recognizer.from_bundle(path, **options)
    stream = recognizer.create_stream(hotwords=["Marianne"])     # per-stream hotwords
    stream.accept_waveform(sample_rate, samples); stream.input_finished()   # buffered only
    recognizer.decode_ready(stream)                              # every ready chunk
    recognizer.decode_ready([s1, s2, s3])                        # of many streams, one backend call a round
    recognizer.get_result(stream); recognizer.is_endpoint(stream); recognizer.reset(stream)
    recognizer.transcribe_file(path, mode="streaming")           # mode per call

A :class:`~speechlstm.Stream` holds state only; everything that computes is here: features,
model, decoding, results and endpoints. ``is_ready``, ``decode_stream`` and ``decode_streams``
are the single steps that :meth:`Recognizer.decode_ready` repeats.
"""
from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from .backends import BACKENDS, AcousticBackend, load_backend, resolve_backend
from .bundle import Bundle
from .config import MODES, ConfigError, DecodingConfig, EndpointConfig, StreamingConfig, field_names, hotword_boosts
from .decode import Decoder, build_decoder, build_grammar_decoder
from .frontend import SpeakerNorm, StreamingLogMel
from .io.audio import AudioError, iter_blocks, resample
from .progress import reporting
from .results import Alternative, Result, Transcript
from .segments import SegmentedOffline
from .stream import Stream, StreamError

_DECODING, _STREAMING = field_names(DecodingConfig), field_names(StreamingConfig)


@dataclass(frozen=True)
class RecognizerConfig:
    """How to recognize: which model and backend, how many threads, the default mode, and the
    nested streaming, decoding and endpoint configs.

    ``model`` is a bundle, an ONNX file or a folder of exported graphs (default: the shipped
    model). ``backend`` is ``torch``, ``onnx``, ``onnx-int8`` or ``auto`` (onnx-int8 when its
    files lie next to the bundle and onnxruntime is installed, else torch). ``threads`` is the
    model's CPU threads: 1 by default, because the per-chunk matrices of a batch-1 LSTM are too
    small to split (more threads were slower in RESULTS.md's measurements); 0 leaves the library's
    default (one per core). ``mode`` is the default of :meth:`Recognizer.transcribe_file`:
    ``offline`` (the full BiLSTM over the file, in segments of at most 30 s cut at pauses when
    it is longer than a minute: :mod:`speechlstm.segments`) or ``streaming`` (the chunked model
    fed block by block, as a live source would).

    :meth:`with_options` takes the nested configs' fields by name too (``beam_size=8``,
    ``chunk_ms=200``), as :meth:`Recognizer.from_bundle` does.

    ``punctuate`` (default on) fills the results' readable text (:attr:`Result.readable`:
    cased, punctuated, numbers written) with the shipped tagger (:mod:`speechlstm.punctuation`);
    the raw text stays in ``text``.
    """

    model: str | Path | None = None
    backend: str = "auto"
    threads: int = 1
    mode: str = "offline"
    punctuate: bool = True
    streaming: StreamingConfig = field(default_factory=StreamingConfig)
    decoding: DecodingConfig = field(default_factory=DecodingConfig)
    endpoint: EndpointConfig = field(default_factory=EndpointConfig)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.backend not in ("auto", *BACKENDS):
            raise ConfigError(f"backend must be auto or one of {BACKENDS}, got {self.backend!r}")
        if self.threads < 0:
            raise ConfigError(f"threads must be >= 0, got {self.threads}")

    def with_options(self, **options: Any) -> "RecognizerConfig":
        """A copy with ``options`` replaced: own fields, or fields of the streaming and decoding configs."""
        decoding = {k: options.pop(k) for k in list(options) if k in _DECODING}
        streaming = {k: options.pop(k) for k in list(options) if k in _STREAMING}
        config = replace(self, **options)
        if decoding:
            config = replace(config, decoding=replace(config.decoding, **decoding))
        if streaming:
            config = replace(config, streaming=replace(config.streaming, **streaming))
        return config


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a streaming transcription; ``partial`` is what was decoded until then."""

    def __init__(self, partial: Transcript) -> None:
        super().__init__("interrupted")
        self.partial = partial


class Recognizer:
    """Speech to text with one model; create one and reuse it for many files and streams."""

    HOTWORD_DECODERS = 8
    """Decoders built for per-stream hotwords or phrase lists that are kept for reuse."""

    def __init__(self, bundle: Bundle, backend: AcousticBackend, config: RecognizerConfig,
                 decoder: Decoder | None = None) -> None:
        self.bundle, self.backend, self.config = bundle, backend, config
        self.decoder = decoder or build_decoder(bundle, config.decoding, config.model, heads=backend.heads)
        self._decoders: OrderedDict[tuple, Decoder] = OrderedDict()
        self._decoders_lock = threading.Lock()

    @classmethod
    def from_config(cls, config: RecognizerConfig) -> "Recognizer":
        """Load the model with the configured backend (``auto`` resolved in the returned config)."""
        config = replace(config, backend=resolve_backend(config.backend, config.model))
        bundle, backend = load_backend(config.backend, config.model, config.threads, preload=config.mode)
        if config.punctuate:
            from .punctuation import load_punctuator
            load_punctuator()  # a missing tagger fails here, before any audio is read
        return cls(bundle, backend, config)

    @classmethod
    def from_bundle(cls, model: str | Path | None = None, **options: Any) -> "Recognizer":
        """Load ``model`` (default: the shipped model); ``options`` are RecognizerConfig fields or
        fields of its nested configs (``decoder``, ``beam_size``, ``lm``, ``hotwords``, ``chunk_ms``...)."""
        return cls.from_config(RecognizerConfig(model=model).with_options(**options))

    def with_options(self, **options: Any) -> "Recognizer":
        """The same loaded model (and decoder, unless its options change) with other options."""
        reload = {"model", "backend", "threads"} & set(options)
        if reload:
            raise ConfigError(f"{', '.join(sorted(reload))} need a new Recognizer (from_config), not with_options")
        config = self.config.with_options(**options)
        return Recognizer(self.bundle, self.backend, config,
                          self.decoder if config.decoding == self.config.decoding else None)

    @property
    def sample_rate(self) -> int:
        return self.bundle.sample_rate

    # Streams ---------------------------------------------------------------------------

    def create_stream(self, hotwords: Mapping[str, float] | Sequence[str | tuple[str, float]] | None = None,
                      phrases: Sequence[str] | None = None) -> Stream:
        """A new stream with its own state; any number can run side by side.

        ``hotwords`` (phrases, (phrase, boost) pairs or a mapping) are boosted in this stream on
        top of the configured ones; they need a beam decoder. ``phrases`` (a grammar, as vosk's
        phrase list) restrict the stream to those phrases (:func:`~speechlstm.decode.build_grammar_decoder`);
        hotwords do not apply then. Either decoder is built once and kept for reuse
        (:attr:`HOTWORD_DECODERS` of them, from any thread).
        """
        decoder = self.decoder_for(hotwords, phrases)
        return Stream(decoder, self.config.endpoint, *self._new_state(decoder))

    def _new_state(self, decoder: Decoder, norm: SpeakerNorm | None = None) -> tuple[StreamingLogMel, Any, Any]:
        """The frontend, model and decoder states a stream starts from (its speaker normalization from ``norm``)."""
        return StreamingLogMel(self.bundle.frontend, norm), self.backend.initial_state(), decoder.new_state()

    def decoder_for(self, hotwords: Any = None, phrases: Sequence[str] | None = None) -> Decoder:
        """The decoder of a stream with these hotwords or phrases: cached, else built (slow: call it
        off a latency-critical thread first, as the server does)."""
        extra = hotword_boosts(hotwords)
        if not extra and not phrases:
            return self.decoder
        merged = {**dict(self.config.decoding.hotwords), **extra}
        key = ("phrases", tuple(sorted(set(phrases)))) if phrases else ("hotwords", tuple(sorted(merged.items())))
        with self._decoders_lock:
            decoder = self._decoders.pop(key, None)
        if decoder is None:
            decoder = (build_grammar_decoder(self.bundle, self.config.decoding, key[1]) if phrases else
                       build_decoder(self.bundle, self.config.decoding, self.config.model, hotwords=merged,
                                     heads=self.backend.heads))
        with self._decoders_lock:
            self._decoders[key] = decoder
            while len(self._decoders) > self.HOTWORD_DECODERS:
                self._decoders.popitem(last=False)
        return decoder

    def _take_audio(self, stream: Stream) -> None:
        """Turn the audio ``stream`` buffered into feature frames waiting for the model, noting
        where it was last loud; once its input is finished, flush the resampler's tail too."""
        blocks, stream.audio = stream.audio, []
        for block in blocks:
            rate = stream.resampler.source
            loud = _last_loud_sample(block, rate, stream.endpoint.silence_level)
            if loud is not None:
                stream.last_loud = stream.seconds_accepted + loud / rate
            stream.seconds_accepted += len(block) / rate
            self._add_samples(stream, stream.resampler(block))
        if stream.input_done and stream.resampler is not None:
            self._add_samples(stream, stream.resampler(np.zeros(0, dtype=np.float32), last=True))
            stream.resampler = None

    @staticmethod
    def _add_samples(stream: Stream, samples: np.ndarray) -> None:
        stream.samples_received += len(samples)
        frames = stream.features.accept(samples)
        if len(frames):
            stream.pending = np.concatenate([stream.pending, frames])

    def _next_chunk(self, stream: Stream) -> tuple[int, int] | None:
        """(main, right) steps of the chunk ``stream`` can decode now, or None."""
        self._take_audio(stream)
        backend = self.backend
        steps = len(stream.pending) // backend.stack
        if steps >= backend.chunk + backend.right:
            return backend.chunk, backend.right
        if stream.input_done and steps > 0:
            main = min(backend.chunk, steps)
            return main, min(backend.right, steps - main)
        return None

    def is_ready(self, stream: Stream) -> bool:
        """True when a chunk and its right context are waiting (or, once the input is finished,
        any tail of the audio)."""
        return self._next_chunk(stream) is not None

    def decode_ready(self, streams: Stream | Sequence[Stream]) -> int:
        """Decode every chunk that is ready, of one stream or many: rounds of
        :meth:`decode_streams` (one backend call per chunk shape) until none is ready. This is
        what a caller runs after feeding audio; returns the number of chunks decoded."""
        streams = [streams] if isinstance(streams, Stream) else streams
        decoded = 0
        while advanced := self.decode_streams(streams):
            decoded += advanced
        return decoded

    def decode_stream(self, stream: Stream) -> None:
        """Decode one chunk of ``stream`` (call while :meth:`is_ready`; :meth:`decode_ready` does both)."""
        shape = self._next_chunk(stream)
        if shape is not None:
            self._run((*shape, stream.decoder.head), [stream])

    def decode_streams(self, streams: Sequence[Stream]) -> int:
        """Decode one chunk of every ready stream in ``streams``, with one backend call for all
        streams whose chunks have the same shape: every full chunk of a round shares one call,
        and the tails of finishing streams one call per tail length. The results equal those of
        decoding each stream alone (tests/test_engine.py). Returns the number of streams that advanced.

        The torch backend runs the chunks as one batch; the exported streaming graph takes one
        stream at a time, so the onnx backends run them one after another inside the call.
        """
        groups: dict[tuple[int, int], list[Stream]] = {}
        for stream in streams:
            shape = self._next_chunk(stream)
            if shape is not None:
                groups.setdefault((*shape, stream.decoder.head), []).append(stream)
        for shape, group in groups.items():
            self._run(shape, group)
        return sum(len(group) for group in groups.values())

    def _run(self, shape: tuple[int, int, str], group: Sequence[Stream]) -> None:
        """One chunk of ``shape`` (main, right steps, head) for every stream of ``group``: one backend call."""
        main, right, head = shape
        stack = self.backend.stack
        frames = [stream.pending[: (main + right) * stack] for stream in group]
        if len(group) == 1:
            log_probs, state = self.backend.step(frames[0], main, group[0].lstm_state, head)
            outputs, states = [log_probs], [state]
        else:
            outputs, states = self.backend.step_batch(frames, main, [stream.lstm_state for stream in group], head)
        step_seconds = self.bundle.frontend.frame_shift(stack)
        for stream, log_probs, state in zip(group, outputs, states):
            emitted = np.flatnonzero(np.argmax(log_probs, axis=1) != 0)  # index 0 is blank in both heads
            if len(emitted):
                stream.last_emission = self.decoded_seconds(stream) + (int(emitted[-1]) + 1) * step_seconds
            stream.lstm_state = state
            stream.decoder.advance(stream.decoder_state, log_probs)
            stream.pending = stream.pending[main * stack:]
            stream.chunks += 1

    def decoded_seconds(self, stream: Stream) -> float:
        """Audio time up to which the model's output for ``stream`` has reached its decoder.

        It lags the audio received by the right context plus the unfinished chunk; endpointing
        compares the model's last emission with this, not with the audio received.
        """
        frames = stream.features.extractor.num_frames(stream.samples_received)
        return (frames - len(stream.pending)) * self.bundle.frontend.hop_seconds

    def get_result(self, stream: Stream) -> Result:
        """The text so far; the final result once the input is finished and every chunk decoded."""
        if stream.final_result is not None:
            return stream.final_result
        if stream.input_done and not self.is_ready(stream):
            stream.final_result = stream.decoder.result(stream.decoder_state, final=True)
            return stream.final_result
        if stream.cached_result is None or stream.cached_result[0] != stream.chunks:
            stream.cached_result = (stream.chunks, stream.decoder.result(stream.decoder_state))
        return stream.cached_result[1]

    def is_endpoint(self, stream: Stream) -> bool:
        """Whether the utterance in ``stream`` has ended, by its endpoint settings (the
        :attr:`RecognizerConfig.endpoint` it was created with): trailing
        silence after speech (or a longer one when nothing was said), or the maximum length.

        Trailing silence is the longer of the decoded audio after the model's last emission (its
        last step whose most likely output is not blank) and the audio below the silence level.
        Not the end of the partial's last word: a lexicon decoder shows a word only once it is
        spelled out and may take one back, so mid-sentence its last word can lie a second behind.
        """
        self._take_audio(stream)
        rules = stream.endpoint
        length = stream.seconds_accepted
        if length >= rules.max_utterance:
            return True
        result = self.get_result(stream)
        silence = max(self.decoded_seconds(stream) - stream.last_emission, length - stream.last_loud)
        return silence >= (rules.trailing_silence if result.text else rules.trailing_silence_no_speech)

    def alternatives(self, stream: Stream, count: int) -> list[Alternative]:
        """The ``count`` best distinct transcripts of a finished stream (after :meth:`finish`), best first."""
        self.finish(stream)
        return stream.decoder.alternatives(stream.decoder_state, count)

    def reset(self, stream: Stream) -> None:
        """Start ``stream`` over, as a new stream with the same hotwords (after an endpoint); its
        speaker normalization goes on, as the next utterance comes from the same speaker and microphone."""
        stream.restart(*self._new_state(stream.decoder, stream.features.norm))

    def accept_blocks(self, stream: Stream, blocks: Iterable[np.ndarray], sample_rate: int | None = None) -> Stream:
        """Feed ``blocks`` (at ``sample_rate``, default the model's) to ``stream``, decoding as chunks
        become ready; the input stays open."""
        rate = sample_rate or self.sample_rate
        for block in blocks:
            stream.accept_waveform(rate, block)
            self.decode_ready(stream)
        return stream

    def finish(self, stream: Stream) -> Result:
        """End the input of ``stream``, decode its tail and return the final result."""
        stream.input_finished()
        self.decode_ready(stream)
        return self.get_result(stream)

    # Whole inputs ------------------------------------------------------------------------

    def _mode(self, mode: str | None) -> str:
        mode = self.config.mode if mode is None else mode
        if mode not in MODES:
            raise ConfigError(f"mode must be one of {MODES}, got {mode!r}")
        return mode

    def transcribe(self, samples: np.ndarray, sample_rate: int, mode: str | None = None) -> Transcript:
        """Transcribe an in-memory signal: (n,) or (n, channels), any numeric dtype and rate;
        ``mode`` defaults to the config's."""
        mode = self._mode(mode)
        if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
            raise AudioError(f"sample_rate must be a positive integer, got {sample_rate!r}")
        if not isinstance(samples, np.ndarray):
            raise AudioError(f"samples must be a numpy array, got {type(samples).__name__}")
        audio = resample(samples, int(sample_rate), self.sample_rate)
        if mode == "streaming":
            block = max(1, self.config.streaming.chunk_ms * self.sample_rate // 1000)
            return self._readable(self._stream_blocks(audio[i:i + block] for i in range(0, len(audio), block)))
        return self._readable(self._offline([audio]))

    def _readable(self, transcript: Transcript) -> Transcript:
        """``transcript`` with its readable tokens, when the config punctuates."""
        if not self.config.punctuate or not transcript.result.words:
            return transcript
        from .punctuation import load_punctuator
        tokens = load_punctuator().readable([word.word for word in transcript.result.words])
        return replace(transcript, result=replace(transcript.result, tokens=tuple(tokens)))

    def transcribe_file(self, path: str | bytes | os.PathLike, mode: str | None = None,
                        progress: Callable[[float], None] | None = None) -> Transcript:
        """Transcribe an audio file; streaming mode reads it from disk block by block.
        ``mode`` (``offline`` or ``streaming``) defaults to the config's; ``progress`` is called
        with the seconds of audio decoded so far, about once a second of audio (a progress bar)."""
        mode = self._mode(mode)
        path = os.fsdecode(path)
        if mode == "streaming":
            blocks = iter_blocks(path, self.sample_rate, self.config.streaming.chunk_ms / 1000)
            transcript = self._stream_blocks(reporting(blocks, self.sample_rate, progress))
        else:
            transcript = self._offline(reporting(iter_blocks(path, self.sample_rate), self.sample_rate, progress))
        return replace(self._readable(transcript), path=path)

    def _offline(self, blocks: Iterable[np.ndarray]) -> Transcript:
        """The full BiLSTM over the audio, in segments when it is long (:mod:`speechlstm.segments`)."""
        decoder = self.decoder
        state = decoder.new_state()
        segmented = SegmentedOffline(self.backend, self.bundle.feature_extractor(), decoder.head)
        for log_probs in segmented.log_probs(blocks):
            decoder.advance(state, log_probs)
        return Transcript(decoder.result(state, final=True), segmented.samples / self.sample_rate)

    def _stream_blocks(self, blocks: Iterable[np.ndarray]) -> Transcript:
        stream = self.create_stream()
        try:
            self.accept_blocks(stream, blocks)
        except KeyboardInterrupt:
            raise Interrupted(Transcript(self.get_result(stream), stream.seconds_received)) from None
        return Transcript(self.finish(stream), stream.seconds_received)


def _last_loud_sample(samples: np.ndarray, sample_rate: int, threshold: float) -> int | None:
    """End (exclusive sample index) of the last 10 ms frame whose RMS reaches ``threshold``."""
    size = max(1, sample_rate // 100)
    count = math.ceil(len(samples) / size)
    if count == 0:
        return None
    padded = np.zeros(count * size, dtype=np.float32)
    padded[:len(samples)] = samples
    with np.errstate(over="ignore", invalid="ignore"):  # absurd input (1e30) is loud, not an error
        loud = np.flatnonzero(np.sqrt(np.mean(padded.reshape(count, size) ** 2, axis=1)) >= threshold)
    return None if len(loud) == 0 else min(len(samples), int(loud[-1] + 1) * size)


__all__ = ["Interrupted", "Recognizer", "RecognizerConfig", "Stream", "StreamError"]
