"""Output formats: text, TSV, JSON lines, SRT and WebVTT (files are written by :mod:`.atomic`)."""
from __future__ import annotations

import json

from ..results import Word

FORMATS = ("text", "tsv", "json", "srt", "vtt")
"""text: the transcript, one line per input; tsv: PATH<TAB>TEXT per input (:func:`to_tsv_line`); json: one object per
line; srt and vtt: subtitles."""
EXTENSIONS = {"text": "txt", "tsv": "tsv", "json": "json", "srt": "srt", "vtt": "vtt"}
ALL = ("text", "json", "srt", "vtt")
"""What ``--format all`` writes for each input."""


_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def to_tsv_line(path: str, text: str) -> str:
    """PATH<TAB>TEXT, one line whatever the file name holds: a backslash, tab, newline or carriage
    return in it is written \\\\, \\t, \\n or \\r (the escapes of PostgreSQL's and MySQL's TSV)."""
    return f"{path.translate(_TSV_ESCAPES)}\t{text}\n"


def subtitle_cues(words: tuple[Word, ...], tokens: tuple[str, ...] = (), max_chars: int = 42,
                  max_seconds: float = 6.0, max_gap: float = 0.8) -> list[tuple[float, float, str]]:
    """Group words into cues, breaking at long pauses, long lines or long durations, and after
    each sentence when ``tokens`` (the readable form of each word) are given."""
    shown = tokens or tuple(w.word for w in words)
    cues: list[tuple[float, float, str]] = []
    current: list[int] = []

    def text(indices: list[int]) -> str:
        return " ".join(shown[i] for i in indices if shown[i])

    for i, word in enumerate(words):
        if current:
            last = words[current[-1]]
            if (word.start - last.end > max_gap or len(text(current + [i])) > max_chars
                    or word.end - words[current[0]].start > max_seconds or text(current).endswith((".", "?", "!"))):
                cues.append((words[current[0]].start, last.end, text(current)))
                current = []
        current.append(i)
    if current:
        cues.append((words[current[0]].start, words[current[-1]].end, text(current)))
    return cues


def _timestamp(seconds: float, separator: str) -> str:
    millis = int(round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def to_srt(words: tuple[Word, ...], tokens: tuple[str, ...] = ()) -> str:
    blocks = [f"{i}\n{_timestamp(s, ',')} --> {_timestamp(e, ',')}\n{t}\n"
              for i, (s, e, t) in enumerate(subtitle_cues(words, tokens), start=1)]
    return "\n".join(blocks)


def to_vtt(words: tuple[Word, ...], tokens: tuple[str, ...] = ()) -> str:
    blocks = [f"{_timestamp(s, '.')} --> {_timestamp(e, '.')}\n{t}\n" for s, e, t in subtitle_cues(words, tokens)]
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
