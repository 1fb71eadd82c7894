"""The state of one audio stream; the :class:`~speechlstm.Recognizer` is the engine that runs it.

A stream holds everything that belongs to one stream and nothing more (as a sherpa-onnx
``OnlineStream`` or a SpeechBrain streaming context does): the audio accepted and not yet
taken, the resampler and streaming frontend and the log-mel frames waiting for the model,
the forward LSTM state, the decoder state (and its decoder, which carries the stream's
hotwords), the endpoint settings and what endpointing has measured. It computes nothing:
the recognizer turns the audio into frames, decides when a chunk is ready, runs the model on
the ready chunks of one or many streams, advances their decoders and reads their results;
its outputs equal the offline chunked computation of the same audio, whatever block sizes
the audio arrives in.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .config import EndpointConfig
from .decode.base import Decoder
from .errors import UsageError
from .frontend import StreamingLogMel
from .io.audio import AudioError, Resampler, to_mono_float
from .results import Result


class StreamError(UsageError, RuntimeError):
    """The stream was used out of order (e.g. audio after :meth:`Stream.input_finished`)."""


class Stream:
    """All per-stream state of incremental recognition; made by :meth:`Recognizer.create_stream`.

    Feed audio with :meth:`accept_waveform` and end it with :meth:`input_finished`; the
    recognizer's ``decode_ready``/``get_result``/``is_endpoint``/``reset`` do the rest.
    """

    def __init__(self, decoder: Decoder, endpoint: EndpointConfig, features: StreamingLogMel, lstm_state: Any,
                 decoder_state: Any) -> None:
        self.decoder = decoder
        self.endpoint = endpoint
        self.restart(features, lstm_state, decoder_state)

    def restart(self, features: StreamingLogMel, lstm_state: Any, decoder_state: Any) -> None:
        """Back to a new stream with these fresh states (same decoder, hotwords and endpoint
        settings): see ``Recognizer.reset``."""
        self.features = features
        self.frontend = features.extractor.config
        self.lstm_state = lstm_state
        self.decoder_state = decoder_state
        self.audio: list[np.ndarray] = []
        """Mono float32 blocks accepted and not yet taken by the recognizer, at the resampler's source rate."""
        self.pending = np.zeros((0, self.frontend.n_mels), dtype=np.float32)
        self.resampler: Resampler | None = None
        """Made by the first block (its rate is the stream's); None again once the recognizer flushed it."""
        self.samples_received = 0
        self.seconds_accepted = 0.0
        """Audio taken by the recognizer, counted at the rate it came in (exact whatever the resampling)."""
        self.last_loud = 0.0
        """Where the last 10 ms above the silence level ended, in :attr:`seconds_accepted` time."""
        self.last_emission = 0.0
        """Where the model's last non-blank output step ended, in decoded audio time (``Recognizer.decoded_seconds``)."""
        self.input_done = False
        self.final_result: Result | None = None
        self.chunks = 0
        """Chunks decoded so far (the partial result changes only when this does)."""
        self.cached_result: tuple[int, Result] | None = None

    @property
    def seconds_received(self) -> float:
        """Audio turned into features so far, in seconds at the model's sample rate."""
        return self.samples_received / self.frontend.sample_rate

    def accept_waveform(self, sample_rate: int, samples: np.ndarray) -> None:
        """Buffer audio at any sample rate, mono or (frames, channels), as mono float32 (a copy:
        the caller may reuse its array); the recognizer resamples it and computes its features."""
        if self.input_done:
            raise StreamError("accept_waveform() called after input_finished() or Recognizer.finish(); create a new "
                              "stream or reset this one")
        if not isinstance(sample_rate, (int, np.integer)) or isinstance(sample_rate, bool) or sample_rate <= 0:
            raise AudioError(f"sample_rate must be a positive integer, got {sample_rate!r}")
        if self.resampler is None:
            self.resampler = Resampler(int(sample_rate), self.frontend.sample_rate)
        elif self.resampler.source != sample_rate:
            raise AudioError(f"sample rate changed within a stream ({self.resampler.source} -> {sample_rate})")
        self.audio.append(to_mono_float(samples))

    def input_finished(self) -> None:
        """No more audio: the recognizer flushes the resampler's tail and the last chunks become ready."""
        self.input_done = True
