"""Shared fixtures: tiny random-weight models (fast) and the shipped bundle (where it matters)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
sys.path.insert(0, str(ROOT / "tools"))  # tools/benchlib.py: the counting backend and log-prob recorder, once


def recipe_script(name: str):
    """A script of recipes/en/local/ as a module (its functions, without running it)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, ROOT / "recipes" / "en" / "local" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """Tiny LSTMs run fastest and steadiest on one thread, whatever else the machine is doing."""
    try:
        import torch
    except ImportError:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory) -> Path:
    import torch

    from speechlstm.config import FrontendConfig, ModelConfig
    from speechlstm.nn.model import AcousticModel, save_bundle

    torch.manual_seed(0)
    model = AcousticModel(ModelConfig(hidden=24, layers=2, chunk=5, right=3))
    path = tmp_path_factory.mktemp("bundle") / "tiny.safetensors"
    return save_bundle(path, model, FrontendConfig(), dtype=np.float32)


@pytest.fixture(scope="session")
def normed_bundle(tiny_bundle, tmp_path_factory) -> Path:
    """The tiny bundle with the running per-speaker normalization on (half the offset, prior 0.5 s)."""
    from dataclasses import replace

    from speechlstm.bundle import load_bundle, write_bundle
    from speechlstm.config import SpeakerNormConfig

    bundle = load_bundle(tiny_bundle)
    norm = SpeakerNormConfig(0.5, 0.5, tuple(np.linspace(-8.0, -2.0, bundle.frontend.n_mels)))
    return write_bundle(tmp_path_factory.mktemp("normed") / "normed.safetensors", bundle.tensors,
                        replace(bundle.frontend, speaker_norm=norm), bundle.model, bundle.info, dtype=np.float32)


@pytest.fixture(scope="session")
def shipped_bundle() -> Path:
    from speechlstm.model_files import DEFAULT_BUNDLE
    if not DEFAULT_BUNDLE.exists():
        pytest.fail(f"the shipped model is missing: {DEFAULT_BUNDLE}")
    return DEFAULT_BUNDLE


def sample_transcripts() -> dict[Path, str]:
    return {wav: wav.with_suffix(".txt").read_text().strip() for wav in sorted(SAMPLES.glob("*.wav"))}
