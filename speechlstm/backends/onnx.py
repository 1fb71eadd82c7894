"""The torch-free runtime: exported ONNX graphs run by onnxruntime behind
:class:`~speechlstm.backends.AcousticBackend`, so the same :class:`~speechlstm.Recognizer`
and :class:`~speechlstm.Stream` drive it.

This module imports only numpy and onnxruntime; an edge install needs neither torch nor the
safetensors bundle, because each ONNX file carries the bundle header in its metadata (see
:mod:`speechlstm.nn.export` for the graphs and :mod:`speechlstm.model_files` for the file names).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..bundle import HEADER_KEYS, Bundle, BundleError, bundle_from_header
from ..config import CHAR_HEAD
from ..errors import MissingPackageError
from ..model_files import exported_files, missing_graph_hint

OUTPUTS = {"chars": "log_probs", "phones": "phone_log_probs"}
"""The graph output of each head (exports from before the phone head have only ``log_probs``)."""

class OnnxBackend:
    """Runs the exported graphs with onnxruntime (numpy in, numpy out).

    Whole utterances go through the offline graph when its file exists, else through the
    streaming graph as one chunk (the same computation). Each session is created on first
    use, so a process that only streams never loads the offline graph; ``preload`` names
    the graph opened at once to read the bundle header. ``threads`` sets onnxruntime's
    intra-op threads (0: its default).
    """

    def __init__(self, paths: dict[str, Path], threads: int = 0, preload: str = "streaming") -> None:
        if not paths["streaming"].is_file():
            missing = paths["streaming"]
            raise BundleError(f"exported model not found: {missing}{missing_graph_hint(missing)}")
        self.paths = {graph: path for graph, path in paths.items() if path.is_file()}
        self.threads = threads
        self._sessions: dict[str, Any] = {}
        self.bundle = self._open(preload if preload in self.paths else "streaming")
        model = self.bundle.model
        self.stack, self.chunk, self.right = model.stack, model.chunk, model.right
        names = {output.name for output in next(iter(self._sessions.values())).get_outputs()}
        self.heads = tuple(head for head, output in OUTPUTS.items() if output in names)
        self._state_shape = (model.layers, 1, model.hidden)

    def _open(self, graph: str) -> Bundle:
        """Create ``graph``'s session and return the bundle its metadata describes."""
        path = self.paths[graph]
        session = cpu_session(path, self.threads)
        metadata = session.get_modelmeta().custom_metadata_map
        if metadata.get("graph") != graph:
            raise BundleError(f"{path}: expected a speechlstm {graph} graph, found {metadata.get('graph')!r}")
        try:
            header = {key: json.loads(metadata[key]) for key in HEADER_KEYS}
        except (KeyError, json.JSONDecodeError) as error:
            raise BundleError(f"{path}: ONNX metadata lacks a valid speechlstm header ({error})") from None
        bundle = bundle_from_header(header, {}, path, weights=False)
        if self._sessions and bundle.header() != self.bundle.header():
            raise BundleError(f"{path}: its metadata differs from {self.paths[next(iter(self._sessions))]}")
        self._sessions[graph] = session
        return bundle

    def _session(self, graph: str) -> Any:
        if graph not in self._sessions:
            self._open(graph)
        return self._sessions[graph]

    def initial_state(self) -> tuple[np.ndarray, np.ndarray]:
        """(h, c) of every layer's forward LSTM, each (layers, 1, hidden), all zeros."""
        return np.zeros(self._state_shape, np.float32), np.zeros(self._state_shape, np.float32)

    def _output(self, head: str) -> str:
        if head not in self.heads:
            raise BundleError(f"{self.paths['streaming']}: the exported graph has no {head!r} output"
                              " (export the model again with this speechlstm)")
        return OUTPUTS[head]

    def step(self, frames: np.ndarray, main_steps: int, state: tuple[np.ndarray, np.ndarray],
             head: str = CHAR_HEAD) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        inputs = {"frames": np.ascontiguousarray(frames, dtype=np.float32),
                  "main_steps": np.array(main_steps, dtype=np.int64), "h_in": state[0], "c_in": state[1]}
        log_probs, h, c = self._session("streaming").run([self._output(head), "h_out", "c_out"], inputs)
        return log_probs, (h, c)

    def step_batch(self, frames: Sequence[np.ndarray], main_steps: int,
                   states: Sequence[tuple[np.ndarray, np.ndarray]], head: str = CHAR_HEAD
                   ) -> tuple[list[np.ndarray], list[tuple[np.ndarray, np.ndarray]]]:
        """The exported streaming graph takes one stream (batch 1), so the streams run one
        after another in this one call; the results are those of :meth:`step`."""
        outputs = [self.step(f, main_steps, s, head) for f, s in zip(frames, states)]
        return [log_probs for log_probs, _ in outputs], [state for _, state in outputs]

    def full(self, frames: np.ndarray, head: str = CHAR_HEAD) -> np.ndarray:
        output = self._output(head)
        if len(frames) < self.stack:
            size = len(self.bundle.vocabulary) if head == "chars" else self.bundle.model.phone_vocab_size
            return np.zeros((0, size), dtype=np.float32)
        if "offline" not in self.paths:
            return self.step(frames, len(frames) // self.stack, self.initial_state(), head)[0]
        inputs = {"feats": np.ascontiguousarray(frames, dtype=np.float32)[None],
                  "lengths": np.array([len(frames)], dtype=np.int64)}
        return self._session("offline").run([output], inputs)[0][0]


def _onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise MissingPackageError("the onnx backends need onnxruntime (pip install onnxruntime)") from None
    return onnxruntime


def cpu_session(path: str | Path, threads: int = 0) -> Any:
    """An onnxruntime CPU session on ``threads`` intra-op threads (0: one per core); a file
    that is not a loadable model raises BundleError."""
    ort = _onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime's errors share no base class beyond Exception
        raise BundleError(f"{path}: not a loadable ONNX model ({str(error).splitlines()[0]})") from None


def load_onnx(model: str | Path | None = None, int8: bool = True, threads: int = 0,
              preload: str = "streaming") -> tuple[Bundle, OnnxBackend]:
    """The bundle (header only, no tensors) and backend of an exported model; see
    :func:`exported_files` for what ``model`` may name."""
    backend = OnnxBackend(exported_files(model, int8), threads, preload)
    return backend.bundle, backend
