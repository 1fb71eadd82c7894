"""``speechlstm transcribe``: audio files to text, JSON lines or subtitles."""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import warnings
from contextlib import nullcontext
from pathlib import Path

from ..config import MODES, StreamingConfig
from ..errors import InputError, OutputError, UsageError
from ..io.audio import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, STDIN, audio_duration, raw_pcm_blocks
from ..io.formats import ALL, EXTENSIONS, FORMATS, to_json_line, to_srt, to_tsv_line, to_vtt
from ..progress import BatchProgress
from ..recognizer import RecognizerConfig
from ..results import LiveEvent
from .common import (add_model_options, add_raw_option, make_folder, output_file, positive_int, print_result,
                     recognizer_config, show_warnings, to_stderr, write_output)


def add_parser(commands: argparse._SubParsersAction) -> None:
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
               "  arecord -f S16_LE -r 16000 -c 1 | speechlstm transcribe --mode streaming --raw 16000 -\n"
               "  speechlstm transcribe --mode streaming --chunk-ms 200 talk.flac\n"
               "  speechlstm transcribe --format srt --output-dir subs/ a.mp3 b.ogg\n"
               "  speechlstm transcribe --format all --output-dir out/ lecture.m4a\n"
               "  speechlstm transcribe --jobs 0 --recursive --resume -o archive.jsonl /archive/\n"
               "  speechlstm transcribe --ray auto --manifest files.txt -o /shared/out.jsonl",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", type=Path, metavar="FILE",
                        help="audio files; '-' for standard input; folders with --recursive")
    parser.add_argument("--mode", choices=MODES, default=RecognizerConfig.mode,
                        help="offline: full BiLSTM over each file (over segments of at most 30 s cut at "
                             "pauses when it is longer than a minute); streaming: the chunked model fed "
                             "block by block as a live source would; both in bounded memory for long files")
    parser.add_argument("--chunk-ms", type=positive_int,
                        help=f"block size fed to the stream in streaming mode (default: {StreamingConfig.chunk_ms}; "
                             "does not change the text); ignored, with a warning, in offline mode")
    parser.add_argument("--raw", type=positive_int, metavar="RATE",
                        help="standard input ('-', the only input) is headerless 16-bit little-endian mono PCM at "
                             "RATE Hz (arecord -f S16_LE -c 1, sox -t raw, ffmpeg -f s16le -ac 1); needs --mode "
                             "streaming: live captions, each utterance's final result on stdout (a line of text, or "
                             "a JSON object as 'speechlstm live' writes) as soon as its endpoint is found, and on a "
                             "terminal the partial text on stderr, as sherpa-onnx's microphone examples show it")
    parser.add_argument("--format", choices=(*FORMATS, "all", "parquet"), default=None,
                        help="text (default; json with --resume or --ray): the transcript, one line per input "
                             "(empty for a file that failed), whether one input or many; tsv: PATH<TAB>TEXT per "
                             "input (a backslash, tab or newline in PATH written \\\\, \\t, \\n); json: one "
                             "object per input per line (path, text, duration, words; path and error for a file that "
                             "failed with --resume or --ray); srt or vtt: subtitles; all: txt, json, srt and "
                             "vtt files (needs --output-dir); parquet: with --ray, Parquet shards and file")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("-o", "--output", type=Path,
                        help="write all results to this file instead of stdout, checked before the first input: "
                             "a file is replaced when the batch ends (after Ctrl-C or a failure: by the results "
                             "finished before it); a link writes the file it names; a device, FIFO or "
                             "/dev/stdout is written as results come")
    output.add_argument("--output-dir", type=Path,
                        help="write STEM.EXT per input into this folder (created if missing); inputs with "
                             "the same stem get STEM-1, STEM-2... in input order (a/x.flac b/x.wav: x.txt "
                             "x-1.txt); standard input is named stdin")
    add_raw_option(parser)
    add_model_options(parser)
    add_batch_options(parser)
    parser.set_defaults(run=run)


