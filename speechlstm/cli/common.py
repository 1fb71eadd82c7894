"""What every command shares: exit codes, the one-line error, option types, the model and
decoding options, warnings as lines and atomic output files."""
from __future__ import annotations

import argparse
import dataclasses
import gzip
import importlib
import os
import re
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, TextIO

from ..backends import BACKENDS
from ..config import (BEAM_DEFAULTS, DECODERS, DEFAULT_HOTWORD_BOOST, HEAD_CHOICES, MAX_HOTWORD_BOOST, SPELLINGS,
                      DecodingConfig, EndpointConfig, HotwordError, hotword_boosts)
from ..errors import InputError, MissingPackageError, OutputError, UsageError
from ..io.atomic import OutputFile, atomic_path
from ..progress import BatchProgress
from ..recognizer import RecognizerConfig


EXIT_INTERRUPTED = 130
"""Ctrl-C; every other exit code is the ``exit_code`` of an error kind in :mod:`speechlstm.errors`."""


def positive(kind: type) -> Callable[[str], float]:
    """An argparse type: ``kind(text)``, refused unless it is greater than zero."""
    def parse(text: str):
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be a positive {kind.__name__}, got {text}")
        return value
    parse.__name__ = kind.__name__
    return parse

positive_int = positive(int)


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (the library default) or more, got {text}")
    return value


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """--model, --threads, --backend and the decoding options, shared by every recognizing command."""
    group = parser.add_argument_group("model")
    group.add_argument("--model", type=Path, help="model bundle (default: the shipped English model)")
    group.add_argument("--threads", type=non_negative_int, default=RecognizerConfig.threads,
                       help=f"CPU threads for the model (default: {RecognizerConfig.threads}, never slower than "
                            "more in README's measurements; 0: the library's default, one per core)")
    group.add_argument("--backend", choices=("auto", *BACKENDS), default=RecognizerConfig.backend,
                       help="torch; onnx or onnx-int8 (exported graphs run by onnxruntime, no torch needed); "
                            "auto (default): onnx-int8 when its files lie next to the bundle, else torch")
    add_decoder_options(parser)


def add_raw_option(parser: argparse.ArgumentParser) -> None:
    """--raw-text: the recognizer's words as they are, without case, punctuation or written numbers."""
    parser.add_argument("--raw-text", action="store_true",
                        help="give the raw lower-case words: no case, punctuation or written numbers (serve: for "
                             "POST /transcribe; WebSocket clients get raw text unless their config says "
                             '"punctuate": true)')


def recognizer_from_args(args: argparse.Namespace, **fixed):
    """Load the Recognizer that the model and decoding options ask for."""
    from ..recognizer import Recognizer

    return Recognizer.from_config(recognizer_config(args, **fixed))


def recognizer_config(args: argparse.Namespace, **fixed) -> RecognizerConfig:
    """The RecognizerConfig that the model and decoding options ask for (what worker processes load)."""
    config = RecognizerConfig(model=args.model, threads=max(0, args.threads), backend=args.backend,
                              punctuate=not getattr(args, "raw_text", True))
    return config.with_options(**decoder_options(args), **fixed)


def add_endpoint_options(parser: argparse.ArgumentParser) -> None:
    """When a live utterance ends (``live`` and ``serve``)."""
    group = parser.add_argument_group("endpointing")
    defaults = EndpointConfig()
    group.add_argument("--endpoint-silence", type=positive_int, default=round(defaults.trailing_silence * 1000),
                       metavar="MS", help="trailing silence after speech that ends an utterance (default: %(default)s)")
    group.add_argument("--max-utterance", type=positive(float), default=defaults.max_utterance, metavar="S",
                       help="longest utterance in seconds before it is cut (default: %(default)g)")


def endpoint_config(args: argparse.Namespace) -> EndpointConfig:
    """The EndpointConfig that the endpointing options ask for."""
    return EndpointConfig(trailing_silence=args.endpoint_silence / 1000, max_utterance=args.max_utterance)


