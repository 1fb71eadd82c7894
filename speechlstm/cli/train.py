"""``speechlstm train``: the training recipe (:mod:`speechlstm.nn.train`, which imports torch)."""
from __future__ import annotations

import argparse

from .common import run_trainer


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Every option after ``train`` goes to the training recipe's own parser (speechlstm.nn.train),
    which imports torch; parsing them there keeps the other commands fast and torch-free."""
    parser = commands.add_parser("train", help="train a model on TSV manifests (see speechlstm train --help)",
                                 add_help=False)
    parser.set_defaults(run=run, passthrough=True)


def run(args: argparse.Namespace) -> int:
    return run_trainer("train", args.rest)
