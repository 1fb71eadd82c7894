"""Progress of a batch (transcribe, eval) on stderr: files and audio time done, with an ETA.

A tqdm bar, drawn only when stderr is a terminal. Messages and results go through
:class:`BatchProgress` so that the bar is cleared before each of them is written and
redrawn after it: results on a terminal never share a line with progress text.
"""
from __future__ import annotations

import sys
from typing import Sequence, TextIO

from tqdm import tqdm


class BatchProgress:
    """A bar over ``durations`` (seconds of audio per item; None where unknown until decoded);
    ``label`` (e.g. ``"offline "``) comes before the file count."""

    def __init__(self, durations: Sequence[float | None], label: str = "") -> None:
        self.label, self.total_files, self.files = label, len(durations), 0
        self._bar = tqdm(total=sum(d or 0.0 for d in durations), desc=f"{label}0/{len(durations)} files",
                         unit="s audio", file=sys.stderr, leave=False,
                         dynamic_ncols=True, disable=not sys.stderr.isatty(),
                         bar_format="{desc} {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s audio "
                                    "[{elapsed}<{remaining}]")

    @property
    def enabled(self) -> bool:
        return not self._bar.disable

    def _show_files(self) -> None:
        self._bar.set_description_str(f"{self.label}{self.files}/{self.total_files} files", refresh=False)

    def done(self, seconds: float, known: bool = True) -> None:
        """One item finished: ``seconds`` of audio; ``known=False`` when its length was not in the total."""
        self.files += 1
        if not known:
            self._bar.total += seconds
        self._show_files()
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
