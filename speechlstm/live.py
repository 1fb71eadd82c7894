"""Live transcription: partial and final results from an endless audio source, with endpointing.

The recognition loop (:class:`LiveSession`) takes any iterable of ``(sample_rate, block)``
pairs, so the same code runs on a microphone (:class:`MicrophoneSource`), a file, a network
feed or a test's synthetic blocks. Endpointing follows sherpa-onnx's rules: an utterance
ends after a trailing silence that follows speech, after a longer silence when nothing was
said, or when it reaches a maximum length. At an endpoint the stream is finalized, a
``final`` event is emitted with times relative to the session start, and a new stream
begins; the LSTM state therefore never grows stale over hours of audio.

The microphone callback only copies blocks onto a queue: decoding runs in the consumer, so
a slow decode shows up as queue growth (and, past PortAudio's buffer, as an overflow
reported through ``on_overflow``) rather than as a stalled audio thread.
"""
from __future__ import annotations

import math
import queue
import threading
from time import monotonic
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Iterator, Literal

import numpy as np

from .audio import to_mono_float
from .decoding import Result, Word
from .recognizer import Recognizer
from .streaming import Stream


@dataclass(frozen=True)
class EndpointConfig:
    """When an utterance ends (seconds; ``silence_dbfs`` is the RMS level counted as silence).

    An utterance ends after ``trailing_silence`` once something was recognized, after
    ``trailing_silence_no_speech`` if nothing was (the stream restarts without an event), and
    at ``max_utterance`` in any case. Trailing silence is the longer of two measures: decoded
    audio after the last emitted character (works in steady noise), and audio below
    ``silence_dbfs`` in 10 ms frames (works when a model emits characters on noise).
    """

    trailing_silence: float = 0.8
    trailing_silence_no_speech: float = 2.4
    max_utterance: float = 20.0
    silence_dbfs: float = -50.0

    def __post_init__(self) -> None:
        for name in ("trailing_silence", "trailing_silence_no_speech", "max_utterance"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


@dataclass(frozen=True)
class LiveEvent:
    """A ``partial`` (text so far, may still change) or ``final`` (utterance done) result.

    ``start``/``end`` span the words and, like the word times, count seconds of audio from
    the start of the session.
    """

    kind: Literal["partial", "final"]
    text: str
    start: float
    end: float
    words: tuple[Word, ...] = ()

    def to_dict(self) -> dict:
        """The JSON form: text, start, end, words (as :meth:`Result.to_dict`)."""
        words = Result(self.text, self.words).to_dict()["words"]
        return {"text": self.text, "start": round(self.start, 3), "end": round(self.end, 3), "words": words}


def decoded_seconds(stream: Stream) -> float:
    """Audio time up to which the stream's model output has reached the decoder.

    It lags the audio received by the right context plus the unfinished chunk; endpointing
    must compare word end times with this, not with the audio received.
    """
    config = stream.frontend
    received = stream.samples_received
    frames = 0 if received < config.win_length else 1 + (received - config.win_length) // config.hop_length
    return (frames - len(stream.pending)) * config.hop_length / config.sample_rate


@dataclass
class _Utterance:
    """The stream of the current utterance and what endpointing tracks about it."""

    stream: Stream
    offset: float
    last_loud: float = 0.0
    partial: str = ""


@dataclass
class LiveSession:
    """All state of one live transcription session; iterate :meth:`events` once per session.

    Per-utterance state lives in ``utterance``; ``seconds`` counts the audio consumed at the
    source's own rate, so event times stay exact across resampling and stream restarts.
    """

    recognizer: Recognizer
    endpoint: EndpointConfig = field(default_factory=EndpointConfig)
    seconds: float = field(default=0.0, init=False)
    utterance: _Utterance | None = field(default=None, init=False)

    def events(self, source: Iterable[tuple[int, np.ndarray]]) -> Iterator[LiveEvent]:
        """Feed ``source`` block by block; yield partials as the text changes and finals at endpoints.

        When the source ends, the last utterance is flushed as a final.
        """
        threshold = 10.0 ** (self.endpoint.silence_dbfs / 20.0)
        for sample_rate, block in source:
            utterance = self.utterance or self._start()
            samples = to_mono_float(block)
            loud = _last_loud_sample(samples, sample_rate, threshold)
            if loud is not None:
                utterance.last_loud = self.seconds - utterance.offset + loud / sample_rate
            utterance.stream.accept_waveform(sample_rate, samples)
            utterance.stream.decode()
            self.seconds += len(samples) / sample_rate
            result = utterance.stream.result
            if self._endpoint(utterance, result):
                final = self._finish()
                if final is not None:
                    yield final
            elif result.text != utterance.partial:
                utterance.partial = result.text
                yield self._event("partial", result, utterance.offset)
        final = self._finish()
        if final is not None:
            yield final

    def _start(self) -> _Utterance:
        self.utterance = _Utterance(self.recognizer.create_stream(), self.seconds)
        return self.utterance

    def _endpoint(self, utterance: _Utterance, result: Result) -> bool:
        rules = self.endpoint
        length = self.seconds - utterance.offset
        if length >= rules.max_utterance:
            return True
        decoded = decoded_seconds(utterance.stream)
        last_char = result.words[-1].end if result.words else 0.0
        silence = max(decoded - last_char, length - utterance.last_loud)
        return silence >= (rules.trailing_silence if result.text else rules.trailing_silence_no_speech)

    def _finish(self) -> LiveEvent | None:
        """Finalize the current utterance; its final event, unless nothing was said."""
        utterance, self.utterance = self.utterance, None
        if utterance is None:
            return None
        result = utterance.stream.finalize()
        return self._event("final", result, utterance.offset) if result.text else None

    @staticmethod
    def _event(kind: Literal["partial", "final"], result: Result, offset: float) -> LiveEvent:
        words = tuple(replace(w, start=w.start + offset, end=w.end + offset) for w in result.words)
        start, end = (words[0].start, words[-1].end) if words else (offset, offset)
        return LiveEvent(kind, result.text, start, end, words)


def _last_loud_sample(samples: np.ndarray, sample_rate: int, threshold: float) -> int | None:
    """End (exclusive sample index) of the last 10 ms frame whose RMS reaches ``threshold``."""
    size = max(1, sample_rate // 100)
    count = math.ceil(len(samples) / size)
    if count == 0:
        return None
    padded = np.zeros(count * size, dtype=np.float32)
    padded[:len(samples)] = samples
    loud = np.flatnonzero(np.sqrt(np.mean(padded.reshape(count, size) ** 2, axis=1)) >= threshold)
    return None if len(loud) == 0 else min(len(samples), int(loud[-1] + 1) * size)


def transcribe_live(recognizer: Recognizer, source: Iterable[tuple[int, np.ndarray]],
                    endpoint: EndpointConfig | None = None) -> Iterator[LiveEvent]:
    """Events for ``source`` in a fresh session (the embedding entry point)."""
    return LiveSession(recognizer, endpoint or EndpointConfig()).events(source)


STOP_GRACE_SECONDS = 2.0
"""After Ctrl-C, how much longer than the stream's latency capture waits for audio captured
before it. A live device ends the wait sooner, with its first block captured after Ctrl-C;
this bounds it where blocks stop coming (a pipe source) or come late (a busy machine)."""


class DeviceError(RuntimeError):
    """The audio device is missing, busy or failed; the message lists the input devices."""


def input_devices() -> list[tuple[int, str]]:
    """(index, name) of every device with input channels."""
    return [(d["index"], d["name"]) for d in _import_sounddevice().query_devices() if d["max_input_channels"] > 0]


def device_table() -> str:
    """sounddevice's table of all audio devices (``>``/``<`` mark the default input/output)."""
    return str(_import_sounddevice().query_devices())


def _device_error(message: str) -> DeviceError:
    try:
        devices = ", ".join(f"{index} {name!r}" for index, name in input_devices()) or "none"
    except Exception:  # the listing is a courtesy; PortAudio itself may be what failed
        devices = "unknown"
    return DeviceError(f"{message}; available input devices: {devices}")


def _import_sounddevice() -> Any:
    try:
        import sounddevice
    except ImportError:
        raise DeviceError("live audio needs the sounddevice package: pip install 'speechlstm[live]'") from None
    except OSError as error:  # raised when the PortAudio library is missing
        raise DeviceError(f"cannot use audio devices: {error} (install libportaudio2)") from None
    return sounddevice


class MicrophoneSource:
    """Captures mono audio from a sounddevice input; yields (rate, block).

    ``device`` is an index, a (sub)string of a device name, or None for the default input.
    The device is opened at ``sample_rate`` (give the model's, so nothing resamples twice)
    when it supports that rate, else at its default rate. Iterating starts the capture (or
    call :meth:`start` first to know when it runs); :meth:`close` (from any thread or a
    signal handler) ends it once the audio captured before the call has been yielded.
    """

    def __init__(self, device: int | str | None = None, block_seconds: float = 0.1,
                 on_overflow: Callable[[], None] | None = None, sample_rate: int | None = None) -> None:
        sd = _import_sounddevice()
        try:
            info = sd.query_devices(device, "input")
        except (ValueError, sd.PortAudioError) as error:
            wanted = "no default input device" if device is None else f"no input device {device!r}"
            raise _device_error(f"{wanted} ({error})") from None
        self.device_name: str = info["name"]
        self.sample_rate = int(info["default_samplerate"])
        if sample_rate is not None and _supports(sd, info["index"], sample_rate):
            self.sample_rate = sample_rate
        self.on_overflow = on_overflow
        self._queue: queue.Queue[tuple[np.ndarray, bool, float]] = queue.Queue()
        self._closed = threading.Event()
        self._stop_at = 0.0
        self._deadline = math.inf
        try:
            self._stream = sd.InputStream(device=info["index"], channels=1, samplerate=self.sample_rate,
                                          blocksize=max(1, int(self.sample_rate * block_seconds)),
                                          dtype="float32", callback=self._callback)
        except sd.PortAudioError as error:
            raise _device_error(f"cannot open input device {self.device_name!r} ({error})") from None

    def _callback(self, indata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        self._queue.put((indata.copy(), bool(status.input_overflow), float(time.inputBufferAdcTime)))

    def close(self) -> None:
        """Stop capturing: audio captured until now, still on its way through the sound
        server's and PortAudio's buffers, is waited for (by the blocks' capture times, for at
        most the stream's latency plus :data:`STOP_GRACE_SECONDS`); later audio is not yielded."""
        if self._closed.is_set():
            return
        running = self._stream.active  # else nothing more will come
        self._stop_at = float(self._stream.time) if running else 0.0
        self._deadline = monotonic() + (float(self._stream.latency) + STOP_GRACE_SECONDS if running else 0.0)
        self._closed.set()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed.is_set()

    def _before_stop(self, captured_at: float) -> bool:
        """Whether a block was captured before :meth:`close` (unknown capture times count as before)."""
        return not (self._closed.is_set() and self._stop_at > 0 and captured_at >= self._stop_at)

    def start(self) -> None:
        """Start capturing now (idempotent); a busy device fails here."""
        if self._stream.active:
            return
        sd = _import_sounddevice()
        try:
            self._stream.start()
        except sd.PortAudioError as error:
            self._stream.close()
            raise _device_error(f"cannot start input device {self.device_name!r} ({error})") from None

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        self.start()
        try:
            while self._stream.active and monotonic() < self._deadline:
                try:
                    block, overflow, captured_at = self._queue.get(timeout=0.05)
                except queue.Empty:
                    continue
                if not self._before_stop(captured_at):
                    return
                yield self._deliver(block, overflow)
        finally:
            self._stream.close()
        while not self._queue.empty():
            block, overflow, captured_at = self._queue.get_nowait()
            if not self._before_stop(captured_at):
                return
            yield self._deliver(block, overflow)

    def _deliver(self, block: np.ndarray, overflow: bool) -> tuple[int, np.ndarray]:
        if overflow and self.on_overflow is not None:
            self.on_overflow()
        return self.sample_rate, block


def _supports(sd: Any, device: int, sample_rate: int) -> bool:
    """Whether PortAudio can open ``device`` for mono float32 input at ``sample_rate``."""
    try:
        sd.check_input_settings(device=device, channels=1, dtype="float32", samplerate=sample_rate)
    except (ValueError, sd.PortAudioError):
        return False
    return True