def add_decoder_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("decoding")
    group.add_argument("--decoder", choices=DECODERS, default=DecodingConfig.decoder,
                       help="beam (default): lexicon if flashlight-text is installed, else prefix; lexicon: "
                            "flashlight-text's lexicon beam search over the LM's words (and hotwords) with KenLM; "
                            "prefix: CTC prefix beam search, any spelling; both use the word LM and hotwords; "
                            "greedy: best path, fastest")
    group.add_argument("--beam-size", type=positive_int, default=None,
                       help=f"beam width (default: {_tuned(0)})")
    group.add_argument("--lm", default=None, metavar="PATH|none",
                       help="ARPA language model (.arpa or .arpa.gz) for the beam decoder; default: lm.arpa.gz "
                            "beside --model, else the shipped English LM; 'none' decodes without an LM")
    group.add_argument("--lm-weight", type=float, default=None,
                       help=f"language model weight (alpha; default tuned on dev: {_tuned(1)})")
    group.add_argument("--word-bonus", type=float, default=None,
                       help=f"score added per word (beta; default {_tuned(2)})")
    group.add_argument("--head", choices=HEAD_CHOICES, default=DecodingConfig.head,
                       help="model output to decode: phones (the phone head through the lexicon decoder, words "
                            "spelled by their pronunciations), chars, or auto (default): phones where the "
                            "lexicon decoder runs and the model has a phone head, else chars")
    group.add_argument("--lexicon", type=Path, default=None, metavar="PATH",
                       help="pronunciations (WORD<TAB>ARPAbet phones, .gz allowed) for --head phones; default: "
                            "lexicon.txt.gz beside --model, else the shipped one; hotwords missing from it are "
                            "pronounced by espeak-ng")
    group.add_argument("--spelling", choices=SPELLINGS, default=DecodingConfig.spelling,
                       help="american (default): the lexicon decoder writes the LM's British words in American "
                            "spelling (metres -> meters); lm: as the LM's book text spells them")
    group.add_argument("--hotword", action="append", default=[], metavar="PHRASE[:BOOST]",
                       help=f"boost a word or phrase during beam search (repeatable; boost above 0 and at most "
                            f"{MAX_HOTWORD_BOOST:g}, default {DEFAULT_HOTWORD_BOOST:g}); a ':' in the phrase is "
                            "written '\\:' (12\\:30), a backslash '\\\\'")
    group.add_argument("--hotwords-file", type=Path,
                       help="UTF-8 file with one PHRASE[:BOOST] per line, added to --hotword")


def _tuned(index: int) -> str:
    """One tuned beam setting of each beam decoder, for --help: '50 lexicon, 16 prefix'."""
    return ", ".join(f"{values[index]:g} {kind}" for kind, values in sorted(BEAM_DEFAULTS.items()))


_HOTWORD = re.compile(r"((?:[^\\:]|\\.)*)(?::(.*))?", re.DOTALL)
"""PHRASE[:BOOST], the phrase's own ':' and '\\' written '\\:' and '\\\\' (12\\:30)."""


def _parse_hotword(spec: str) -> tuple[str, float]:
    match = _HOTWORD.fullmatch(spec)
    try:
        phrase = re.sub(r"\\(.)", r"\1", match.group(1)).strip()
        boost = DEFAULT_HOTWORD_BOOST if match.group(2) is None else float(match.group(2))
        hotword_boosts([(phrase, boost)])
    except (AttributeError, ValueError) as error:  # no match, no number, a boost out of bounds
        problem = error if isinstance(error, HotwordError) else f"bad hotword {spec!r}: expected PHRASE or PHRASE:BOOST"
        raise UsageError(f"{problem} (a ':' in a phrase is written '\\:', as in 12\\:30)") from None
    return phrase, boost


