"""Every setting of the pipeline as a frozen, validated dataclass, in one torch-free module.

* :class:`FrontendConfig`: the features a model was trained on (stored in every bundle), with
  :class:`SpeakerNormConfig`, the running per-speaker normalization.
* :class:`ModelConfig`: the network's shape and streaming geometry (stored in every bundle).
* :class:`StreamingConfig`: how a file is fed to a stream (block size).
* :class:`DecodingConfig`: greedy or beam search, the LM, its weights and hotwords.
* :class:`EndpointConfig`: when a live utterance ends.
* :class:`ServerConfig`: where the server listens and its limits.

A bad value fails where the config is made, with a message that names the setting.
The defaults written here are the only ones: the CLI, the trainer and the decoders read them.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

from .errors import UsageError


SAMPLE_RATE = 16000
"""The rate models hear: audio is resampled to it where it enters, and training data is read at it."""


class ConfigError(UsageError, ValueError):
    """A setting out of bounds, or settings that do not go together."""


def _positive_int(owner: str, name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{owner} setting {name!r} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class SpeakerNormConfig:
    """Per-speaker normalization that streams: frame t of a stream becomes
    ``x_t - weight * (m_t - prior)``, where ``m_t`` is the mean of frames 0..t with ``prior`` counted
    as ``prior_seconds`` of frames before them. It removes part of the offset of a voice and
    microphone from the global statistics the model normalizes by, using only audio already heard,
    so streaming and whole-input features stay equal. ``weight`` 0 (the default) turns it off."""

    weight: float = 0.0
    prior_seconds: float = 3.0
    """3 s did better than 1 s on dev2 and dev with the shipped weights (RESULTS.md)."""
    prior: tuple[float, ...] = ()
    """The log-mel mean the running mean starts from: the training data's (the model's ``feat_mean``)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.weight <= 1.0:
            raise ConfigError(f"speaker_norm setting 'weight' must be in [0, 1], got {self.weight!r}")
        if not self.prior_seconds >= 0.0:
            raise ConfigError(f"speaker_norm setting 'prior_seconds' must be >= 0, got {self.prior_seconds!r}")
        object.__setattr__(self, "prior", tuple(float(value) for value in self.prior))
        if self.weight and not self.prior:
            raise ConfigError("speaker_norm needs its 'prior' (the log-mel mean) when its weight is above 0")


@dataclass(frozen=True)
class FrontendConfig:
    """Everything that fixes the features a model was trained on (or, for ``speaker_norm``, is
    decoded with: it can be set on a trained bundle, see tools/set_speaker_norm.py)."""

    sample_rate: int = SAMPLE_RATE
    n_fft: int = 512
    win_length: int = 400
    hop_length: int = 160
    n_mels: int = 80
    f_min: float = 20.0
    f_max: float = 7600.0
    log_floor: float = 1e-6
    speaker_norm: SpeakerNormConfig = SpeakerNormConfig()

    def __post_init__(self) -> None:
        for name in ("sample_rate", "n_fft", "win_length", "hop_length", "n_mels"):
            _positive_int("frontend", name, getattr(self, name))
        prior = self.speaker_norm.prior
        if prior and len(prior) != self.n_mels:
            raise ConfigError(f"speaker_norm's prior has {len(prior)} values for {self.n_mels} mel bands")

    @property
    def hop_seconds(self) -> float:
        """Seconds between two feature frames."""
        return self.hop_length / self.sample_rate

    def frame_shift(self, stack: int) -> float:
        """Seconds per model output step, ``stack`` feature frames (hops) stacked into one."""
        return stack * self.hop_seconds

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "FrontendConfig":
        """Build from a header's ``frontend`` section (files written before ``speaker_norm`` lack it: off)."""
        data = dict(data)
        if "speaker_norm" in data:
            data["speaker_norm"] = SpeakerNormConfig(**data["speaker_norm"])
        return cls(**data)


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the network and its streaming geometry (chunk and right context in 30 ms steps)."""

    n_mels: int = 80
    stack: int = 3
    hidden: int = 288
    layers: int = 4
    vocab_size: int = 29
    dropout: float = 0.2
    chunk: int = 10
    right: int = 8
    phone_vocab_size: int = 0
    """Outputs of the auxiliary phone CTC head on the top layer (0: no phone head)."""

    def __post_init__(self) -> None:
        for name in ("n_mels", "stack", "hidden", "layers", "vocab_size", "chunk"):
            _positive_int("model", name, getattr(self, name))
        for name in ("right", "phone_vocab_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"model setting {name!r} must be a non-negative integer, got {value!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model setting 'dropout' must be in [0, 1), got {self.dropout!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ModelConfig":
        """Build from a header's ``model`` section; an unknown key raises TypeError."""
        return cls(**data)


MODES = ("offline", "streaming")


