#!/usr/bin/env python3
"""Show that streaming beam search costs the same per chunk late in a long utterance as early.

Concatenates dev clips into one 10 s and one 60 s utterance, runs the streaming model once to
get its log-probabilities, then feeds them to the beam decoder one model chunk at a time,
reading the partial result after every chunk as a live caller would. Prints the median and
p95 decoder time per chunk over the first and the last 10 s of each utterance.

    python tools/beam_chunk_cost.py --manifest ../shared/data/dev.tsv
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from speechlstm.io.audio import read_audio
from speechlstm.io.manifest import read_manifest
from speechlstm.recognizer import Recognizer
from compare_decoders import acoustic_log_probs


def chunk_costs(recognizer: Recognizer, log_probs: np.ndarray) -> list[float]:
    """Seconds spent in advance() + result() for each chunk of ``log_probs``."""
    decoder, chunk = recognizer.decoder, recognizer.bundle.model.chunk
    state, costs = decoder.new_state(), []
    for start in range(0, len(log_probs), chunk):
        begin = time.perf_counter()
        decoder.advance(state, log_probs[start:start + chunk])
        decoder.result(state)
        costs.append(time.perf_counter() - begin)
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, default=Path("../shared/data/dev.tsv"))
    parser.add_argument("--model", type=Path)
    parser.add_argument("--decoder", choices=("beam", "prefix", "lexicon"), default="beam")
    parser.add_argument("--beam-size", type=int, help="default: the decoder's tuned beam")
    args = parser.parse_args()
    recognizer = Recognizer.from_bundle(args.model, decoder=args.decoder, beam_size=args.beam_size, threads=1)
    audio = np.concatenate([read_audio(row.path) for row in read_manifest(args.manifest)[:12]])
    print("| utterance | chunks | first 10 s: median / p95 ms | last 10 s: median / p95 ms |\n|---|---|---|---|")
    for seconds in (10, 60):
        with tempfile.TemporaryDirectory() as folder:
            clip = Path(folder) / "utterance.wav"
            sf.write(clip, audio[: seconds * 16000], 16000)
            log_probs = acoustic_log_probs(recognizer, [clip], "streaming")[0]
        costs = np.array(chunk_costs(recognizer, log_probs)) * 1000
        per_10s = int(round(10 / recognizer.bundle.chunk_seconds))
        first, last = costs[:per_10s], costs[-per_10s:]
        print(f"| {seconds} s | {len(costs)} | {np.median(first):.2f} / {np.percentile(first, 95):.2f} | "
              f"{np.median(last):.2f} / {np.percentile(last, 95):.2f} |")


if __name__ == "__main__":
    main()
