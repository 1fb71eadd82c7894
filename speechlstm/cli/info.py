"""``speechlstm info`` and ``--version``: the model card."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UsageError


class Version(argparse._VersionAction):
    """--version names the default model too (read only when asked for)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        from ..bundle import BundleError
        from ..model_card import model_card
        try:
            card = model_card()
            model = f"model: {card['model']}, training step {card['training step']}"
        except BundleError as error:
            model = f"model: none ({error})"
        print(f"{self.version}\n{model}")
        parser.exit()


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "info", help="print a model's card: languages, size, audio, latency, training data, dev WER",
        description="Print the essentials of a model bundle from its header: languages, vocabulary, "
                    "architecture, parameters, file size, sample rate, streaming latency (chunk and right "
                    "context), training data hours and the dev WER the trainer recorded, if any; and the CPU features "
                    "that decide onnxruntime's int8 kernels (AVX2, AVX-512, VNNI, NEON, dot product).")
    parser.add_argument("model", nargs="?", type=Path,
                        help="model bundle, or exported ONNX graphs (a graph or their folder); default: the "
                             "shipped English model")
    parser.add_argument("--model", type=Path, dest="model_option", metavar="MODEL",
                        help="the same as MODEL, as the other commands spell it")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..backends.cpu import cpu_features
    from ..model_card import model_card

    if args.model and args.model_option:
        raise UsageError("give the model once: MODEL or --model MODEL")
    card = {**model_card(args.model or args.model_option), "CPU (onnxruntime)": cpu_features()}
    width = max(map(len, card))
    for key, value in card.items():
        print(f"{key + ':':<{width + 1}} {value}")
    return 0
