"""``speechlstm train-punct``: train the punctuation tagger (:mod:`speechlstm.nn.punct`, which imports torch)."""
from __future__ import annotations

import argparse

from .common import EXIT_INPUT, EXIT_USAGE, CliError


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Every option after ``train-punct`` goes to the recipe's own parser, which imports torch."""
    parser = commands.add_parser("train-punct", add_help=False,
                                 help="train the punctuation and truecasing tagger (see speechlstm train-punct --help)")
    parser.set_defaults(run=run, passthrough=True)


def run(args: argparse.Namespace) -> int:
    try:
        from ..nn.punct import main as train
    except ImportError as error:
        raise CliError(f"training needs torch (pip install 'speechlstm[train]'): {error}", EXIT_USAGE) from None
    try:
        train(args.rest)
    except OSError as error:
        raise CliError(f"{error.filename or 'training'}: {error.strerror or error}", EXIT_INPUT) from None
    return 0