@dataclass(frozen=True)
class StreamingConfig:
    """``chunk_ms`` is the block size a streaming file transcription feeds; it never changes the text."""

    chunk_ms: int = 100

    def __post_init__(self) -> None:
        if not isinstance(self.chunk_ms, int) or self.chunk_ms <= 0:
            raise ConfigError(f"chunk_ms must be positive, got {self.chunk_ms}")


DECODERS = ("greedy", "beam", "prefix", "lexicon")
"""``beam`` is ``lexicon`` (flashlight-text's LexiconDecoder) when flashlight-text is installed and
an LM is used, else ``prefix`` (our CTC prefix beam search)."""
CHAR_HEAD = "chars"
"""The model output every model has (the phone head is optional): what backends compute and
decoders read unless told otherwise."""
HEAD_CHOICES = ("auto", CHAR_HEAD, "phones")
SPELLINGS = ("american", "lm")
BEAM_DEFAULTS = {"prefix": (16, 0.8, 3.5), "lexicon": (100, 0.7, -1.0)}
"""Beam size, LM weight and word bonus of each beam decoder, tuned on dev for the shipped model
and LM with tools/compare_decoders.py (RESULTS.md). The lexicon beam is 100: over the phone head
it gains about 1 point of WER on dev and dev2 over 50, within the streaming budget (RTF 0.03)."""
LEXICON_BEAM_THRESHOLD = 10.0
"""The lexicon decoder drops hypotheses this far below the best (flashlight's score, natural log):
at 10 instead of 25, dev WER is the same and the decoder takes 40 % less time per chunk (RESULTS.md)."""
DEFAULT_HOTWORD_BOOST = 8.0
MAX_HOTWORD_BOOST = 20.0
"""Above it a hotword outweighs what the audio says (dev WER already rises from boost 8 to 16,
RESULTS.md) and at 1e9 it is written over and over; 0 and below would do nothing."""


class HotwordError(UsageError, ValueError):
    """Hotwords given in a shape the decoder does not take, or with characters the model cannot write."""


Hotwords = tuple[tuple[str, float], ...]


def hotword_boosts(hotwords: Mapping[str, float] | Sequence[str | tuple[str, float]] | None) -> dict[str, float]:
    """``{phrase: boost}`` from a mapping, or from a sequence of phrases (boost
    :data:`DEFAULT_HOTWORD_BOOST`) and ``(phrase, boost)`` pairs."""
    expected = "hotwords must be phrases or (phrase, boost) pairs, e.g. ['Marianne', ('New York', 10.0)]"
    if hotwords is None:
        return {}
    if isinstance(hotwords, str):
        raise HotwordError(f"{expected}, not one string")
    boosts = {}
    for item in hotwords.items() if isinstance(hotwords, Mapping) else hotwords:
        if isinstance(item, str):
            item = (item, DEFAULT_HOTWORD_BOOST)
        if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str)
                and isinstance(item[1], (int, float)) and not isinstance(item[1], bool)):
            raise HotwordError(f"{expected}; got {item!r}")
        if not 0 < item[1] <= MAX_HOTWORD_BOOST:  # also refuses NaN
            raise HotwordError(f"hotword {item[0]!r}: boost {item[1]:g} must be a number greater than 0 and at "
                               f"most {MAX_HOTWORD_BOOST:g}")
        boosts[item[0]] = float(item[1])
    return boosts


