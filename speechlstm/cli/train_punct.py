"""``speechlstm train-punct``: train the punctuation tagger (:mod:`speechlstm.nn.punct`, which imports torch).

The options come from :class:`~speechlstm.nn.train_config.PunctTrainConfig` (torch-free).
"""
from __future__ import annotations

import argparse

from ..nn.train_config import PunctTrainConfig
from .common import add_config_options, config_from_args, run_trainer


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "train-punct", help="train the punctuation and truecasing tagger",
        description="Train the punctuation and truecasing tagger on the TTS prompts (held-out books excluded) "
                    "and export it to ONNX.")
    add_config_options(parser, PunctTrainConfig)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return run_trainer("punct", config_from_args(args, PunctTrainConfig))
