#!/usr/bin/env python3
"""Write the British-to-American spelling table the lexicon decoder applies (speechlstm/american_spelling.tsv).

Why: the phone head cannot tell homophones apart, so the LM picks the spelling its book text
uses most ("metres", "honour"); users and references write American. A pair enters the table
when both words share a pronunciation in the lexicon (homophones, so respelling never changes
what was heard), the British word is only in the British word list and the American one only
in the American list (Debian's wbritish and wamerican, both from SCOWL), and both end alike in
"'s" and in "s" (so "honour's" maps to "honor's", never to "honors"); among
several American candidates the most similar spelling wins. Where the American word is in both
lists ("meters" also counts gas), it qualifies only by a spelling rule of :data:`RULES`
("metres" -> "meters"), so no unrelated homophone ("gaol" -> "gael") slips in.

    apt-get install wamerican wbritish
    python tools/make_spelling_table.py --lexicon ../shared/text/lexicon200k.txt.gz
"""
from __future__ import annotations

import argparse
import difflib
from collections import defaultdict
from pathlib import Path

from speechlstm.phones import read_pronunciations
from speechlstm.spelling import TABLE

DICTS = Path("/usr/share/dict")
RULES = (("tre", "ter"), ("tres", "ters"), ("tred", "tered"), ("yre", "ire"), ("yres", "ires"))
"""British ending -> American ending, for American words that are also British words."""


def word_list(name: str) -> set[str]:
    return {line.strip().lower() for line in (DICTS / name).read_text(encoding="utf-8").splitlines()}


def alike(british: str, american: str) -> bool:
    return all(british.endswith(end) == american.endswith(end) for end in ("'s", "s"))


def by_rule(british: str) -> set[str]:
    return {british[:-len(ending)] + respelled for ending, respelled in RULES if british.endswith(ending)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lexicon", type=Path, default=Path("../shared/text/lexicon200k.txt.gz"))
    parser.add_argument("--out", type=Path, default=TABLE)
    args = parser.parse_args()
    american, british = word_list("american-english"), word_list("british-english")
    only_american, only_british = american - british, british - american
    homophones: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for word, variants in read_pronunciations(args.lexicon).items():
        for phones in variants:
            homophones[phones].add(word.lower())
    candidates: dict[str, set[str]] = defaultdict(set)
    for words in homophones.values():
        for word in words & only_british:
            candidates[word] |= {other for other in words & (only_american | by_rule(word) & american)
                                 if alike(word, other)}
    table = {word: max(sorted(others), key=lambda other: difflib.SequenceMatcher(None, word, other).ratio())
             for word, others in candidates.items() if others}
    args.out.write_text("".join(f"{word}\t{table[word]}\n" for word in sorted(table)), encoding="utf-8")
    print(f"{len(table)} pairs -> {args.out}")


if __name__ == "__main__":
    main()
