"""The Vosk WebSocket protocol: what clients send, what they get back, and why a connection closes.

vosk-server clients send an optional text message ``{"config": {...}}``, then binary messages
of 16-bit little-endian mono PCM, then ``{"eof" : 1}``; each audio message is answered with
``{"partial": ...}`` or, at an endpoint, ``{"text": ..., "result": [{"word", "start", "end",
"conf"}]}``. ``{"reset" : 1}`` ends the utterance early (a final) and keeps the connection, as
in vosk-server. As in vosk-server, audio without a config is at the server's ``--sample-rate``
(8000 by default), a WAV header at the start of the audio is skipped (its rate is used when no
config gave one), and ``sample_rate`` may be a number or a string of one.

The config keys (:data:`CONFIG_KEYS`) are vosk-server's ``sample_rate``, ``words`` (0: finals
without word times), ``max_alternatives`` (N > 0: finals as ``{"alternatives": [{"text",
"confidence", "result"}...]}``, the N best of the beam search), ``phrase_list`` (decode only these
phrases), ``model`` (accepted when it names the model served), and our ``hotwords`` (phrases or
[phrase, boost] pairs, as ``--hotword``) and ``punctuate`` (true: ``text`` and ``partial`` are
cased and punctuated with written numbers, the raw text in ``raw_text``; the default false keeps
vosk-server's lower-case words). Anything else is a :class:`ProtocolError` whose close
code says which rule it broke.
"""
from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np

from ..config import SERVER_RATES, HotwordError, hotword_boosts
from ..errors import InputError
from ..results import LiveEvent, Result

# WebSocket close codes (RFC 6455, section 7.4.1)
NORMAL, GOING_AWAY, UNSUPPORTED_DATA, INVALID_DATA, POLICY, INTERNAL, TRY_AGAIN_LATER = (
    1000, 1001, 1003, 1007, 1008, 1011, 1013)

MAX_HOTWORDS, MAX_PHRASE_CHARS = 100, 100
"""Per connection: hotwords, and characters per hotword or phrase (boosts are bounded by ``--hotword``'s rule)."""

MAX_PHRASES = 1000
"""Phrases in a ``phrase_list``."""

MAX_ALTERNATIVES = 20

_CONTAINERS = {b"OggS": "an Ogg file", b"fLaC": "a FLAC file", b"ID3": "an MP3 file",
               b"\x1aE\xdf\xa3": "a WebM/Matroska file", b"ftyp": "an MP4 file"}


class ProtocolError(InputError):
    """A client broke the protocol: the connection closes with ``code`` and this message as reason."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class StreamConfig:
    """What a config message sets for one connection (``sample_rate`` None: none was given)."""

    sample_rate: int | None = None
    hotwords: tuple[tuple[str, float], ...] = ()
    words: bool = True
    max_alternatives: int = 0
    phrase_list: tuple[str, ...] = ()
    model: str | None = None
    punctuate: bool = False


def parse_text(text: str, config: StreamConfig) -> tuple[str, StreamConfig]:
    """A text message as ``("config", new config)``, ``("eof", config)`` or ``("reset", config)``."""
    message = _json(text)
    if isinstance(message, dict) and "config" in message:
        return "config", _parse_config(message["config"], config)
    if isinstance(message, dict) and message.get("eof") == 1:
        return "eof", config
    if isinstance(message, dict) and message.get("reset") == 1:
        return "reset", config
    raise ProtocolError(UNSUPPORTED_DATA, 'expected {"config": {...}}, {"eof" : 1}, {"reset" : 1} or binary PCM')


def _json(text: str) -> Any:
    """JSON as RFC 8259 has it: no NaN or Infinity, and not nested beyond Python's recursion limit."""
    def constant(name: str) -> None:
        raise ValueError(f"{name} is not JSON")
    try:
        return json.loads(text, parse_constant=constant)
    except RecursionError:
        raise ProtocolError(INVALID_DATA, "malformed JSON: nested too deeply") from None
    except ValueError as error:
        raise ProtocolError(INVALID_DATA, f"malformed JSON: {error}") from None


def _rate(value: Any) -> int:
    if isinstance(value, str):  # vosk-server takes float(value)
        try:
            value = float(value)
        except ValueError:
            pass
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or value != int(value)):
        raise ProtocolError(INVALID_DATA, f"sample_rate must be a whole number of Hz, got {value!r}"[:120])
    if not SERVER_RATES[0] <= value <= SERVER_RATES[1]:
        raise ProtocolError(UNSUPPORTED_DATA, f"unsupported sample_rate {value:g}: {SERVER_RATES[0]} to "
                                              f"{SERVER_RATES[1]} Hz")
    return int(value)


def _hotwords(value: Any) -> tuple[tuple[str, float], ...]:
    if not isinstance(value, (list, dict)):
        raise ProtocolError(INVALID_DATA, 'hotwords must be a list of phrases or [phrase, boost] pairs, '
                                          f'e.g. ["Marianne", ["New York", 10]], not {type(value).__name__}')
    try:
        boosts = hotword_boosts(value)
    except HotwordError as error:
        raise ProtocolError(INVALID_DATA, str(error)[:120]) from None
    if len(boosts) > MAX_HOTWORDS:
        raise ProtocolError(POLICY, f"at most {MAX_HOTWORDS} hotwords per connection, got {len(boosts)}")
    for phrase in boosts:
        _check_phrase(phrase, "hotword")
    return tuple(sorted(boosts.items()))


