#!/usr/bin/env python3
"""Transcribe files with the shipped model and print text with word times.

    python python-api-examples/transcribe_files.py samples/*.wav
"""
import argparse
import sys

from speechlstm import AudioError, Recognizer

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("audio", nargs="+", help="audio files")
args = parser.parse_args()

recognizer = Recognizer.from_bundle()
for path in args.audio:
    try:
        transcript = recognizer.transcribe_file(path)
    except AudioError as error:
        print(f"skipped: {error}", file=sys.stderr)
        continue
    print(f"{path}: {transcript.text}")
    for word in transcript.result.words:
        print(f"  {word.start:6.2f}-{word.end:6.2f}  {word.confidence:.2f}  {word.word}")
