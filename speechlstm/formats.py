"""Output formats (text, JSON lines, SRT, WebVTT) and atomic file writing.

Results are written to a temporary file beside the target and renamed into place, so a
failed or interrupted run never leaves a half-written output file.
"""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .decoding import Word

FORMATS = ("text", "tsv", "json", "srt", "vtt")
"""text: the transcript, one line per input; tsv: PATH<TAB>TEXT per input; json: one object per
line; srt and vtt: subtitles."""
EXTENSIONS = {"text": "txt", "tsv": "tsv", "json": "json", "srt": "srt", "vtt": "vtt"}
ALL = ("text", "json", "srt", "vtt")
"""What ``--format all`` writes for each input."""


def subtitle_cues(words: tuple[Word, ...], max_chars: int = 42, max_seconds: float = 6.0,
                  max_gap: float = 0.8) -> list[tuple[float, float, str]]:
    """Group words into cues, breaking at long pauses, long lines or long durations."""
    cues: list[tuple[float, float, str]] = []
    current: list[Word] = []
    for word in words:
        if current:
            text = " ".join(w.word for w in current + [word])
            if (word.start - current[-1].end > max_gap or len(text) > max_chars
                    or word.end - current[0].start > max_seconds):
                cues.append((current[0].start, current[-1].end, " ".join(w.word for w in current)))
                current = []
        current.append(word)
    if current:
        cues.append((current[0].start, current[-1].end, " ".join(w.word for w in current)))
    return cues


def _timestamp(seconds: float, separator: str) -> str:
    millis = int(round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def to_srt(words: tuple[Word, ...]) -> str:
    blocks = [f"{i}\n{_timestamp(s, ',')} --> {_timestamp(e, ',')}\n{t}\n"
              for i, (s, e, t) in enumerate(subtitle_cues(words), start=1)]
    return "\n".join(blocks)


def to_vtt(words: tuple[Word, ...]) -> str:
    blocks = [f"{_timestamp(s, '.')} --> {_timestamp(e, '.')}\n{t}\n" for s, e, t in subtitle_cues(words)]
    return "WEBVTT\n\n" + "\n".join(blocks)


def to_json_line(record: dict) -> str:
    """One JSON object per line, UTF-8 text as is; a file name that is not valid UTF-8
    (its undecodable bytes held as surrogates) switches to ASCII escapes, which any
    reader accepts and which decode back to the same name."""
    line = json.dumps(record, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = json.dumps(record)
    return line + "\n"


def _new_file_mode(path: Path) -> int:
    """The permissions ``path`` keeps (if it exists) or a new file gets: mkstemp's 0600
    would otherwise make every output private."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary name beside ``path`` for a writer that wants a file name (safetensors, torch):
    renamed onto ``path`` when the block ends, with the permissions a plain new file would get
    (or the old file's), and removed if the block fails or is interrupted."""
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"output directory does not exist: {path.parent}")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        yield Path(temporary)
        os.chmod(temporary, _new_file_mode(path))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write(path: str | Path, content: str) -> None:
    """Write ``content`` to ``path`` via a temporary file and a rename; any failure, an
    interrupt included, leaves the previous file (if any) untouched and no temporary behind.
    File names that are not valid UTF-8 are written back as their original bytes."""
    with atomic_path(path) as temporary:
        with open(temporary, "w", encoding="utf-8", errors="surrogateescape") as out:
            out.write(content)
