#!/usr/bin/env python3
"""Score espeak-ng's pronunciations (speechlstm.g2p) against an ARPAbet lexicon.

Why: hotwords outside the shipped lexicon get their phones from espeak-ng at run time; this
says how often that pronunciation is the lexicon's, and how far off it is otherwise. Words are
drawn from the lexicon's words that the shipped LM does not have (rank above ``--skip``): the
names and rare words hotwords are for. Each word counts against its closest lexicon variant.

    python tools/measure_g2p.py --words 500
"""
from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import jiwer

from speechlstm.g2p import pronounce
from speechlstm.phones import read_pronunciations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lexicon", type=Path, default=Path("../shared/text/lexicon200k.txt.gz"))
    parser.add_argument("--skip", type=int, default=40000, help="lexicon words the LM has (not drawn)")
    parser.add_argument("--words", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    lexicon = read_pronunciations(args.lexicon)
    words = [w for w in list(lexicon)[args.skip:] if w.isalpha()]
    sample = random.Random(args.seed).sample(words, args.words)
    exact = errors = length = 0
    start = time.perf_counter()
    for word in sample:
        guess = " ".join(pronounce(word))
        best = min((jiwer.process_words(" ".join(v), guess) for v in lexicon[word]),
                   key=lambda m: m.substitutions + m.deletions + m.insertions)
        wrong = best.substitutions + best.deletions + best.insertions
        errors += wrong
        length += best.substitutions + best.deletions + best.hits
        exact += wrong == 0
    seconds = time.perf_counter() - start
    print(f"{args.words} words from {args.lexicon} past rank {args.skip}: {100 * exact / args.words:.1f} % "
          f"pronounced as in the lexicon, phone error rate {100 * errors / length:.1f} %, "
          f"{1000 * seconds / args.words:.1f} ms a word")


if __name__ == "__main__":
    main()
