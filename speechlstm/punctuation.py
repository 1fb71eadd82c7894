"""Readable transcripts: a small tagger restores case and punctuation of recognized words.

Each word gets two labels: its case (:data:`CASES`: lower, Capitalized, UPPER, or a mixed
spelling such as "McDonald" taken from the model's table) and the mark that follows it
(:data:`MARKS`). The tagger (trained by :mod:`speechlstm.nn.punct`, exported to ONNX) reads
word ids and hashed character trigrams and runs a BiLSTM; here it runs on onnxruntime and
numpy only. :class:`Punctuator` tags whole texts (offline) or, through
:class:`StreamingPunctuator`, words as they come with a bounded look-ahead.

The readable form keeps one token per recognized word (:meth:`Punctuator.tokens`), so
word times still apply: written numbers (:mod:`speechlstm.numbers`) put a merged number on
its first word and leave the others empty.
"""
from __future__ import annotations

import json
import re
import unicodedata
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .errors import ModelError
from .model_files import DEFAULT_PUNCTUATOR
from .numbers import write_numbers

CASES = ("lower", "capital", "upper", "mixed")
MARKS = ("", ",", ".", "?", "!")
ENDS = frozenset(".?!")
"""Marks that end a sentence."""
NGRAMS = 12
"""Character trigrams per word (the first ones; the rest are dropped)."""
NGRAM_BUCKETS = 4096

