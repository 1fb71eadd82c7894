"""The ``speechlstm`` command line.

Exit codes: 0 success; 1 some inputs could not be transcribed (the rest were); 2 usage
error; 3 the model bundle is missing or invalid; 4 an output could not be written;
5 the audio input device is missing, busy or failed (``live``); 130 interrupted.
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from .audio import STDIN, AudioError, audio_duration
from .bundle import BundleError
from .edge import BACKENDS
from .formats import ALL, EXTENSIONS, FORMATS, atomic_write, to_json_line, to_srt, to_vtt
from .progress import BatchProgress

EXIT_INPUT, EXIT_USAGE, EXIT_MODEL, EXIT_OUTPUT, EXIT_INTERRUPTED = 1, 2, 3, 4, 130
EXIT_DEVICE = 5


class CliError(Exception):
    """A user-facing failure: printed as one line, mapped to an exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def positive(kind: type) -> Callable[[str], float]:
    """An argparse type: ``kind(text)``, refused unless it is greater than zero."""
    def parse(text: str):
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be a positive {kind.__name__}, got {text}")
        return value
    parse.__name__ = kind.__name__
    return parse


_positive_int = positive(int)


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (the library default) or more, got {text}")
    return value


def _add_transcribe(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "transcribe", help="transcribe audio files",
        description="Transcribe audio files: WAV, FLAC, OGG/Opus, MP3 (libsndfile) and, through FFmpeg "
                    "(PyAV), M4A/AAC, WebM, MP4 and other containers, at any sample rate and channel count. "
                    "'-' reads standard input; pipes and devices work too. A file that fails gets a "
                    "one-line error; the others are still transcribed and the exit code is 1. A file "
                    "holding no samples transcribes, like silence, to empty text (with a warning). On a "
                    "terminal, stderr shows a progress bar (files, audio done, real-time factor, ETA). "
                    "For archives: --jobs N runs N worker processes, --manifest and --recursive list the "
                    "inputs, --resume -o out.jsonl survives interruption, --ray runs on a Ray cluster.",
        epilog="examples:\n  speechlstm transcribe samples/*.wav\n"
               "  cat talk.wav | speechlstm transcribe -\n"
               "  speechlstm transcribe --mode streaming --chunk-ms 200 talk.flac\n"
               "  speechlstm transcribe --format srt --output-dir subs/ a.mp3 b.ogg\n"
               "  speechlstm transcribe --format all --output-dir out/ lecture.m4a\n"
               "  speechlstm transcribe --jobs 0 --recursive --resume -o archive.jsonl /archive/\n"
               "  speechlstm transcribe --ray auto --manifest files.txt -o /shared/out.jsonl",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", type=Path, metavar="FILE",
                        help="audio files; '-' for standard input; folders with --recursive")
    parser.add_argument("--mode", choices=("offline", "streaming"), default="offline",
                        help="offline: full BiLSTM over each file (over segments of at most 30 s cut at "
                             "pauses when it is longer than a minute); streaming: the chunked model fed "
                             "block by block as a live source would; both in bounded memory for long files")
    parser.add_argument("--chunk-ms", type=_positive_int,
                        help="block size fed to the stream in streaming mode (default: 100; does not change "
                             "the text); ignored, with a warning, in offline mode")
    parser.add_argument("--format", choices=(*FORMATS, "all", "parquet"), default=None,
                        help="text (default; json with --resume or --ray): the transcript, one line per input, "
                             "whether one input or many; tsv: PATH<TAB>TEXT per input; json: one object per "
                             "input per line (path, text, duration, words; path and error for a file that "
                             "failed with --resume or --ray); srt or vtt: subtitles; all: txt, json, srt and "
                             "vtt files (needs --output-dir); parquet: with --ray, Parquet shards and file")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("-o", "--output", type=Path, help="write all results to this file instead of stdout")
    output.add_argument("--output-dir", type=Path,
                        help="write STEM.EXT per input into this folder (created if missing); inputs with "
                             "the same stem get STEM-1, STEM-2... in input order (a/x.flac b/x.wav: x.txt "
                             "x-1.txt); standard input is named stdin")
    add_model_options(parser)
    from .batch import add_batch_options
    add_batch_options(parser)
    parser.set_defaults(run=_run_transcribe)


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """--model, --threads, --backend and the decoding options, shared by every recognizing command."""
    group = parser.add_argument_group("model")
    group.add_argument("--model", type=Path, help="model bundle (default: the shipped English model)")
    group.add_argument("--threads", type=_non_negative_int, default=1,
                       help="CPU threads for the model (default: 1, never slower than more in README's "
                            "measurements; 0: the library's default, one per core)")
    group.add_argument("--backend", choices=("auto", *BACKENDS), default="auto",
                       help="torch; onnx or onnx-int8 (exported graphs run by onnxruntime, no torch needed); "
                            "auto (default): onnx-int8 when its files lie next to the bundle, else torch")
    _add_decoder_options(parser)


