"""Data for the punctuation tagger: labelled sentences from the TTS prompts, runs of them, scores.

Whole books are held out (by ``ebook_id``) for evaluation. A run strings several sentences
together with nothing marking their boundaries, as a recognizer's words come; training runs
are also cut at a random word, so the model learns that the end of what it sees need not
end a sentence (a stream's look-ahead ends anywhere).
"""
from __future__ import annotations

import csv
import gzip
import random
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .punctuation import ENDS, MARKS, labelled_words

HELD_OUT_MODULUS = 20
"""One book in this many (by a hash of its id) is held out: about 5 % of the sentences."""

Sentence = list[tuple[str, int, int, str]]


def held_out(ebook_id: str) -> bool:
    return zlib.crc32(ebook_id.encode()) % HELD_OUT_MODULUS == 0


def read_sentences(path: str | Path, evaluation: bool, limit: int | None = None) -> list[Sentence]:
    """The aligned sentences of the held-out books (``evaluation``) or of the others."""
    sentences = []
    with gzip.open(path, "rt", encoding="utf-8") as file:
        rows = csv.reader(file, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(rows)
        for ebook_id, sentence, normalized in rows:
            if held_out(ebook_id) != evaluation:
                continue
            labelled = labelled_words(sentence, normalized)
            if labelled:
                sentences.append(labelled)
                if limit and len(sentences) >= limit:
                    break
    return sentences


@dataclass(frozen=True)
class Run:
    words: list[str]
    cases: list[int]
    marks: list[int]


def make_runs(sentences: Sequence[Sentence], seed: int, most: int = 6, cut: float = 0.0) -> list[Run]:
    """Every sentence once, in runs of 1 to ``most`` sentences in a shuffled order; with
    probability ``cut`` a run ends at a random word instead of a sentence end."""
    rng = random.Random(seed)
    order = list(range(len(sentences)))
    rng.shuffle(order)
    runs, at = [], 0
    while at < len(order):
        count = rng.randint(1, most)
        words = [w for i in order[at:at + count] for w in sentences[i]]
        at += count
        if rng.random() < cut and len(words) > 2:
            words = words[:rng.randint(2, len(words) - 1)]
        runs.append(Run([w[0] for w in words], [w[1] for w in words], [w[2] for w in words]))
    return runs


def score(truth: Sequence[Run], cases: Sequence[Sequence[int]], marks: Sequence[Sequence[int]]) -> dict[str, float]:
    """Precision, recall and F1 of each mark and of capitalized words (any case but lower),
    and the slot error rate of the marks: (substituted + deleted + inserted) / marks in truth."""
    counts = {name: [0, 0, 0] for name in (",", ".", "?", "!", "capital")}  # hits, predicted, true
    errors = slots = 0
    for run, run_cases, run_marks in zip(truth, cases, marks):
        for true_case, true_mark, case, mark in zip(run.cases, run.marks, run_cases, run_marks):
            for name, want, got in (("capital", true_case > 0, case > 0),
                                    *((MARKS[m], true_mark == m, mark == m) for m in range(1, len(MARKS)))):
                counts[name][0] += want and got
                counts[name][1] += got
                counts[name][2] += want
            slots += true_mark > 0
            errors += true_mark != mark and (true_mark > 0 or mark > 0)
    figures = {}
    for name, (hits, predicted, true) in counts.items():
        precision, recall = hits / max(predicted, 1), hits / max(true, 1)
        figures[f"{name} P"], figures[f"{name} R"] = precision, recall
        figures[f"{name} F1"] = 2 * precision * recall / max(precision + recall, 1e-9)
    figures["SER"] = errors / max(slots, 1)
    return figures


def end_marks(marks: Sequence[int]) -> list[int]:
    """``marks`` with the last one ending a sentence, as :func:`speechlstm.punctuation.render`
    writes it at the end of a text."""
    marks = list(marks)
    if marks and MARKS[marks[-1]] not in ENDS:
        marks[-1] = MARKS.index(".")
    return marks
