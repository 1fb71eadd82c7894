"""``speechlstm train``: the training recipe (:mod:`speechlstm.nn.train`, which imports torch)."""
from __future__ import annotations

import argparse

from .common import EXIT_INPUT, EXIT_USAGE, CliError


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Every option after ``train`` goes to the training recipe's own parser (speechlstm.nn.train),
    which imports torch; parsing them there keeps the other commands fast and torch-free."""
    parser = commands.add_parser("train", help="train a model on TSV manifests (see speechlstm train --help)",
                                 add_help=False)
    parser.set_defaults(run=run, passthrough=True)


def run(args: argparse.Namespace) -> int:
    try:
        from ..nn.train import TrainSetupError, main as train
    except ImportError as error:
        raise CliError(f"training needs torch (pip install 'speechlstm[train]'): {error}", EXIT_USAGE) from None
    try:
        train(args.rest)
    except TrainSetupError as error:
        raise CliError(str(error), EXIT_USAGE) from None
    except OSError as error:
        raise CliError(f"{error.filename or 'training'}: {error.strerror or error}", EXIT_INPUT) from None
    return 0
