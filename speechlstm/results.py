"""What recognition returns: words, results, transcripts of files and live events."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Word:
    """One recognized word with its time span in seconds and a confidence in [0, 1]."""

    word: str
    start: float
    end: float
    confidence: float


@dataclass(frozen=True)
class Result:
    """A transcript and its words; ``text`` is the words joined by single spaces."""

    text: str
    words: tuple[Word, ...] = ()

    def to_dict(self) -> dict:
        return {"text": self.text,
                "words": [{"word": w.word, "start": round(w.start, 3), "end": round(w.end, 3),
                           "confidence": round(w.confidence, 3)} for w in self.words]}


@dataclass(frozen=True)
class Alternative:
    """One of the N best transcripts of an utterance and its search score (log domain, higher is better)."""

    result: Result
    score: float


@dataclass(frozen=True)
class Transcript:
    """The result for one file or array, with its duration in seconds."""

    result: Result
    duration: float
    path: str | None = None

    @property
    def text(self) -> str:
        return self.result.text

    def to_dict(self) -> dict:
        return {"path": self.path, "text": self.text, "duration": round(self.duration, 3),
                "words": self.result.to_dict()["words"]}


@dataclass(frozen=True)
class LiveEvent:
    """A ``partial`` (text so far, may still change) or ``final`` (utterance done) result.

    ``start``/``end`` span the words and, like the word times, count seconds of audio from
    the start of the session. A final may carry the N best ``alternatives`` (best first), when
    the session asks for them.
    """

    kind: Literal["partial", "final"]
    text: str
    start: float
    end: float
    words: tuple[Word, ...] = ()
    alternatives: tuple[Alternative, ...] = ()

    def to_dict(self) -> dict:
        """The JSON form: text, start, end, words (as :meth:`Result.to_dict`)."""
        words = Result(self.text, self.words).to_dict()["words"]
        return {"text": self.text, "start": round(self.start, 3), "end": round(self.end, 3), "words": words}
