"""Pronunciations of words outside the lexicon, from espeak-ng, in the phone head's ARPAbet.

Why: the phone head decodes only words it can pronounce. The shipped lexicon spells the
LM's words; a hotword outside it (a name, a product) needs a pronunciation at run time,
without torch. espeak-ng's English rules (the front end of Piper, Kokoro and phonemizer) are
a Debian and Homebrew package, small and fast (about 10 ms a word), so it is the G2P
here rather than a model of our own. Its phoneme mnemonics (``espeak-ng -x``) map onto
ARPAbet one symbol at a time; ``tools/measure_g2p.py`` scores the result against the ARPAbet
lexicon on words the LM does not have (RESULTS.md: Hotwords and pronunciations of words outside the lexicon).
"""
from __future__ import annotations

import shutil
import subprocess
from functools import lru_cache

from .config import HotwordError

ESPEAK_TO_ARPABET: dict[str, tuple[str, ...]] = {
    # consonants
    "p": ("P",), "b": ("B",), "t": ("T",), "d": ("D",), "k": ("K",), "g": ("G",), "f": ("F",), "v": ("V",),
    "T": ("TH",), "D": ("DH",), "s": ("S",), "z": ("Z",), "S": ("SH",), "Z": ("ZH",), "h": ("HH",),
    "m": ("M",), "n": ("N",), "N": ("NG",), "l": ("L",), "r": ("R",), "j": ("Y",), "w": ("W",),
    "tS": ("CH",), "dZ": ("JH",), "?": ("T",), "x": ("K",), "C": ("HH",), "r-": ("R",),
    "n-": ("AH", "N"), "m-": ("AH", "M"), "l-": ("AH", "L"), "@L": ("AH", "L"), "L": ("AH", "L"),
    # vowels
    "a": ("AE",), "aa": ("AE",), "a#": ("AE",), "A:": ("AA",), "A": ("AA",), "0": ("AA",), "A@": ("AA", "R"),
    "O:": ("AO",), "O": ("AO",), "O@": ("AO", "R"), "o@": ("AO", "R"), "V": ("AH",), "@": ("AH",),
    "@2": ("AH",), "@5": ("AH",), "@r": ("ER",), "3": ("ER",), "3:": ("ER",), "i": ("IY",), "i:": ("IY",),
    "I": ("IH",), "I#": ("IH",), "I2": ("IH",), "E": ("EH",), "e": ("EH",), "e@": ("EH", "R"),
    "eI": ("EY",), "aI": ("AY",), "aI@": ("AY", "ER"), "aI3": ("AY", "ER"), "aU": ("AW",), "aU@": ("AW", "ER"),
    "OI": ("OY",), "oU": ("OW",), "o": ("OW",), "u:": ("UW",), "u": ("UW",), "U": ("UH",), "U@": ("UH", "R"),
    "i@": ("IY", "AH"), "i@3": ("IH", "R"),
}
"""espeak-ng's en-us phoneme mnemonics (stress and flap marks removed) as ARPAbet phones."""


class G2PError(HotwordError):
    """A word has no pronunciation in the lexicon and espeak-ng cannot give one."""


def espeak_available() -> bool:
    """Whether the espeak-ng program is on PATH."""
    return shutil.which("espeak-ng") is not None


def arpabet_from_espeak(mnemonics: str) -> tuple[str, ...]:
    """ARPAbet phones from ``espeak-ng -x --sep=_`` output (words separated by spaces)."""
    phones: list[str] = []
    for word in mnemonics.split():
        for symbol in word.split("_"):
            symbol = symbol.strip("',%=")
            if not symbol:
                continue
            mapped = ESPEAK_TO_ARPABET.get(symbol) or ESPEAK_TO_ARPABET.get(symbol.rstrip("#"))
            for phone in mapped or ():
                if not (phone == "R" and phones and phones[-1] in ("R", "ER")):  # e@_r: one R
                    phones.append(phone)
    return tuple(phones)


def pronounce_words(words: list[str]) -> list[tuple[str, ...]]:
    """ARPAbet (no stress) of many words in one espeak-ng run (one word a line in, one a line out);
    a word espeak-ng gives no phones for gets ()."""
    if not espeak_available():
        raise G2PError("spelling words out needs espeak-ng (apt install espeak-ng, brew install espeak-ng)")
    try:
        done = subprocess.run(["espeak-ng", "-q", "-x", "--sep=_", "-v", "en-us"], input="\n".join(words) + "\n",
                              capture_output=True, text=True, timeout=300, check=True)
    except (OSError, subprocess.SubprocessError) as error:
        raise G2PError(f"espeak-ng could not pronounce the words: {error}") from None
    lines = done.stdout.splitlines()
    if len(lines) != len(words):
        raise G2PError(f"espeak-ng gave {len(lines)} lines for {len(words)} words")
    return [arpabet_from_espeak(line) for line in lines]


@lru_cache(maxsize=4096)
def pronounce(word: str) -> tuple[str, ...]:
    """ARPAbet (no stress) of one word by espeak-ng's American English rules."""
    if not espeak_available():
        raise G2PError(f"{word!r} is not in the pronunciation lexicon, and spelling it out needs espeak-ng "
                       "(apt install espeak-ng, brew install espeak-ng), or add it to a lexicon file (--lexicon)")
    try:
        done = subprocess.run(["espeak-ng", "-q", "-x", "--sep=_", "-v", "en-us", word], capture_output=True,
                              text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError) as error:
        raise G2PError(f"espeak-ng could not pronounce {word!r}: {error}") from None
    phones = arpabet_from_espeak(done.stdout)
    if not phones:
        raise G2PError(f"espeak-ng gave no pronunciation for {word!r}")
    return phones
