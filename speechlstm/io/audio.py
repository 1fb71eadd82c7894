"""Audio I/O: read anything libsndfile or FFmpeg (PyAV) reads, mix to mono, resample to the model rate.

Long files are streamed from disk in blocks (:func:`iter_blocks`), so hours of audio never
sit in memory at once. ``-`` names standard input; pipes, ``/dev/stdin`` and other inputs
that cannot seek are first copied to a spooled temporary file (memory, then disk), because
both decoders need to seek. Containers libsndfile cannot read (AAC in ``.m4a``/``.mp4``,
``.webm``, video files) are decoded with PyAV, which bundles FFmpeg's libraries.
"""
from __future__ import annotations

import math
import os
import re
import shutil
import stat
import sys
import tempfile
import warnings
from contextlib import contextmanager
from itertools import chain
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np
import soundfile as sf
import soxr

from ..config import SAMPLE_RATE
from ..errors import InputError


MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1000, 768000
"""Sample rates outside this range are header damage, not audio: resampling a file that
claims 1 Hz to 16 kHz would make 16000 samples out of each one and exhaust memory."""
LOW_SAMPLE_RATE = 8000
"""Below telephone bandwidth a file lacks sounds that tell words apart (s, f, th lie above 3 kHz):
it still transcribes, with a warning that the text will be poor."""
MAX_CHANNELS = 64
"""More channels than this (and than frames) means a (channels, frames) array passed by mistake."""
STDIN = "-"
"""The file name that reads standard input (``./-`` names a file called ``-``)."""
SPOOL_BYTES = 32 << 20
"""Unseekable input is held in memory up to this size, then in a temporary file."""


class AudioError(InputError, ValueError):
    """An input that cannot be turned into audio samples; the message names the file."""


class AudioWarning(UserWarning):
    """Audio that decodes but not as its file promised (truncated, no samples); names the file."""


def to_mono_float(samples: np.ndarray) -> np.ndarray:
    """Mix (frames, channels) or (frames,) to mono float32, replacing NaN by 0 and +-Inf by +-1;
    always a new array, so the caller may reuse its own."""
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
    elif samples.ndim != 1:
        raise AudioError(f"expected samples of shape (n,) or (n, channels), got {samples.shape}")
    if samples.dtype.kind in "iu":
        info = np.iinfo(samples.dtype)
        scale = float(max(-info.min, info.max))
        offset = 0.0 if samples.dtype.kind == "i" else (info.max + 1) / 2.0
        samples = samples.astype(np.float64)
        samples -= offset
        samples /= scale
    if samples.ndim == 2:
        samples = samples.mean(axis=1, dtype=np.float64)
    with np.errstate(over="ignore"):
        samples = samples.astype(np.float32)
    return np.nan_to_num(samples, copy=False, nan=0.0, posinf=1.0, neginf=-1.0)


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


def _reason(error: BaseException) -> str:
    reason = getattr(error, "error_string", None) or getattr(error, "strerror", None) or str(error)
    return reason.strip().removeprefix("Error : ").rstrip(".")  # libsndfile's "Error : flac decoder lost sync."


@contextmanager
def _seekable(path: Path) -> Iterator[bytes | BinaryIO]:
    """What the decoders open: the name of a regular file, or a spooled copy of standard
    input, a pipe or a device (they cannot seek)."""
    if str(path) == STDIN:
        with tempfile.SpooledTemporaryFile(SPOOL_BYTES) as spool:
            shutil.copyfileobj(sys.stdin.buffer, spool)
            spool.seek(0)
            yield spool
        return
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise AudioError(f"{path}: no such file") from None
    except OSError as error:
        raise AudioError(f"{path}: cannot read audio ({_reason(error)})") from None
    if stat.S_ISREG(mode):
        yield os.fsencode(path)
        return
    with tempfile.SpooledTemporaryFile(SPOOL_BYTES) as spool:
        try:
            with open(path, "rb") as stream:
                shutil.copyfileobj(stream, spool)
        except OSError as error:
            raise AudioError(f"{path}: cannot read audio ({_reason(error)})") from None
        spool.seek(0)
        yield spool


def _check_rate(path: Path, rate: int) -> None:
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AudioError(f"{path}: implausible sample rate {rate} Hz in the header "
                         f"(supported: {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz)")


_SHORT_DATA = re.compile(r"^(?:data|SSND)\s*:\s*(\d+) \(should be (\d+)\)", re.MULTILINE)


