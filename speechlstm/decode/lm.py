"""Word n-gram language model read from ARPA files, scored incrementally with backoff.

The beam search asks for one word's probability given the words before it, many times
per second, on devices that only have numpy. Each order is therefore kept as sorted
arrays (packed word-id keys, float32 log-probabilities and backoffs): about 12 bytes per
n-gram instead of the ~150 a Python dict entry costs, and a lookup is one binary search.
Scores are natural logarithms so they add directly to CTC log-probabilities.
"""
from __future__ import annotations

import gzip
import math
import warnings
from array import array
from functools import lru_cache
from pathlib import Path
from typing import TextIO

import numpy as np

from ..errors import ModelFileError

UNK, BOS, EOS = "<unk>", "<s>", "</s>"
LN10 = math.log(10.0)
MISSING_UNK_LOG10 = -100.0
"""log10 P(<unk>) for an ARPA file without an <unk> unigram, as KenLM assumes: unknown words
are then all but ruled out."""

#: A language-model state: the ids of the words that condition the next one.
LMState = tuple[int, ...]


def _open(path: Path) -> TextIO:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


class ArpaLM:
    """An ARPA back-off model; a state is the tuple of the last ``order - 1`` word ids.

    States are shortened to the longest suffix the model has as an n-gram, as KenLM
    does: equal futures then share one state, which lets the beam search merge them.
    """

    def __init__(self, path: str | Path) -> None:
        counts: list[int] = []
        self.words: list[str] = []
        self.index: dict[str, int] = {}
        self.bits = 0
        columns: list[tuple[array, array, array]] = []
        with _open(Path(path)) as f:
            n = 0
            for line in f:
                line = line.strip()
                if not line:
                    continue
                if not counts and line != "\\data\\" and not line.startswith("ngram "):
                    raise ValueError(f"{path}: not an ARPA file (it must start with \\data\\)")
                if line in ("\\data\\", "\\end\\"):
                    continue
                if n == 0 and line.startswith("ngram ") and "=" in line:
                    counts.append(int(line.split("=", 1)[1]))
                elif line.startswith("\\") and line.endswith("-grams:"):
                    n = int(line[1:line.index("-")])
                    if n != len(columns) + 1 or not counts:
                        raise ValueError(f"{path}: malformed ARPA file")
                    if n == 2:
                        self._index_words(path, counts, columns[0])
                    columns.append((array("q"), array("d"), array("d")))
                elif n > 0:
                    fields = line.split()
                    keys, logp, backoff = columns[n - 1]
                    if n == 1:
                        keys.append(len(self.words))
                        self.words.append(fields[1])
                    else:
                        key = 0
                        for word in fields[1:1 + n]:
                            key = (key << self.bits) | self.index[word]
                        keys.append(key)
                    logp.append(float(fields[0]))
                    backoff.append(float(fields[1 + n]) if len(fields) > 1 + n else 0.0)
        if len(columns) == 1:
            self._index_words(path, counts, columns[0])
        if [len(c[0]) for c in columns] != counts:
            raise ValueError(f"{path}: n-gram counts differ from the header")
        self.order = len(columns)
        if self.bits * self.order > 63:
            raise ValueError(f"{path}: {self.order}-grams over {len(self.words)} words do not fit 64 bits")
        self.unk, self.bos, self.eos = self.index[UNK], self.index[BOS], self.index[EOS]
        self._keys: list[np.ndarray] = []
        self._logp: list[np.ndarray] = []
        self._backoff: list[np.ndarray] = []
        for keys, logp, backoff in columns:
            key_array = np.frombuffer(keys, dtype=np.int64)
            order = np.argsort(key_array, kind="stable")
            self._keys.append(key_array[order].copy())
            self._logp.append((np.frombuffer(logp)[order] * LN10).astype(np.float32))
            self._backoff.append((np.frombuffer(backoff)[order] * LN10).astype(np.float32))

    def _index_words(self, path: str | Path, counts: list[int], unigrams: tuple[array, array, array]) -> None:
        """Word ids once the unigrams are read; later orders pack their ids with them.

        A model without <unk> (SRILM's default) gets one with :data:`MISSING_UNK_LOG10`."""
        if UNK not in self.words:
            warnings.warn(f"{path}: no {UNK} unigram; unknown words get log10 P = {MISSING_UNK_LOG10:g}",
                          stacklevel=3)
            for column, value in zip(unigrams, (len(self.words), MISSING_UNK_LOG10, 0.0)):
                column.append(value)
            self.words.append(UNK)
            counts[0] += 1
        self.index = {w: i for i, w in enumerate(self.words)}
        for token in (BOS, EOS):
            if token not in self.index:
                raise ValueError(f"{path}: no {token} unigram")
        self.bits = max(len(self.words).bit_length(), 1)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def __len__(self) -> int:
        return len(self.words)

    def begin(self) -> LMState:
        """The state at the start of a sentence."""
        return (self.bos,)

    def _find(self, gram: tuple[int, ...]) -> int:
        n = len(gram)
        if n == 1:
            return gram[0]
        key = 0
        for w in gram:
            key = (key << self.bits) | w
        keys = self._keys[n - 1]
        pos = int(np.searchsorted(keys, key))
        return pos if pos < len(keys) and keys[pos] == key else -1

    def score(self, state: LMState, word: str) -> tuple[float, LMState]:
        """Natural-log P(word | state) and the state after it; unknown words score as <unk>."""
        w = self.index.get(word, self.unk)
        context = state
        total = 0.0
        while True:
            gram = context + (w,)
            pos = self._find(gram)
            if pos >= 0:
                total += float(self._logp[len(gram) - 1][pos])
                break
            ctx_pos = self._find(context)
            if ctx_pos >= 0:
                total += float(self._backoff[len(context) - 1][ctx_pos])
            context = context[1:]
        nxt = (state + (w,))[-(self.order - 1):] if self.order > 1 else ()
        while len(nxt) > 1 and self._find(nxt) < 0:
            nxt = nxt[1:]
        return total, nxt

    def final(self, state: LMState) -> float:
        """Natural-log P(</s> | state): the cost of ending the sentence here."""
        return self.score(state, EOS)[0]


@lru_cache(maxsize=4)
def _load_cached(path: Path, modified: float) -> ArpaLM:
    return ArpaLM(path)


def load_lm(path: str | Path) -> ArpaLM:
    """An :class:`ArpaLM`, read once per process while the file is unchanged.

    Recognizers built with the same LM (one per CLI call, test or option change) share it; the
    model is read-only, so sharing is safe.
    """
    path = Path(path).resolve()
    try:
        return _load_cached(path, path.stat().st_mtime)
    except (OSError, EOFError, UnicodeDecodeError, ValueError, KeyError, IndexError) as error:
        reason = getattr(error, "strerror", None) or (f"unknown word {error}" if isinstance(error, KeyError)
                                                      else str(error).removeprefix(f"{path}: "))
        raise ModelFileError(f"{path}: not a readable ARPA language model ({reason})") from None
