"""Live transcription: partial and final results from an endless audio source, with endpointing.

The recognition loop (:class:`LiveSession`) takes any iterable of ``(sample_rate, block)``
pairs, so the same code runs on a microphone (:class:`MicrophoneSource`), a file, a network
feed or a test's synthetic blocks. Endpointing follows sherpa-onnx's rules: an utterance
ends after a trailing silence that follows speech, after a longer silence when nothing was
said, or when it reaches a maximum length (:meth:`Recognizer.is_endpoint`). At an endpoint the
stream's tail is decoded, a ``final`` event is emitted with times relative to the session
start, and the stream is reset; the LSTM state therefore never grows stale over hours of audio.

The microphone callback only copies blocks onto a queue: decoding runs in the consumer, so
a slow decode shows up as queue growth (and, past PortAudio's buffer, as an overflow
reported through ``on_overflow``) rather than as a stalled audio thread.
"""
from __future__ import annotations

import math
import queue
import threading
from dataclasses import dataclass, field, replace
from time import monotonic
from typing import Any, Callable, Iterable, Iterator, Literal, Sequence

import numpy as np

from .config import EndpointConfig
from .errors import DeviceError, MissingPackageError
from .punctuation import StreamingPunctuator, load_punctuator
from .recognizer import Recognizer
from .results import Alternative, LiveEvent, Result
from .stream import Stream

__all__ = ["DeviceError", "EndpointConfig", "LiveEvent", "LiveSession", "MicrophoneSource", "device_table",
           "input_devices", "transcribe_live"]


@dataclass
class _Utterance:
    """The current utterance: where it starts in the session and the partial text (raw, and as shown)."""

    offset: float
    partial: str = ""
    shown: str = ""


@dataclass
class LiveSession:
    """All state of one live transcription session; iterate :meth:`events` once per session.

    One stream serves the whole session: at each endpoint the recognizer finishes it and
    resets it (:meth:`Recognizer.is_endpoint`, :meth:`Recognizer.reset`). ``seconds`` counts the
    audio consumed at the source's own rate, so event times stay exact across resampling and
    utterances. ``endpoint`` (default: the recognizer's) sets when an utterance ends;
    ``hotwords`` are the stream's own, on top of the recognizer's, and ``phrases`` restrict it to
    a phrase list (:meth:`Recognizer.create_stream`); with ``alternatives`` N > 0, finals carry the
    N best transcripts. When ``punctuate`` (default: the recognizer's config) is on, events carry
    readable tokens from a :class:`~speechlstm.punctuation.StreamingPunctuator` that keeps the
    session's earlier finals as context.
    """

    recognizer: Recognizer
    endpoint: EndpointConfig | None = None
    hotwords: Any = None
    punctuate: bool | None = None
    phrases: Sequence[str] | None = None
    alternatives: int = 0
    seconds: float = field(default=0.0, init=False)
    utterance: _Utterance | None = field(default=None, init=False)
    stream: Stream = field(init=False)
    punctuation: StreamingPunctuator | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.endpoint is not None and self.endpoint != self.recognizer.config.endpoint:
            self.recognizer = self.recognizer.with_options(endpoint=self.endpoint)
        self.endpoint = self.recognizer.config.endpoint
        self.stream = self.recognizer.create_stream(self.hotwords, self.phrases)
        if self.recognizer.config.punctuate if self.punctuate is None else self.punctuate:
            self.punctuation = StreamingPunctuator(load_punctuator())

    def events(self, source: Iterable[tuple[int, np.ndarray]]) -> Iterator[LiveEvent]:
        """Feed ``source`` block by block; yield partials as the text changes and finals at endpoints.

        When the source ends, the last utterance is flushed as a final.
        """
        for sample_rate, block in source:
            self.accept(sample_rate, block)
            self.recognizer.decode_ready(self.stream)
            event = self.poll()
            if event is not None:
                yield event
        final = self.finish()
        if final is not None:
            yield final

    def accept(self, sample_rate: int, block: np.ndarray) -> None:
        """Add a block to the current utterance without decoding it: the caller decodes the
        stream's ready chunks (:meth:`Recognizer.decode_ready`, alone or with other sessions'
        streams as the server does), then calls :meth:`poll`."""
        if self.utterance is None:
            self._start()
        self.stream.accept_waveform(sample_rate, block)
        self.seconds += len(block) / sample_rate

    def poll(self) -> LiveEvent | None:
        """After decoding: the final at an endpoint (the stream restarts), a partial when the
        text changed, else None (also at an endpoint where nothing was said)."""
        utterance, stream = self.utterance, self.stream
        if utterance is None:
            return None
        if self.recognizer.is_endpoint(stream):
            return self.finish()
        result = self.recognizer.get_result(stream)
        if result.text == utterance.partial:
            return None
        utterance.partial = result.text
        tokens = self.punctuation.partial([w.word for w in result.words]) if self.punctuation else []
        event = self._event("partial", result, utterance.offset, tokens)
        utterance.shown = event.readable
        return event

    @property
    def partial(self) -> str:
        """The partial text of the current utterance as shown (readable when punctuating; "" between utterances)."""
        return self.utterance.shown if self.utterance else ""

    def _start(self) -> _Utterance:
        self.utterance = _Utterance(self.seconds)
        return self.utterance

    def finish(self) -> LiveEvent | None:
        """Finish the current utterance and reset the stream; its final event, unless nothing was said."""
        utterance, self.utterance = self.utterance, None
        if utterance is None:
            return None
        result = self.recognizer.finish(self.stream)
        alternatives = self.recognizer.alternatives(self.stream, self.alternatives) if self.alternatives else []
        self.recognizer.reset(self.stream)
        if not result.text:
            return None
        tokens = self.punctuation.final([w.word for w in result.words]) if self.punctuation else []
        return self._event("final", result, utterance.offset, tokens,
                           tuple(Alternative(_shifted(a.result, utterance.offset), a.score) for a in alternatives))

    @staticmethod
    def _event(kind: Literal["partial", "final"], result: Result, offset: float, tokens: list[str],
               alternatives: tuple[Alternative, ...] = ()) -> LiveEvent:
        words = _shifted(result, offset).words
        start, end = (words[0].start, words[-1].end) if words else (offset, offset)
        return LiveEvent(kind, result.text, start, end, words, tuple(tokens), alternatives)


def _shifted(result: Result, offset: float) -> Result:
    """``result`` with its word times moved by ``offset`` seconds."""
    return Result(result.text, tuple(replace(w, start=w.start + offset, end=w.end + offset) for w in result.words))


def transcribe_live(recognizer: Recognizer, source: Iterable[tuple[int, np.ndarray]],
                    endpoint: EndpointConfig | None = None) -> Iterator[LiveEvent]:
    """Events for ``source`` in a fresh session (the embedding entry point)."""
    return LiveSession(recognizer, endpoint).events(source)


STOP_GRACE_SECONDS = 2.0
"""After Ctrl-C, how much longer than the stream's latency capture waits for audio captured
before it. A live device ends the wait sooner, with its first block captured after Ctrl-C;
this bounds it where blocks stop coming (a pipe source) or come late (a busy machine)."""


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
        raise MissingPackageError("live audio needs the sounddevice package: pip install 'speechlstm[live]'") from None
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
