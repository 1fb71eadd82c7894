"""Streaming recognition: one :class:`Stream` object holds all per-stream state.

A stream feeds audio through the streaming frontend, runs the acoustic model one chunk
at a time as soon as the chunk and its right context have arrived, and advances the
decoder. Its outputs equal the offline chunked computation of the same audio, whatever
block sizes the audio arrives in. The stream needs only numpy; the acoustic model is a
backend (torch or onnxruntime) behind the :class:`AcousticBackend` protocol.
"""
from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from .audio import AudioError, Resampler, to_mono_float
from .decoding import Decoder, Result
from .frontend import FrontendConfig, StreamingLogMel


class StreamError(RuntimeError):
    """The stream was used out of order (e.g. audio after :meth:`Stream.finalize`)."""


class AcousticBackend(Protocol):
    """An acoustic model that can run the chunked (streaming) and the full computation."""

    stack: int
    chunk: int
    right: int

    def initial_state(self) -> Any:
        """Forward-direction LSTM state before any audio."""

    def step(self, frames: np.ndarray, main_steps: int, state: Any) -> tuple[np.ndarray, Any]:
        """Log-probs of ``main_steps`` steps from ``frames`` (main + right-context log-mel frames)."""

    def full(self, frames: np.ndarray) -> np.ndarray:
        """Log-probs of a whole utterance with the full BiLSTM."""


class Stream:
    """Incremental recognition of one audio stream.

    Feed audio with :meth:`accept_waveform`; call :meth:`decode` while :attr:`is_ready`;
    read :attr:`result` at any time; :meth:`finalize` flushes the tail and returns the
    final result.
    """

    def __init__(self, backend: AcousticBackend, frontend: FrontendConfig, decoder: Decoder) -> None:
        self.backend = backend
        self.frontend = frontend
        self.decoder = decoder
        self.features = StreamingLogMel(frontend)
        self.pending = np.zeros((0, frontend.n_mels), dtype=np.float32)
        self.lstm_state = backend.initial_state()
        self.decoder_state = decoder.new_state()
        self.resampler: Resampler | None = None
        self.samples_received = 0
        self.finished = False
        self.final_result: Result | None = None

    @property
    def seconds_received(self) -> float:
        """Audio accepted so far, in seconds at the model's sample rate."""
        return self.samples_received / self.frontend.sample_rate

    def accept_waveform(self, sample_rate: int, samples: np.ndarray) -> None:
        """Append audio at any sample rate (resampled here), mono or (frames, channels)."""
        if self.finished:
            raise StreamError("accept_waveform() called after finalize(); create a new stream")
        if not isinstance(sample_rate, (int, np.integer)) or isinstance(sample_rate, bool) or sample_rate <= 0:
            raise AudioError(f"sample_rate must be a positive integer, got {sample_rate!r}")
        if self.resampler is None:
            self.resampler = Resampler(int(sample_rate), self.frontend.sample_rate)
        elif self.resampler.source != sample_rate:
            raise AudioError(f"sample rate changed within a stream ({self.resampler.source} -> {sample_rate})")
        self._add(self.resampler(to_mono_float(samples)))

    def _add(self, samples: np.ndarray) -> None:
        self.samples_received += len(samples)
        frames = self.features.accept(samples)
        if len(frames):
            self.pending = np.concatenate([self.pending, frames])

    @property
    def is_ready(self) -> bool:
        """True when a full chunk and its right context are waiting to be decoded."""
        return len(self.pending) // self.backend.stack >= self.backend.chunk + self.backend.right

    def decode(self) -> None:
        """Run the model on every chunk that is ready."""
        while self.is_ready:
            self._run_chunk(self.backend.chunk, self.backend.right)

    def _run_chunk(self, main: int, right: int) -> None:
        stack = self.backend.stack
        log_probs, self.lstm_state = self.backend.step(self.pending[: (main + right) * stack], main, self.lstm_state)
        self.decoder.advance(self.decoder_state, log_probs)
        self.pending = self.pending[main * stack:]

    @property
    def result(self) -> Result:
        """The text so far (partial until :meth:`finalize`)."""
        return self.final_result or self.decoder.result(self.decoder_state)

    def finalize(self) -> Result:
        """Flush buffered audio, decode the tail with whatever right context exists."""
        if self.finished:
            return self.result
        if self.resampler is not None:
            self._add(self.resampler(np.zeros(0, dtype=np.float32), last=True))
        self.decode()
        steps = len(self.pending) // self.backend.stack
        while steps > 0:
            main = min(self.backend.chunk, steps)
            self._run_chunk(main, min(self.backend.right, steps - main))
            steps -= main
        self.finished = True
        self.final_result = self.decoder.result(self.decoder_state, final=True)
        return self.final_result
