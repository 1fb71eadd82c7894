"""Build a pruned word n-gram ARPA model with interpolated modified Kneser-Ney smoothing.

KenLM's ``lmplz`` is not packaged for Debian and ``pip install kenlm`` only ships the
query module, so the decoder's language model is estimated here with numpy alone.

Estimation follows Chen & Goodman's interpolated modified Kneser-Ney as lmplz does it:
the highest order uses raw counts, lower orders use continuation counts (distinct left
extensions) except for n-grams that start with ``<s>``, which keep their raw counts;
three discounts per order come from the count-of-counts, and unigrams interpolate with
the uniform distribution. Pruning drops n-grams whose raw count is below a per-order
threshold; the kept n-grams keep their unpruned probabilities and every backoff weight
is recomputed so each context's distribution still sums to one.

Example (``speechlstm build-lm`` runs it)::

    speechlstm build-lm --text ../shared/text/lm_text.txt.xz --vocab ../shared/text/vocab200k.txt \\
        --vocab-size 60000 --prune 0 5 12 -o models/lm.arpa.gz
"""
from __future__ import annotations

import gzip
import lzma
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence, TextIO

import numpy as np

UNK, BOS, EOS = "<unk>", "<s>", "</s>"


@dataclass
class NgramTable:
    """One order of the model: sorted packed keys with probabilities and backoffs (natural)."""

    keys: np.ndarray
    prob: np.ndarray
    backoff: np.ndarray


def _discounts(counts: np.ndarray) -> np.ndarray:
    """Modified Kneser-Ney discounts D1, D2, D3+ from the count-of-counts of ``counts``."""
    n = [int(np.count_nonzero(counts == k)) for k in (1, 2, 3, 4)]
    if min(n) == 0:  # too little data for the modified estimate: plain absolute discounting
        y = n[0] / max(n[0] + 2 * n[1], 1)
        return np.array([0.0, y, y, y]) if y > 0 else np.array([0.0, 0.5, 0.5, 0.5])
    y = n[0] / (n[0] + 2 * n[1])
    d = [1 - 2 * y * n[1] / n[0], 2 - 3 * y * n[2] / n[1], 3 - 4 * y * n[3] / n[2]]
    return np.array([0.0] + [min(max(v, 0.0), k + 1.0) for k, v in enumerate(d)])


def _discount_of(counts: np.ndarray, d: np.ndarray) -> np.ndarray:
    return d[np.minimum(counts, 3)]


