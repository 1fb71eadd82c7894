#!/usr/bin/env python3
"""Transcribe files with the shipped model and print text with word times.

    python python-api-examples/transcribe_files.py samples/*.wav
"""
import sys

from speechlstm import AudioError, Recognizer

recognizer = Recognizer.from_bundle()
for path in sys.argv[1:]:
    try:
        transcript = recognizer.transcribe_file(path)
    except AudioError as error:
        print(f"skipped: {error}", file=sys.stderr)
        continue
    print(f"{path}: {transcript.text}")
    for word in transcript.result.words:
        print(f"  {word.start:6.2f}-{word.end:6.2f}  {word.confidence:.2f}  {word.word}")