def add_batch_options(parser: argparse.ArgumentParser) -> None:
    """The options of ``speechlstm transcribe`` for archives: workers, input lists, resuming, Ray."""
    group = parser.add_argument_group("batch", "many files: all cores, input lists, interruption, a cluster")
    group.add_argument("--jobs", type=_jobs, default=None, metavar="N",
                       help="worker processes, each loading the model once and running it on --threads "
                            "threads (default 1): N files are transcribed at a time, with the same text as "
                            "--jobs 1 and results in input order; 0: one per core (with --ray: the actor "
                            "pool size, default one per CPU of the cluster)")
    group.add_argument("--manifest", type=Path, action="append", default=[], metavar="LIST",
                       help="read the inputs from LIST (repeatable), after any FILEs: a TSV manifest with a "
                            "path column (speechlstm eval's and training's; a duration column feeds the "
                            "progress bar) or a plain list, one path a line; relative paths are relative to LIST")
    group.add_argument("--recursive", action="store_true",
                       help="a folder among the FILEs stands for every audio file under it (by extension: "
                            ".wav .flac .mp3 .ogg .opus .m4a ...), in sorted order")
    group.add_argument("--resume", action="store_true",
                       help="with -o FILE: append one JSON line per file as it finishes (flushed whole; a "
                            "failed file as {path, error}) and skip the files FILE already holds a text for, "
                            "so a killed or failed run continues where it stopped; lines come in the order "
                            "files finish, and the last line of a path counts")
    group.add_argument("--skip-existing", action="store_true",
                       help="with --output-dir, in any format: skip the inputs whose output files (all four with "
                            "--format all) already exist there, so an interrupted batch continues where it "
                            "stopped; output files are written whole, so one that exists is complete")
    group.add_argument("--ray", metavar="ADDRESS",
                       help="run on a Ray cluster with Ray Data (pip install 'speechlstm[ray]'): 'auto' joins "
                            "the cluster this machine belongs to (ray start), 'local' starts one here, or a "
                            "head address; an actor pool of recognizers (the model loaded once per actor) "
                            "writes JSONL (or --format parquet) shards, merged into -o in input order")
    group.add_argument("--shards-dir", type=Path, metavar="DIR",
                       help="with --ray: where the workers write their shards (default: OUTPUT.shards/ beside "
                            "-o); on a cluster, storage every node sees at the same path")


