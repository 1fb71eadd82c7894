"""Written numbers (inverse text normalization) for readable transcripts: rules on word tokens.

"twelve thirty" -> "12:30", "nineteen eighty four" -> "1984", "three point five percent" ->
"3.5%", "five dollars and fifty cents" -> "$5.50", "twenty first" -> "21st", "two hundred and
fifty three" -> "253". Like news style, a lone whole number below ten and the ordinals first
to ninth stay words ("one of them", "the third man"); with a decimal point, percent or money
they are written too. NVIDIA's nemo_text_processing does more, but it needs pynini and
transformers and takes minutes to build its grammars (RESULTS.md), so these rules cover the
common cases.

:func:`write_numbers` works on one token per recognized word (case and a following mark
attached, as :mod:`speechlstm.punctuation` writes them) and keeps that alignment: a number
written from several words stands on the first, the others become empty strings.
"""
from __future__ import annotations

import re
from typing import Sequence

UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen seventeen eighteen nineteen").split()
TENS = {w: 10 * i for i, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()) if i > 1}
SCALES = {"hundred": 100, "thousand": 1000, "million": 10 ** 6, "billion": 10 ** 9}
ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
            "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14,
            "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19,
            "twentieth": 20, "thirtieth": 30, "fortieth": 40, "fiftieth": 50, "sixtieth": 60, "seventieth": 70,
            "eightieth": 80, "ninetieth": 90, "hundredth": 100, "thousandth": 1000, "millionth": 10 ** 6}
VALUES = {**{w: i for i, w in enumerate(UNITS)}, **TENS}
NUMBER_WORDS = set(VALUES) | set(SCALES) | {"and", "oh", "o"}
_TOKEN = re.compile(r"^(\W*)([\w']+)(\W*)$")


