#!/usr/bin/env python3
"""Beam search with the shipped language model, boosting a few phrases.

    python python-api-examples/beam_search_hotwords.py samples/sense_and_sensibility_0930.wav amiable
"""
import sys

from speechlstm import Recognizer

hotwords = tuple((phrase, 8.0) for phrase in sys.argv[2:])
recognizer = Recognizer.from_bundle(decoder="beam", beam_size=16, hotwords=hotwords)
print(recognizer.transcribe_file(sys.argv[1]).text)
