"""``speechlstm live``: transcribe a microphone until Ctrl-C.

"""
from __future__ import annotations

import argparse
import shutil
import signal
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Callable, TextIO

from ..errors import DeviceError, OutputError
from ..io.formats import to_json_line
from ..live import LiveSession, MicrophoneSource, device_table
from ..results import LiveEvent
from .common import add_endpoint_options, add_model_options, add_raw_option, endpoint_config, recognizer_from_args


def _device(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register the ``live`` subcommand."""
    parser = commands.add_parser(
        "live", help="transcribe a microphone live, with partial results and endpointing",
        description="Transcribe an input device live until Ctrl-C (which flushes the last utterance). "
                    "On a terminal the partial text updates in place and each utterance ends on its "
                    "own line; otherwise (or with --format json) stdout gets one JSON object per "
                    "utterance: text, start, end, words, times in seconds from the start.",
        epilog="examples:\n  speechlstm live\n  speechlstm live --list-devices\n"
               "  speechlstm live --device pulse --format json -o log.jsonl",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", type=_device, help="input device index or name (default: the system default)")
    parser.add_argument("--list-devices", action="store_true", help="list audio devices and exit")
    parser.add_argument("--format", choices=("text", "json"),
                        help="text (default on a terminal) or json (default when stdout is not a terminal)")
    parser.add_argument("-o", "--output", type=Path, help="also append each final utterance to this file")
    add_endpoint_options(parser)
    add_raw_option(parser)
    add_model_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Capture, decode and print until the device stops or Ctrl-C."""
    if args.list_devices:
        return _list_devices()
    fmt = args.format or ("text" if sys.stdout.isatty() else "json")
    live_text = fmt == "text" and sys.stdout.isatty()
    endpoint = endpoint_config(args)
    with ExitStack() as stack:
        log = _open_log(args.output, stack) if args.output else None
        session = LiveSession(recognizer_from_args(args, mode="streaming"), endpoint)
        source = MicrophoneSource(args.device, on_overflow=_report_overflow, sample_rate=session.recognizer.sample_rate)
        stack.callback(signal.signal, signal.SIGINT, _stop_on_interrupt(source))
        source.start()
        print(f"speechlstm: listening on {source.device_name!r} at {source.sample_rate} Hz "
              "(Ctrl-C to stop)", file=sys.stderr, flush=True)
        for event in session.events(source):
            _show(event, fmt, live_text, log)
    return 0


def _list_devices() -> int:
    table = device_table()
    if not table.strip():
        raise DeviceError("no audio devices found (PortAudio lists none: no sound card, or no access to it)")
    print(table)
    return 0


def _open_log(path: Path, stack: ExitStack) -> TextIO:
    try:
        return stack.enter_context(open(path, "a", encoding="utf-8"))
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from None


def _stop_on_interrupt(source: MicrophoneSource) -> Callable | int | None:
    """Make the first Ctrl-C end the capture (the session then flushes); a second one aborts.

    Returns the previous handler so that it can be restored.
    """
    def handler(signum: int, frame: object) -> None:
        if source.closed:
            raise KeyboardInterrupt
        source.close()

    return signal.signal(signal.SIGINT, handler)


def _report_overflow() -> None:
    print("speechlstm: warning: input overflow, some audio was dropped", file=sys.stderr, flush=True)


def _show(event: LiveEvent, fmt: str, live_text: bool, log: TextIO | None) -> None:
    """Partials redraw one terminal line; finals go to stdout (and the log) one per line."""
    if event.kind == "partial":
        if live_text:
            width = max(1, shutil.get_terminal_size().columns - 1)
            sys.stdout.write("\r\x1b[K" + event.readable[-width:])
            sys.stdout.flush()
        return
    line = to_json_line(event.to_dict()) if fmt == "json" else event.readable + "\n"
    sys.stdout.write(("\r\x1b[K" if live_text else "") + line)
    sys.stdout.flush()
    if log is not None:
        try:
            log.write(line)
            log.flush()
        except OSError as error:
            raise OutputError(f"cannot write {log.name}: {error.strerror or error}") from None
