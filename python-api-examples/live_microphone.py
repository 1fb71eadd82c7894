#!/usr/bin/env python3
"""Transcribe the default microphone with endpointing; Ctrl-C flushes the last utterance.

    python python-api-examples/live_microphone.py

The same loop takes any iterable of (sample_rate, block) pairs instead of the microphone,
e.g. blocks of a file or of a network stream.
"""
import signal

from speechlstm import Recognizer
from speechlstm.live import EndpointConfig, MicrophoneSource, transcribe_live

recognizer = Recognizer.from_bundle(mode="streaming", threads=1)
microphone = MicrophoneSource()                       # device index or name; None: the default
signal.signal(signal.SIGINT, lambda *_: microphone.close())
for event in transcribe_live(recognizer, microphone, EndpointConfig(trailing_silence=0.8)):
    if event.kind == "partial":
        print(f"\r{event.text}", end="", flush=True)
    else:
        print(f"\r[{event.start:6.2f} - {event.end:6.2f}] {event.text}", flush=True)