def _jobs(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (one per core) or more, got {text}")
    return value


def _render(fmt: str, transcript) -> str:
    if fmt == "json":
        return to_json_line(transcript.to_dict())
    if fmt == "srt":
        return to_srt(transcript.result.words, transcript.result.tokens)
    if fmt == "vtt":
        return to_vtt(transcript.result.words, transcript.result.tokens)
    if fmt == "tsv":
        return to_tsv_line(transcript.path, transcript.readable)
    return transcript.readable + "\n"


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
    (output files keep the files finished before it); main then exits 130."""
    progress.message(f"speechlstm: partial result of {partial.path} (first {partial.duration:.1f} s)")
    if not (args.output or args.output_dir) and args.format in ("text", "tsv", "json"):
        print_result(progress, _render(args.format, partial))


def _check_batch_options(args: argparse.Namespace) -> None:
    """What --resume, --jobs and --ray need: a JSON-lines (or Parquet) file to write, files to read."""
    batch = args.resume or args.ray
    if args.format is None:
        args.format = "json" if batch else "text"
    if args.resume and not args.output:
        raise UsageError("--resume needs -o FILE: the JSON-lines file it appends to and reads back")
    if args.ray and not args.output:
        raise UsageError("--ray needs -o FILE: the merged output (shards go to --shards-dir)")
    allowed = ("json", "parquet") if args.ray and not args.resume else ("json",)
    if batch and args.format not in allowed:
        raise UsageError(f"--format {args.format} does not go with {'--resume' if args.resume else '--ray'}: it "
                       f"writes {' or '.join(allowed)}")
    if args.format == "parquet" and not args.ray:
        raise UsageError("--format parquet needs --ray (Parquet is written by Ray Data)")
    if args.shards_dir and not args.ray:
        raise UsageError("--shards-dir goes with --ray")
    if args.jobs is None:
        args.jobs = 0 if args.ray else 1
    if (args.jobs != 1 or args.ray) and any(str(path) == STDIN for path in args.files):
        raise UsageError("standard input ('-') can only be read with --jobs 1, without --ray")


def _check_transcribe_options(args: argparse.Namespace) -> None:
    """Usage and output problems, found before any model is loaded or input read."""
    _check_batch_options(args)
    if args.format in ("srt", "vtt") and len(args.files) > 1 and not args.output_dir:
        raise UsageError(f"--format {args.format} with several files needs --output-dir")
    if args.format == "all" and not args.output_dir:
        raise UsageError("--format all writes one file per format: it needs --output-dir")
    if args.chunk_ms and args.mode == "offline":
        warnings.warn("--chunk-ms only applies to --mode streaming; offline mode reads each file whole")
    if args.output and not args.output.parent.is_dir():
        raise OutputError(f"cannot write {args.output}: output directory does not exist: {args.output.parent}")
    if args.skip_existing and not args.output_dir:
        raise UsageError("--skip-existing goes with --output-dir (with -o FILE, --resume continues a batch)")
    if args.raw:
        _check_raw_options(args)
    if args.output_dir:
        make_folder(args.output_dir)


def _check_raw_options(args: argparse.Namespace) -> None:
    """--raw RATE: live captions of standard input, printed as they come."""
    if [str(path) for path in args.files] != [STDIN]:
        raise UsageError("--raw reads standard input: give '-' as the only input")
    if args.mode != "streaming":
        raise UsageError("--raw needs --mode streaming (live captions as the audio comes); offline mode reads "
                       "whole files: give it a WAV (sox -t raw -r RATE -e signed -b 16 -c 1 - -t wav -)")
    if args.format not in ("text", "json"):
        raise UsageError(f"--format {args.format} does not go with --raw: it prints text or json lines")
    if args.output or args.output_dir:
        raise UsageError("--raw prints each result to standard output as it comes: redirect it, or pipe it "
                       "through tee")
    if not MIN_SAMPLE_RATE <= args.raw <= MAX_SAMPLE_RATE:
        raise UsageError(f"--raw {args.raw}: the sample rate must be {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz")


def run(args: argparse.Namespace) -> int:
    from ..batch import ResumeLog, collect_inputs

    inputs = collect_inputs(args.files, args.manifest, args.recursive)
    if not inputs:
        raise UsageError("no input files: give FILE..., --manifest LIST or a folder with --recursive")
    if not args.recursive and all(os.path.isdir(item.path) for item in inputs):
        raise UsageError(f"{os.fsdecode(inputs[0].path)}: is a folder; --recursive transcribes the audio files "
                         f"under it")
    args.files = [item.path for item in inputs]
    _check_transcribe_options(args)
    config = recognizer_config(args, mode=args.mode, **({"chunk_ms": args.chunk_ms} if args.chunk_ms else {}))
    if args.raw:
        return _caption_stdin(args, config)
    if args.skip_existing:
        inputs, stems = _skip_existing(args, inputs)
        return _transcribe_inputs(args, config, inputs, stems=stems) if inputs else 0
    if not args.resume:
        return _run_on_ray(args, config, inputs) if args.ray else _transcribe_inputs(args, config, inputs)
    try:
        resume = ResumeLog(args.output).open()
    except OSError as error:
        raise OutputError(f"cannot write {args.output}: {error.strerror or error}") from None
    with resume:
        todo = [item for item in inputs if os.fsdecode(item.path) not in resume.done]
        if len(todo) < len(inputs):
            to_stderr(f"speechlstm: {args.output} already holds {len(inputs) - len(todo)} of the "
                      f"{len(inputs)} files; transcribing the other {len(todo)}")
        if not todo:
            return 0
        return _run_on_ray(args, config, todo, resume) if args.ray else _transcribe_inputs(args, config, todo, resume)


def _skip_existing(args: argparse.Namespace, inputs: list) -> tuple[list, list[str]]:
    """--skip-existing: the inputs whose outputs are not all in --output-dir yet, with their stems
    (named as in the whole batch, so that a rerun writes the same names)."""
    formats = ALL if args.format == "all" else (args.format,)
    todo = [(item, stem) for item, stem in zip(inputs, output_stems([item.path for item in inputs]))
            if not all((args.output_dir / f"{stem}.{EXTENSIONS[fmt]}").exists() for fmt in formats)]
    if len(todo) < len(inputs):
        to_stderr(f"speechlstm: skipping {len(inputs) - len(todo)} of the {len(inputs)} inputs: their outputs "
                  f"are in {args.output_dir} already; transcribing the other {len(todo)}")
    return [item for item, _ in todo], [stem for _, stem in todo]


def _caption_stdin(args: argparse.Namespace, config) -> int:
    """--raw: each utterance of standard input's PCM printed at its endpoint (:class:`speechlstm.live.LiveSession`,
    the loop of ``speechlstm live``); Ctrl-C prints the text of the utterance so far and exits 130."""
    from ..live import LiveSession
    from ..recognizer import Recognizer

    session = LiveSession(Recognizer.from_config(config))
    partials = sys.stderr.isatty()
    try:
        for event in session.events(raw_pcm_blocks(sys.stdin.buffer, args.raw)):
            _show_caption(event, args.format, partials)
    except KeyboardInterrupt:
        utterance = session.utterance
        if utterance is not None and utterance.partial:
            _show_caption(LiveEvent("final", utterance.partial, utterance.offset, session.seconds), args.format,
                          partials)
        raise
    return 0


def _show_caption(event: LiveEvent, fmt: str, partials: bool) -> None:
    """A final on stdout, flushed at once; a partial redraws one line of the terminal on stderr."""
    if partials:
        width = max(1, shutil.get_terminal_size().columns - 1)
        sys.stderr.write("\r\x1b[K" + (event.text[-width:] if event.kind == "partial" else ""))
        sys.stderr.flush()
    if event.kind == "final":
        print_result(None, to_json_line(event.to_dict()) if fmt == "json" else event.text + "\n")


def _run_on_ray(args: argparse.Namespace, config, inputs: list, resume=None) -> int:
    """--ray: decode on a Ray cluster (speechlstm.ray_batch), then write the merged output: -o in
    input order, or appended to --resume's log. Ray draws its own progress bars."""
    from ..ray_batch import record, transcribe_on_ray, write_parquet
    from ..recognizer import Recognizer

    Recognizer.from_config(config)  # a model or decoder problem fails here, before a cluster starts
    shards = args.shards_dir or args.output.with_name(args.output.name + ".shards")
    with output_file(args.output) if args.format == "json" and not resume else nullcontext() as output:
        rows = transcribe_on_ray(config, [os.fsdecode(item.path) for item in inputs], args.ray, args.jobs, shards,
                                 args.format)
        failures = _show_ray_rows(rows, resume)
        if output:
            output.write("".join(to_json_line(record(row)) for row in rows))
    if args.format == "parquet":
        try:
            write_parquet(rows, args.output)
        except OSError as error:
            raise OutputError(f"cannot write {args.output}: {error.strerror or error}") from None
    return InputError.exit_code if failures else 0


