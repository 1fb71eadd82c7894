#!/usr/bin/env python3
"""Decode several files as concurrent streams, the ready chunks of all in one backend call per round.

    python python-api-examples/many_streams.py samples/*.wav

This is how a server would serve many callers: each has a stream; one loop decodes them together.
"""
import argparse

from speechlstm import Recognizer
from speechlstm.io.audio import iter_blocks

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("audio", nargs="+", help="audio files")
args = parser.parse_args()

recognizer = Recognizer.from_bundle()
rate = recognizer.sample_rate
sources = {path: iter_blocks(path, rate, 0.1) for path in args.audio}
streams = {path: recognizer.create_stream() for path in args.audio}
while sources:
    for path, blocks in list(sources.items()):   # 100 ms more of every caller's audio
        block = next(blocks, None)
        if block is None:
            streams[path].input_finished()
            del sources[path]
        else:
            streams[path].accept_waveform(rate, block)
    recognizer.decode_ready(list(streams.values()))   # every ready chunk, one backend call a round
for path, stream in streams.items():
    print(f"{path}: {recognizer.get_result(stream).text}")