class ArpaBuilder:
    """Counts n-grams of id sequences and turns them into a pruned interpolated KN model."""

    def __init__(self, vocabulary: Sequence[str], order: int = 3) -> None:
        words = [w for w in dict.fromkeys(vocabulary) if w not in (UNK, BOS, EOS)]
        self.words: list[str] = [UNK, BOS, EOS] + words
        self.index = {w: i for i, w in enumerate(self.words)}
        self.order = order
        self.bits = max(int(len(self.words)).bit_length(), 1)
        if self.bits * order > 63:
            raise ValueError(f"{len(self.words)} words do not fit {order}-gram keys in 64 bits")
        self.mask = (1 << self.bits) - 1
        self.ids = array("i")
        self.tokens = 0

    def add(self, sentences: Iterable[str], max_words: int | None = None) -> int:
        """Append sentences (already normalized words, any case) until ``max_words``."""
        get, unk = self.index.get, self.index[UNK]
        bos, eos = self.index[BOS], self.index[EOS]
        for line in sentences:
            words = line.lower().split()
            if not words:
                continue
            self.ids.append(bos)
            self.ids.extend([get(w, unk) for w in words])
            self.ids.append(eos)
            self.tokens += len(words)
            if max_words is not None and self.tokens >= max_words:
                break
        return self.tokens

    def _counts(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Sorted unique packed keys and raw counts per order (index 0 = unigrams)."""
        x = np.frombuffer(self.ids, dtype=np.int32).astype(np.int64)
        bos, eos = self.index[BOS], self.index[EOS]
        result = []
        for n in range(1, self.order + 1):
            length = len(x) - n + 1
            key = np.zeros(max(length, 0), dtype=np.int64)
            valid = np.ones(max(length, 0), dtype=bool)
            for i in range(n):
                part = x[i:i + length]
                key = (key << self.bits) | part
                if i < n - 1:
                    valid &= part != eos  # an n-gram never runs past its sentence's end
            if n == 1:
                valid &= x[:length] != bos
            keys, counts = np.unique(key[valid], return_counts=True)
            result.append((keys, counts.astype(np.int64)))
        return result

    def _first(self, keys: np.ndarray, n: int) -> np.ndarray:
        return keys >> (self.bits * (n - 1))

    def estimate(self, prune: Sequence[int] = ()) -> list[NgramTable]:
        """Interpolated modified KN, then count pruning with renormalized backoffs.

        ``prune[n-1]`` is the smallest raw count an n-gram of order ``n >= 2`` needs to be
        kept (thresholds are raised to be non-decreasing so every kept n-gram's prefix and
        suffix are kept too).
        """
        raw = self._counts()
        bos = self.index[BOS]
        vocab_size = len(self.words)
        adjusted: list[np.ndarray] = []
        for n in range(1, self.order + 1):
            keys, counts = raw[n - 1]
            if n == self.order:
                adjusted.append(counts.copy())
                continue
            suffixes, left = np.unique(raw[n][0] & ((1 << (self.bits * n)) - 1), return_counts=True)
            adj = counts.copy()
            pos = np.searchsorted(keys, suffixes)
            adj[pos] = left
            starts_bos = self._first(keys, n) == bos
            adj[starts_bos] = counts[starts_bos]
            adjusted.append(adj)

        # Unigrams over the whole vocabulary (seen or not), <s> excluded from prediction.
        uni_count = np.zeros(vocab_size, dtype=np.int64)
        uni_count[raw[0][0]] = adjusted[0]
        d = _discounts(uni_count[uni_count > 0])
        predicted = np.ones(vocab_size, dtype=bool)
        predicted[bos] = False
        total = max(uni_count.sum(), 1)
        gamma = _discount_of(uni_count, d)[uni_count > 0].sum() / total
        uni_prob = np.maximum(uni_count - _discount_of(uni_count, d), 0) / total
        uni_prob = np.where(predicted, uni_prob + gamma / predicted.sum(), 0.0)
        probs = [uni_prob]
        table_keys = [np.arange(vocab_size, dtype=np.int64)]
        for n in range(2, self.order + 1):
            keys, _ = raw[n - 1]
            a = adjusted[n - 1]
            d = _discounts(a)
            ctx = np.searchsorted(table_keys[n - 2], keys >> self.bits)
            size = len(table_keys[n - 2])
            denom = np.bincount(ctx, weights=a, minlength=size)
            gamma = np.bincount(ctx, weights=_discount_of(a, d), minlength=size)
            gamma = np.divide(gamma, denom, out=np.zeros(size), where=denom > 0)
            lower_idx = np.searchsorted(table_keys[n - 2], keys & ((1 << (self.bits * (n - 1))) - 1))
            lower = probs[n - 2][lower_idx]
            probs.append((a - _discount_of(a, d)) / denom[ctx] + gamma[ctx] * lower)
            table_keys.append(keys)
        return self._prune(raw, table_keys, probs, prune)

    def _prune(self, raw: list[tuple[np.ndarray, np.ndarray]], table_keys: list[np.ndarray],
               probs: list[np.ndarray], prune: Sequence[int]) -> list[NgramTable]:
        threshold = 1
        kept_keys, kept_prob = [table_keys[0]], [probs[0]]
        for n in range(2, self.order + 1):
            threshold = max(threshold, prune[n - 1] if n - 1 < len(prune) else 1)
            keep = raw[n - 1][1] >= threshold
            kept_keys.append(table_keys[n - 1][keep])
            kept_prob.append(probs[n - 1][keep])
        tables = []
        for n in range(1, self.order + 1):
            keys, prob = kept_keys[n - 1], kept_prob[n - 1]
            backoff = np.ones(len(keys))
            if n < self.order:
                higher, higher_prob = kept_keys[n], kept_prob[n]
                ctx = np.searchsorted(keys, higher >> self.bits)
                suffix = higher & ((1 << (self.bits * n)) - 1)
                lower = prob[np.searchsorted(keys, suffix)]
                num = np.bincount(ctx, weights=higher_prob, minlength=len(keys))
                den = np.bincount(ctx, weights=lower, minlength=len(keys))
                backoff = np.maximum(1 - num, 1e-12) / np.maximum(1 - den, 1e-12)
            tables.append(NgramTable(keys, prob, backoff))
        return tables

    def write_arpa(self, tables: list[NgramTable], out: TextIO) -> None:
        """Write ``tables`` in ARPA format (log10 probabilities, <s> gets -99)."""
        bos = self.index[BOS]
        out.write("\\data\\\n")
        for n, t in enumerate(tables, 1):
            out.write(f"ngram {n}={len(t.keys)}\n")
        for n, t in enumerate(tables, 1):
            out.write(f"\n\\{n}-grams:\n")
            ids = [(t.keys >> (self.bits * (n - 1 - i))) & self.mask for i in range(n)]
            logp = np.log10(np.maximum(t.prob, 1e-99))
            if n == 1:
                logp[bos] = -99.0
            logb = np.log10(t.backoff)
            words = self.words
            with_backoff = n < self.order
            for row in range(len(t.keys)):
                gram = " ".join(words[int(ids[i][row])] for i in range(n))
                if with_backoff and logb[row] != 0.0:
                    out.write(f"{logp[row]:.5g}\t{gram}\t{logb[row]:.5g}\n")
                else:
                    out.write(f"{logp[row]:.5g}\t{gram}\n")
        out.write("\n\\end\\\n")


def read_vocabulary(path: Path, size: int) -> list[str]:
    """The ``size`` most frequent words of a one-word-per-line file, lower-cased."""
    words: list[str] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            word = line.strip().lower()
            if word:
                words.append(word)
                if len(words) >= size:
                    break
    return words


def open_text(path: Path) -> TextIO:
    if path.suffix == ".xz":
        return lzma.open(path, "rt", encoding="utf-8")
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")
