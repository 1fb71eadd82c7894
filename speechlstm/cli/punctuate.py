"""``speechlstm punctuate``: case, punctuate and write the numbers of plain text made elsewhere."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import InputError
from .common import write_output


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "punctuate", help="case and punctuate plain text (one paragraph a line)",
        description="Restore case, punctuation and written numbers in plain text such as another "
                    "recognizer's transcripts: one paragraph a line, each ending a sentence; empty lines "
                    "stay empty. Any case and punctuation the input has are dropped first.",
        epilog="examples:\n  echo 'where are you going he asked' | speechlstm punctuate\n"
               "  speechlstm punctuate transcript.txt -o readable.txt",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", nargs="?", default="-", metavar="FILE", help="text file; '-' (default) for stdin")
    parser.add_argument("-o", "--output", type=Path, help="write to this file instead of stdout")
    parser.add_argument("--model", type=Path, help="punctuation model (default: the shipped punct-en.int8.onnx)")
    parser.set_defaults(run=run)


def _words(line: str) -> list[str]:
    """The words of a line as a recognizer spells them: lower case, letters and apostrophes."""
    cleaned = "".join(c if c.isalnum() or c == "'" else " " for c in line.lower())
    return cleaned.split()


def run(args: argparse.Namespace) -> int:
    from ..punctuation import load_punctuator

    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read {args.file}: {getattr(error, 'strerror', None) or error}") from None
    punctuator = load_punctuator(args.model)
    lines = []
    for line in text.splitlines():
        words = _words(line)
        lines.append(" ".join(token for token in punctuator.readable(words) if token) if words else "")
    output = "".join(line + "\n" for line in lines)
    if args.output:
        write_output(args.output, output)
    else:
        sys.stdout.write(output)
    return 0