def spell(value: int) -> list[str]:
    """The canonical words of a whole number, without "and" (253 -> two hundred fifty three)."""
    if value < 20:
        return [UNITS[value]]
    if value < 100:
        tens = next(w for w, v in TENS.items() if v == value // 10 * 10)
        return [tens] + (spell(value % 10) if value % 10 else [])
    for scale, size in sorted(SCALES.items(), key=lambda item: -item[1]):
        if value >= size:
            rest = value % size
            return spell(value // size) + [scale] + (spell(rest) if rest else [])
    raise AssertionError(value)


def cardinal(words: Sequence[str]) -> int | None:
    """The value of number words ("two hundred and fifty three" -> 253), or None unless they
    are the usual way of saying one number ("and" only after a scale word)."""
    total = group = 0
    for i, word in enumerate(words):
        if word == "and":
            if i == 0 or words[i - 1] not in SCALES or i + 1 == len(words):
                return None
        elif word in VALUES:
            group += VALUES[word]
        elif word == "hundred":
            group *= 100
        elif word in SCALES:
            total, group = total + group * SCALES[word], 0
        else:
            return None
    value = total + group
    plain = [word for word in words if word != "and"]
    return value if plain and plain == spell(value) else None


def _two_digits(words: Sequence[str]) -> str | None:
    """A year's or a time's second half: "eighty four" -> "84", "o five" -> "05", "hundred" -> "00"."""
    if list(words) == ["hundred"]:
        return "00"
    if len(words) == 2 and words[0] in ("o", "oh") and words[1] in VALUES and VALUES[words[1]] < 10:
        return f"0{VALUES[words[1]]}"
    value = cardinal(words)
    if value is not None and 10 <= value <= 99 and "and" not in words and len(words) <= 2:
        return f"{value:02d}"
    return None


def _pair(words: Sequence[str]) -> str | None:
    """Two groups said side by side: a time ("twelve thirty" -> "12:30") when the first is 1 to
    12 and the second a minute, else a year ("nineteen eighty four" -> "1984")."""
    for split in (1, 2):
        head, tail = cardinal(words[:split]), _two_digits(words[split:])
        if head is None or tail is None or "and" in words[:split]:
            continue
        if 1 <= head <= 12 and int(tail) < 60 and tail != "00":
            return f"{head}:{tail}"
        if 10 <= head <= 99:
            return f"{head}{tail}"
    return None


def _digits(value: int) -> str:
    """12, 1984, 25,000, 3 million."""
    if value >= 10 ** 6 and value % 10 ** 6 == 0:
        return f"{value // 10 ** 6:,} million"
    return f"{value:,}" if value >= 10000 else str(value)


def _ordinal_suffix(value: int) -> str:
    if value % 100 in (11, 12, 13):
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(value % 10, "th")


def _split(token: str) -> tuple[str, str, str]:
    match = _TOKEN.match(token)
    return (match.group(1), match.group(2), match.group(3)) if match else ("", token, "")


def write_numbers(tokens: Sequence[str]) -> list[str]:
    """``tokens`` with spoken numbers written; same length (absorbed words become "")."""
    out = list(tokens)
    parts = [_split(token) for token in tokens]
    words = [core.lower() for _, core, _ in parts]
    i = 0
    while i < len(tokens):
        end = i
        while end < len(tokens) and words[end] in NUMBER_WORDS and (end == i or not parts[end - 1][2]):
            end += 1
        while end > i and words[end - 1] in ("and", "o", "oh"):
            end -= 1
        ordinal = end < len(tokens) and words[end] in ORDINALS and (end == i or not parts[end - 1][2])
        if end == i and not ordinal:
            i += 1
            continue
        written, stop = _number(words, parts, i, end, ordinal)
        if written is None:
            i = max(end, i + 1) if not ordinal else end + 1
            continue
        prefix = parts[i][0]
        out[i] = prefix + written + parts[stop - 1][2]
        for k in range(i + 1, stop):
            out[k] = ""
        i = stop
    return out


def _number(words: list[str], parts: list, start: int, end: int, ordinal: bool) -> tuple[str | None, int]:
    """The written number for words[start:end] (plus an ordinal word at ``end``), with what
    follows it (point, percent, dollars, cents); and where it stops."""
    span = words[start:end]
    if ordinal:
        value = ORDINALS[words[end]]
        head = cardinal(span) if span else 0
        if head is None or (span and head % 10 and value < 100) or (span and value >= 100 and head >= 100):
            return None, end + 1
        total = head * value if value >= 100 and span else head + value
        if total < 10:
            return None, end + 1
        return f"{total}{_ordinal_suffix(total)}", end + 1
    value = cardinal(span)
    stop = end
    text = None if value is None else _digits(value)
    if text is None:
        text = _pair(span) if len(span) <= 4 else None
        if text is None:
            return None, end
        return text, stop
    if stop + 1 < len(words) and words[stop] == "point" and not parts[stop - 1][2]:
        digits = []
        k = stop + 1
        while k < len(words) and words[k] in VALUES and VALUES[words[k]] < 10 and not parts[k - 1][2]:
            digits.append(str(VALUES[words[k]]))
            k += 1
        if digits:
            text, stop = f"{text}.{''.join(digits)}", k
    following = words[stop] if stop < len(words) and not parts[stop - 1][2] else None
    if following in ("percent",):
        return f"{text}%", stop + 1
    if following == "per" and stop + 1 < len(words) and words[stop + 1] == "cent" and not parts[stop][2]:
        return f"{text}%", stop + 2
    if following in ("dollars", "dollar"):
        cents, after = _cents(words, parts, stop + 1)
        return f"${text}{cents}", after
    if value is not None and value < 10 and "." not in text:
        return None, end
    return text, stop


def _cents(words: list[str], parts: list, at: int) -> tuple[str, int]:
    """", and fifty cents" after dollars: ".50" and where it ends (else "" and ``at``)."""
    if parts[at - 1][2] or at + 1 >= len(words) or words[at] != "and":
        return "", at
    k = at + 1
    while k < len(words) and words[k] in VALUES and not parts[k - 1][2]:
        k += 1
    value = cardinal(words[at + 1:k])
    if value is None or value >= 100 or k >= len(words) or words[k] not in ("cents", "cent") or parts[k - 1][2]:
        return "", at
    return f".{value:02d}", k + 1
