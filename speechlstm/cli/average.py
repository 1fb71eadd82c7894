"""``speechlstm average``: checkpoint averaging (:mod:`speechlstm.nn.average`)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import OutputError


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "average", help="average the weights of several bundles of one architecture",
        description="Write one bundle whose weights are the mean of the inputs' weights, e.g. the last "
                    "snapshots a run kept with --keep-snapshots K (OUT/snapshots/). The inputs must share "
                    "the architecture; the output takes the first input's settings.",
        epilog="example:\n  speechlstm average exp/run/averaged.safetensors exp/run/snapshots/*.safetensors",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", type=Path, help="bundle to write (.safetensors)")
    parser.add_argument("inputs", type=Path, nargs="+", metavar="input", help="bundles to average")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..nn.average import average_bundles
    try:
        print(average_bundles(args.output, args.inputs))
    except OSError as error:
        raise OutputError(f"cannot write {args.output}: {error.strerror or error}") from None
    return 0
