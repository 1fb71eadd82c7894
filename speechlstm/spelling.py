"""American spelling of the words a language model writes in British spelling.

Why: the lexicon decoder over the phone head hears "metres" and "meters" as the same phones,
so the LM picks the spelling of its book text, often British, while users expect American
(LibriSpeech references keep each book's spelling, so dev barely notices either way). The table (``american_spelling.tsv`` beside this module, made by
tools/make_spelling_table.py from the lexicon's homophones and Debian's word lists) maps each
British word to its American homophone; :data:`~speechlstm.config.SPELLINGS` names the choices.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Mapping

from .config import SPELLINGS, ConfigError

TABLE = Path(__file__).with_name("american_spelling.tsv")


@lru_cache(maxsize=1)
def american_spelling() -> Mapping[str, str]:
    """British word -> American word, from :data:`TABLE`."""
    pairs = (line.split("\t") for line in TABLE.read_text(encoding="utf-8").splitlines() if line)
    return {british: american for british, american in pairs}


def respelling(spelling: str) -> Mapping[str, str]:
    """The word map of ``spelling`` (``american``, or ``lm``: none, words as the LM's text spells them)."""
    if spelling not in SPELLINGS:
        raise ConfigError(f"spelling must be one of {SPELLINGS}, got {spelling!r}")
    return american_spelling() if spelling == "american" else {}