def recognizer_from_args(args: argparse.Namespace, **fixed):
    """Load the Recognizer that the model and decoding options ask for."""
    from .beam_search import HotwordError
    from .recognizer import Recognizer

    try:
        return Recognizer.from_config(recognizer_config(args, **fixed))
    except HotwordError as error:
        raise CliError(str(error), EXIT_USAGE) from None


def recognizer_config(args: argparse.Namespace, **fixed):
    """The RecognizerConfig that the model and decoding options ask for (what worker processes load)."""
    from .beam_search import HotwordError
    from .recognizer import RecognizerConfig

    try:
        return RecognizerConfig(model=args.model, threads=max(0, args.threads), backend=args.backend,
                                **_decoder_options(args), **fixed)
    except HotwordError as error:
        raise CliError(str(error), EXIT_USAGE) from None


def _add_decoder_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("decoding")
    group.add_argument("--decoder", choices=("greedy", "beam", "prefix", "lexicon"), default="beam",
                       help="beam (default): lexicon if flashlight-text is installed, else prefix; lexicon: "
                            "flashlight-text's lexicon beam search over the LM's words (and hotwords) with KenLM; "
                            "prefix: CTC prefix beam search, any spelling; both use the word LM and hotwords; "
                            "greedy: best path, fastest")
    group.add_argument("--beam-size", type=_positive_int, default=None,
                       help="beam width (default: 50 lexicon, 16 prefix)")
    group.add_argument("--lm", default=None, metavar="PATH|none",
                       help="ARPA language model (.arpa or .arpa.gz) for the beam decoder; default: lm.arpa.gz "
                            "beside --model, else the shipped English LM; 'none' decodes without an LM")
    group.add_argument("--lm-weight", type=float, default=None,
                       help="language model weight (alpha; default tuned on dev: 0.7 lexicon, 0.8 prefix)")
    group.add_argument("--word-bonus", type=float, default=None,
                       help="score added per word (beta; default -1 lexicon, 3.5 prefix)")
    group.add_argument("--hotword", action="append", default=[], metavar="PHRASE[:BOOST]",
                       help="boost a word or phrase during beam search (repeatable; default boost 8)")
    group.add_argument("--hotwords-file", type=Path,
                       help="file with one PHRASE[:BOOST] per line, added to --hotword")


def _parse_hotword(spec: str) -> tuple[str, float]:
    from .beam_search import DEFAULT_HOTWORD_BOOST

    phrase, colon, boost = spec.rpartition(":")
    if not colon:
        return spec.strip(), DEFAULT_HOTWORD_BOOST
    try:
        return phrase.strip(), float(boost)
    except ValueError:
        raise CliError(f"bad hotword {spec!r}: expected PHRASE or PHRASE:BOOST", EXIT_USAGE) from None


def _decoder_options(args: argparse.Namespace) -> dict:
    """RecognizerConfig fields from the decoding options."""
    specs = list(args.hotword)
    if args.hotwords_file:
        try:
            specs += [line for line in args.hotwords_file.read_text(encoding="utf-8").splitlines() if line.strip()]
        except OSError as error:
            raise CliError(f"cannot read hotwords file {args.hotwords_file}: {error.strerror}", EXIT_USAGE) from None
    hotwords = tuple(_parse_hotword(spec) for spec in specs)
    if hotwords and args.decoder == "greedy":
        raise CliError("--hotword needs a beam decoder (--decoder beam, lexicon or prefix)", EXIT_USAGE)
    lm = None if args.lm == "none" else Path(args.lm) if args.lm else "auto"
    return {"decoder": args.decoder, "beam_size": args.beam_size, "lm": lm, "lm_weight": args.lm_weight,
            "word_bonus": args.word_bonus, "hotwords": hotwords}


