"""Training-time augmentation: waveform degradations (speed, reverb, babble, noise, telephone
band, lossy re-encoding, gain), the feature frequency warp and SpecAugment."""
from __future__ import annotations

import io
import math
from dataclasses import dataclass, replace

import numpy as np
import soundfile as sf

from ..config import SAMPLE_RATE
from ..io.audio import resample


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of the waveform augmentations, the feature frequency warp and SpecAugment."""

    speed: tuple[float, float] = (0.9, 1.1)
    p_speed: float = 0.8
    p_noise: float = 0.5
    snr_db: tuple[float, float] = (5.0, 30.0)
    p_reverb: float = 0.3
    p_telephone: float = 0.15
    p_reencode: float = 0.1
    p_babble: float = 0.15
    gain_db: tuple[float, float] = (-20.0, 6.0)
    warp: tuple[float, float] = (0.88, 1.12)
    p_warp: float = 0.5
    spec_masks: float = 1.0

    def scaled(self, factor: float) -> "AugmentConfig":
        """The same ranges with every degradation probability times ``factor`` (speed and frequency warp kept)."""
        return replace(self, p_noise=self.p_noise * factor, p_reverb=self.p_reverb * factor,
                       p_telephone=self.p_telephone * factor, p_reencode=self.p_reencode * factor,
                       p_babble=self.p_babble * factor)


def _colored_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """White, pink or brown noise of unit RMS, shaped in the frequency domain (white needs no
    shaping: its round trip through an FFT of an arbitrary, often prime, length was the data
    path's dearest step)."""
    exponent = rng.choice([0.0, 0.5, 1.0])
    white = rng.standard_normal(n)
    if exponent == 0.0:
        return white / (np.sqrt(np.mean(white ** 2)) + 1e-9)
    spectrum = np.fft.rfft(white)
    freqs = np.maximum(np.fft.rfftfreq(n), 1.0 / n)
    noise = np.fft.irfft(spectrum / freqs ** exponent, n)
    return noise / (np.sqrt(np.mean(noise ** 2)) + 1e-9)


def _room_impulse(rng: np.random.Generator) -> np.ndarray:
    """Exponentially decaying noise tail with a direct path: a cheap synthetic room."""
    rt60 = rng.uniform(0.15, 0.8)
    n = int(rt60 * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60) * rng.uniform(0.1, 0.5)
    tail[0] = 1.0
    return tail / np.sqrt(np.sum(tail ** 2))


def _reencode(samples: np.ndarray) -> np.ndarray:
    """Round-trip through Ogg Vorbis in memory, as lossy uploads and streams do."""
    buffer = io.BytesIO()
    sf.write(buffer, samples, SAMPLE_RATE, format="OGG", subtype="VORBIS")
    buffer.seek(0)
    decoded, _ = sf.read(buffer, dtype="float32")
    return decoded[: len(samples)]


def augment(samples: np.ndarray, rng: np.random.Generator, config: AugmentConfig,
            babble: np.ndarray | None = None) -> np.ndarray:
    """One random combination of speed, reverb, babble, noise, band limiting, re-encoding, gain."""
    x = samples.astype(np.float64)
    if rng.random() < config.p_speed:
        factor = rng.uniform(*config.speed)
        x = resample(x.astype(np.float32), int(SAMPLE_RATE * factor), SAMPLE_RATE).astype(np.float64)
    if rng.random() < config.p_reverb:
        impulse = _room_impulse(rng)
        size = 1 << (len(x) + len(impulse) - 2).bit_length()  # a power of two: pocketfft is slow on odd sizes
        x = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(impulse, size), size)[: len(x)]
    power = np.mean(x ** 2) + 1e-10
    if babble is not None and len(babble) and rng.random() < config.p_babble:
        other = np.resize(babble.astype(np.float64) / 32768.0, len(x))
        other *= math.sqrt(power / (np.mean(other ** 2) + 1e-10) / 10 ** (rng.uniform(10, 25) / 10))
        x = x + other
    if rng.random() < config.p_noise:
        x = x + _colored_noise(rng, len(x)) * math.sqrt(power / 10 ** (rng.uniform(*config.snr_db) / 10))
    if rng.random() < config.p_telephone:
        narrow = resample(x.astype(np.float32), SAMPLE_RATE, 8000)
        x = resample(narrow, 8000, SAMPLE_RATE)[: len(x)].astype(np.float64)
    peak = np.max(np.abs(x)) + 1e-9
    x = x / peak * 10 ** (rng.uniform(*config.gain_db) / 20) * 0.9
    x = np.clip(x, -1.0, 1.0).astype(np.float32)
    if rng.random() < config.p_reencode and len(x) > 1600:
        x = _reencode(x)
    return x


def frequency_warp(feats: np.ndarray, factor: float) -> np.ndarray:
    """Stretch the mel axis by ``factor`` (VTLP-style): a cheap new vocal-tract length.

    With 16 real readers the model learns their voices; warping each utterance's spectrum
    moves its formants as a shorter or longer vocal tract would, independently of tempo.
    """
    bins = feats.shape[1]
    source = np.clip(np.arange(bins) / factor, 0, bins - 1)
    low = np.floor(source).astype(int)
    high = np.minimum(low + 1, bins - 1)
    weight = (source - low).astype(feats.dtype)
    return feats[:, low] * (1 - weight) + feats[:, high] * weight


def spec_augment(feats: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """Two frequency masks (up to 15 bins) and one time mask (up to 40 frames) per 3 s.

    ``strength`` scales the widest mask (0: none), so training can measure how much masking
    small data wants.
    """
    feats = feats.copy()
    if strength <= 0:
        return feats
    fill = feats.mean() if len(feats) else 0.0
    for _ in range(2):
        width = int(rng.integers(0, min(feats.shape[1], round(15 * strength)) + 1))
        start = int(rng.integers(0, feats.shape[1] - width + 1))
        feats[:, start:start + width] = fill
    for _ in range(max(1, len(feats) // 300)):
        width = int(rng.integers(0, min(round(40 * strength) + 1, len(feats) // 5 + 1)))
        start = int(rng.integers(0, max(1, len(feats) - width)))
        feats[start:start + width] = fill
    return feats
