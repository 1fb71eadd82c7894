"""The greedy (best-path) CTC decoder."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..config import CHAR_HEAD
from ..results import Alternative, Result, Word
from ..text import VOCABULARY


@dataclass
class _Span:
    """Characters of one word being built, with frame indices and per-character posteriors."""

    chars: list[str] = field(default_factory=list)
    first: int = 0
    last: int = 0
    probs: list[float] = field(default_factory=list)


@dataclass
class GreedyState:
    frames: int = 0
    previous: int = 0
    words: list[Word] = field(default_factory=list)
    current: _Span | None = None


class GreedyDecoder:
    """Best-path CTC decoding with word times from the frames where characters fire.

    A word's confidence is the geometric mean of its characters' posteriors.
    """

    head = CHAR_HEAD

    def __init__(self, frame_shift: float, vocabulary: Sequence[str] = VOCABULARY) -> None:
        self.frame_shift = frame_shift
        self.vocabulary = tuple(vocabulary)
        self.space = self.vocabulary.index(" ")

    def new_state(self) -> GreedyState:
        return GreedyState()

    def advance(self, state: GreedyState, log_probs: np.ndarray) -> None:
        if len(log_probs) == 0:
            return
        best = log_probs.argmax(axis=1)
        best_prob = np.exp(log_probs[np.arange(len(best)), best])
        for offset, (token, prob) in enumerate(zip(best.tolist(), best_prob.tolist())):
            frame = state.frames + offset
            if token != 0 and token != state.previous:
                if token == self.space:
                    self._close(state)
                else:
                    if state.current is None:
                        state.current = _Span(first=frame)
                    state.current.chars.append(self.vocabulary[token])
                    state.current.probs.append(prob)
                    state.current.last = frame
            state.previous = token
        state.frames += len(best)

    def _close(self, state: GreedyState) -> None:
        span = state.current
        if span is None:
            return
        state.current = None
        word = "".join(span.chars).strip("'")
        if not word:
            return
        confidence = float(np.exp(np.mean(np.log(np.maximum(span.probs, 1e-12)))))
        state.words.append(Word(word, span.first * self.frame_shift,
                                (span.last + 1) * self.frame_shift, confidence))

    def result(self, state: GreedyState, final: bool = False) -> Result:
        words = list(state.words)
        if state.current is not None:
            pending = GreedyState(words=[], current=state.current)
            self._close(pending)
            if final:
                state.current = None
                state.words.extend(pending.words)
            words.extend(pending.words)
        return Result(" ".join(w.word for w in words), tuple(words))

    def alternatives(self, state: GreedyState, count: int) -> list[Alternative]:
        """Greedy search has one transcript (after ``result(final=True)``)."""
        return [Alternative(self.result(state), 0.0)]