def _render(fmt: str, transcript) -> str:
    if fmt == "json":
        return to_json_line(transcript.to_dict())
    if fmt == "srt":
        return to_srt(transcript.result.words)
    if fmt == "vtt":
        return to_vtt(transcript.result.words)
    if fmt == "tsv":
        return f"{transcript.path}\t{transcript.text}\n"
    return transcript.text + "\n"


def output_stems(paths: list[Path]) -> list[str]:
    """The name of each input's outputs in --output-dir: its stem, made unique in input order
    (a/x.flac b/x.wav give x and x-1); standard input is ``stdin``."""
    taken: set[str] = set()
    stems = []
    for path in paths:
        stem = "stdin" if str(path) == STDIN else path.stem
        candidate, number = stem, 0
        while candidate in taken:
            number += 1
            candidate = f"{stem}-{number}"
        taken.add(candidate)
        stems.append(candidate)
    return stems


def _show_partial(progress: BatchProgress, args: argparse.Namespace, partial) -> None:
    """Ctrl-C in streaming mode: the text decoded so far goes where results go to stdout
    (output files keep their previous content); main then exits 130."""
    progress.message(f"speechlstm: partial result of {partial.path} (first {partial.duration:.1f} s)")
    if not (args.output or args.output_dir) and args.format in ("text", "tsv", "json"):
        _print_result(progress, _render(args.format, partial))


class _StdoutError(CliError):
    """Standard output refused a result (a full disk, /dev/full): exit 4, nothing left to flush."""


def _print_result(progress: BatchProgress, text: str) -> None:
    try:
        progress.write(text, sys.stdout)
    except BrokenPipeError:
        raise
    except OSError as error:
        raise _StdoutError(f"cannot write to standard output: {error.strerror or error}", EXIT_OUTPUT) from None


def _check_batch_options(args: argparse.Namespace) -> None:
    """What --resume, --jobs and --ray need: a JSON-lines (or Parquet) file to write, files to read."""
    batch = args.resume or args.ray
    if args.format is None:
        args.format = "json" if batch else "text"
    if args.resume and not args.output:
        raise CliError("--resume needs -o FILE: the JSON-lines file it appends to and reads back", EXIT_USAGE)
    if args.ray and not args.output:
        raise CliError("--ray needs -o FILE: the merged output (shards go to --shards-dir)", EXIT_USAGE)
    allowed = ("json", "parquet") if args.ray and not args.resume else ("json",)
    if batch and args.format not in allowed:
        raise CliError(f"--format {args.format} does not go with {'--resume' if args.resume else '--ray'}: it "
                       f"writes {' or '.join(allowed)}", EXIT_USAGE)
    if args.format == "parquet" and not args.ray:
        raise CliError("--format parquet needs --ray (Parquet is written by Ray Data)", EXIT_USAGE)
    if args.shards_dir and not args.ray:
        raise CliError("--shards-dir goes with --ray", EXIT_USAGE)
    if args.jobs is None:
        args.jobs = 0 if args.ray else 1
    if (args.jobs != 1 or args.ray) and any(str(path) == STDIN for path in args.files):
        raise CliError("standard input ('-') can only be read with --jobs 1, without --ray", EXIT_USAGE)


def _check_transcribe_options(args: argparse.Namespace) -> None:
    """Usage and output problems, found before any model is loaded or input read."""
    _check_batch_options(args)
    if args.format in ("srt", "vtt") and len(args.files) > 1 and not args.output_dir:
        raise CliError(f"--format {args.format} with several files needs --output-dir", EXIT_USAGE)
    if args.format == "all" and not args.output_dir:
        raise CliError("--format all writes one file per format: it needs --output-dir", EXIT_USAGE)
    if args.chunk_ms and args.mode == "offline":
        warnings.warn("--chunk-ms only applies to --mode streaming; offline mode reads each file whole")
    if args.output and not args.output.parent.is_dir():
        raise CliError(f"output directory does not exist: {args.output.parent}", EXIT_OUTPUT)
    if args.output_dir:
        _make_folder(args.output_dir)


