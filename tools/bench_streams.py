#!/usr/bin/env python3
"""Many streams at once: ``Recognizer.decode_streams`` (the ready chunks of all streams in one
backend call per round) against the same streams decoded one by one.

    python tools/bench_streams.py                      # shipped model, onnx-int8, 1 thread, greedy
    python tools/bench_streams.py --backend torch --streams 1 4 16

Every stream gets the same clips (samples/*.wav, joined) in 100 ms blocks, round robin, as a
server would receive them from N callers; after each round of blocks the ready chunks are
decoded, either together (``decode_ready`` on all streams: rounds of ``decode_streams``) or
separately (``decode_ready`` per stream).
Reported per N: streams decoded per second (N / wall time), audio seconds per wall second,
backend calls, and that both ways give the same texts. Greedy decoding by default, so that the
figures measure the acoustic model; ``--decoder beam`` adds the beam search's own cost.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from benchlib import SAMPLES, CountingBackend, machine
from speechlstm import Recognizer
from speechlstm.io.audio import read_audio


def run(recognizer: Recognizer, audio: np.ndarray, count: int, batched: bool, block: int) -> dict:
    """Decode ``count`` streams of ``audio``; wall time, backend calls and the texts."""
    counter = CountingBackend(recognizer.backend)
    engine = Recognizer(recognizer.bundle, counter, recognizer.config, recognizer.decoder)
    streams = [engine.create_stream() for _ in range(count)]
    start = time.perf_counter()
    for offset in range(0, len(audio), block):
        for stream in streams:
            stream.accept_waveform(engine.sample_rate, audio[offset:offset + block])
        _decode(engine, streams, batched)
    for stream in streams:
        stream.input_finished()
    _decode(engine, streams, batched)
    texts = [engine.get_result(stream).text for stream in streams]
    wall = time.perf_counter() - start
    return {"wall_s": wall, "calls": counter.calls, "chunks": counter.steps, "texts": texts}


def _decode(engine: Recognizer, streams: list, batched: bool) -> None:
    if batched:
        engine.decode_ready(streams)
        return
    for stream in streams:
        engine.decode_ready(stream)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model (default: the shipped one)")
    parser.add_argument("--backend", default="onnx-int8", help="torch, onnx or onnx-int8 (default)")
    parser.add_argument("--threads", type=int, default=1, help="model threads (default 1)")
    parser.add_argument("--decoder", default="greedy", help="greedy (default), beam, prefix or lexicon")
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 4, 16], help="stream counts (default 1 4 16)")
    parser.add_argument("--seconds", type=float, default=20.0, help="audio per stream (default 20 s of samples/)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the fastest counts (default 3)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)

    recognizer = Recognizer.from_bundle(args.model, backend=args.backend, threads=args.threads, decoder=args.decoder,
                                        mode="streaming")
    rate = recognizer.sample_rate
    audio = np.concatenate([read_audio(path, rate) for path in sorted(SAMPLES.glob("*.wav"))])
    audio = np.resize(audio, int(args.seconds * rate))
    block = rate // 10
    rows = []
    print(f"backend {recognizer.config.backend}, {args.threads} thread(s), decoder {args.decoder}, "
          f"{args.seconds:.0f} s of audio per stream, 100 ms blocks")
    print("| streams | separate: streams/s | decode_streams: streams/s | separate: audio s/s | "
          "decode_streams: audio s/s | backend calls separate / together | same texts |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    for count in args.streams:
        figures = {}
        for batched in (False, True):
            runs = [run(recognizer, audio, count, batched, block) for _ in range(args.repeat)]
            figures[batched] = min(runs, key=lambda r: r["wall_s"])
        alone, together = figures[False], figures[True]
        row = {"streams": count, "separate_wall_s": alone["wall_s"], "together_wall_s": together["wall_s"],
               "separate_streams_per_s": count / alone["wall_s"], "together_streams_per_s": count / together["wall_s"],
               "separate_audio_per_s": count * args.seconds / alone["wall_s"],
               "together_audio_per_s": count * args.seconds / together["wall_s"],
               "separate_calls": alone["calls"], "together_calls": together["calls"],
               "same_texts": alone["texts"] == together["texts"]}
        rows.append(row)
        print(f"| {count} | {row['separate_streams_per_s']:.3f} | {row['together_streams_per_s']:.3f} | "
              f"{row['separate_audio_per_s']:.1f} | {row['together_audio_per_s']:.1f} | "
              f"{row['separate_calls']} / {row['together_calls']} | {row['same_texts']} |", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"machine": machine(), "args": vars(args), "rows": rows}, out, indent=2)
    return 0 if all(row["same_texts"] for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
