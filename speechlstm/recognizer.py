"""The Python API: a :class:`Recognizer` built from a small config, mirroring the CLI.

>>> from speechlstm import Recognizer
>>> recognizer = Recognizer.from_bundle()            # the shipped English model
>>> recognizer.transcribe_file("samples/goforward.wav").text
>>> stream = recognizer.create_stream()               # live audio, block by block
>>> stream.accept_waveform(16000, block); stream.decode(); stream.result.text
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable

import numpy as np

from .audio import AudioError, iter_blocks, resample, to_mono_float
from .bundle import DEFAULT_BUNDLE, Bundle, BundleError, load_bundle, missing_model_hint
from .decoding import Decoder, Result
from .edge import BACKENDS, default_backend, load_onnx
from .segments import SegmentedOffline
from .streaming import AcousticBackend, Stream

MODES = ("offline", "streaming")
DECODERS = ("greedy", "beam", "prefix", "lexicon")
"""``beam`` is ``lexicon`` (flashlight-text's LexiconDecoder) when flashlight-text is installed and
an LM is used, else ``prefix`` (our CTC prefix beam search)."""
BEAM_DEFAULTS = {"prefix": (16, 0.8, 3.5), "lexicon": (50, 0.7, -1.0)}
"""Beam size, LM weight and word bonus of each beam decoder, tuned on dev for the shipped model
and LM with tools/compare_decoders.py (RESULTS.md)."""
LM_FILE = "lm.arpa.gz"
DEFAULT_LM = DEFAULT_BUNDLE.parent / LM_FILE
"""The shipped language model."""


def default_lm(model: str | Path | None) -> Path:
    """The LM a model comes with: ``lm.arpa.gz`` in the model's folder (or in ``model`` itself
    when it names a folder), else the shipped LM."""
    if model is not None:
        path = Path(model)
        beside = (path if path.is_dir() else path.parent) / LM_FILE
        if beside.is_file():
            return beside
    return DEFAULT_LM


@dataclass(frozen=True)
class RecognizerConfig:
    """How to recognize: which model, which mode, how many threads.

    ``threads`` is the model's CPU threads: 1 by default, because the per-chunk matrices of a
    batch-1 LSTM are too small to split (more threads were slower in README's measurements);
    0 leaves the library's default (one per core).

    ``mode`` is ``offline`` (full BiLSTM over the whole file, or over segments of at most 30 s
    cut at pauses when it is longer than a minute: :mod:`speechlstm.segments`) or ``streaming`` (the chunked
    model fed block by block, as a live source would); ``chunk_ms`` is the block size a
    streaming file transcription feeds, which never changes the text. ``backend`` is
    ``torch``, ``onnx``, ``onnx-int8`` (exported graphs, no torch needed) or ``auto``:
    onnx-int8 when its files lie next to the bundle and onnxruntime is installed, else torch.
    ``model`` may also name an ONNX file or a folder of exported graphs. ``lm`` is an ARPA
    file, None for no LM, or ``auto``: the one beside the model, else the shipped one
    (:func:`default_lm`). ``beam_size``, ``lm_weight`` and ``word_bonus`` left at None take
    the tuned values of the beam decoder in use (:data:`BEAM_DEFAULTS`).
    """

    model: str | Path | None = None
    mode: str = "offline"
    chunk_ms: int = 100
    threads: int = 1
    backend: str = "auto"
    decoder: str = "beam"
    beam_size: int | None = None
    lm: str | Path | None = "auto"
    lm_weight: float | None = None
    word_bonus: float | None = None
    hotwords: tuple[tuple[str, float], ...] = ()
    """Phrases to boost: (phrase, boost) pairs, bare phrases (boost 8) or a {phrase: boost} dict."""

    def __post_init__(self) -> None:
        from .beam_search import hotword_boosts
        object.__setattr__(self, "hotwords", tuple(hotword_boosts(self.hotwords).items()))
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.backend not in ("auto", *BACKENDS):
            raise ValueError(f"backend must be auto or one of {BACKENDS}, got {self.backend!r}")
        if self.decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, got {self.decoder!r}")
        if self.beam_size is not None and self.beam_size <= 0:
            raise ValueError(f"beam_size must be positive, got {self.beam_size}")
        if self.chunk_ms <= 0:
            raise ValueError(f"chunk_ms must be positive, got {self.chunk_ms}")
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0, got {self.threads}")


_DECODER_FIELDS = ("decoder", "beam_size", "lm", "lm_weight", "word_bonus", "hotwords")


def beam_decoder_kind(config: RecognizerConfig) -> str:
    """Which beam decoder ``config`` gets: ``beam`` resolves to ``lexicon`` where it can run."""
    if config.decoder != "beam":
        return config.decoder
    from .flashlight_decoder import AVAILABLE
    return "lexicon" if AVAILABLE and config.lm is not None else "prefix"


def build_decoder(bundle: Bundle, config: RecognizerConfig) -> Decoder:
    """Greedy, or a beam search with the configured LM and hotwords (the LM file is read once)."""
    if config.decoder == "greedy":
        if config.hotwords:
            raise ValueError("hotwords need a beam decoder (decoder='beam')")
        return bundle.decoder()
    kind = beam_decoder_kind(config)
    beam_size, alpha, beta = (tuned if given is None else given for given, tuned in
                              zip((config.beam_size, config.lm_weight, config.word_bonus), BEAM_DEFAULTS[kind]))
    path = None
    if config.lm is not None:
        path = default_lm(config.model) if config.lm == "auto" else Path(config.lm)
        if not path.is_file():
            raise BundleError(f"language model not found: {path}{missing_model_hint(path)}")
    if kind == "lexicon":
        from .flashlight_decoder import FlashlightError, LexiconBeamDecoder
        if path is None:
            raise ValueError("the lexicon decoder needs a language model (its words are the lexicon)")
        try:
            return LexiconBeamDecoder(bundle.frame_shift, bundle.vocabulary, lm=path, alpha=alpha, beta=beta,
                                      beam_size=beam_size, hotwords=dict(config.hotwords))
        except FlashlightError as error:
            raise BundleError(str(error)) from None
    from .beam_search import BeamSearchDecoder
    from .lm import load_lm
    return BeamSearchDecoder(bundle.frame_shift, bundle.vocabulary, lm=load_lm(path) if path else None, alpha=alpha,
                             beta=beta, beam_size=beam_size, hotwords=dict(config.hotwords))


@dataclass(frozen=True)
class Transcript:
    """The result for one file or array, with its duration in seconds."""

    result: Result
    duration: float
    path: str | None = None

    @property
    def text(self) -> str:
        return self.result.text

    def to_dict(self) -> dict:
        return {"path": self.path, "text": self.text, "duration": round(self.duration, 3),
                "words": self.result.to_dict()["words"]}


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a streaming transcription; ``partial`` is what was decoded until then."""

    def __init__(self, partial: Transcript) -> None:
        super().__init__("interrupted")
        self.partial = partial


class Recognizer:
    """Speech to text with one bundle; create one and reuse it for many files and streams."""

    def __init__(self, bundle: Bundle, backend: AcousticBackend, config: RecognizerConfig,
                 decoder: Decoder | None = None) -> None:
        self.bundle, self.backend, self.config = bundle, backend, config
        self.decoder = decoder or build_decoder(bundle, config)

    @classmethod
    def from_config(cls, config: RecognizerConfig) -> "Recognizer":
        """Load the model with the configured backend (``auto`` resolved in the returned config)."""
        if config.backend == "auto":
            config = replace(config, backend=default_backend(config.model))
        if config.backend != "torch":
            bundle, backend = load_onnx(config.model, int8=config.backend == "onnx-int8", threads=config.threads,
                                        preload=config.mode)
            return cls(bundle, backend, config)
        bundle = load_bundle(config.model)
        try:
            import torch
        except ImportError:
            raise BundleError("the torch backend needs torch (pip install 'speechlstm[torch]'); without it, "
                              "export the model once (speechlstm export) and use an onnx backend") from None
        from .model import TorchBackend
        if config.threads:
            torch.set_num_threads(config.threads)
        return cls(bundle, TorchBackend(bundle.acoustic_model()), config)

    @classmethod
    def from_bundle(cls, model: str | Path | None = None, **options) -> "Recognizer":
        """Load ``model`` (default: the shipped model); ``options`` are RecognizerConfig fields."""
        return cls.from_config(RecognizerConfig(model=model, **options))

    def with_options(self, **options) -> "Recognizer":
        """The same loaded model (and decoder, unless its options change) with other options."""
        reload = {"model", "backend", "threads"} & set(options)
        if reload:
            raise ValueError(f"{', '.join(sorted(reload))} need a new Recognizer (from_config), not with_options")
        config = replace(self.config, **options)
        same_decoder = all(getattr(config, name) == getattr(self.config, name) for name in _DECODER_FIELDS)
        return Recognizer(self.bundle, self.backend, config, self.decoder if same_decoder else None)

    @property
    def sample_rate(self) -> int:
        return self.bundle.sample_rate

    def create_stream(self) -> Stream:
        """A new stream with its own state; any number can run side by side."""
        return Stream(self.backend, self.bundle.frontend, self.decoder)

    def transcribe(self, samples: np.ndarray, sample_rate: int) -> Transcript:
        """Transcribe an in-memory signal: (n,) or (n, channels), any numeric dtype and rate."""
        if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
            raise AudioError(f"sample_rate must be a positive integer, got {sample_rate!r}")
        if not isinstance(samples, np.ndarray):
            raise AudioError(f"samples must be a numpy array, got {type(samples).__name__}")
        audio = resample(to_mono_float(samples), int(sample_rate), self.sample_rate)
        if self.config.mode == "streaming":
            block = max(1, self.config.chunk_ms * self.sample_rate // 1000)
            return self._stream_blocks(audio[i:i + block] for i in range(0, len(audio), block))
        return self._offline([audio])

    def transcribe_file(self, path: str | bytes | os.PathLike) -> Transcript:
        """Transcribe an audio file; streaming mode reads it from disk block by block."""
        path = os.fsdecode(path)
        if self.config.mode == "streaming":
            blocks = iter_blocks(path, self.sample_rate, self.config.chunk_ms / 1000)
            transcript = self._stream_blocks(blocks)
        else:
            transcript = self._offline(iter_blocks(path, self.sample_rate))
        return replace(transcript, path=path)

    def _offline(self, blocks: Iterable[np.ndarray]) -> Transcript:
        """The full BiLSTM over the audio, in segments when it is long (:mod:`speechlstm.segments`)."""
        decoder = self.decoder
        state = decoder.new_state()
        segmented = SegmentedOffline(self.backend, self.bundle.feature_extractor())
        for log_probs in segmented.log_probs(blocks):
            decoder.advance(state, log_probs)
        return Transcript(decoder.result(state, final=True), segmented.samples / self.sample_rate)

    def _stream_blocks(self, blocks) -> Transcript:
        stream = self.create_stream()
        try:
            for block in blocks:
                stream.accept_waveform(self.sample_rate, block)
                stream.decode()
        except KeyboardInterrupt:
            raise Interrupted(Transcript(stream.result, stream.seconds_received)) from None
        return Transcript(stream.finalize(), stream.seconds_received)
