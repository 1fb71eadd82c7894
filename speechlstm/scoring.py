"""Word and character error rates, computed the same way for every system we compare.

Both references and hypotheses go through :func:`speechlstm.text.normalize_text` first,
so callers may pass raw transcripts. Error rates are corpus-level: total edits divided by
total reference words (or characters, spaces included), not an average of per-utterance
rates.
"""
from __future__ import annotations

from typing import Any, Sequence

import jiwer

from .text import normalize_text


def score(refs: Sequence[str], hyps: Sequence[str]) -> dict[str, Any]:
    """Score hypotheses against references with jiwer.

    Returns a dict with ``wer``, ``cer``, word-level ``substitutions``, ``deletions``
    and ``insertions``, ``reference_words`` and ``utterances``.
    """
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    if not refs:
        raise ValueError("nothing to score")
    refs = [normalize_text(r) for r in refs]
    hyps = [normalize_text(h) for h in hyps]
    words = jiwer.process_words(refs, hyps)
    chars = jiwer.process_characters(refs, hyps)
    return {
        "wer": words.wer,
        "cer": chars.cer,
        "substitutions": words.substitutions,
        "deletions": words.deletions,
        "insertions": words.insertions,
        "reference_words": words.substitutions + words.deletions + words.hits,
        "utterances": len(refs),
    }
