"""``speechlstm export``: ONNX graphs for the torch-free runtime (:mod:`speechlstm.nn.export`)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import MissingPackageError, OutputError
from ..model_files import GRAPHS


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "export", help="export a model to ONNX for the torch-free runtime",
        description="Write the offline and the streaming ONNX graph of a bundle into a folder. Each file "
                    "carries the vocabulary, frontend and model configs in its metadata, so the ONNX files "
                    "alone are a complete model (transcribe --backend onnx / onnx-int8 --model FOLDER). "
                    "Files lying next to a bundle are found by name; auto picks onnx-int8 when present.",
        epilog="examples:\n  speechlstm export -o exported/\n  speechlstm export --int8 --streaming-only -o models/",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="model bundle (default: the shipped English model)")
    parser.add_argument("--int8", action="store_true",
                        help="write dynamically quantized int8 graphs (STEM.offline.int8.onnx, "
                             "STEM.streaming.int8.onnx) instead of fp32 ones")
    parser.add_argument("--streaming-only", action="store_true",
                        help="write only the streaming graph: it serves offline recognition too (as one "
                             "chunk), so this is all the runtime needs (models/ ships it in int8)")
    parser.add_argument("-o", "--output-dir", type=Path, default=Path("."), help="folder to write into")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        from ..nn.export import export
        written = export(args.model, args.output_dir, int8=args.int8,
                         graphs=("streaming",) if args.streaming_only else GRAPHS)
    except ImportError as error:
        raise MissingPackageError(f"export needs the onnx and onnxruntime packages ({error})") from None
    except OSError as error:
        raise OutputError(f"cannot write to {args.output_dir}: {error.strerror or error}") from None
    for path in written:
        print(path)
    return 0