def _run_transcribe(args: argparse.Namespace) -> int:
    from .batch import BatchError, ResumeLog, collect_inputs

    try:
        inputs = collect_inputs(args.files, args.manifest, args.recursive)
    except BatchError as error:
        raise CliError(str(error), EXIT_INPUT) from None
    if not inputs:
        raise CliError("no input files: give FILE..., --manifest LIST or a folder with --recursive", EXIT_USAGE)
    args.files = [item.path for item in inputs]
    _check_transcribe_options(args)
    config = recognizer_config(args, mode=args.mode, **({"chunk_ms": args.chunk_ms} if args.chunk_ms else {}))
    if not args.resume:
        return _run_on_ray(args, config, inputs) if args.ray else _transcribe_inputs(args, config, inputs)
    try:
        resume = ResumeLog(args.output).open()
    except BatchError as error:
        raise CliError(str(error), EXIT_OUTPUT) from None
    except OSError as error:
        raise CliError(f"cannot write {args.output}: {error.strerror or error}", EXIT_OUTPUT) from None
    with resume:
        todo = [item for item in inputs if os.fsdecode(item.path) not in resume.done]
        if len(todo) < len(inputs):
            _to_stderr(f"speechlstm: {args.output} already holds {len(inputs) - len(todo)} of the "
                       f"{len(inputs)} files; transcribing the other {len(todo)}")
        if not todo:
            return 0
        return _run_on_ray(args, config, todo, resume) if args.ray else _transcribe_inputs(args, config, todo, resume)


def _run_on_ray(args: argparse.Namespace, config, inputs: list, resume=None) -> int:
    """--ray: decode on a Ray cluster (speechlstm.ray_batch), then write the merged output: -o in
    input order, or appended to --resume's log. Ray draws its own progress bars."""
    from .beam_search import HotwordError
    from .ray_batch import RayBatchError, record, transcribe_on_ray, write_parquet
    from .recognizer import Recognizer

    try:
        Recognizer.from_config(config)  # a model or decoder problem fails here, before a cluster starts
    except HotwordError as error:
        raise CliError(str(error), EXIT_USAGE) from None
    shards = args.shards_dir or args.output.with_name(args.output.name + ".shards")
    try:
        rows = transcribe_on_ray(config, [os.fsdecode(item.path) for item in inputs], args.ray, args.jobs, shards,
                                 args.format)
    except RayBatchError as error:
        raise CliError(str(error), EXIT_USAGE) from None
    failures = 0
    for row in rows:
        for warning in row["warnings"]:
            _to_stderr(f"speechlstm: warning: {warning}")
        if row["error"] is not None:
            failures += 1
            _to_stderr(f"speechlstm: error: {row['error']}")
        if resume:
            _append(resume, record(row))
    if args.format == "parquet":
        try:
            write_parquet(rows, args.output)
        except OSError as error:
            raise CliError(f"cannot write {args.output}: {error.strerror or error}", EXIT_OUTPUT) from None
    elif not resume:
        _write(args.output, "".join(to_json_line(record(row)) for row in rows))
    return EXIT_INPUT if failures else 0


