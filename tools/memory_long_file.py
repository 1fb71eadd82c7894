#!/usr/bin/env python3
"""Peak memory of streaming transcription of long files: it must not grow with length.

Synthesizes 5, 20 and 60 minute 16 kHz WAV files (a samples/ clip tiled end to end, each
copy with fresh low-level noise so no two blocks are identical) into a temporary folder,
written a block at a time so the tool itself stays small. Each file is transcribed by
``speechlstm transcribe --mode streaming`` in its own subprocess; the peak resident memory
is that child's ``ru_maxrss`` (from ``os.wait4``, i.e. the per-child rusage that
``resource.getrusage(RUSAGE_CHILDREN)`` accumulates over all children).

    python tools/memory_long_file.py --model models/speechlstm-en.safetensors --threads 1
    python tools/memory_long_file.py --minutes 1 5 --model tiny.safetensors
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from speechlstm.audio import read_audio  # noqa: E402
from speechlstm.bundle import DEFAULT_BUNDLE  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
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


def transcribe_peak(wav: Path, model: Path, threads: int) -> dict:
    """Transcribe ``wav`` in a child process; its exit code, wall time and peak RSS in MB."""
    command = [sys.executable, "-m", "speechlstm", "transcribe", "--mode", "streaming", "--threads", str(threads),
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
    parser.add_argument("--tolerance-mb", type=float, default=32.0,
                        help="largest peak-RSS growth from the shortest to the longest file that still passes")
    args = parser.parse_args(argv)
    if not args.model.is_file():
        parser.error(f"model bundle not found: {args.model} (pass --model)")
    rows = []
    with tempfile.TemporaryDirectory(prefix="speechlstm-memory-") as scratch:
        for minutes in sorted(args.minutes):
            wav = synthesize(args.clip, minutes, Path(scratch) / f"long_{minutes:g}min.wav")
            row = {"minutes": minutes, "file_mb": wav.stat().st_size / 2**20, **transcribe_peak(wav, args.model,
                                                                                                 args.threads)}
            row["rtf"] = row["wall_s"] / (minutes * 60)
            rows.append(row)
            wav.unlink()
            print(f"{minutes:g} min: peak RSS {row['peak_rss_mb']:.0f} MB, {row['wall_s']:.1f} s", file=sys.stderr)
    print(f"model {args.model.name}, streaming mode, {args.threads} thread(s), clip {args.clip.name}\n")
    print("| audio (min) | WAV size (MB) | peak RSS (MB) | wall (s) | RTF incl. start-up | exit |")
    print("|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['minutes']:g} | {row['file_mb']:.0f} | {row['peak_rss_mb']:.0f} | {row['wall_s']:.1f} | "
              f"{row['rtf']:.4f} | {row['exit_code']} |")
    growth = rows[-1]["peak_rss_mb"] - rows[0]["peak_rss_mb"]
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\ngrowth from {rows[0]['minutes']:g} to {rows[-1]['minutes']:g} min: {growth:+.0f} MB "
          f"(tolerance {args.tolerance_mb:g} MB); this tool's own peak: {own:.0f} MB")
    failed = any(row["exit_code"] for row in rows) or growth > args.tolerance_mb
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
