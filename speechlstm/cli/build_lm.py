"""``speechlstm build-lm``: a pruned Kneser-Ney word n-gram LM (:mod:`speechlstm.decode.lm_builder`)."""
from __future__ import annotations

import argparse

from .common import EXIT_INPUT, CliError


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Every option after ``build-lm`` goes to the builder's own parser."""
    parser = commands.add_parser("build-lm", help="build a word n-gram ARPA LM (see speechlstm build-lm --help)",
                                 add_help=False)
    parser.set_defaults(run=run, passthrough=True)


def run(args: argparse.Namespace) -> int:
    from ..decode.lm_builder import main as build
    try:
        build(args.rest)
    except OSError as error:
        raise CliError(f"{error.filename or 'build-lm'}: {error.strerror or error}", EXIT_INPUT) from None
    return 0
