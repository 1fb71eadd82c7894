"""The Vosk WebSocket protocol: what clients send, what they get back, and why a connection closes.

vosk-server clients send an optional text message ``{"config": {"sample_rate": R}}``, then
binary messages of 16-bit little-endian mono PCM at R Hz, then ``{"eof" : 1}``; each audio
message is answered with ``{"partial": ...}`` or, at an endpoint, ``{"text": ..., "result":
[{"word", "start", "end", "conf"}]}``. ``{"reset": 1}`` ends the utterance early (a final) and
keeps the connection, as in vosk-server. Our own optional keys in the config are ``hotwords``
(phrases or [phrase, boost] pairs, as ``--hotword``) and ``punctuate`` (true: ``text`` and
``partial`` are cased and punctuated with written numbers, the raw text in ``raw_text``; the
default false keeps vosk-server's lower-case words). Anything else is a :class:`ProtocolError`
whose close code says which rule it broke.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import HotwordError, hotword_boosts
from ..results import LiveEvent

# WebSocket close codes (RFC 6455, section 7.4.1)
NORMAL, GOING_AWAY, UNSUPPORTED_DATA, INVALID_DATA, POLICY, TOO_BIG, INTERNAL, TRY_AGAIN_LATER = (
    1000, 1001, 1003, 1007, 1008, 1009, 1011, 1013)

RATES = (8000, 48000)
"""The sample rates a client may announce (inclusive): telephony to studio."""

DEFAULT_RATE = 16000
"""The rate of audio sent without a config message (vosk-server's default model rate)."""

_CONTAINERS = {b"RIFF": "a WAV file", b"OggS": "an Ogg file", b"fLaC": "a FLAC file", b"ID3": "an MP3 file",
               b"\x1aE\xdf\xa3": "a WebM/Matroska file", b"ftyp": "an MP4 file"}


class ProtocolError(Exception):
    """A client broke the protocol: the connection closes with ``code`` and this message as reason."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class StreamConfig:
    """What a config message sets for one connection."""

    sample_rate: int = DEFAULT_RATE
    hotwords: tuple[tuple[str, float], ...] = ()
    punctuate: bool = False


def parse_text(text: str, config: StreamConfig) -> tuple[str, StreamConfig]:
    """A text message as ``("config", new config)``, ``("eof", config)`` or ``("reset", config)``."""
    try:
        message = json.loads(text)
    except ValueError as error:
        raise ProtocolError(INVALID_DATA, f"malformed JSON: {error}") from None
    if isinstance(message, dict) and "config" in message:
        return "config", _parse_config(message["config"], config)
    if isinstance(message, dict) and message.get("eof") == 1:
        return "eof", config
    if isinstance(message, dict) and message.get("reset") == 1:
        return "reset", config
    raise ProtocolError(UNSUPPORTED_DATA, 'expected {"config": {...}}, {"eof" : 1}, {"reset" : 1} or binary PCM')


def _parse_config(options: Any, config: StreamConfig) -> StreamConfig:
    if not isinstance(options, dict):
        raise ProtocolError(INVALID_DATA, '"config" must be an object, e.g. {"config": {"sample_rate": 16000}}')
    rate = options.get("sample_rate", config.sample_rate)
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate != int(rate):
        raise ProtocolError(INVALID_DATA, f"sample_rate must be a whole number of Hz, got {rate!r}")
    if not RATES[0] <= rate <= RATES[1]:
        raise ProtocolError(UNSUPPORTED_DATA, f"unsupported sample_rate {rate:g}: {RATES[0]} to {RATES[1]} Hz")
    hotwords = options.get("hotwords", config.hotwords)
    try:
        hotwords = tuple(hotword_boosts(hotwords).items())
    except HotwordError as error:
        raise ProtocolError(INVALID_DATA, str(error)) from None
    punctuate = options.get("punctuate", config.punctuate)
    if not isinstance(punctuate, bool):
        raise ProtocolError(INVALID_DATA, f"punctuate must be true or false, got {punctuate!r}")
    return StreamConfig(int(rate), hotwords, punctuate)


def parse_audio(data: bytes, first: bool) -> np.ndarray:
    """A binary message as float samples; the first is checked for a file header (not raw PCM)."""
    if first:
        for magic, kind in _CONTAINERS.items():
            offset = 4 if magic == b"ftyp" else 0  # MP4 boxes start with their size
            if data[offset:offset + len(magic)] == magic:
                raise ProtocolError(UNSUPPORTED_DATA, f"binary messages must be raw 16-bit little-endian mono PCM, "
                                                      f"got {kind}")
    if len(data) % 2:
        raise ProtocolError(INVALID_DATA, f"16-bit PCM needs an even number of bytes, got {len(data)}")
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


def partial_message(text: str) -> dict:
    return {"partial": text}


def final_message(event: LiveEvent | None) -> dict:
    """A final in vosk-server's form (an empty one where nothing was said)."""
    if event is None:
        return {"text": "", "result": []}
    raw = {"raw_text": event.text} if event.tokens else {}
    return {"text": event.readable, **raw,
            "result": [{"word": w.word, "start": round(w.start, 3), "end": round(w.end, 3),
                        "conf": round(w.confidence, 3)} for w in event.words]}
