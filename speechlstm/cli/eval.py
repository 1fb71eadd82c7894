"""``speechlstm eval``: WER and CER on a manifest, with icefall-style per-utterance files."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..config import MODES
from ..errors import InputError, OutputError, UsageError
from .common import add_model_options, check_writable, make_folder, positive_int, recognizer_from_args, write_output


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "eval", help="WER and CER of a model on a TSV manifest",
        description="Transcribe every file of a manifest (TSV with a header holding path and text columns, "
                    "duration optional; paths relative to the manifest) and report WER and CER with "
                    "substitutions, deletions and insertions, offline and streaming. Audio that cannot be "
                    "read is reported and skipped; the rest is scored and the exit code is 1.")
    parser.add_argument("manifest", type=Path,
                        help="TSV manifest: a header with path and text columns (duration optional), one "
                             "utterance a row, paths relative to the manifest")
    parser.add_argument("--mode", choices=(*MODES, "both"), default="both",
                        help="which decoding to score: offline (full BiLSTM over each file), streaming (the "
                             "chunked model, as live audio is decoded) or both (default)")
    parser.add_argument("--limit", type=positive_int, help="score only the first N utterances")
    add_model_options(parser)
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    parser.add_argument("--out-dir", type=Path,
                        help="write per-utterance results here, as icefall does: recogs-MODE.txt (reference "
                             "and hypothesis of each utterance) and errs-MODE.txt (summary, per-utterance "
                             "error counts and alignments, frequent errors, per-word statistics)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..evaluate import evaluate_manifest, format_table
    from ..io.manifest import read_manifest

    if not args.manifest.is_file():
        raise InputError(f"manifest not found: {args.manifest}")
    if not read_manifest(args.manifest, columns=("path", "text")):
        raise UsageError(f"{args.manifest}: the manifest lists no utterances")
    if args.json:
        check_writable(args.json)
    if args.out_dir:
        make_folder(args.out_dir)
    recognizer = recognizer_from_args(args)
    modes = MODES if args.mode == "both" else (args.mode,)
    try:
        figures = evaluate_manifest(recognizer, args.manifest, modes, args.limit, out_dir=args.out_dir)
    except OSError as error:
        raise OutputError(f"cannot write to {args.out_dir}: {error.strerror or error}") from None
    print(format_table(figures), flush=True)
    if args.json:
        write_output(args.json, json.dumps(figures, indent=2) + "\n")
    skipped = max(f["skipped"] for f in figures.values())
    if skipped:
        print(f"speechlstm: {skipped} utterance(s) skipped (unreadable audio); the figures cover the rest",
              file=sys.stderr)
    return InputError.exit_code if skipped else 0
