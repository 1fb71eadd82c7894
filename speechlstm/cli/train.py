"""``speechlstm train``: the training recipe (:mod:`speechlstm.nn.train`, which imports torch).

The options come from :class:`~speechlstm.nn.train_config.TrainConfig`, which is torch-free, so
``--help`` and option mistakes need no torch; torch is imported when training starts.
"""
from __future__ import annotations

import argparse

from ..nn.train_config import TrainConfig
from .common import add_config_options, config_from_args, run_trainer


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "train", help="train a model on TSV manifests",
        description="Train a character CTC latency-controlled BiLSTM on TSV manifests. Checkpoints every few minutes "
                    "to OUT/checkpoint.pt; rerun the same command to resume. Runs under torchrun "
                    "(torchrun --nproc-per-node N -m speechlstm train ...) with DistributedDataParallel.")
    add_config_options(parser, TrainConfig)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return run_trainer("train", config_from_args(args, TrainConfig))