@dataclass(frozen=True)
class DecodingConfig:
    """Which decoder, with which LM and hotwords.

    ``lm`` is an ARPA file, None for no LM, or ``auto``: the one beside the model, else the
    shipped one. ``beam_size``, ``lm_weight`` and ``word_bonus`` left at None take the tuned
    values of the beam decoder in use (:data:`BEAM_DEFAULTS`). ``hotwords``: (phrase, boost)
    pairs, bare phrases (boost 8) or a {phrase: boost} dict; streams may add their own.

    ``head`` is the model output decoded: ``chars``, ``phones`` (the lexicon decoder over the
    phone head, words spelled by the pronunciations of ``lexicon``), or ``auto``: phones where
    the lexicon decoder runs, the model has a phone head and a lexicon is found, else chars.
    ``lexicon`` is a ``WORD<TAB>PHONES`` file or ``auto``: the one beside the model, else the
    shipped one. ``spelling``: ``american`` respells the LM's British words in the lexicon
    decoder's output ("metres" -> "meters"), ``lm`` keeps them (:mod:`speechlstm.spelling`).
    """

    decoder: str = "beam"
    beam_size: int | None = None
    lm: str | Path | None = "auto"
    lm_weight: float | None = None
    word_bonus: float | None = None
    hotwords: Hotwords = ()
    head: str = "auto"
    lexicon: str | Path = "auto"
    spelling: str = "american"

    def __post_init__(self) -> None:
        object.__setattr__(self, "hotwords", tuple(hotword_boosts(self.hotwords).items()))
        if self.spelling not in SPELLINGS:
            raise ConfigError(f"spelling must be one of {SPELLINGS}, got {self.spelling!r}")
        if self.decoder not in DECODERS:
            raise ConfigError(f"decoder must be one of {DECODERS}, got {self.decoder!r}")
        if self.head not in HEAD_CHOICES:
            raise ConfigError(f"head must be one of {HEAD_CHOICES}, got {self.head!r}")
        if self.beam_size is not None and self.beam_size <= 0:
            raise ConfigError(f"beam_size must be positive, got {self.beam_size}")
        if self.hotwords and self.decoder == "greedy":
            raise ConfigError("hotwords need a beam decoder (decoder beam, lexicon or prefix)")
        if self.head == "phones" and (self.decoder in ("greedy", "prefix") or self.lm is None):
            raise ConfigError("the phone head is decoded only by the lexicon decoder (decoder beam or "
                                      "lexicon, with an LM)")

    def beam_settings(self, kind: str) -> tuple[int, float, float]:
        """Beam size, LM weight and word bonus for beam decoder ``kind``: given, else tuned."""
        return tuple(tuned if given is None else given for given, tuned in
                     zip((self.beam_size, self.lm_weight, self.word_bonus), BEAM_DEFAULTS[kind]))


@dataclass(frozen=True)
class EndpointConfig:
    """When an utterance ends (seconds; ``silence_dbfs`` is the RMS level counted as silence).

    An utterance ends after ``trailing_silence`` once something was recognized, after
    ``trailing_silence_no_speech`` if nothing was (the stream restarts without an event), and
    at ``max_utterance`` in any case. Trailing silence is the longer of two measures: decoded
    audio after the model's last non-blank output (works in steady noise), and audio below
    ``silence_dbfs`` in 10 ms frames (works when a model emits characters on noise).
    """

    trailing_silence: float = 0.8
    trailing_silence_no_speech: float = 2.4
    max_utterance: float = 20.0
    silence_dbfs: float = -50.0

    def __post_init__(self) -> None:
        for name in ("trailing_silence", "trailing_silence_no_speech", "max_utterance"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")

    @property
    def silence_level(self) -> float:
        """``silence_dbfs`` as an RMS amplitude (full scale 1.0)."""
        return 10.0 ** (self.silence_dbfs / 20.0)


SERVER_RATES = (8000, 48000)
"""The sample rates a server client may announce (inclusive): telephony to studio."""


@dataclass(frozen=True)
class ServerConfig:
    """Where ``speechlstm serve`` listens and the limits that keep it up under bad clients and load."""

    host: str = "127.0.0.1"
    port: int = 2700
    max_streams: int = 20
    token: str | None = None
    workers: int = 1
    """Server processes behind the one port, each decoding its own streams on its own core
    (:mod:`speechlstm.server.processes`)."""
    decode_threads: int = 1
    """Decoding threads in each process; they share one interpreter lock, so a second adds little."""
    sample_rate: int = 8000
    """The rate of audio that comes without a config message or WAV header (vosk-server's default)."""
    idle_timeout: float = 30.0
    """Seconds without audio before a connection is closed (1001; its final is sent first)."""
    max_lag: float = 1.0
    """New streams are refused (1013) while decoding lags more than this many seconds."""
    max_load: float = 0.9
    """New streams are refused (1013) when, with one more, the decoding threads would be busy more
    than this share of the time (each stream priced by the measured load; see the server's workers)."""
    max_in_flight: int = 50
    """Audio messages of one connection read but not yet answered; beyond, reading waits."""
    request_timeout: float = 10.0
    """Seconds a TCP connection may take to send a whole HTTP request (or upgrade)."""
    max_message_bytes: int = 256 * 1024
    """The largest WebSocket message (8 s of 16 kHz PCM); larger ones close the connection (1009)."""
    max_upload_bytes: int = 200 * 1024 * 1024
    """The largest POST /transcribe body (HTTP 413 beyond)."""
    heartbeat: float = 20.0
    """Ping interval: a client that vanished without closing is noticed within about this time."""

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be 0 to 65535, got {self.port}")
        if not SERVER_RATES[0] <= self.sample_rate <= SERVER_RATES[1]:
            low, high = SERVER_RATES
            raise ConfigError(f"sample rate must be {low} to {high}, got {self.sample_rate}")
        if not self.max_load > 0:
            raise ConfigError(f"max_load must be positive, got {self.max_load}")
        for name in ("max_streams", "workers", "decode_threads"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")


def field_names(cls: type) -> frozenset[str]:
    """The field names of a config dataclass."""
    return frozenset(f.name for f in fields(cls))
