"""Training data: an in-memory audio cache, augmented features and length-bucketed batches.

Manifests are read by :mod:`speechlstm.io.manifest`; augmentation is :mod:`.augment`.
"""
from __future__ import annotations

import random
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from ..config import FrontendConfig
from ..frontend import LogMel
from ..io.audio import read_audio
from ..io.manifest import Utterance
from ..text import text_to_ids
from ..config import SAMPLE_RATE
from .augment import AugmentConfig, augment, frequency_warp, spec_augment


def _load_int16(path: Path) -> np.ndarray:
    return (np.clip(read_audio(path, SAMPLE_RATE), -1, 1) * 32767).astype(np.int16)


def load_audio_cache(utterances: list[Utterance], workers: int = 2) -> list[np.ndarray]:
    """Decode every utterance once into int16 arrays (an hour is about 115 MB)."""
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(_load_int16, [u.path for u in utterances], chunksize=16))


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
            return spec_augment(feats, rng, self.augment_config.spec_masks), self.targets[index], self.phone_targets[index]
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
