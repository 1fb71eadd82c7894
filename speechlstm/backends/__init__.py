"""Acoustic backends: what runs the model, behind one protocol, chosen by name.

``torch`` (:mod:`.torch`, the only module outside :mod:`speechlstm.nn` that imports torch) runs
the bundle's weights; ``onnx`` and ``onnx-int8`` (:mod:`.onnx`, the only one outside
:mod:`speechlstm.nn` that imports onnxruntime) run exported graphs; ``auto`` picks onnx-int8
when its graph lies next to the bundle and onnxruntime is installed, else torch.
:func:`load_backend` imports a backend's module only when it is asked for.
"""
from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Sequence

import numpy as np

from ..config import CHAR_HEAD, ConfigError

if TYPE_CHECKING:
    from ..bundle import Bundle

BACKENDS = ("torch", "onnx", "onnx-int8")


class AcousticBackend(Protocol):
    """An acoustic model that can run the chunked (streaming) and the full computation."""

    stack: int
    chunk: int
    right: int
    heads: tuple[str, ...]
    """The CTC outputs this backend can compute: ``chars`` (every model), and ``phones`` where the model has
    a phone head."""

    def initial_state(self) -> Any:
        """Forward-direction LSTM state before any audio."""

    def step(self, frames: np.ndarray, main_steps: int, state: Any, head: str = CHAR_HEAD) -> tuple[np.ndarray, Any]:
        """``head``'s log-probs of ``main_steps`` steps from ``frames`` (main + right-context log-mel frames)."""

    def step_batch(self, frames: Sequence[np.ndarray], main_steps: int,
                   states: Sequence[Any], head: str = CHAR_HEAD) -> tuple[list[np.ndarray], list[Any]]:
        """:meth:`step` for several streams at once, each with its own frames and state (all
        ``main_steps`` long, with the same right context): one call, one result per stream."""

    def full(self, frames: np.ndarray, head: str = CHAR_HEAD) -> np.ndarray:
        """``head``'s log-probs of a whole utterance with the full BiLSTM."""


def resolve_backend(name: str, model: str | Path | None) -> str:
    """``auto`` resolved for ``model`` (see the module docstring); other names as they are."""
    if name != "auto":
        if name not in BACKENDS:
            raise ConfigError(f"backend must be auto or one of {BACKENDS}, got {name!r}")
        return name
    from ..model_files import DEFAULT_BUNDLE, EXPORTED, exported_files, exported_stems
    path = Path(model) if model is not None else DEFAULT_BUNDLE
    match = EXPORTED.match(path.name)
    if match:
        return "onnx-int8" if match["int8"] else "onnx"
    if path.is_dir():
        return "onnx-int8" if exported_stems(path, True) else "onnx"
    if find_spec("onnxruntime") is not None and exported_files(path, True)["streaming"].is_file():
        return "onnx-int8"
    return "torch"


def load_backend(name: str, model: str | Path | None, threads: int = 1,
                 preload: str = "streaming") -> tuple[Bundle, AcousticBackend]:
    """The bundle and backend ``name`` (resolved already) for ``model``; ``threads`` is the
    model's CPU threads (0: the library's default); ``preload`` the onnx graph opened first."""
    if name == "torch":
        from ..bundle import load_bundle
        from ..errors import MissingPackageError
        bundle = load_bundle(model)
        try:
            from .torch import TorchBackend
        except ImportError:
            raise MissingPackageError("the torch backend needs torch (pip install 'speechlstm[torch]'); without it, "
                              "export the model once (speechlstm export) and use an onnx backend") from None
        return bundle, TorchBackend.from_bundle(bundle, threads)
    from .onnx import load_onnx
    return load_onnx(model, int8=name == "onnx-int8", threads=threads, preload=preload)