def _transcribe_inputs(args: argparse.Namespace, config, inputs: list, resume=None) -> int:
    """Transcribe ``inputs`` (batch.Input) in this process or in --jobs worker processes and write
    each result where the options say: stdout and -o in input order; --resume's log and
    --output-dir files as each file finishes."""
    from contextlib import closing

    from .batch import in_input_order, transcribe_batch
    from .beam_search import HotwordError
    from .recognizer import Interrupted

    paths = [os.fsdecode(item.path) for item in inputs]
    formats = ALL if args.format == "all" else (args.format,)
    stems = output_stems([item.path for item in inputs]) if args.output_dir else None
    on_terminal = sys.stderr.isatty()
    durations = [item.duration if item.duration is not None or not on_terminal else audio_duration(item.path)
                 for item in inputs]
    collected, failures = [], 0
    try:
        with BatchProgress(durations) as progress, show_warnings(progress.message), \
                closing(transcribe_batch(config, paths, args.jobs)) as outcomes:
            try:
                for outcome in outcomes if resume or stems else in_input_order(outcomes):
                    for warning in outcome.warnings:
                        progress.message(f"speechlstm: warning: {warning}")
                    if resume:
                        _append(resume, outcome.record())
                    duration, transcript = durations[outcome.index], outcome.transcript
                    if transcript is None:
                        failures += 1
                        progress.message(f"speechlstm: error: {outcome.error}")
                        progress.done(duration or 0.0)
                        continue
                    progress.done(transcript.duration, known=duration is not None)
                    if resume:
                        continue
                    if stems:
                        for fmt in formats:
                            _write(args.output_dir / f"{stems[outcome.index]}.{EXTENSIONS[fmt]}",
                                   _render(fmt, transcript))
                    elif args.output:
                        collected.append(_render(args.format, transcript))
                    else:
                        _print_result(progress, _render(args.format, transcript))
            except Interrupted as interrupt:
                _show_partial(progress, args, interrupt.partial)
                raise
    except HotwordError as error:
        raise CliError(str(error), EXIT_USAGE) from None
    if args.output and collected and not resume:
        _write(args.output, "".join(collected))
    return EXIT_INPUT if failures else 0


def _append(resume, record: dict) -> None:
    try:
        resume.append(record)
    except OSError as error:
        raise CliError(f"cannot write {resume.path}: {error.strerror or error}", EXIT_OUTPUT) from None


def _to_stderr(line: str) -> None:
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


def _write(path: Path, content: str) -> None:
    try:
        atomic_write(path, content)
    except OSError as error:
        raise CliError(f"cannot write {path}: {error.strerror or error}", EXIT_OUTPUT) from None


def _add_train(commands: argparse._SubParsersAction) -> None:
    """Every option after ``train`` goes to the training recipe's own parser (speechlstm.train),
    which imports torch; parsing them there keeps the other commands fast and torch-free."""
    parser = commands.add_parser("train", help="train a model on TSV manifests (see speechlstm train --help)",
                                 add_help=False)
    parser.set_defaults(run=_run_train, passthrough=True)


def _run_train(args: argparse.Namespace) -> int:
    try:
        from .train import main as train
    except ImportError as error:
        raise CliError(f"training needs torch (pip install 'speechlstm[train]'): {error}", EXIT_USAGE) from None
    try:
        train(args.rest)
    except OSError as error:
        raise CliError(f"{error.filename or 'training'}: {error.strerror or error}", EXIT_INPUT) from None
    return 0


def _add_eval(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "eval", help="WER and CER of a model on a TSV manifest",
        description="Transcribe every file of a manifest (TSV with a header holding path and text columns, "
                    "duration optional; paths relative to the manifest) and report WER and CER with "
                    "substitutions, deletions and insertions, offline and streaming. Audio that cannot be "
                    "read is reported and skipped; the rest is scored and the exit code is 1.")
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--mode", choices=("offline", "streaming", "both"), default="both")
    parser.add_argument("--limit", type=_positive_int, help="score only the first N utterances")
    add_model_options(parser)
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    parser.add_argument("--out-dir", type=Path,
                        help="write per-utterance results here, as icefall does: recogs-MODE.txt (reference "
                             "and hypothesis of each utterance) and errs-MODE.txt (summary, per-utterance "
                             "error counts and alignments, frequent errors, per-word statistics)")
    parser.set_defaults(run=_run_eval)


def _check_writable(path: Path) -> None:
    """Refuse an output path that cannot be written, before hours of work go into it."""
    if path.is_dir():
        raise CliError(f"cannot write {path}: it is a directory", EXIT_OUTPUT)
    folder = path.parent
    if not folder.is_dir():
        raise CliError(f"cannot write {path}: output directory does not exist: {folder}", EXIT_OUTPUT)
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise CliError(f"cannot write {path}: permission denied", EXIT_OUTPUT)


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CliError(f"cannot create output directory {folder}: {error.strerror or error}", EXIT_OUTPUT) from None


