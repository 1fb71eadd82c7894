"""Log-mel frontend in numpy, shared by training, the torch pipeline and the edge runtime.

Frames are not centred: frame ``i`` covers samples ``[i*hop, i*hop + win)``, so a streaming
extractor can emit a frame as soon as its last sample arrives and matches the batch one. The
per-speaker normalization (:class:`SpeakerNorm`) is causal for the same reason: a frame's
features depend only on the audio up to its end.
"""
from __future__ import annotations

import numpy as np

from .config import FrontendConfig


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above (as librosa's default)."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / (200.0 / 3)
    log_part = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log_part, linear)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    linear = mel * (200.0 / 3)
    log_part = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0))
    return np.where(mel >= 15.0, log_part, linear)


def mel_filterbank(config: FrontendConfig) -> np.ndarray:
    """Slaney-normalized triangular filters, shape (n_mels, n_fft // 2 + 1)."""
    fft_freqs = np.linspace(0.0, config.sample_rate / 2, config.n_fft // 2 + 1)
    mel_points = np.linspace(_hz_to_mel(config.f_min), _hz_to_mel(config.f_max), config.n_mels + 2)
    hz_points = _mel_to_hz(mel_points)
    widths = np.diff(hz_points)
    ramps = hz_points[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (hz_points[2:] - hz_points[:-2]))[:, None]
    return weights.astype(np.float32)


_POWER_LIMIT = np.float32(1e30)
"""Cap on the power spectrum: far above any real audio (a full-scale sine gives ~1e4), it
keeps features finite for absurd inputs (+-1e30 samples overflow float32, inf - inf is NaN)."""


class LogMel:
    """Batch log-mel extraction: whole signal in, (frames, n_mels) float32 out."""

    def __init__(self, config: FrontendConfig = FrontendConfig()) -> None:
        self.config = config
        self.window = np.hanning(config.win_length + 1)[:-1].astype(np.float32)
        self.filters = mel_filterbank(config).T.copy()

    def num_frames(self, num_samples: int) -> int:
        cfg = self.config
        return 1 + (num_samples - cfg.win_length) // cfg.hop_length if num_samples >= cfg.win_length else 0

    def frames_from(self, samples: np.ndarray, count: int) -> np.ndarray:
        """Features of the first ``count`` frames of ``samples``."""
        cfg = self.config
        if count == 0:
            return np.zeros((0, cfg.n_mels), dtype=np.float32)
        index = np.arange(cfg.win_length)[None, :] + cfg.hop_length * np.arange(count)[:, None]
        with np.errstate(over="ignore", invalid="ignore"):
            frames = samples[index] * self.window
            spectrum = np.fft.rfft(frames, n=cfg.n_fft, axis=1)
            power = np.fmin((spectrum.real ** 2 + spectrum.imag ** 2).astype(np.float32), _POWER_LIMIT)
        return np.log(power @ self.filters + cfg.log_floor).astype(np.float32)

    def log_mel(self, samples: np.ndarray) -> np.ndarray:
        """The log-mel frames of a whole signal, before any per-speaker normalization."""
        samples = np.asarray(samples, dtype=np.float32)
        return self.frames_from(samples, self.num_frames(len(samples)))

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """The features a model reads for one whole input: log-mel, speaker-normalized from its start."""
        return SpeakerNorm(self.config)(self.log_mel(samples))


class SpeakerNorm:
    """The state of one stream's running per-speaker normalization (:class:`~speechlstm.config.SpeakerNormConfig`):
    the count and sum of the frames seen. Normalizing frames in pieces gives exactly what one
    call on all of them gives (the sum runs in the same order); with weight 0 frames pass unchanged."""

    def __init__(self, config: FrontendConfig = FrontendConfig()) -> None:
        norm = config.speaker_norm
        self.weight = norm.weight
        self.prior = np.asarray(norm.prior, dtype=np.float64)
        self.prior_frames = norm.prior_seconds / config.hop_seconds
        self.count = 0
        self.total = np.zeros(config.n_mels, dtype=np.float64)
        """Sum of (frame - prior) over the frames seen."""

    def __call__(self, frames: np.ndarray, keep: int | None = None) -> np.ndarray:
        """``frames``, the continuation of those seen, normalized; the state then counts the first
        ``keep`` of them (all when None: a segment that overlaps the next one counts only its own)."""
        if not self.weight or not len(frames):
            return frames
        sums = np.cumsum(np.concatenate([self.total[None], frames - self.prior]), axis=0)[1:]
        counts = self.prior_frames + (self.count + np.arange(1, len(frames) + 1))
        normalized = (frames - self.weight * sums / counts[:, None]).astype(np.float32)
        keep = len(frames) if keep is None else keep
        if keep:
            self.total, self.count = sums[keep - 1], self.count + keep
        return normalized


class StreamingLogMel:
    """Accepts sample blocks of any size and returns the frames they complete, speaker-normalized
    (from ``norm``'s state when given: a stream starting over after an endpoint keeps its speaker).

    Keeps only the samples that a future frame still needs, so memory is bounded.
    """

    def __init__(self, config: FrontendConfig = FrontendConfig(), norm: SpeakerNorm | None = None) -> None:
        self.extractor = LogMel(config)
        self.norm = SpeakerNorm(config) if norm is None else norm
        self.buffer = np.zeros(0, dtype=np.float32)

    def accept(self, samples: np.ndarray) -> np.ndarray:
        cfg = self.extractor.config
        self.buffer = np.concatenate([self.buffer, np.asarray(samples, dtype=np.float32)])
        count = self.extractor.num_frames(len(self.buffer))
        feats = self.extractor.frames_from(self.buffer, count)
        self.buffer = self.buffer[count * cfg.hop_length:]
        return self.norm(feats)
