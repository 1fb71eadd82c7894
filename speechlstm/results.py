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
    """A transcript and its words; ``text`` is the words joined by single spaces (the raw
    text). ``tokens``, when the recognizer punctuates, holds one written token per word
    (cased, punctuated, numbers written; "" for a word a written number absorbed)."""

    text: str
    words: tuple[Word, ...] = ()
    tokens: tuple[str, ...] = ()

    @property
    def readable(self) -> str:
        """The cased, punctuated text with written numbers; the raw text when not punctuated."""
        return " ".join(token for token in self.tokens if token) if self.tokens else self.text

    def to_dict(self) -> dict:
        """``text`` (readable) and, when punctuated, ``raw_text``; the raw words with their times."""
        raw = {"raw_text": self.text} if self.tokens else {}
        return {"text": self.readable, **raw,
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
        """The raw text (what ``eval`` scores)."""
        return self.result.text

    @property
    def readable(self) -> str:
        return self.result.readable

    def to_dict(self) -> dict:
        result = self.result.to_dict()
        return {"path": self.path, "text": result.pop("text"), **{k: v for k, v in result.items() if k != "words"},
                "duration": round(self.duration, 3), "words": result["words"]}


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
    tokens: tuple[str, ...] = ()
    alternatives: tuple[Alternative, ...] = ()

    @property
    def readable(self) -> str:
        """As :attr:`Result.readable`."""
        return Result(self.text, self.words, self.tokens).readable

    def to_dict(self) -> dict:
        """The JSON form: text (readable), raw_text when punctuated, start, end, words (as :meth:`Result.to_dict`)."""
        result = Result(self.text, self.words, self.tokens).to_dict()
        words = result.pop("words")
        return {**result, "start": round(self.start, 3), "end": round(self.end, 3), "words": words}
