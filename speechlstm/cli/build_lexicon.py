"""``speechlstm build-lexicon``: the pronunciations of an LM's words, for decoding the phone head.

The phone head's lexicon decoder (:mod:`speechlstm.decode.flashlight`) spells every LM word by
its pronunciations, so a model that ships an LM ships this file beside it (``lexicon.txt.gz``):
the LM's words looked up in a large ARPAbet lexicon, stress removed, a few variants each.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import InputError
from .common import text_output


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "build-lexicon", help="write the pronunciations of an LM's words (for --head phones)",
        description="Write the pronunciations of an LM's words, for decoding the phone head: each word "
                    "looked up in a large ARPAbet lexicon, stress removed, a few variants each. A model that "
                    "ships an LM ships this file beside it (lexicon.txt.gz).")
    parser.add_argument("--lm", type=Path, required=True, help="ARPA LM whose words to spell")
    parser.add_argument("--pronunciations", type=Path, required=True,
                        help="ARPAbet lexicon to look the words up in (WORD<TAB>PHONES, .gz allowed; the "
                             "project's is ../shared/text/lexicon200k.txt.gz)")
    parser.add_argument("--variants", type=int, default=3, help="pronunciations kept per word (default: %(default)s)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="lexicon to write (.gz: compressed)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..decode.flashlight import read_unigrams
    from ..phones import lexicon_lines, read_pronunciations
    try:
        words, _ = read_unigrams(args.lm)
        pronunciations = read_pronunciations(args.pronunciations)
    except (OSError, EOFError, UnicodeDecodeError, ValueError) as error:
        raise InputError(f"cannot read the inputs: {error}") from None
    lines = list(lexicon_lines(words, pronunciations, args.variants))
    with text_output(args.output) as out:
        out.writelines(lines)
    spelled = len({line.split("\t")[0] for line in lines})
    print(f"{args.output}: {len(lines):,} pronunciations of {spelled:,} of the {len(words):,} LM words "
          f"({args.output.stat().st_size / 1e6:.2f} MB)", file=sys.stderr)
    return 0