def _read_hotwords_file(path: Path) -> list[str]:
    """The non-blank lines of a --hotwords-file."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UsageError(f"cannot read hotwords file {path}: {error.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line, byte = data.count(b"\n", 0, error.start) + 1, data[error.start]
        raise UsageError(f"hotwords file {path} is not UTF-8 text (byte 0x{byte:02x} on line {line})") from None
    return [line for line in text.splitlines() if line.strip()]


def decoder_options(args: argparse.Namespace) -> dict:
    """RecognizerConfig fields from the decoding options (DecodingConfig checks that they go together)."""
    specs = list(args.hotword)
    if args.hotwords_file:
        specs += _read_hotwords_file(args.hotwords_file)
    hotwords = tuple(_parse_hotword(spec) for spec in specs)
    lm = None if args.lm == "none" else Path(args.lm) if args.lm else "auto"
    return {"decoder": args.decoder, "beam_size": args.beam_size, "lm": lm, "lm_weight": args.lm_weight,
            "word_bonus": args.word_bonus, "hotwords": hotwords, "head": args.head,
            "lexicon": args.lexicon or "auto", "spelling": args.spelling}


class StdoutError(OutputError):
    """Standard output refused a result (a full disk, /dev/full): exit 4, nothing left to flush."""


def print_result(progress: BatchProgress | None, text: str) -> None:
    """``text`` on stdout, flushed (with the progress bar out of the way, if there is one)."""
    try:
        if progress is None:
            sys.stdout.write(text)
            sys.stdout.flush()
        else:
            progress.write(text, sys.stdout)
    except BrokenPipeError:
        raise
    except OSError as error:
        raise StdoutError(f"cannot write to standard output: {error.strerror or error}") from None


def to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@contextmanager


def show_warnings(write: Callable[[str], None]) -> Iterator[None]:
    """Warnings (a truncated file, an empty one, an ignored option) as one line each, through ``write``."""
    def show(message, category, filename, lineno, file=None, line=None) -> None:
        write(f"speechlstm: warning: {message}")

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = show
        yield


@contextmanager
def output_file(path: Path) -> Iterator[OutputFile]:
    """An :class:`OutputFile`, opened now (the check that it can be written) and filled by the
    block; what cannot be written is one line and exit 4."""
    try:
        with OutputFile(path) as output:
            yield output
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from None


@contextmanager
def text_output(path: Path) -> Iterator[TextIO]:
    """A UTF-8 text file (gzip-compressed when ``path`` ends in .gz) that the block writes, put in
    place when it ends; what cannot be written is one line and exit 4 (:class:`OutputError`)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with atomic_path(path) as temporary, opener(temporary, "wt", encoding="utf-8") as handle:
            yield handle
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from None


def write_output(path: Path, content: str) -> None:
    with output_file(path) as output:
        output.write(content)


def check_writable(path: Path) -> None:
    """Refuse an output path that cannot be written, before hours of work go into it."""
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a directory")
    folder = path.parent
    if not folder.is_dir():
        raise OutputError(f"cannot write {path}: output directory does not exist: {folder}")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise OutputError(f"cannot write {path}: permission denied")


def make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create output directory {folder}: {error.strerror or error}") from None


def silence_stdout() -> None:
    """Point stdout at /dev/null, so that the exit's flush of what stdout refused raises nothing."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def add_config_options(parser: argparse.ArgumentParser, config: type) -> None:
    """One ``--name`` per field of the dataclass ``config`` (a table of
    :func:`~speechlstm.nn.train_config.option` fields: help, type, action), its default shown."""
    for option in dataclasses.fields(config):
        settings = dict(option.metadata)
        if "action" not in settings:
            settings.setdefault("type", type(option.default) if option.default is not None else str)
        if option.default not in (None, ()) and settings.get("action") != "store_true":
            settings["default"] = option.default
            if "default" not in settings["help"]:
                settings["help"] += " (default: %(default)s)"
        parser.add_argument(f"--{option.name.replace('_', '-')}", **settings)


def config_from_args(args: argparse.Namespace, config: type):
    """The ``config`` dataclass that :func:`add_config_options`' options ask for."""
    return config(**{option.name: getattr(args, option.name) for option in dataclasses.fields(config)})


def run_trainer(module: str, config) -> int:
    """``speechlstm.nn.<module>.main(config)``, torch imported only now: missing torch is a usage error
    (:class:`~speechlstm.errors.MissingPackageError`), unreadable files input errors."""
    try:
        train = importlib.import_module(f"..nn.{module}", __package__).main
    except ImportError as error:
        raise MissingPackageError(f"training needs torch (pip install 'speechlstm[train]'): {error}") from None
    try:
        train(config)
    except OSError as error:
        raise InputError(f"{error.filename or 'training'}: {error.strerror or error}") from None
    return 0
