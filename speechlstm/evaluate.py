"""Scoring a model on a manifest: WER and CER, offline and streaming, with edit counts and RTF."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from .data import read_manifest
from .recognizer import Recognizer
from .scoring import score


def evaluate_manifest(recognizer: Recognizer, manifest: str | Path, modes: tuple[str, ...] = ("offline", "streaming"),
                      limit: int | None = None, progress: bool = False) -> dict[str, dict]:
    """Transcribe every utterance of ``manifest`` in each mode and score it against its text."""
    rows = read_manifest(manifest)[:limit]
    figures = {}
    for mode in modes:
        runner = recognizer.with_options(mode=mode)
        hypotheses, compute, audio = [], 0.0, 0.0
        for index, row in enumerate(rows, start=1):
            start = time.perf_counter()
            transcript = runner.transcribe_file(row.path)
            compute += time.perf_counter() - start
            audio += transcript.duration
            hypotheses.append(transcript.text)
            if progress:
                print(f"\r{mode}: {index}/{len(rows)}", end="", file=sys.stderr, flush=True)
        if progress:
            print(file=sys.stderr)
        figures[mode] = {**score([r.text for r in rows], hypotheses), "rtf": compute / max(audio, 1e-9),
                         "audio_hours": audio / 3600}
    return figures


def format_table(figures: dict[str, dict]) -> str:
    """A Markdown table of the figures, one row per mode."""
    lines = ["| mode | WER % | CER % | sub | del | ins | ref words | RTF |", "|---|---|---|---|---|---|---|---|"]
    for mode, f in figures.items():
        lines.append(f"| {mode} | {100 * f['wer']:.2f} | {100 * f['cer']:.2f} | {f['substitutions']} | "
                     f"{f['deletions']} | {f['insertions']} | {f['reference_words']} | {f['rtf']:.3f} |")
    return "\n".join(lines)
