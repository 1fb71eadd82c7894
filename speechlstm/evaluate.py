"""Scoring a model on a manifest: WER and CER, offline and streaming, with edit counts and RTF.

An utterance whose audio cannot be read is reported once and left out of every mode's
figures (``skipped`` counts them), so one missing file costs its own figures, not the run's.
With ``out_dir``, each mode also writes icefall-style ``recogs-MODE.txt`` and ``errs-MODE.txt``
(:mod:`speechlstm.error_stats`) for diagnosing the model utterance by utterance.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from .config import MODES
from .error_stats import errs_text, recogs_text
from .io.atomic import atomic_write
from .io.audio import AudioError
from .io.manifest import Utterance, read_manifest
from .progress import BatchProgress
from .recognizer import Recognizer
from .scoring import score


def utterance_ids(rows: list[Utterance], manifest: Path) -> list[str]:
    """Each utterance's audio path without its extension, relative to the manifest's folder, or,
    where a path lies outside it (an absolute one), to the folder all the audio shares."""
    folder = manifest.parent
    if any(os.path.relpath(row.path, folder).split(os.sep)[0] == os.pardir for row in rows):
        folder = Path(os.path.commonpath([os.path.abspath(row.path.parent) for row in rows]))
    return [os.path.splitext(os.path.relpath(os.path.abspath(row.path), os.path.abspath(folder)))[0] for row in rows]


def evaluate_manifest(recognizer: Recognizer, manifest: str | Path, modes: tuple[str, ...] = MODES,
                      limit: int | None = None, out_dir: str | Path | None = None) -> dict[str, dict]:
    """Transcribe every utterance of ``manifest`` in each mode and score it against its text.

    Unreadable audio is reported on stderr (above the progress bar) and skipped.
    """
    manifest = Path(manifest)
    rows = read_manifest(manifest, columns=("path", "text"))[:limit]
    ids = utterance_ids(rows, manifest)
    failed: set[int] = set()
    figures = {}
    for mode in modes:
        kept, hypotheses, compute, audio = [], [], 0.0, 0.0
        with BatchProgress([row.duration or None for row in rows], label=f"{mode} ") as progress:
            for index, row in enumerate(rows):
                if index in failed:
                    progress.done(row.duration)
                    continue
                start = time.perf_counter()
                try:
                    transcript = recognizer.transcribe_file(row.path, mode=mode)
                except AudioError as error:
                    failed.add(index)
                    progress.message(f"speechlstm: error: {error} (skipped)")
                    progress.done(row.duration)
                    continue
                compute += time.perf_counter() - start
                audio += transcript.duration
                kept.append(index)
                hypotheses.append(transcript.text)
                progress.done(transcript.duration, known=bool(row.duration))
        refs, kept_ids = [rows[i].text for i in kept], [ids[i] for i in kept]
        if not kept:
            raise AudioError(f"{manifest}: none of its {len(rows)} utterances could be read")
        figures[mode] = {**score(refs, hypotheses), "rtf": compute / max(audio, 1e-9), "audio_hours": audio / 3600,
                         "skipped": len(failed)}
        if out_dir is not None:
            atomic_write(Path(out_dir) / f"recogs-{mode}.txt", recogs_text(kept_ids, refs, hypotheses))
            atomic_write(Path(out_dir) / f"errs-{mode}.txt", errs_text(kept_ids, refs, hypotheses))
    return figures


def format_table(figures: dict[str, dict]) -> str:
    """A Markdown table of the figures, one row per mode."""
    lines = ["| mode | WER % | CER % | sub | del | ins | ref words | RTF |", "|---|---|---|---|---|---|---|---|"]
    for mode, f in figures.items():
        lines.append(f"| {mode} | {100 * f['wer']:.2f} | {100 * f['cer']:.2f} | {f['substitutions']} | "
                     f"{f['deletions']} | {f['insertions']} | {f['reference_words']} | {f['rtf']:.3f} |")
    return "\n".join(lines)