def _warn_if_truncated(path: Path, handle: sf.SoundFile) -> None:
    """libsndfile reads what a cut-off WAV/AIFF holds and logs the size its header promised."""
    short = _SHORT_DATA.search(handle.extra_info)
    if short:
        promised, held = int(short.group(1)), int(short.group(2))
        warnings.warn(f"{path}: truncated: the file holds {held / max(promised, 1):.0%} of the audio its header "
                      f"promises ({handle.frames / handle.samplerate:.2f} s)", AudioWarning, stacklevel=4)


def _soundfile_blocks(path: Path, source: bytes | BinaryIO, handle: sf.SoundFile,
                      block_seconds: float) -> Iterator[np.ndarray]:
    """libsndfile's blocks; where it stops mid-stream (a truncated FLAC: "flac decoder lost sync"),
    FFmpeg (PyAV) decodes what the file still holds, as ffmpeg itself would, from where libsndfile stopped."""
    block = max(1, int(math.ceil(block_seconds * handle.samplerate)))
    delivered = 0
    try:
        for raw in handle.blocks(blocksize=block, dtype="float32", always_2d=True):
            delivered += len(raw)
            yield to_mono_float(raw)
        return
    except (sf.LibsndfileError, RuntimeError) as error:
        reason = _reason(error)
    with _open_pyav(path, source, reason, damage=reason) as (rate, blocks):
        if rate != handle.samplerate:
            raise AudioError(f"{path}: audio data is corrupt or truncated ({reason})")
        yield from _skip(blocks, delivered)


def _skip(blocks: Iterator[np.ndarray], samples: int) -> Iterator[np.ndarray]:
    """``blocks`` without their first ``samples`` samples."""
    for block in blocks:
        if samples < len(block):
            yield block[samples:]
        samples = max(0, samples - len(block))


def _decodable_frames(container, stream, errors: list[str]) -> Iterator:
    """Every frame FFmpeg can decode: a packet it cannot is skipped and a container that breaks off
    ends the stream, as ffmpeg does; why goes into ``errors``."""
    import av

    packets = container.demux(stream)  # its last packet flushes the decoder
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.FFmpegError as error:
            errors.append(_reason(error))
            packet = None  # flush what the decoder holds
        try:
            yield from stream.decode(packet)
        except av.FFmpegError as error:
            errors.append(_reason(error))
        if packet is None:
            return


def _pyav_blocks(path: Path, container, stream, damage: str | None = None) -> Iterator[np.ndarray]:
    """Decoded frames as float32, interleaved channels mixed to mono like libsndfile's.

    A truncated or damaged file gives the audio that still decodes, with one warning (``damage``:
    why libsndfile gave up first, if it did); nothing decodable at all is an error."""
    import av

    convert = av.AudioResampler(format="flt", rate=stream.rate)
    errors: list[str] = []
    samples = 0
    try:
        for frame in chain(_decodable_frames(container, stream, errors), [None]):
            for converted in convert.resample(frame):
                block = to_mono_float(converted.to_ndarray().reshape(-1, len(converted.layout.channels)))
                samples += len(block)
                yield block
    except av.FFmpegError as error:
        raise AudioError(f"{path}: audio data is corrupt or truncated ({error})") from None
    damage = damage or (errors[0] if errors else None)
    if damage is None:
        return
    if not samples:
        raise AudioError(f"{path}: audio data is corrupt or truncated ({damage})")
    warnings.warn(f"{path}: truncated or damaged ({damage}): transcribing the {samples / stream.rate:.2f} s "
                  f"that decode", AudioWarning, stacklevel=2)


@contextmanager
def _open_pyav(path: Path, source: bytes | BinaryIO, reason: str,
               damage: str | None = None) -> Iterator[tuple[int, Iterator[np.ndarray]]]:
    """PyAV for what libsndfile refused (``damage``: why, when it gave up mid-stream); if FFmpeg
    refuses it too, libsndfile's ``reason`` is reported."""
    try:
        import av
    except ImportError:
        raise AudioError(f"{path}: cannot read audio ({reason}; PyAV, which reads more formats, "
                         f"is not installed)") from None
    if not isinstance(source, bytes):
        source.seek(0)
    try:
        container = av.open(os.fsdecode(source) if isinstance(source, bytes) else source, mode="r")
    except (av.FFmpegError, OSError, ValueError):
        raise AudioError(f"{path}: cannot read audio ({reason})") from None
    with container:
        if not container.streams.audio:
            raise AudioError(f"{path}: cannot read audio (no audio stream in this "
                             f"{container.format.name} file)")
        stream = container.streams.audio[0]
        _check_rate(path, stream.rate or 0)
        yield stream.rate, _pyav_blocks(path, container, stream, damage)


