#!/usr/bin/env python3
"""Baseline: decode a manifest with PocketSphinx's bundled US English model and score it.

Every file listed in the manifest is decoded with ``pocketsphinx.Decoder``'s default
configuration (the en-us acoustic model, its 3-gram language model and dictionary),
one utterance per file. References and hypotheses are normalized with
``speechlstm.text.normalize_text`` and scored with ``speechlstm.scoring.score`` so the
figures are directly comparable with the project's own evaluation.

RTF is decoding time divided by audio duration; it counts only the decoder calls, not
reading or resampling audio, and PocketSphinx runs on a single CPU thread.
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
DEFAULT_MANIFEST = DEV


def read_pairs(path: Path, limit: int | None) -> list[tuple[Path, str]]:
    """(audio path, reference text) pairs of a manifest."""
    return [(row.path, row.text) for row in read_manifest(path, columns=("path", "text"))[:limit]]


def load_audio(path: Path) -> np.ndarray:
    """Any file speechlstm reads, as 16 kHz mono int16 samples (what PocketSphinx takes)."""
    return np.clip(np.round(read_audio(path, RATE) * 32768.0), -32768, 32767).astype(np.int16)


def decode(decoder: Any, audio: np.ndarray) -> str:
    """Decode one whole utterance and return PocketSphinx's best hypothesis."""
    decoder.start_utt()
    decoder.process_raw(audio.tobytes(), full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return hyp.hypstr if hyp is not None else ""


def evaluate(manifest: Path, limit: int | None, verbose: bool) -> dict[str, Any]:
    """Decode every file of the manifest and return the scores and timing figures."""
    from pocketsphinx import Decoder

    items = read_pairs(manifest, limit)
    decoder = Decoder(loglevel="FATAL")
    refs: list[str] = []
    hyps: list[str] = []
    audio_seconds = 0.0
    decode_seconds = 0.0
    for path, text in items:
        audio = load_audio(path)
        start = time.perf_counter()
        hyp = decode(decoder, audio)
        decode_seconds += time.perf_counter() - start
        audio_seconds += len(audio) / RATE
        refs.append(normalize_text(text))
        hyps.append(normalize_text(hyp))
        if verbose:
            print(f"{path.name}\n  REF: {refs[-1]}\n  HYP: {hyps[-1]}")
    result = score(refs, hyps)
    result.update({
        "system": "pocketsphinx default en-us",
        "manifest": str(manifest),
        "files": len(items),
        "audio_hours": audio_seconds / 3600.0,
        "decode_seconds": decode_seconds,
        "rtf": decode_seconds / audio_seconds if audio_seconds else float("nan"),
    })
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description="Decode a manifest with PocketSphinx's bundled US English model and "
                    "report WER, CER (with substitutions, deletions, insertions), "
                    "number of files, audio hours and real-time factor.",
        epilog="Manifests are TSV files with a header including `path` (relative to the "
               "manifest's folder) and `text` columns.",
    )
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST,
                        help="TSV manifest to decode (default: %(default)s)")
    parser.add_argument("--limit", type=int, metavar="N",
                        help="decode only the first N files of the manifest")
    parser.add_argument("--json", type=Path, metavar="OUT",
                        help="also write the figures as JSON to OUT")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print each reference and hypothesis")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    return args


def main(argv: list[str] | None = None) -> None:
    """Run the comparison and print (and optionally save) the figures."""
    args = parse_args(argv)
    try:
        import pocketsphinx  # noqa: F401
    except ImportError:
        sys.exit("compare_pocketsphinx.py: error: needs the pocketsphinx package (pip install pocketsphinx)")
    result = evaluate(args.manifest, args.limit, args.verbose)
    print(f"manifest: {result['manifest']}")
    print(f"files: {result['files']}  audio: {result['audio_hours']:.3f} h  "
          f"reference words: {result['reference_words']}")
    print(f"WER: {100 * result['wer']:.2f}%  (S={result['substitutions']} "
          f"D={result['deletions']} I={result['insertions']})")
    print(f"CER: {100 * result['cer']:.2f}%")
    print(f"RTF: {result['rtf']:.3f}  ({result['decode_seconds']:.1f} s decoding)")
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
