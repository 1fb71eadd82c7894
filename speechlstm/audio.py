"""Audio I/O: read anything libsndfile reads, mix to mono, resample to the model rate.

Long files are streamed from disk in blocks (:func:`iter_blocks`), so hours of audio never
sit in memory at once.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf
import soxr


MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1000, 768000
"""Sample rates outside this range are header damage, not audio: resampling a file that
claims 1 Hz to 16 kHz would make 16000 samples out of each one and exhaust memory."""
MAX_CHANNELS = 64
"""More channels than this (and than frames) means a (channels, frames) array passed by mistake."""


class AudioError(ValueError):
    """An input that cannot be turned into audio samples; the message names the file."""


def to_mono_float(samples: np.ndarray) -> np.ndarray:
    """Mix (frames, channels) or (frames,) to mono float32, replacing NaN by 0 and +-Inf by +-1."""
    samples = np.asarray(samples)
    if samples.dtype.kind not in "fiu":
        raise AudioError(f"expected numeric samples, got dtype {samples.dtype}")
    if samples.ndim == 2:
        frames, channels = samples.shape
        if channels == 0:
            raise AudioError(f"expected at least one channel, got shape {samples.shape}")
        if channels > MAX_CHANNELS and channels > frames:
            raise AudioError(f"expected (frames, channels), got shape {samples.shape}: "
                             f"pass the transpose for (channels, frames) data")
        samples = samples.mean(axis=1, dtype=np.float64)
    elif samples.ndim != 1:
        raise AudioError(f"expected samples of shape (n,) or (n, channels), got {samples.shape}")
    if samples.dtype.kind in "iu":
        info = np.iinfo(samples.dtype)
        scale = float(max(-info.min, info.max))
        offset = 0.0 if samples.dtype.kind == "i" else (info.max + 1) / 2.0
        samples = (samples.astype(np.float64) - offset) / scale
    with np.errstate(over="ignore"):
        samples = samples.astype(np.float32)
    return np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0)


class Resampler:
    """Streaming resampler to ``target`` Hz; a pass-through when rates already match."""

    def __init__(self, source: int, target: int) -> None:
        if not MIN_SAMPLE_RATE <= source <= MAX_SAMPLE_RATE:
            raise AudioError(f"sample rate {source} Hz is outside the supported "
                             f"{MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz")
        self.source, self.target = source, target
        self._stream = None if source == target else soxr.ResampleStream(source, target, 1, dtype="float32", quality="HQ")

    def __call__(self, samples: np.ndarray, last: bool = False) -> np.ndarray:
        if self._stream is None:
            return samples
        return self._stream.resample_chunk(samples, last=last)


def _as_path(path: str | bytes | os.PathLike) -> Path:
    """A Path for str, bytes or PathLike names; bytes keep non-UTF-8 names (as surrogates)."""
    return Path(os.fsdecode(path))


def _open(path: Path) -> sf.SoundFile:
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    try:
        handle = sf.SoundFile(os.fsencode(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as error:
        reason = getattr(error, "error_string", None) or getattr(error, "strerror", None) or str(error)
        raise AudioError(f"{path}: cannot read audio ({reason.strip()})") from None
    if handle.frames == 0 and handle.format in ("WAV", "WAVEX", "FLAC", "AIFF"):
        handle.close()
        raise AudioError(f"{path}: contains no audio samples")
    if not MIN_SAMPLE_RATE <= handle.samplerate <= MAX_SAMPLE_RATE:
        handle.close()
        raise AudioError(f"{path}: implausible sample rate {handle.samplerate} Hz in the header "
                         f"(supported: {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz)")
    return handle


def iter_blocks(path: str | bytes | os.PathLike, sample_rate: int = 16000,
                block_seconds: float = 10.0) -> Iterator[np.ndarray]:
    """Yield mono float32 blocks at ``sample_rate`` read from disk a block at a time."""
    path = _as_path(path)
    with _open(path) as handle:
        resample = Resampler(handle.samplerate, sample_rate)
        block = max(1, int(math.ceil(block_seconds * handle.samplerate)))
        try:
            for raw in handle.blocks(blocksize=block, dtype="float32", always_2d=True):
                yield resample(to_mono_float(raw))
        except (sf.LibsndfileError, RuntimeError) as error:
            raise AudioError(f"{path}: audio data is corrupt or truncated ({error})") from None
        tail = resample(np.zeros(0, dtype=np.float32), last=True)
        if len(tail):
            yield tail


def read_audio(path: str | bytes | os.PathLike, sample_rate: int = 16000) -> np.ndarray:
    """The whole file as mono float32 at ``sample_rate``."""
    blocks = list(iter_blocks(path, sample_rate))
    samples = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
    if len(samples) == 0:
        raise AudioError(f"{_as_path(path)}: contains no audio samples")
    return samples


def resample(samples: np.ndarray, source: int, target: int) -> np.ndarray:
    """Resample a whole array (mono float32)."""
    return Resampler(source, target)(to_mono_float(samples), last=True)
