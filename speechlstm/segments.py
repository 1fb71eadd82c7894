"""Offline recognition in bounded memory: the full BiLSTM over segments cut at pauses.

Running the full BiLSTM over a whole file costs memory in proportion to its length (the
features and spectra of every frame at once: about 80 MB a minute). Audio of up to
:data:`WHOLE_SECONDS` still runs as one piece, exactly as before. Longer audio is cut, as it
arrives, at the quietest moment between :data:`SHORTEST_SECONDS` and :data:`LONGEST_SECONDS`
into the current segment; each segment runs with :data:`CONTEXT_SECONDS` of audio on either
side (the forward LSTM warms up on the left context, the backward one reads the right), and
only the segment's own output steps are kept, so the pieces join into one sequence of
log-probabilities with the same step times as a whole-file run. The per-speaker normalization
runs on across the segments, as over a whole file.
"""
from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np

from .backends import AcousticBackend
from .config import CHAR_HEAD
from .frontend import LogMel, SpeakerNorm

WHOLE_SECONDS = 60.0
"""Audio up to this long runs as one piece."""
SHORTEST_SECONDS, LONGEST_SECONDS = 20.0, 30.0
"""Where a cut may fall, counted from the start of the segment."""
CONTEXT_SECONDS = 2.0
"""Audio the model reads on each side of a segment without keeping its output."""
SMOOTHING_SECONDS = 0.3
"""The quietest moment is the centre of the quietest stretch this long."""


class SegmentedOffline:
    """Log-probabilities of one input of any length, one segment at a time.

    Iterate :meth:`log_probs` once over mono float32 blocks at the model's rate;
    :attr:`samples` then counts the audio consumed. Cuts fall on model steps (hop times
    stack samples), so every segment's frames line up with the frames of a whole-file run.
    """

    def __init__(self, backend: AcousticBackend, extractor: LogMel, head: str = CHAR_HEAD) -> None:
        self.backend, self.extractor, self.head = backend, extractor, head
        config = extractor.config
        self.norm = SpeakerNorm(config)
        """Its state stands at ``origin``: the frames before the buffer are counted."""
        self.step = config.hop_length * backend.stack
        self.tail = config.win_length - config.hop_length
        """Samples the last frame of a step reaches beyond the step."""

        def steps(seconds: float) -> int:
            return int(seconds * config.sample_rate) // self.step

        self.whole, self.context, self.smoothing = steps(WHOLE_SECONDS), steps(CONTEXT_SECONDS), steps(SMOOTHING_SECONDS)
        self.shortest, self.longest = steps(SHORTEST_SECONDS), steps(LONGEST_SECONDS)
        self.samples = 0
        self.buffer = np.zeros(0, dtype=np.float32)
        self.origin = self.done = 0
        """Global steps: where the buffer starts, and how far output has been yielded."""

    def log_probs(self, blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Yield the log-probs of consecutive stretches of steps, in order."""
        for block in blocks:
            self.samples += len(block)
            self.buffer = np.concatenate([self.buffer, block]) if len(self.buffer) else block
            while self._pending() > self.whole:
                yield self._cut()
        while self.done and self._pending() > self.longest:
            yield self._cut()
        yield self._run(self.buffer, None)

    def _pending(self) -> int:
        """Whole steps in the buffer not yet yielded."""
        return (len(self.buffer) - self.tail) // self.step - (self.done - self.origin)

    def _cut(self) -> np.ndarray:
        """Output up to the quietest step 20-30 s ahead; then drop the audio before its left context."""
        first, last = self.done + self.shortest, self.done + self.longest
        quiet = self.buffer[(first - self.origin) * self.step:(last - self.origin) * self.step]
        energy = np.mean(np.square(quiet.reshape(last - first, self.step), dtype=np.float64), axis=1)
        cut = first + int(np.argmin(np.convolve(energy, np.ones(self.smoothing) / self.smoothing, mode="same")))
        drop = cut - self.context - self.origin
        piece = self._run(self.buffer[:(cut + self.context - self.origin) * self.step + self.tail], cut,
                          drop * self.backend.stack)
        self.buffer, self.origin, self.done = self.buffer[drop * self.step:], self.origin + drop, cut
        return piece

    def _run(self, audio: np.ndarray, end: int | None, keep: int = 0) -> np.ndarray:
        """The model's output for the steps from ``done`` to ``end`` (the end of ``audio`` when
        None) of ``audio``, which begins at step ``origin``; the normalization then counts the
        first ``keep`` frames (those before the next segment's start)."""
        log_probs = self.backend.full(self.norm(self.extractor.log_mel(audio), keep), self.head)
        return log_probs[self.done - self.origin:None if end is None else end - self.origin]