def _show_ray_rows(rows: list[dict], resume) -> int:
    """Each row's warnings and error on stderr (and its record in --resume's log); the failures."""
    from ..ray_batch import record

    failures = 0
    for row in rows:
        for warning in row["warnings"]:
            to_stderr(f"speechlstm: warning: {warning}")
        if row["error"] is not None:
            failures += 1
            to_stderr(f"speechlstm: error: {row['error']}")
        if resume:
            _append(resume, record(row))
    return failures


def _transcribe_inputs(args: argparse.Namespace, config, inputs: list, resume=None,
                       stems: list[str] | None = None) -> int:
    """Transcribe ``inputs`` (batch.Input) in this process or in --jobs worker processes and write
    each result where the options say: stdout and -o in input order; --resume's log and
    --output-dir files (named ``stems``, default :func:`output_stems`) as each file finishes. -o is
    opened before the first file and keeps the files finished before an interruption or a failure."""
    with output_file(args.output) if args.output and not resume else nullcontext() as output:
        return _transcribe_into(args, config, inputs, resume, output, stems)


def _transcribe_into(args: argparse.Namespace, config, inputs: list, resume, output,
                     stems: list[str] | None) -> int:
    from contextlib import closing

    from ..batch import in_input_order, transcribe_batch
    from ..recognizer import Interrupted

    paths = [os.fsdecode(item.path) for item in inputs]
    formats = ALL if args.format == "all" else (args.format,)
    if args.output_dir and stems is None:
        stems = output_stems([item.path for item in inputs])
    on_terminal = sys.stderr.isatty()
    durations = [item.duration if item.duration is not None or not on_terminal else audio_duration(item.path)
                 for item in inputs]
    failures = 0
    with BatchProgress(durations) as progress, show_warnings(progress.message), \
            closing(transcribe_batch(config, paths, args.jobs,
                                     progress.decoded if progress.enabled else None)) as outcomes:
        emit = output.write if output else lambda text: print_result(progress, text)
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
                    progress.done(duration or 0.0, index=outcome.index)
                    if args.format == "text" and not (resume or stems):
                        emit("\n")  # line N stays input N's
                    continue
                progress.done(transcript.duration, index=outcome.index)
                if resume:
                    continue
                if stems:
                    for fmt in formats:
                        write_output(args.output_dir / f"{stems[outcome.index]}.{EXTENSIONS[fmt]}",
                                     _render(fmt, transcript))
                else:
                    emit(_render(args.format, transcript))
        except Interrupted as interrupt:
            _show_partial(progress, args, interrupt.partial)
            raise
    return InputError.exit_code if failures else 0


def _append(resume, record: dict) -> None:
    try:
        resume.append(record)
    except OSError as error:
        raise OutputError(f"cannot write {resume.path}: {error.strerror or error}") from None
