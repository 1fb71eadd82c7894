"""Per-utterance results of an evaluation, in icefall's ``recogs-*.txt`` and ``errs-*.txt`` layout.

A corpus WER says how bad a model is; these files say where: the reference and hypothesis
of every utterance, each one's word alignment and error counts, and the most frequent
substitutions, deletions and insertions. Texts are compared after
:func:`speechlstm.text.normalize_text`, as :func:`speechlstm.scoring.score` does.
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence

import jiwer

from .text import normalize_text


def recogs_text(ids: Sequence[str], refs: Sequence[str], hyps: Sequence[str]) -> str:
    """``ID:\\tref=[...]`` and ``ID:\\thyp=[...]`` lines, sorted by utterance id."""
    lines = []
    for key, ref, hyp in sorted(zip(ids, refs, hyps)):
        lines.append(f"{key}:\tref={normalize_text(ref).split()!r}")
        lines.append(f"{key}:\thyp={normalize_text(hyp).split()!r}")
    return "".join(line + "\n" for line in lines)


def errs_text(ids: Sequence[str], refs: Sequence[str], hyps: Sequence[str]) -> str:
    """The summary, per-utterance error counts and alignments, and per-word statistics."""
    words = jiwer.process_words([normalize_text(r) for r in refs], [normalize_text(h) for h in hyps])
    substitutions: Counter[tuple[str, str]] = Counter()
    deletions: Counter[str] = Counter()
    insertions: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    per_utterance, details = [], []
    for key, ref, hyp, chunks in zip(ids, words.references, words.hypotheses, words.alignments):
        counts = Counter()
        shown = []
        for chunk in chunks:
            ref_words = ref[chunk.ref_start_idx:chunk.ref_end_idx]
            hyp_words = hyp[chunk.hyp_start_idx:chunk.hyp_end_idx]
            if chunk.type == "equal":
                correct.update(ref_words)
                shown += ref_words
            elif chunk.type == "substitute":
                substitutions.update(zip(ref_words, hyp_words))
                shown += [f"({r}->{h})" for r, h in zip(ref_words, hyp_words)]
            elif chunk.type == "delete":
                deletions.update(ref_words)
                shown += [f"({r}->*)" for r in ref_words]
            else:
                insertions.update(hyp_words)
                shown += [f"(*->{h})" for h in hyp_words]
            counts[chunk.type] += max(len(ref_words), len(hyp_words))
        errors = counts["substitute"] + counts["delete"] + counts["insert"]
        per_utterance.append((key, counts["substitute"], counts["delete"], counts["insert"], len(ref),
                              100.0 * errors / max(len(ref), 1)))
        details.append(f"{key}:\t{' '.join(shown)}")
    reference_words = words.substitutions + words.deletions + words.hits
    lines = [f"%WER = {100 * words.wer:.2f}",
             f"Errors: {words.insertions} insertions, {words.deletions} deletions, {words.substitutions} "
             f"substitutions, over {reference_words} reference words ({words.hits} correct)",
             "Search below for sections starting with PER-UTT ERRORS:, PER-UTT DETAILS:, SUBSTITUTIONS:, "
             "DELETIONS:, INSERTIONS:, PER-WORD STATS:", "",
             "PER-UTT ERRORS: id sub del ins ref_words %WER (worst first)"]
    lines += [f"{key}\t{sub}\t{dele}\t{ins}\t{total}\t{wer:.2f}"
              for key, sub, dele, ins, total, wer in sorted(per_utterance, key=lambda row: (-row[5], row[0]))]
    lines += ["", "PER-UTT DETAILS: corr or (ref->hyp)", *sorted(details), "",
              "SUBSTITUTIONS: count ref -> hyp"]
    lines += [f"{count}\t{ref} -> {hyp}" for (ref, hyp), count in _by_count(substitutions)]
    lines += ["", "DELETIONS: count ref", *[f"{count}\t{word}" for word, count in _by_count(deletions)]]
    lines += ["", "INSERTIONS: count hyp", *[f"{count}\t{word}" for word, count in _by_count(insertions)]]
    lines += ["", "PER-WORD STATS: word corr tot_errs count_in_ref count_in_hyp"]
    in_ref = Counter(w for ref in words.references for w in ref)
    in_hyp = Counter(w for hyp in words.hypotheses for w in hyp)
    errors_of: Counter[str] = Counter()
    for (ref, hyp), count in substitutions.items():
        errors_of[ref] += count
        errors_of[hyp] += count
    errors_of.update(deletions)
    errors_of.update(insertions)
    for word in sorted(set(in_ref) | set(in_hyp), key=lambda w: (-errors_of[w], w)):
        lines.append(f"{word}\t{correct[word]}\t{errors_of[word]}\t{in_ref[word]}\t{in_hyp[word]}")
    return "".join(line + "\n" for line in lines)


def _by_count(counter: Counter) -> list[tuple[object, int]]:
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))
