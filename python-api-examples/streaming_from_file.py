#!/usr/bin/env python3
"""Feed a file to a stream in 100 ms blocks, as a live source would, printing partial text.

    python python-api-examples/streaming_from_file.py samples/flite_real_time.wav
"""
import argparse

import soundfile as sf

from speechlstm import Recognizer

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("audio", help="audio file (anything libsndfile reads)")
args = parser.parse_args()

recognizer = Recognizer.from_bundle()
stream = recognizer.create_stream()                    # the stream holds state; the recognizer decodes
with sf.SoundFile(args.audio) as audio:
    for block in audio.blocks(blocksize=audio.samplerate // 10, dtype="float32"):
        stream.accept_waveform(audio.samplerate, block)  # buffered
        recognizer.decode_ready(stream)                 # every chunk that is ready
        print(f"\rpartial: {recognizer.get_result(stream).text}", end="", flush=True)
print(f"\nfinal:   {recognizer.finish(stream).text}")  # end of input: decode the rest
