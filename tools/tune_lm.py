#!/usr/bin/env python3
"""Grid-search the beam decoder's LM weight and word bonus on a dev manifest.

The acoustic model runs once per utterance and mode; every grid point only re-decodes the
cached log-probabilities, so a grid costs little more than one decoding pass per point.

    python tools/tune_lm.py ../shared/data/dev.tsv --lm-weights 0.3 0.5 0.8 --word-bonuses 0 1 2
"""
from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np

from speechlstm.audio import read_audio
from speechlstm.beam_search import BeamSearchDecoder
from speechlstm.data import read_manifest
from speechlstm.lm import ArpaLM
from speechlstm.recognizer import DEFAULT_LM, Recognizer
from speechlstm.scoring import score
from speechlstm.decoding import LogProbRecorder
from speechlstm.streaming import Stream


def acoustic_log_probs(recognizer: Recognizer, paths: list[Path], mode: str) -> list[np.ndarray]:
    """Log-probs of each file, computed exactly as the recognizer would in ``mode``."""
    outputs = []
    for path in paths:
        audio = read_audio(path, recognizer.sample_rate)
        if mode == "offline":
            outputs.append(recognizer.backend.full(recognizer.bundle.feature_extractor()(audio)))
            continue
        stream = Stream(recognizer.backend, recognizer.bundle.frontend, LogProbRecorder())
        stream.accept_waveform(recognizer.sample_rate, audio)
        stream.finalize()
        parts = stream.decoder_state
        outputs.append(np.concatenate(parts) if parts else np.zeros((0, len(recognizer.bundle.vocabulary))))
    return outputs


def decode_all(decoder, log_probs: list) -> list[str]:
    texts = []
    for matrix in log_probs:
        state = decoder.new_state()
        decoder.advance(state, matrix)
        texts.append(decoder.result(state, final=True).text)
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--model", type=Path, help="model bundle (default: the shipped model)")
    parser.add_argument("--lm", type=Path, default=DEFAULT_LM)
    parser.add_argument("--modes", nargs="+", default=["offline", "streaming"])
    parser.add_argument("--lm-weights", type=float, nargs="+", default=[0.3, 0.5, 0.8])
    parser.add_argument("--word-bonuses", type=float, nargs="+", default=[0.0, 1.0, 2.0])
    parser.add_argument("--beam-size", type=int, default=16)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--json", type=Path, help="write the grid as JSON")
    args = parser.parse_args()
    rows = read_manifest(args.manifest)[: args.limit]
    refs = [r.text for r in rows]
    recognizer = Recognizer.from_bundle(args.model, backend="torch")
    lm = ArpaLM(args.lm)
    grid = []
    print("| mode | decoder | LM weight | word bonus | WER % | CER % |\n|---|---|---|---|---|---|")
    for mode in args.modes:
        log_probs = acoustic_log_probs(recognizer, [r.path for r in rows], mode)
        greedy = score(refs, decode_all(recognizer.bundle.decoder(), log_probs))
        grid.append({"mode": mode, "decoder": "greedy", **greedy})
        print(f"| {mode} | greedy | - | - | {100 * greedy['wer']:.2f} | {100 * greedy['cer']:.2f} |", flush=True)
        for alpha, beta in itertools.product(args.lm_weights, args.word_bonuses):
            start = time.perf_counter()
            decoder = BeamSearchDecoder(recognizer.bundle.frame_shift, recognizer.bundle.vocabulary, lm=lm,
                                        alpha=alpha, beta=beta, beam_size=args.beam_size)
            figures = score(refs, decode_all(decoder, log_probs))
            grid.append({"mode": mode, "decoder": "beam", "lm_weight": alpha, "word_bonus": beta,
                         "seconds": time.perf_counter() - start, **figures})
            print(f"| {mode} | beam | {alpha} | {beta} | {100 * figures['wer']:.2f} | {100 * figures['cer']:.2f} |",
                  flush=True)
    if args.json:
        args.json.write_text(json.dumps(grid, indent=2) + "\n")


if __name__ == "__main__":
    main()
