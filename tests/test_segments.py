"""Offline mode in bounded memory: long audio runs the full BiLSTM segment by segment
(speechlstm.segments), joined without gaps or shifts; short audio runs whole as before."""
from __future__ import annotations

import numpy as np
import pytest

import speechlstm.segments as segments
from speechlstm.config import FrontendConfig, SpeakerNormConfig
from speechlstm.frontend import LogMel
from speechlstm.segments import SegmentedOffline

RATE = 16000


class _LocalModel:
    """A stand-in acoustic model whose output step depends only on its own three frames, so a
    segmented run must reproduce the whole-file run exactly; it records each input length."""

    stack, chunk, right = 3, 10, 8

    def __init__(self) -> None:
        self.calls: list[int] = []

    def full(self, frames: np.ndarray, head: str = "chars") -> np.ndarray:
        self.calls.append(len(frames))
        steps = len(frames) // self.stack
        return frames[:steps * self.stack].reshape(steps, self.stack, -1).mean(axis=2)


def _speech_with_pauses(seconds: float, pauses: list[float]) -> np.ndarray:
    """Noise at -20 dBFS with 0.6 s of near-silence centred on each of ``pauses``."""
    audio = (np.random.default_rng(0).standard_normal(int(seconds * RATE)) * 0.1).astype(np.float32)
    for centre in pauses:
        audio[int((centre - 0.3) * RATE):int((centre + 0.3) * RATE)] *= 0.001
    return audio


NORMED = FrontendConfig(speaker_norm=SpeakerNormConfig(0.5, 1.0, (-5.0,) * 80))
"""With the running per-speaker normalization, whose state must run on across segments."""


def _segmented(audio: np.ndarray, block_seconds: float, frontend: FrontendConfig = FrontendConfig()
               ) -> tuple[np.ndarray, list[np.ndarray], _LocalModel]:
    model = _LocalModel()
    block = int(block_seconds * RATE)
    pieces = list(SegmentedOffline(model, LogMel(frontend)).log_probs(
        audio[i:i + block] for i in range(0, len(audio), block)))
    return np.concatenate(pieces), pieces, model


@pytest.mark.parametrize("block_seconds, frontend", [(10.0, FrontendConfig()), (0.37, FrontendConfig()),
                                                     (1000.0, FrontendConfig()), (10.0, NORMED)])
def test_segments_join_like_one_whole_run_and_cut_at_pauses(block_seconds, frontend):
    pauses = [24.0, 51.5, 77.0, 103.0, 128.0]
    audio = _speech_with_pauses(150.0, pauses)
    whole = _LocalModel().full(LogMel(frontend)(audio))
    joined, pieces, model = _segmented(audio, block_seconds, frontend)
    np.testing.assert_allclose(joined, whole, atol=1e-5)  # equal but for BLAS summation order
    limit = (segments.LONGEST_SECONDS + 2 * segments.CONTEXT_SECONDS) * 100 + 2
    assert len(pieces) > 3 and max(model.calls) <= limit, model.calls
    ends = np.cumsum([len(piece) for piece in pieces])[:-1] * 0.03
    assert all(min(abs(end - pause) for pause in pauses) <= 0.3 for end in ends), (ends, pauses)


def test_up_to_a_minute_runs_whole():
    audio = _speech_with_pauses(segments.WHOLE_SECONDS, [20.0, 40.0])
    joined, pieces, model = _segmented(audio, 10.0)
    assert len(pieces) == 1 and model.calls == [len(LogMel(FrontendConfig())(audio))]
