#!/usr/bin/env python3
"""Beam search with the shipped language model, boosting a few phrases.

    python python-api-examples/beam_search_hotwords.py samples/sense_and_sensibility_0930.wav amiable
"""
import argparse

from speechlstm import Recognizer

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("audio", help="audio file")
parser.add_argument("hotwords", nargs="*", help="words or phrases to boost (boost 8 each)")
args = parser.parse_args()

recognizer = Recognizer.from_bundle(decoder="beam", hotwords=tuple((p, 8.0) for p in args.hotwords))
print(recognizer.transcribe_file(args.audio).text)
