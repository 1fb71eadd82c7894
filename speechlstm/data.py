"""Training data: manifests, an in-memory audio cache, augmentation and length-bucketed batches.

Manifests are TSV files with a header (``path duration speaker source license text``),
paths relative to the manifest's folder, the format of ``../shared/data`` and of the
synthetic sets made by ``tools/synth.py``.
"""
from __future__ import annotations

import csv
import io
import math
import os
import random
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import soundfile as sf

from .audio import read_audio, resample
from .frontend import FrontendConfig, LogMel
from .text import text_to_ids

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class Utterance:
    path: Path
    duration: float
    text: str
    speaker: str = ""
    source: str = ""


class ManifestError(ValueError):
    """A manifest that cannot be read: not UTF-8 text, a missing column, a bad value; names the file."""


def read_manifest(path: str | Path, columns: tuple[str, ...] = ("path", "duration", "text")) -> list[Utterance]:
    """Rows of a manifest with absolute audio paths; ``columns`` must be in its header
    (a manifest without ``duration``, when not required, gives durations of 0)."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            rows = list(reader)
            header = reader.fieldnames or []
    except UnicodeDecodeError:
        raise ManifestError(f"{path}: not a manifest (a UTF-8 TSV file with a header)") from None
    missing = [column for column in columns if column not in header]
    if missing:
        raise ManifestError(f"{path}: no {', '.join(missing)} column in the header (a TSV manifest needs "
                            f"{', '.join(columns)}; found: {', '.join(header) or 'nothing'})")
    utterances = []
    for line, row in enumerate(rows, start=2):
        try:
            duration = float(row.get("duration") or 0.0)
        except ValueError:
            raise ManifestError(f"{path}:{line}: duration {row['duration']!r} is not a number") from None
        if any(row[column] is None for column in ("path", *columns)):
            raise ManifestError(f"{path}:{line}: fewer fields than the header has")
        utterances.append(Utterance(path.parent / row["path"], duration, row.get("text") or "",
                                    row.get("speaker") or "", row.get("source") or ""))
    return utterances


def import_librispeech(root: str | Path, manifest: str | Path) -> int:
    """Write a manifest for a LibriSpeech-layout folder (SPEAKER/CHAPTER/*.trans.txt + .flac).

    Returns the number of utterances. Paths in the manifest are relative to its folder.
    """
    root, manifest = Path(root).resolve(), Path(manifest).resolve()
    rows = []
    for transcript in sorted(root.rglob("*.trans.txt")):
        speaker = transcript.parent.parent.name
        for line in transcript.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            utterance_id, _, text = line.partition(" ")
            audio = transcript.parent / f"{utterance_id}.flac"
            if not audio.exists():
                continue
            duration = sf.info(str(audio)).duration
            relative = os.path.relpath(audio, manifest.parent)
            rows.append(f"{relative}\t{duration:.3f}\tlibrispeech-{speaker}\tlibrispeech\tCC-BY-4.0\t{text.strip()}")
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text("path\tduration\tspeaker\tsource\tlicense\ttext\n" + "".join(r + "\n" for r in rows),
                        encoding="utf-8")
    return len(rows)


def _load_int16(path: Path) -> np.ndarray:
    return (np.clip(read_audio(path, SAMPLE_RATE), -1, 1) * 32767).astype(np.int16)


def load_audio_cache(utterances: list[Utterance], workers: int = 2) -> list[np.ndarray]:
    """Decode every utterance once into int16 arrays (an hour is about 115 MB)."""
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(_load_int16, [u.path for u in utterances], chunksize=16))


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of the waveform augmentations and the feature frequency warp."""

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

    def scaled(self, factor: float) -> "AugmentConfig":
        """The same ranges with every degradation probability times ``factor`` (speed and frequency warp kept)."""
        return replace(self, p_noise=self.p_noise * factor, p_reverb=self.p_reverb * factor,
                       p_telephone=self.p_telephone * factor, p_reencode=self.p_reencode * factor,
                       p_babble=self.p_babble * factor)


def _colored_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """White, pink or brown noise of unit RMS, shaped in the frequency domain."""
    exponent = rng.choice([0.0, 0.5, 1.0])
    spectrum = np.fft.rfft(rng.standard_normal(n))
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
        size = len(x) + len(impulse) - 1
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


def spec_augment(feats: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Two frequency masks (up to 15 bins) and one time mask (up to 40 frames) per 3 s."""
    feats = feats.copy()
    fill = feats.mean() if len(feats) else 0.0
    for _ in range(2):
        width = int(rng.integers(0, 16))
        start = int(rng.integers(0, feats.shape[1] - width + 1))
        feats[:, start:start + width] = fill
    for _ in range(max(1, len(feats) // 300)):
        width = int(rng.integers(0, min(41, len(feats) // 5 + 1)))
        start = int(rng.integers(0, max(1, len(feats) - width)))
        feats[start:start + width] = fill
    return feats


class FeatureDataset:
    """(index, draw) → (log-mel features, character ids, phone ids or None); augments when ``augment_config`` is set."""

    def __init__(self, utterances: list[Utterance], audio: list[np.ndarray],
                 frontend: FrontendConfig = FrontendConfig(), augment_config: AugmentConfig | None = None,
                 seed: int = 0, phone_targets: list[list[int] | None] | None = None) -> None:
        self.utterances, self.audio = utterances, audio
        self.extractor = LogMel(frontend)
        self.augment_config = augment_config
        self.seed = seed
        self.targets = [text_to_ids(u.text) for u in utterances]
        self.phone_targets = phone_targets or [None] * len(utterances)

    def __len__(self) -> int:
        return len(self.utterances)

    def __getitem__(self, key: tuple[int, int]) -> tuple[np.ndarray, list[int], list[int] | None]:
        index, draw = key
        samples = self.audio[index].astype(np.float32) / 32768.0
        if self.augment_config is not None:
            rng = np.random.default_rng((self.seed, index, draw))
            babble = self.audio[int(rng.integers(len(self.audio)))]
            samples = augment(samples, rng, self.augment_config, babble)
            feats = self.extractor(samples)
            if rng.random() < self.augment_config.p_warp:
                feats = frequency_warp(feats, rng.uniform(*self.augment_config.warp))
            return spec_augment(feats, rng), self.targets[index], self.phone_targets[index]
        return self.extractor(samples), self.targets[index], self.phone_targets[index]


def bucket_batches(durations: list[float], weights: list[float], batch_seconds: float,
                   rng: random.Random, max_items: int = 256) -> list[list[int]]:
    """Group utterance indices of similar length into batches of about ``batch_seconds``.

    ``weights[i]`` repeats utterance ``i`` (oversampling scarce real speech); a fraction
    is the chance of one more copy this epoch, so 0.3 uses a random 30 % of a set.
    """
    items = [i for i, w in enumerate(weights) for _ in range(int(w) + (rng.random() < w - int(w)))]
    rng.shuffle(items)
    items.sort(key=lambda i: durations[i] + rng.uniform(0, 0.5))
    batches, current, longest = [], [], 0.0
    for i in items:
        longest_if = max(longest, durations[i])
        if current and (longest_if * (len(current) + 1) > batch_seconds or len(current) >= max_items):
            batches.append(current)
            current, longest_if = [], durations[i]
        current.append(i)
        longest = longest_if
    if current:
        batches.append(current)
    rng.shuffle(batches)
    return batches
