#!/usr/bin/env python3
"""Transcribe the default microphone with endpointing; Ctrl-C flushes the last utterance.

    python python-api-examples/live_microphone.py

The same loop takes any iterable of (sample_rate, block) pairs instead of the microphone,
e.g. blocks of a file or of a network stream.
"""
import signal

from speechlstm import EndpointConfig, Recognizer, RecognizerConfig
from speechlstm.live import MicrophoneSource, transcribe_live

# the endpoint rules are the recognizer's: recognizer.is_endpoint(stream) applies them
recognizer = Recognizer.from_config(RecognizerConfig(threads=1, endpoint=EndpointConfig(trailing_silence=0.8)))
microphone = MicrophoneSource(sample_rate=recognizer.sample_rate)   # device index or name; None: the default
signal.signal(signal.SIGINT, lambda *_: microphone.close())
for event in transcribe_live(recognizer, microphone):
    if event.kind == "partial":
        print(f"\r{event.text}", end="", flush=True)
    else:
        print(f"\r[{event.start:6.2f} - {event.end:6.2f}] {event.text}", flush=True)
