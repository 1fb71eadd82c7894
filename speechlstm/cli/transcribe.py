"""``speechlstm transcribe``: audio files to text, JSON lines or subtitles."""
from __future__ import annotations

import argparse
import sys
import warnings
from dataclasses import replace
from pathlib import Path

from ..io.audio import STDIN, AudioError, audio_duration
from ..io.formats import ALL, EXTENSIONS, FORMATS, to_json_line, to_srt, to_vtt
from ..progress import BatchProgress
from .common import (EXIT_INPUT, EXIT_OUTPUT, EXIT_USAGE, CliError, make_folder, positive_int, print_result,
                     write_output, add_model_options, recognizer_from_args, show_warnings)


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "transcribe", help="transcribe audio files",
        description="Transcribe audio files: WAV, FLAC, OGG/Opus, MP3 (libsndfile) and, through FFmpeg "
                    "(PyAV), M4A/AAC, WebM, MP4 and other containers, at any sample rate and channel count. "
                    "'-' reads standard input; pipes and devices work too. A file that fails gets a "
                    "one-line error; the others are still transcribed and the exit code is 1. A file "
                    "holding no samples transcribes, like silence, to empty text (with a warning). On a "
                    "terminal, stderr shows a progress bar (files, audio time, ETA).",
        epilog="examples:\n  speechlstm transcribe samples/*.wav\n"
               "  cat talk.wav | speechlstm transcribe -\n"
               "  speechlstm transcribe --mode streaming --chunk-ms 200 talk.flac\n"
               "  speechlstm transcribe --format srt --output-dir subs/ a.mp3 b.ogg\n"
               "  speechlstm transcribe --format all --output-dir out/ lecture.m4a",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="audio files; '-' for standard input")
    parser.add_argument("--mode", choices=("offline", "streaming"), default="offline",
                        help="offline: full BiLSTM over each file (over segments of at most 30 s cut at "
                             "pauses when it is longer than a minute); streaming: the chunked model fed "
                             "block by block as a live source would; both in bounded memory for long files")
    parser.add_argument("--chunk-ms", type=positive_int,
                        help="block size fed to the stream in streaming mode (default: 100; does not change "
                             "the text); ignored, with a warning, in offline mode")
    parser.add_argument("--format", choices=(*FORMATS, "all"), default="text",
                        help="text: the transcript, one line per input, whether one input or many; tsv: "
                             "PATH<TAB>TEXT per input; json: one object per input per line (path, text, "
                             "duration, words); srt or vtt: subtitles; all: txt, json, srt and vtt files "
                             "(needs --output-dir)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("-o", "--output", type=Path, help="write all results to this file instead of stdout")
    output.add_argument("--output-dir", type=Path,
                        help="write STEM.EXT per input into this folder (created if missing); inputs with "
                             "the same stem get STEM-1, STEM-2... in input order (a/x.flac b/x.wav: x.txt "
                             "x-1.txt); standard input is named stdin")
    add_model_options(parser)
    parser.set_defaults(run=run)


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
        print_result(progress, _render(args.format, partial))


def _check_transcribe_options(args: argparse.Namespace) -> None:
    """Usage and output problems, found before any model is loaded or input read."""
    if args.format in ("srt", "vtt") and len(args.files) > 1 and not args.output_dir:
        raise CliError(f"--format {args.format} with several files needs --output-dir", EXIT_USAGE)
    if args.format == "all" and not args.output_dir:
        raise CliError("--format all writes one file per format: it needs --output-dir", EXIT_USAGE)
    if args.chunk_ms and args.mode == "offline":
        warnings.warn("--chunk-ms only applies to --mode streaming; offline mode reads each file whole")
    if args.output and not args.output.parent.is_dir():
        raise CliError(f"output directory does not exist: {args.output.parent}", EXIT_OUTPUT)
    if args.output_dir:
        make_folder(args.output_dir)


def run(args: argparse.Namespace) -> int:
    from ..recognizer import Interrupted

    _check_transcribe_options(args)
    recognizer = recognizer_from_args(args, mode=args.mode, **({"chunk_ms": args.chunk_ms} if args.chunk_ms else {}))
    formats = ALL if args.format == "all" else (args.format,)
    stems = output_stems(args.files) if args.output_dir else [None] * len(args.files)
    collected, failures = [], 0
    durations = [audio_duration(path) for path in args.files] if sys.stderr.isatty() else [None] * len(args.files)
    with BatchProgress(durations) as progress, show_warnings(progress.message):
        for path, stem, duration in zip(args.files, stems, durations):
            try:
                transcript = recognizer.transcribe_file(path)
            except AudioError as error:
                failures += 1
                progress.message(f"speechlstm: error: {error}")
                progress.done(duration or 0.0)
                continue
            except Interrupted as interrupt:
                _show_partial(progress, args, replace(interrupt.partial, path=str(path)))
                raise
            progress.done(transcript.duration, known=duration is not None)
            if stem is not None:
                for fmt in formats:
                    write_output(args.output_dir / f"{stem}.{EXTENSIONS[fmt]}", _render(fmt, transcript))
            elif args.output:
                collected.append(_render(args.format, transcript))
            else:
                print_result(progress, _render(args.format, transcript))
    if args.output and collected:
        write_output(args.output, "".join(collected))
    return EXIT_INPUT if failures else 0
