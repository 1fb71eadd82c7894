"""``speechlstm train-punct``: train the punctuation tagger (:mod:`speechlstm.nn.punct`, which imports torch)."""
from __future__ import annotations

import argparse

from .common import run_trainer


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Every option after ``train-punct`` goes to the recipe's own parser, which imports torch."""
    parser = commands.add_parser("train-punct", add_help=False,
                                 help="train the punctuation and truecasing tagger (see speechlstm train-punct --help)")
    parser.set_defaults(run=run, passthrough=True)


def run(args: argparse.Namespace) -> int:
    return run_trainer("punct", args.rest)
