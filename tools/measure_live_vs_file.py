"""Live against file: the words the live session's finals give (endpointing, one stream reset at
each endpoint, 100 ms blocks) against ``transcribe --mode streaming`` of the same audio.

Each manifest clip, cut to its first ``--seconds`` and followed by 1.5 s of silence (so both
hear the same audio and live reaches an endpoint), is transcribed both ways in-process; the
table gives the finals beyond one per clip (endpoints inside speech) and the WER of the
joined live finals against the file texts.

    python tools/measure_live_vs_file.py --manifest ../shared/data/dev.tsv --every 2
"""
from __future__ import annotations

import argparse

import jiwer
import numpy as np

from speechlstm import Recognizer
from speechlstm.io.audio import read_audio
from speechlstm.io.manifest import read_manifest
from speechlstm.live import transcribe_live

RATE = 16000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--model", default=None, help="bundle (default: the shipped model)")
    parser.add_argument("--seconds", type=float, default=10.0, help="speech kept from the start of each clip")
    parser.add_argument("--every", type=int, default=1, help="take every Nth clip of the manifest")
    parser.add_argument("--block-ms", type=int, default=100)
    args = parser.parse_args(argv)
    recognizer = Recognizer.from_bundle(args.model, mode="streaming")
    files, lives, extra = [], [], 0
    rows = read_manifest(args.manifest)[:: args.every]
    for row in rows:
        speech = read_audio(row.path, RATE)[: int(args.seconds * RATE)]
        audio = np.concatenate([speech, np.zeros(int(1.5 * RATE), np.float32)])
        files.append(recognizer.transcribe(audio, RATE).text)
        step = RATE * args.block_ms // 1000
        blocks = ((RATE, audio[i:i + step]) for i in range(0, len(audio), step))
        finals = [event.text for event in transcribe_live(recognizer, blocks) if event.kind == "final"]
        extra += max(0, len(finals) - 1)
        lives.append(" ".join(finals))
    print("| clips | finals beyond one per clip | WER live against file % |\n|---:|---:|---:|")
    print(f"| {len(rows)} | {extra} | {100 * jiwer.wer(files, lives):.2f} |")


if __name__ == "__main__":
    main()
