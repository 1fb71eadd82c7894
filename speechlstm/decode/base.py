"""The decoder interface.

Decoders consume log-probabilities chunk by chunk so that a stream never re-decodes
what it has already seen; offline decoding is the same call made once.
"""
from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from ..results import Alternative, Result


class Decoder(Protocol):
    """What a stream needs from a decoder: incremental, per-stream state kept outside it."""

    head: str
    """The model output it reads: ``chars`` or ``phones`` (:attr:`speechlstm.backends.AcousticBackend.heads`)."""

    def new_state(self) -> Any:
        """A fresh per-utterance state."""

    def advance(self, state: Any, log_probs: np.ndarray) -> None:
        """Consume ``log_probs`` of shape (frames, vocabulary) that follow those already seen."""

    def result(self, state: Any, final: bool = False) -> Result:
        """The best transcript so far; ``final`` marks the end of the utterance."""

    def alternatives(self, state: Any, count: int) -> list[Alternative]:
        """The ``count`` best distinct transcripts, best first, after ``result(state, final=True)``."""


def decode_matrix(decoder: Decoder, log_probs: np.ndarray) -> Result:
    """The final result of one whole (frames, vocabulary) matrix of log-probabilities."""
    state = decoder.new_state()
    decoder.advance(state, log_probs)
    return decoder.result(state, final=True)
