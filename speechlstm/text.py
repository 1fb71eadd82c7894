"""Text normalization and the character vocabulary shared by training, decoding and scoring.

Every transcript, reference and hypothesis passes through :func:`normalize_text` so that
WER figures from different tools (ours, PocketSphinx, jiwer) are comparable.
"""
from __future__ import annotations

import re
import unicodedata

BLANK = "<blk>"
#: CTC output symbols: blank first (index 0), then space, apostrophe and a-z.
VOCABULARY: tuple[str, ...] = (BLANK, " ", "'") + tuple("abcdefghijklmnopqrstuvwxyz")

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
         "fourteen fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_to_words(n: int) -> str:
    """Spell a non-negative integer the way TTS engines and readers say it."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return _ONES[hundreds] + " hundred" + ("" if rest == 0 else " " + number_to_words(rest))
    for size, name in ((10**9, "billion"), (10**6, "million"), (1000, "thousand")):
        if n >= size:
            high, rest = divmod(n, size)
            return number_to_words(high) + " " + name + ("" if rest == 0 else " " + number_to_words(rest))
    raise AssertionError("unreachable")


def normalize_text(text: str) -> str:
    """Lower-case, spell out digits, keep only a-z, apostrophe and single spaces."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = text.replace("\u2019", "'").replace("&", " and ")
    text = re.sub(r"\d+", lambda m: " " + number_to_words(int(m.group())) + " ", text)
    text = re.sub(r"[^a-z' ]+", " ", text)
    words = [w.strip("'") for w in text.split()]
    return " ".join(w for w in words if w)


def text_to_ids(text: str) -> list[int]:
    """Map normalized text to vocabulary indices (characters outside it are dropped)."""
    index = {ch: i for i, ch in enumerate(VOCABULARY)}
    return [index[ch] for ch in normalize_text(text) if ch in index]