_MARK_OF = {"?": "?", "!": "!", ".": ".", ",": ",", ";": ",", ":": ","}
_CORE = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’]*(?:[-][A-Za-z0-9'’]+)*")


class PunctuatorError(ModelError, ValueError):
    """The punctuation model is missing or is not one (the command line exits 3, as for a bundle)."""


def case_of(word: str) -> int:
    """The case class of a written word (index into :data:`CASES`)."""
    if word == word.lower():
        return 0
    if word == word[:1].upper() + word[1:].lower():
        return 1
    if word == word.upper():
        return 2
    return 3


def labelled_words(sentence: str, normalized: str) -> list[tuple[str, int, int, str]] | None:
    """The words of ``normalized`` (the recognizer's spelling) with the case class and mark
    index each has in the written ``sentence``, and its written form; None where the two do
    not align word for word (digits, symbols, accents): such sentences are left out."""
    spoken = normalized.lower().split()
    folded = "".join(c for c in unicodedata.normalize("NFKD", sentence) if not unicodedata.combining(c))
    labelled: list[tuple[str, int, int, str]] = []
    for token in folded.replace("--", " ").replace("—", " ").split():
        match = _CORE.search(token)
        if match is None:
            continue
        tail = token[match.end():]
        mark = next((_MARK_OF[c] for c in "?!.,;:" if c in tail), "")
        parts = match.group().replace("’", "'").split("-")
        for i, part in enumerate(parts):
            labelled.append(("", case_of(part), MARKS.index(mark) if i == len(parts) - 1 else 0, part))
    if len(labelled) != len(spoken):
        return None
    words = []
    for word, (_, case, mark, written) in zip(spoken, labelled):
        if word.replace("'", "") != written.lower().replace("'", ""):
            return None
        words.append((word, case, mark, written))
    return words


def ngram_ids(word: str) -> list[int]:
    """Hashed character trigrams of ``<word>`` (1 .. NGRAM_BUCKETS; 0 pads)."""
    padded = f"<{word}>"
    grams = [padded[i:i + 3] for i in range(max(1, len(padded) - 2))][:NGRAMS]
    return [zlib.crc32(gram.encode("utf-8")) % NGRAM_BUCKETS + 1 for gram in grams]


@dataclass(frozen=True)
class Vocabulary:
    """Word ids (0 pads, 1 is any other word) and the mixed spellings the model knows."""

    words: tuple[str, ...]
    mixed: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_ids", {word: i + 2 for i, word in enumerate(self.words)})

    def features(self, words: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(word ids (n,), trigram ids (n, NGRAMS)) int64 for lower-case words."""
        ids = np.array([self._ids.get(word, 1) for word in words], dtype=np.int64)
        grams = np.zeros((len(words), NGRAMS), dtype=np.int64)
        for i, word in enumerate(words):
            row = ngram_ids(word)
            grams[i, :len(row)] = row
        return ids, grams

    def to_json(self) -> str:
        return json.dumps({"words": list(self.words), "mixed": self.mixed}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "Vocabulary":
        data = json.loads(text)
        return cls(tuple(data["words"]), dict(data["mixed"]))


def written(word: str, case: int, mixed: dict[str, str]) -> str:
    """``word`` in case class ``case``."""
    if case == 1 or (case == 3 and word not in mixed):
        return word[:1].upper() + word[1:]
    if case == 2:
        return word.upper()
    if case == 3:
        return mixed[word]
    return word


def sentence_cases(cases: Sequence[int], marks: Sequence[int]) -> list[int]:
    """``cases`` with a capital on the first word and on each word after a sentence end (the
    tagger sometimes ends a sentence and leaves the next word lower case)."""
    return [1 if case == 0 and (i == 0 or MARKS[marks[i - 1]] in ENDS) else case for i, case in enumerate(cases)]


def render(words: Sequence[str], cases: Sequence[int], marks: Sequence[int], mixed: dict[str, str],
           final: bool = True) -> list[str]:
    """One written token per word, the text starting a sentence (:func:`sentence_cases`); with
    ``final`` it also ends one (a period unless the last mark already ends one)."""
    cases = sentence_cases(cases, marks)
    tokens = [written(w, c, mixed) + MARKS[m] for w, c, m in zip(words, cases, marks)]
    if final and tokens and tokens[-1][-1:] not in ENDS:
        tokens[-1] = tokens[-1].rstrip(",") + "."
    return tokens


def rule_labels(words: Sequence[str]) -> tuple[list[int], list[int]]:
    """The baseline without a model: a capital at the start and on "I", no marks inside
    (:func:`render` with ``final`` adds the period at the end)."""
    cases = [1 if i == 0 or w == "i" or w.startswith("i'") else 0 for i, w in enumerate(words)]
    return cases, [0] * len(words)


_END_INDICES = [MARKS.index(mark) for mark in ".?!"]


def _marks(logits: np.ndarray, final: bool) -> list[int]:
    """The likeliest mark of each word; with ``final``, the last word's likeliest sentence end."""
    marks = logits.argmax(-1).tolist()
    if final and marks:
        marks[-1] = _END_INDICES[int(logits[-1, _END_INDICES].argmax())]
    return marks


class Punctuator:
    """The ONNX tagger with its vocabulary (stored in the model's metadata).

    ``tokens`` tags a whole text; ``labels`` with ``lookahead`` tags each word from at most
    ``context`` words before it and ``lookahead`` words after it, as a stream must. The session
    comes from the onnx backend (:func:`~speechlstm.backends.onnx.cpu_session`).
    """

    def __init__(self, path: str | Path | None = None, threads: int = 1) -> None:
        from .backends.onnx import cpu_session
        self.path = Path(path) if path is not None else DEFAULT_PUNCTUATOR
        if not self.path.is_file():
            raise PunctuatorError(f"punctuation model not found: {self.path} (SPEECHLSTM_MODELS names the folder of "
                                  f"the shipped models; --raw-text needs none)")
        try:
            self.session = cpu_session(self.path, threads)
            self.vocabulary = Vocabulary.from_json(self.session.get_modelmeta().custom_metadata_map["vocabulary"])
        except (ModelError, KeyError, ValueError) as error:
            raise PunctuatorError(f"not a punctuation model: {self.path} ({error})") from None

    def _run(self, batch: list[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        """Case and mark logits (batch, longest, classes) for word sequences."""
        longest = max(len(words) for words in batch)
        ids = np.zeros((len(batch), longest), dtype=np.int64)
        grams = np.zeros((len(batch), longest, NGRAMS), dtype=np.int64)
        for row, words in enumerate(batch):
            ids[row, :len(words)], grams[row, :len(words)] = self.vocabulary.features(words)
        lengths = np.array([len(words) for words in batch], dtype=np.int64)
        cases, marks = self.session.run(["case_logits", "mark_logits"],
                                        {"word_ids": ids, "ngram_ids": grams, "lengths": lengths})
        return cases, marks

    def labels(self, words: Sequence[str], lookahead: int | None = None, context: int = 32, final: bool = True
               ) -> tuple[list[int], list[int]]:
        """Case and mark classes of ``words``: from the whole text (``lookahead`` None), or each
        word from a window of ``context`` words before and ``lookahead`` after it. With
        ``final`` the text ends a sentence: its last word takes the likeliest of . ? !"""
        if not words:
            return [], []
        if lookahead is not None:
            return self.window_labels(words, range(len(words)), lookahead, context, final)
        cases, marks = self._run([words])
        return cases[0].argmax(-1).tolist(), _marks(marks[0], final)

    def window_labels(self, words: Sequence[str], positions: Iterable[int], lookahead: int, context: int,
                      final: bool = True, batch_size: int = 256) -> tuple[list[int], list[int]]:
        """Case and mark classes of ``words[t]`` for each t of ``positions``, each from the
        words t - ``context`` .. t + ``lookahead`` (one batched call per ``batch_size``)."""
        positions = list(positions)
        out_cases: list[int] = []
        out_marks: list[int] = []
        for first in range(0, len(positions), batch_size):
            part = positions[first:first + batch_size]
            cases, marks = self._run([words[max(0, t - context):t + 1 + lookahead] for t in part])
            for row, t in enumerate(part):
                at = t - max(0, t - context)
                out_cases.append(int(cases[row, at].argmax()))
                out_marks.append(_marks(marks[row, at:at + 1], final and t == len(words) - 1)[0])
        return out_cases, out_marks

    def tokens(self, words: Sequence[str], lookahead: int | None = None, final: bool = True) -> list[str]:
        """One written token per word (case and following mark)."""
        words = [word.lower() for word in words]
        cases, marks = self.labels(words, lookahead, final=final)
        return render(words, cases, marks, self.vocabulary.mixed, final)

    def readable(self, words: Sequence[str]) -> list[str]:
        """:meth:`tokens` of a whole text with its numbers written (:func:`~speechlstm.numbers.write_numbers`)."""
        return write_numbers(self.tokens(words))

    def punctuate(self, text: str) -> str:
        """Cased and punctuated ``text`` (one paragraph), numbers written."""
        return " ".join(token for token in self.readable(text.split()) if token)


@lru_cache(maxsize=4)
def load_punctuator(path: str | Path | None = None) -> Punctuator:
    """One shared :class:`Punctuator` per model file (onnxruntime sessions run from any thread)."""
    return Punctuator(path)


@dataclass
class StreamingPunctuator:
    """Punctuates a live session's utterances as they end, and partials as they grow.

    A final is tagged at its endpoint in one run over the words of the utterance after up to
    ``context`` words of the session's earlier finals (so the next utterance is cased from how
    the last one ended): every word's look-ahead is the rest of its utterance, which the
    endpointer bounds (``max_utterance``), and nothing waits for words after the endpoint, so
    a final is delayed only by the tagger's compute. Its last word has no look-ahead, and the
    endpoint ends a sentence there (:func:`render`). A partial is tagged the same way but the
    marks of its last ``hold`` words, which the next words may still change, are not shown.
    """

    punctuator: Punctuator
    hold: int = 4
    context: int = 32
    history: list[str] = field(default_factory=list)

    def _labels(self, words: list[str], final: bool) -> tuple[list[int], list[int]]:
        cases, marks = self.punctuator.labels(self.history + words, final=final)
        return cases[len(self.history):], marks[len(self.history):]

    def final(self, words: Sequence[str]) -> list[str]:
        """The tokens of a finished utterance, numbers written, the last ending a sentence."""
        words = [word.lower() for word in words]
        if not words:
            return []
        cases, marks = self._labels(words, final=True)
        self.history = (self.history + words)[-self.context:]
        return write_numbers(render(words, cases, marks, self.punctuator.vocabulary.mixed, final=True))

    def partial(self, words: Sequence[str]) -> list[str]:
        """The tokens of an utterance so far: cased, marks only where ``hold`` words follow."""
        words = [word.lower() for word in words]
        if not words:
            return []
        cases, marks = self._labels(words, final=False)
        settled = max(0, len(words) - self.hold)
        marks = marks[:settled] + [0] * (len(words) - settled)
        return render(words, cases, marks, self.punctuator.vocabulary.mixed, final=False)
