"""``speechlstm build-lm``: a pruned Kneser-Ney word n-gram LM (:mod:`speechlstm.decode.lm_builder`)."""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

from ..errors import InputError
from .common import make_folder, text_output


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "build-lm", help="build a word n-gram ARPA LM",
        description="Build a pruned word n-gram ARPA model with interpolated modified Kneser-Ney smoothing.")
    parser.add_argument("--text", type=Path, required=True,
                        help="one normalized sentence per line (.xz, .gz or plain; the project's is "
                             "../shared/text/lm_text.txt.xz)")
    parser.add_argument("--vocab", type=Path, required=True,
                        help="words by descending frequency; others become <unk> (the project's is "
                             "../shared/text/vocab200k.txt)")
    parser.add_argument("--vocab-size", type=int, default=60000, help="words kept (default: %(default)s)")
    parser.add_argument("--max-words", type=int, default=None, help="stop reading the text after this many words")
    parser.add_argument("--order", type=int, default=3,
                        help="n-gram order; n-grams are packed in 64 bits, so 4-grams allow at most "
                             "32,764 words (3-grams 2,097,148) (default: %(default)s)")
    parser.add_argument("--prune", type=int, nargs="*", default=[0, 5, 12],
                        help="minimum raw count per order (unigrams are never pruned; default: 0 5 12)")
    parser.add_argument("-o", "--output", type=Path, required=True, help=".arpa or .arpa.gz")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..decode.lm_builder import ArpaBuilder, open_text, read_vocabulary

    start = time.time()
    try:
        builder = ArpaBuilder(read_vocabulary(args.vocab, args.vocab_size), args.order)
        with open_text(args.text) as text:
            tokens = builder.add(text, args.max_words)
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise InputError(f"{getattr(error, 'filename', None) or 'build-lm'}: "
                         f"{getattr(error, 'strerror', None) or error}") from None
    read_s = time.time() - start
    tables = builder.estimate(args.prune)
    estimate_s = time.time() - start - read_s
    make_folder(args.output.parent)
    with text_output(args.output) as out:
        builder.write_arpa(tables, out)
    unk_rate = np.count_nonzero(np.frombuffer(builder.ids, dtype=np.int32) == 0) / max(tokens, 1)
    print(f"words read: {tokens:,}  vocabulary: {len(builder.words):,}  OOV rate: {unk_rate:.2%}", file=sys.stderr)
    print("n-grams: " + "  ".join(f"{n}-gram {len(t.keys):,}" for n, t in enumerate(tables, 1)), file=sys.stderr)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"time: read {read_s:.0f} s, estimate {estimate_s:.0f} s, total {time.time() - start:.0f} s "
          f"({time.process_time():.0f} s CPU); peak RSS {peak_mb:.0f} MB; "
          f"size {args.output.stat().st_size / 1e6:.2f} MB", file=sys.stderr)
    return 0