def _phrases(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise ProtocolError(INVALID_DATA, 'phrase_list must be a list of strings, e.g. ["yes", "no", "[unk]"]')
    if len(value) > MAX_PHRASES:
        raise ProtocolError(POLICY, f"at most {MAX_PHRASES} phrases in phrase_list, got {len(value)}")
    for phrase in value:
        _check_phrase(phrase, "phrase")
    return tuple(sorted(set(value)))


def _check_phrase(phrase: str, kind: str) -> None:
    if len(phrase) > MAX_PHRASE_CHARS:
        raise ProtocolError(POLICY, f"a {kind} has at most {MAX_PHRASE_CHARS} characters, got {len(phrase)}")


def _alternatives(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ALTERNATIVES:
        raise ProtocolError(INVALID_DATA, f"max_alternatives must be a whole number 0 to {MAX_ALTERNATIVES}, "
                                          f"got {value!r}"[:120])
    return value


def _words(value: Any) -> bool:
    if not isinstance(value, (bool, int)):
        raise ProtocolError(INVALID_DATA, f"words must be 0/1 or true/false, got {value!r}"[:120])
    return bool(value)


def _punctuate(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ProtocolError(INVALID_DATA, f"punctuate must be true or false, got {value!r}"[:120])
    return value


def _model(value: Any) -> str:
    if not isinstance(value, str):
        raise ProtocolError(INVALID_DATA, "model must be a string")
    return value


CONFIG_KEYS: dict[str, Callable[[Any], Any]] = {
    "sample_rate": _rate, "hotwords": _hotwords, "words": _words, "max_alternatives": _alternatives,
    "phrase_list": _phrases, "model": _model, "punctuate": _punctuate}
"""Each config key and the check that turns its JSON value into the :class:`StreamConfig` field."""


def _parse_config(options: Any, config: StreamConfig) -> StreamConfig:
    if not isinstance(options, dict):
        raise ProtocolError(INVALID_DATA, '"config" must be an object, e.g. {"config": {"sample_rate": 16000}}')
    unknown = sorted(set(options) - set(CONFIG_KEYS))
    if unknown:
        raise ProtocolError(UNSUPPORTED_DATA, f"unknown config key {unknown[0]!r}"[:80]
                                              + f"; known: {', '.join(CONFIG_KEYS)}")
    return replace(config, **{key: CONFIG_KEYS[key](value) for key, value in options.items()})


def parse_audio(data: bytes, first: bool) -> tuple[np.ndarray, int | None]:
    """A binary message as 16-bit samples (a view of ``data``: the stream converts them to
    float once, as it takes them), and the rate of a WAV header it started with (the first
    message only: a header is skipped; other containers are refused)."""
    rate = None
    if first:
        for magic, kind in _CONTAINERS.items():
            offset = 4 if magic == b"ftyp" else 0  # MP4 boxes start with their size
            if data[offset:offset + len(magic)] == magic:
                raise ProtocolError(UNSUPPORTED_DATA, f"binary messages must be raw 16-bit little-endian mono PCM "
                                                      f"(or WAV), got {kind}")
        if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
            rate, start = _wav_header(data)
            data = data[start:]
    if len(data) % 2:
        raise ProtocolError(INVALID_DATA, f"16-bit PCM needs an even number of bytes, got {len(data)}")
    return np.frombuffer(data, dtype="<i2"), rate


def _wav_header(data: bytes) -> tuple[int, int]:
    """The sample rate of a RIFF/WAVE header and where its ``data`` chunk's samples start."""
    position, rate = 12, None
    while position + 8 <= len(data):
        chunk, size = data[position:position + 4], struct.unpack_from("<I", data, position + 4)[0]
        if chunk == b"fmt " and position + 24 <= len(data):
            encoding, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", data, position + 8)
            if encoding not in (1, 0xFFFE) or channels != 1 or bits != 16:
                raise ProtocolError(UNSUPPORTED_DATA, f"a WAV stream must be 16-bit mono PCM, got {channels} "
                                                      f"channel(s) of {bits}-bit (format {encoding})")
        elif chunk == b"data":
            if rate is None:
                break
            return _rate(rate), position + 8
        position += 8 + size + (size & 1)
    raise ProtocolError(INVALID_DATA, "the first message holds an incomplete WAV header (fmt and data chunks)")


def partial_message(text: str) -> dict:
    return {"partial": text}


def final_message(event: LiveEvent | None, config: StreamConfig = StreamConfig()) -> dict:
    """A final in vosk-server's form: ``{"text"}`` plus ``result`` (word times) unless ``words`` is
    off and where words were said; with ``max_alternatives``, the N best as ``alternatives``."""
    if config.max_alternatives:
        alternatives = event.alternatives if event is not None else ()
        return {"alternatives": [{"text": a.result.text, "confidence": round(a.score, 3),
                                  **_result(a.result, config, confidence=False)} for a in alternatives]
                or [{"text": "", "confidence": 0.0}]}
    if event is None:
        return {"text": ""}
    raw = {"raw_text": event.text} if event.tokens else {}
    return {"text": event.readable, **raw, **_result(Result(event.text, event.words), config)}


def _result(result: Result, config: StreamConfig, confidence: bool = True) -> dict:
    if not (config.words and result.words):
        return {}
    return {"result": [{"word": w.word, "start": round(w.start, 3), "end": round(w.end, 3),
                        **({"conf": round(w.confidence, 3)} if confidence else {})} for w in result.words]}