@contextmanager
def open_audio(path: str | bytes | os.PathLike, block_seconds: float = 10.0) -> Iterator[tuple[int, Iterator[np.ndarray]]]:
    """The file's sample rate and an iterator of mono float32 blocks at that rate, read lazily.

    Raises :class:`AudioError` naming the file for anything that is not audio; warns
    (:class:`AudioWarning`) for a truncated file.
    """
    path = _as_path(path)
    with _seekable(path) as source:
        try:
            handle = sf.SoundFile(source)
        except (sf.LibsndfileError, RuntimeError, OSError) as error:
            handle, refused = None, _reason(error)
        if handle is None:
            with _open_pyav(path, source, refused) as opened:
                yield opened
            return
        with handle:
            _check_rate(path, handle.samplerate)
            _warn_if_truncated(path, handle)
            yield handle.samplerate, _soundfile_blocks(path, source, handle, block_seconds)


def iter_blocks(path: str | bytes | os.PathLike, sample_rate: int = SAMPLE_RATE,
                block_seconds: float = 10.0) -> Iterator[np.ndarray]:
    """Yield mono float32 blocks at ``sample_rate``, read a block at a time.

    A file without a single sample yields nothing and warns (:class:`AudioWarning`): like
    silence, it transcribes to empty text.
    """
    samples = 0
    with open_audio(path, block_seconds) as (rate, blocks):
        if rate < LOW_SAMPLE_RATE:
            warnings.warn(f"{_as_path(path)}: sampled at {rate} Hz: it lacks the sounds above {rate / 2000:g} kHz "
                          f"that speech recognition relies on; expect a poor transcript", AudioWarning, stacklevel=2)
        resample = Resampler(rate, sample_rate)
        for block in blocks:
            samples += len(block)
            yield resample(block)
        tail = resample(np.zeros(0, dtype=np.float32), last=True)
        if len(tail):
            yield tail
    if samples == 0:
        warnings.warn(f"{_as_path(path)}: contains no audio samples", AudioWarning, stacklevel=2)


def read_audio(path: str | bytes | os.PathLike, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The whole file as mono float32 at ``sample_rate`` (empty, with a warning, if it holds no samples)."""
    blocks = list(iter_blocks(path, sample_rate))
    return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)


def audio_duration(path: str | bytes | os.PathLike) -> float | None:
    """Seconds of audio in a file from its header, or None where that is unknown (pipes, some containers)."""
    path = _as_path(path)
    if str(path) == STDIN:
        return None
    try:
        return sf.info(os.fsencode(path)).duration if path.is_file() else None
    except (sf.LibsndfileError, RuntimeError, OSError):
        pass
    try:
        import av
        with av.open(os.fsdecode(path)) as container:
            return container.duration / av.time_base if container.duration else None
    except Exception:  # noqa: BLE001 - any failure only means the duration is unknown here
        return None


def raw_pcm_blocks(stream: BinaryIO, sample_rate: int, block_seconds: float = 0.1) -> Iterator[tuple[int, np.ndarray]]:
    """Headerless 16-bit little-endian mono PCM from ``stream`` (what ``arecord -f S16_LE -c 1``,
    ``sox -t raw`` or ``ffmpeg -f s16le -ac 1`` write) as ``(sample_rate, int16 block)`` pairs (the
    stream they are fed to converts them to float once), each passed on as soon as it is read (at
    most ``block_seconds``), for live input that never ends. A trailing odd byte (half a sample) is dropped."""
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise AudioError(f"sample rate {sample_rate} Hz is outside the supported "
                         f"{MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz")
    size = 2 * max(1, round(block_seconds * sample_rate))
    read = getattr(stream, "read1", stream.read)  # read1: what the pipe holds now, without waiting for more
    odd = b""
    while data := read(size):
        data, odd = odd + data, b""
        if len(data) % 2:
            data, odd = data[:-1], data[-1:]
        if data:
            yield sample_rate, np.frombuffer(data, dtype="<i2")


def resample(samples: np.ndarray, source: int, target: int) -> np.ndarray:
    """Resample a whole array (mono float32)."""
    return Resampler(source, target)(to_mono_float(samples), last=True)
