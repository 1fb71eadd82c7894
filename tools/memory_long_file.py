#!/usr/bin/env python3
"""Peak memory of transcribing long files, streaming and offline: it must not grow with length.

Synthesizes 5, 20 and 60 minute 16 kHz WAV files (a samples/ clip tiled end to end, each
copy with fresh low-level noise so no two blocks are identical) into a temporary folder,
written a block at a time so the tool itself stays small. Each file is transcribed by
``speechlstm transcribe --mode MODE`` in its own subprocess, once per mode; the peak resident
memory is that child's ``ru_maxrss`` (from ``os.wait4``, i.e. the per-child rusage that
``resource.getrusage(RUSAGE_CHILDREN)`` accumulates over all children).

    python tools/memory_long_file.py --model models/speechlstm-en.safetensors --threads 1
    python tools/memory_long_file.py --minutes 1 5 --mode offline --model tiny.safetensors
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from benchlib import ROOT
from speechlstm.model_files import DEFAULT_BUNDLE
from speechlstm.io.audio import read_audio
RATE = 16000


def synthesize(clip: Path, minutes: float, target: Path, seed: int = 0) -> Path:
    """Write ``minutes`` of ``clip`` repeated, plus noise at about -40 dBFS, to ``target``."""
    speech = read_audio(clip, RATE)
    rng = np.random.default_rng(seed)
    remaining = int(minutes * 60 * RATE)
    with sf.SoundFile(target, "w", RATE, 1, "PCM_16") as out:
        while remaining > 0:
            piece = speech[:remaining] + rng.standard_normal(min(remaining, len(speech))).astype(np.float32) * 0.01
            out.write(np.clip(piece, -1.0, 1.0))
            remaining -= len(piece)
    return target


def transcribe_peak(wav: Path, model: Path, threads: int, mode: str) -> dict:
    """Transcribe ``wav`` in a child process; its exit code, wall time and peak RSS in MB."""
    command = [sys.executable, "-m", "speechlstm", "transcribe", "--mode", mode, "--threads", str(threads),
               "--model", str(model), "-o", str(wav.with_suffix(".txt")), str(wav)]
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    return {"exit_code": child.returncode, "wall_s": seconds, "peak_rss_mb": usage.ru_maxrss / 1024}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_BUNDLE, help="model bundle (default: the shipped one)")
    parser.add_argument("--minutes", type=float, nargs="+", default=[5, 20, 60])
    parser.add_argument("--clip", type=Path, default=ROOT / "samples" / "three_utterances.wav")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--mode", nargs="+", choices=("streaming", "offline"), default=["streaming", "offline"])
    parser.add_argument("--tolerance-mb", type=float, default=32.0,
                        help="largest peak-RSS growth from the shortest to the longest file that still passes")
    args = parser.parse_args(argv)
    if not args.model.is_file():
        parser.error(f"model bundle not found: {args.model} (pass --model)")
    rows = []
    with tempfile.TemporaryDirectory(prefix="speechlstm-memory-") as scratch:
        for minutes in sorted(args.minutes):
            wav = synthesize(args.clip, minutes, Path(scratch) / f"long_{minutes:g}min.wav")
            for mode in args.mode:
                row = {"mode": mode, "minutes": minutes, "file_mb": wav.stat().st_size / 2**20,
                       **transcribe_peak(wav, args.model, args.threads, mode)}
                row["rtf"] = row["wall_s"] / (minutes * 60)
                rows.append(row)
                print(f"{mode} {minutes:g} min: peak RSS {row['peak_rss_mb']:.0f} MB, {row['wall_s']:.1f} s",
                      file=sys.stderr)
            wav.unlink()
    print(f"model {args.model.name}, {args.threads} thread(s), clip {args.clip.name}\n")
    print("| mode | audio (min) | WAV size (MB) | peak RSS (MB) | wall (s) | RTF incl. start-up | exit |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in sorted(rows, key=lambda row: args.mode.index(row["mode"])):
        print(f"| {row['mode']} | {row['minutes']:g} | {row['file_mb']:.0f} | {row['peak_rss_mb']:.0f} | "
              f"{row['wall_s']:.1f} | {row['rtf']:.4f} | {row['exit_code']} |")
    failed = any(row["exit_code"] for row in rows)
    print()
    for mode in args.mode:
        peaks = [row for row in rows if row["mode"] == mode]
        growth = peaks[-1]["peak_rss_mb"] - peaks[0]["peak_rss_mb"]
        failed |= growth > args.tolerance_mb
        print(f"{mode}: growth from {peaks[0]['minutes']:g} to {peaks[-1]['minutes']:g} min: {growth:+.0f} MB "
              f"(tolerance {args.tolerance_mb:g} MB)")
    print(f"this tool's own peak: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
