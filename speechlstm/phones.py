"""ARPAbet phone targets from a pronunciation lexicon, for the auxiliary phone CTC head.

Characters are a poor unit when there is little data: English spelling ties one sound to
many letter patterns, so a character model must learn spelling and acoustics from the same
few hours. A second CTC head over phones, trained on the same BiLSTM trunk, gives the trunk
a target that follows the sound; stress is dropped (39 phones) and ``|`` stands between words.
"""
from __future__ import annotations

import gzip
from pathlib import Path
from typing import Iterable, Iterator, Mapping

from .text import BLANK, normalize_text

WORD_BOUNDARY = "|"
ARPABET = ("AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH "
           "UH UW V W Y Z ZH").split()
#: Phone CTC output symbols: blank first (index 0), the word boundary, then 39 ARPAbet phones.
PHONES: tuple[str, ...] = (BLANK, WORD_BOUNDARY) + tuple(ARPABET)


def strip_stress(phone: str) -> str:
    """``AH0`` -> ``AH``: lexical stress is not something the acoustic head should guess."""
    return phone.rstrip("012")


def read_pronunciations(path: str | Path) -> dict[str, list[tuple[str, ...]]]:
    """``WORD<TAB>PHONES`` lines (gzip or plain) to every distinct pronunciation of each word, in
    file order, stress removed. Words are stored normalized (lower case, as :func:`normalize_text`
    writes them)."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    lexicon: dict[str, list[tuple[str, ...]]] = {}
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            word, _, phones = line.rstrip("\n").partition("\t")
            word = word.strip().lower()
            if word and phones:
                variants = lexicon.setdefault(word, [])
                pronunciation = tuple(strip_stress(p) for p in phones.split())
                if pronunciation not in variants:
                    variants.append(pronunciation)
    return lexicon


def read_lexicon(path: str | Path) -> dict[str, tuple[str, ...]]:
    """The first pronunciation of each word of :func:`read_pronunciations` (the training targets)."""
    return {word: variants[0] for word, variants in read_pronunciations(path).items()}


def text_to_phone_ids(text: str, lexicon: dict[str, tuple[str, ...]]) -> list[int] | None:
    """Phone ids of a transcript, a boundary between words; None if a word is not in the lexicon."""
    index = {p: i for i, p in enumerate(PHONES)}
    ids: list[int] = []
    for word in normalize_text(text).split():
        phones = lexicon.get(word)
        if phones is None or any(p not in index for p in phones):
            return None
        ids += ([index[WORD_BOUNDARY]] if ids else []) + [index[p] for p in phones]
    return ids or None


def lexicon_lines(words: Iterable[str], pronunciations: Mapping[str, list[tuple[str, ...]]],
                  variants: int = 3) -> Iterator[str]:
    """``word<TAB>PHONES`` lines for each of ``words`` that has a pronunciation, at most
    ``variants`` per word (in the source's order), stress already removed."""
    for word in words:
        for pronunciation in pronunciations.get(word, [])[:variants]:
            yield f"{word}\t{' '.join(pronunciation)}\n"
