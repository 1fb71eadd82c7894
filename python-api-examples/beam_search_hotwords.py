#!/usr/bin/env python3
"""Beam search with the shipped language model, boosting a few phrases in one stream.

    python python-api-examples/beam_search_hotwords.py samples/sense_and_sensibility_0930.wav amiable

Hotwords belong to a stream: two streams of one recognizer can boost different phrases.
"""
import argparse

from speechlstm import Recognizer, RecognizerConfig
from speechlstm.io.audio import read_audio

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("audio", help="audio file")
parser.add_argument("hotwords", nargs="*", help="words or phrases to boost (boost 8 each)")
args = parser.parse_args()

recognizer = Recognizer.from_config(RecognizerConfig())          # the shipped model, beam search + LM
stream = recognizer.create_stream(hotwords=[(phrase, 8.0) for phrase in args.hotwords])
stream.accept_waveform(recognizer.sample_rate, read_audio(args.audio, recognizer.sample_rate))
print(recognizer.finish(stream).text)                           # end of input: decode the rest