def _run_eval(args: argparse.Namespace) -> int:
    import json

    from .data import ManifestError, read_manifest
    from .evaluate import evaluate_manifest, format_table

    if not args.manifest.is_file():
        raise CliError(f"manifest not found: {args.manifest}", EXIT_INPUT)
    try:
        if not read_manifest(args.manifest, columns=("path", "text")):
            raise CliError(f"{args.manifest}: the manifest lists no utterances", EXIT_INPUT)
    except ManifestError as error:
        raise CliError(str(error), EXIT_INPUT) from None
    if args.json:
        _check_writable(args.json)
    if args.out_dir:
        _make_folder(args.out_dir)
    recognizer = recognizer_from_args(args)
    modes = ("offline", "streaming") if args.mode == "both" else (args.mode,)
    try:
        figures = evaluate_manifest(recognizer, args.manifest, modes, args.limit, out_dir=args.out_dir)
    except AudioError as error:
        raise CliError(str(error), EXIT_INPUT) from None
    except OSError as error:
        raise CliError(f"cannot write to {args.out_dir}: {error.strerror or error}", EXIT_OUTPUT) from None
    print(format_table(figures), flush=True)
    if args.json:
        _write(args.json, json.dumps(figures, indent=2) + "\n")
    skipped = max(f["skipped"] for f in figures.values())
    if skipped:
        print(f"speechlstm: {skipped} utterance(s) skipped (unreadable audio); the figures cover the rest",
              file=sys.stderr)
    return EXIT_INPUT if skipped else 0


def _add_export(commands: argparse._SubParsersAction) -> None:
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
    parser.set_defaults(run=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    try:
        from .export import export
        written = export(args.model, args.output_dir, int8=args.int8,
                         graphs=("streaming",) if args.streaming_only else ("offline", "streaming"))
    except ImportError as error:
        raise CliError(f"export needs the onnx and onnxruntime packages ({error})", EXIT_USAGE) from None
    except OSError as error:
        raise CliError(f"cannot write to {args.output_dir}: {error.strerror or error}", EXIT_OUTPUT) from None
    for path in written:
        print(path)
    return 0


class _Version(argparse._VersionAction):
    """--version names the default model too (read only when asked for)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        from .bundle import BundleError, model_card
        try:
            card = model_card()
            model = f"model: {card['model']}, training step {card['training step']}"
        except BundleError as error:
            model = f"model: none ({error})"
        print(f"{self.version}\n{model}")
        parser.exit()


def _add_info(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "info", help="print a model's card: languages, size, audio, latency, training data, dev WER",
        description="Print the essentials of a model bundle from its header: languages, vocabulary, "
                    "architecture, parameters, file size, sample rate, streaming latency (chunk and right "
                    "context), training data hours and the dev WER the trainer recorded, if any.")
    parser.add_argument("model", nargs="?", type=Path, help="model bundle (default: the shipped English model)")
    parser.set_defaults(run=_run_info)


def _run_info(args: argparse.Namespace) -> int:
    from .bundle import model_card

    card = model_card(args.model)
    width = max(map(len, card))
    for key, value in card.items():
        print(f"{key + ':':<{width + 1}} {value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    parser = argparse.ArgumentParser(
        prog="speechlstm",
        description="Streaming speech-to-text with a latency-controlled BiLSTM and CTC. "
                    "Runs on CPU with torch, or on edge devices with onnxruntime.")
    parser.add_argument("--version", action=_Version, version=f"speechlstm {__version__}",
                        help="show the version and the default model, then exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_transcribe(commands)
    _add_train(commands)
    _add_eval(commands)
    _add_export(commands)
    _add_info(commands)
    from .live_cli import add_live_parser
    add_live_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    for channel in (sys.stdout, sys.stderr):
        if hasattr(channel, "reconfigure"):
            channel.reconfigure(errors="surrogateescape")
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and not getattr(args, "passthrough", False):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    args.rest = rest
    try:
        with show_warnings(_to_stderr):
            return args.run(args)
    except _StdoutError as error:
        print(f"speechlstm: error: {error}", file=sys.stderr)
        _silence_stdout()
        return error.code
    except CliError as error:
        print(f"speechlstm: error: {error}", file=sys.stderr)
        return error.code
    except BundleError as error:
        print(f"speechlstm: error: {error}", file=sys.stderr)
        return EXIT_MODEL
    except KeyboardInterrupt:
        print("speechlstm: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_OUTPUT


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the exit's flush of what stdout refused raises nothing."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
