"""The ``speechlstm`` command line: one module per command (transcribe, eval, export, live,
serve, train, average, build-lm, info, punctuate, train-punct), sharing :mod:`.common`.

Exit codes (:mod:`speechlstm.errors` gives each error kind its code): 0 success; 1 some inputs
could not be transcribed (the rest were); 2 usage error (a missing optional package too); 3 the
model, its LM or lexicon is missing or invalid; 4 an output could not be written; 5 the audio
input device is missing, busy or failed (``live``); 130 interrupted.
"""
from __future__ import annotations

import argparse
import sys

from ..errors import OutputError, SpeechlstmError
from . import (average, build_lexicon, build_lm, eval as eval_command, export, info, live, punctuate, serve, train,
               train_punct, transcribe)
from .common import EXIT_INTERRUPTED, StdoutError, show_warnings, silence_stdout, to_stderr

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__
    parser = argparse.ArgumentParser(
        prog="speechlstm",
        description="Streaming speech-to-text with a latency-controlled BiLSTM and CTC. "
                    "Runs on CPU with torch, or on edge devices with onnxruntime.")
    parser.add_argument("--version", action=info.Version, version=f"speechlstm {__version__}",
                        help="show the version and the default model, then exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (transcribe, train, average, eval_command, export, info, live, serve, build_lm, build_lexicon,
                    punctuate, train_punct):
        command.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    for channel in (sys.stdout, sys.stderr):
        if hasattr(channel, "reconfigure"):
            channel.reconfigure(errors="surrogateescape")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with show_warnings(to_stderr):
            return args.run(args)
    except SpeechlstmError as error:  # the one place an error becomes an exit code (speechlstm.errors)
        print(f"speechlstm: error: {error}", file=sys.stderr)
        if isinstance(error, StdoutError):
            silence_stdout()
        return error.exit_code
    except KeyboardInterrupt:
        print("speechlstm: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        silence_stdout()
        return OutputError.exit_code


if __name__ == "__main__":
    sys.exit(main())
