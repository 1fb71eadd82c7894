"""Progress of a batch (transcribe, eval) on stderr: files and audio done, real-time factor, ETA.

A tqdm bar, drawn only when stderr is a terminal. Messages and results go through
:class:`BatchProgress` so that the bar is cleared before each of them is written and
redrawn after it: results on a terminal never share a line with progress text. Inside a
long file the bar moves with the audio decoded (:func:`reporting`, :meth:`BatchProgress.decoded`),
so an hour-long file does not sit at 0 % until it is done.
"""
from __future__ import annotations

import sys
from typing import Callable, Iterable, Iterator, Sequence, TextIO

import numpy as np

REPORT_SECONDS = 1.0
"""Audio between two reports of progress inside a file (a streaming block is 0.1 s)."""


def reporting(blocks: Iterable[np.ndarray], sample_rate: int, report: Callable[[float], None] | None,
              every: float = REPORT_SECONDS) -> Iterator[np.ndarray]:
    """``blocks`` unchanged; before passing on a block, ``report`` gets the seconds of audio passed on
    so far when ``every`` more seconds went by since its last call. A recognizer decodes a block before
    it asks for the next (offline: up to a minute of audio is held to cut segments at pauses), so this is
    the audio decoded."""
    if report is None:
        yield from blocks
        return
    samples = reported = 0
    for block in blocks:
        if samples - reported >= every * sample_rate:
            report(samples / sample_rate)
            reported = samples
        yield block
        samples += len(block)


class BatchProgress:
    """A bar over ``durations`` (seconds of audio per item; None where unknown until decoded);
    ``label`` (e.g. ``"offline "``) comes before the file count."""

    def __init__(self, durations: Sequence[float | None], label: str = "") -> None:
        self.label, self.total_files, self.files = label, len(durations), 0
        self._known = [duration is not None for duration in durations]
        self._partial: dict[int, float] = {}
        """Seconds of each unfinished item counted so far (:meth:`decoded`)."""
        total = sum(d or 0.0 for d in durations)
        # An archive's audio reads in hours; a few clips' in seconds.
        scale, amount = ((1 / 3600, "{n:.2f}/{total:.2f} h audio") if total >= 3600
                         else (1, "{n:.0f}/{total:.0f} s audio"))
        from tqdm import tqdm  # here, not at the top: the recognizer imports this module, the edge runtime has no tqdm

        self._bar = tqdm(total=total, desc=f"{label}0/{len(durations)} files", unit="s audio", unit_scale=scale,
                         file=sys.stderr, leave=False, dynamic_ncols=True, disable=not sys.stderr.isatty(),
                         bar_format="{desc} {percentage:3.0f}%|{bar}| " + amount + "{postfix} "
                                    "[{elapsed}<{remaining}]")

    @property
    def enabled(self) -> bool:
        return not self._bar.disable

    def _show_files(self) -> None:
        self._bar.set_description_str(f"{self.label}{self.files}/{self.total_files} files", refresh=False)

    def decoded(self, index: int, seconds: float) -> None:
        """Item ``index`` (unfinished, its place in ``durations``) has ``seconds`` of audio decoded so far."""
        step = seconds - self._partial.get(index, 0.0)
        self._partial[index] = seconds
        self._advance(step, known=self._known[index])

    def done(self, seconds: float, known: bool = True, index: int | None = None) -> None:
        """One item finished: ``seconds`` of audio; ``known=False`` when its length was not in the total.
        ``index``, its place in ``durations``, tells both that and what :meth:`decoded` counted already."""
        if index is not None:
            known = self._known[index]
        self.files += 1
        self._show_files()
        self._advance(seconds - self._partial.pop(index, 0.0), known)

    def _advance(self, seconds: float, known: bool) -> None:
        if not known:
            self._bar.total += seconds
        if self.enabled and self._bar.n + seconds > 0:
            # Wall time over audio time, all workers together: what the batch costs per second of audio.
            rtf = self._bar.format_dict["elapsed"] / (self._bar.n + seconds)
            self._bar.set_postfix_str(f"RTF {rtf:.3f}", refresh=False)
        self._bar.update(seconds)

    def write(self, text: str, stream: TextIO) -> None:
        """Write ``text`` (a result) to ``stream`` with the bar out of the way."""
        if self.enabled:
            self._bar.clear()
        stream.write(text)
        stream.flush()
        if self.enabled:
            self._bar.refresh()

    def message(self, line: str) -> None:
        """One line on stderr above the bar (an error or a warning)."""
        self.write(line + "\n", sys.stderr)

    def close(self) -> None:
        """Clear the bar (nothing of it stays on the terminal)."""
        self._bar.close()

    def __enter__(self) -> "BatchProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
