"""The state of one audio stream; the :class:`~speechlstm.Recognizer` is the engine that runs it.

A stream holds everything that belongs to one stream and nothing more: the streaming
frontend and the log-mel frames waiting for the model, the forward LSTM state, the decoder
state (and its decoder, which carries the stream's hotwords), the resampler and what
endpointing needs to know. The recognizer decides when a chunk is ready, runs the model on
the ready chunks of one or many streams, advances their decoders and reads their results;
its outputs equal the offline chunked computation of the same audio, whatever block sizes
the audio arrives in.

``stream.decode()``, ``stream.result``, ``stream.is_ready`` and ``stream.finalize()`` are
conveniences that ask the stream's recognizer.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .decode.base import Decoder
from .errors import UsageError
from .frontend import StreamingLogMel
from .io.audio import AudioError, Resampler, to_mono_float
from .results import Result

if TYPE_CHECKING:
    from .recognizer import Recognizer


class StreamError(UsageError, RuntimeError):
    """The stream was used out of order (e.g. audio after :meth:`Stream.input_finished`)."""


class Stream:
    """All per-stream state of incremental recognition; made by :meth:`Recognizer.create_stream`.

    Feed audio with :meth:`accept_waveform` and end it with :meth:`input_finished`; the
    recognizer's ``is_ready``/``decode_stream``/``decode_streams``/``get_result`` do the rest.
    """

    def __init__(self, recognizer: Recognizer, decoder: Decoder, silence_dbfs: float = -50.0) -> None:
        self.recognizer = recognizer
        self.frontend = recognizer.bundle.frontend
        self.decoder = decoder
        self.silence = 10.0 ** (silence_dbfs / 20.0)
        self.clear()

    def clear(self) -> None:
        """Back to the state of a new stream (same decoder and hotwords): see ``Recognizer.reset``."""
        self.features = StreamingLogMel(self.frontend)
        self.pending = np.zeros((0, self.frontend.n_mels), dtype=np.float32)
        self.lstm_state: Any = self.recognizer.backend.initial_state()
        self.decoder_state: Any = self.decoder.new_state()
        self.resampler: Resampler | None = None
        self.samples_received = 0
        self.seconds_accepted = 0.0
        """Audio accepted, counted at the rate it came in (exact whatever the resampling)."""
        self.last_loud = 0.0
        """Where the last 10 ms above the silence level ended, in :attr:`seconds_accepted` time."""
        self.last_emission = 0.0
        """Where the model's last non-blank output step ended, in :attr:`decoded_seconds` time."""
        self.input_done = False
        self.final_result: Result | None = None
        self.chunks = 0
        """Chunks decoded so far (the partial result changes only when this does)."""
        self.cached_result: tuple[int, Result] | None = None

    @property
    def seconds_received(self) -> float:
        """Audio accepted so far, in seconds at the model's sample rate."""
        return self.samples_received / self.frontend.sample_rate

    @property
    def decoded_seconds(self) -> float:
        """Audio time up to which the model's output has reached the decoder.

        It lags the audio received by the right context plus the unfinished chunk; endpointing
        compares word end times with this, not with the audio received.
        """
        config = self.frontend
        received = self.samples_received
        frames = 0 if received < config.win_length else 1 + (received - config.win_length) // config.hop_length
        return (frames - len(self.pending)) * config.hop_length / config.sample_rate

    def accept_waveform(self, sample_rate: int, samples: np.ndarray) -> None:
        """Append audio at any sample rate (resampled here), mono or (frames, channels)."""
        if self.input_done:
            raise StreamError("accept_waveform() called after finalize() or input_finished(); create a new "
                              "stream or reset this one")
        if not isinstance(sample_rate, (int, np.integer)) or isinstance(sample_rate, bool) or sample_rate <= 0:
            raise AudioError(f"sample_rate must be a positive integer, got {sample_rate!r}")
        if self.resampler is None:
            self.resampler = Resampler(int(sample_rate), self.frontend.sample_rate)
        elif self.resampler.source != sample_rate:
            raise AudioError(f"sample rate changed within a stream ({self.resampler.source} -> {sample_rate})")
        samples = to_mono_float(samples)
        loud = _last_loud_sample(samples, int(sample_rate), self.silence)
        if loud is not None:
            self.last_loud = self.seconds_accepted + loud / sample_rate
        self.seconds_accepted += len(samples) / sample_rate
        self._add(self.resampler(samples))

    def input_finished(self) -> None:
        """No more audio: the resampler's tail is flushed and the last chunks become ready."""
        if self.input_done:
            return
        if self.resampler is not None:
            self._add(self.resampler(np.zeros(0, dtype=np.float32), last=True))
        self.input_done = True

    def _add(self, samples: np.ndarray) -> None:
        self.samples_received += len(samples)
        frames = self.features.accept(samples)
        if len(frames):
            self.pending = np.concatenate([self.pending, frames])

    # Conveniences: the recognizer does the work.

    @property
    def is_ready(self) -> bool:
        """Whether a chunk can be decoded (``recognizer.is_ready(stream)``)."""
        return self.recognizer.is_ready(self)

    def decode(self) -> None:
        """Decode every chunk that is ready."""
        while self.recognizer.is_ready(self):
            self.recognizer.decode_stream(self)

    @property
    def result(self) -> Result:
        """The text so far; final once the input is finished and decoded (``recognizer.get_result``)."""
        return self.recognizer.get_result(self)

    def finalize(self) -> Result:
        """End the input, decode the tail with whatever right context exists, return the final result."""
        self.input_finished()
        self.decode()
        return self.result


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
