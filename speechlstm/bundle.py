"""The model bundle: one safetensors file with weights, frontend config, normalization
statistics, vocabulary and metadata. Loading it never executes code (no pickle).

Like a torchaudio pipeline bundle, a :class:`Bundle` knows its sample rate, frame shift,
chunk and right context, and hands out the matching frontend (the file names it is found
by live in :mod:`speechlstm.model_files`). Its configs are
typed (:mod:`speechlstm.config`); the torch model is built from it in :mod:`speechlstm.nn.model`.

Header versions: 2 (written now) stores the complete model config and, for trained models, the
training config (``train``); 1 (bundles and ONNX files written before) lacked ``train`` and, in
the oldest files, ``phone_vocab_size``. Both load; :func:`upgrade_header` turns a version-1
header into a version-2 one. A bundle file's header also holds ``weights_sha256``
(:func:`weights_checksum`), so that damaged weights, which would still load, are refused; files
written before it load with a warning.
"""
from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .config import FrontendConfig, ModelConfig
from .errors import ModelError
from .frontend import LogMel
from .io.atomic import atomic_path
from .model_files import DEFAULT_BUNDLE, missing_model_hint
from .text import VOCABULARY

FORMAT = "speechlstm-bundle"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
HEADER_KEYS = ("format", "version", "frontend", "model", "vocabulary", "info")
"""The keys every header has (version 2 adds the optional ``train``)."""


class BundleError(ModelError, ValueError):
    """The file is missing, is not a speechlstm bundle, or is inconsistent."""


@dataclass(frozen=True)
class Bundle:
    """Everything needed to turn 16 kHz audio into text with one trained model."""

    frontend: FrontendConfig
    model: ModelConfig
    vocabulary: tuple[str, ...]
    tensors: dict[str, np.ndarray] = field(repr=False)
    info: dict = field(default_factory=dict)
    source: str = field(default="", compare=False)
    """The file it was read from, for error messages."""
    train: dict = field(default_factory=dict)
    """The training config (:class:`speechlstm.nn.train_config.TrainConfig` as a dict); empty when not recorded."""

    def header(self) -> dict:
        """The JSON header (everything but the weights), as stored in every model file format."""
        return make_header(self.frontend, self.model, self.vocabulary, self.info, self.train)

    @property
    def sample_rate(self) -> int:
        return self.frontend.sample_rate

    @property
    def frame_shift(self) -> float:
        """Seconds per model output step (hop times frame stacking)."""
        return self.frontend.frame_shift(self.model.stack)

    @property
    def chunk_seconds(self) -> float:
        return self.model.chunk * self.frame_shift

    @property
    def right_context_seconds(self) -> float:
        return self.model.right * self.frame_shift

    def feature_extractor(self) -> LogMel:
        return LogMel(self.frontend)



def make_header(frontend: FrontendConfig, model: ModelConfig, vocabulary: Sequence[str], info: Mapping,
                train: Mapping | None = None) -> dict:
    """The bundle header; its top-level keys are :data:`HEADER_KEYS` plus ``train``."""
    return {"format": FORMAT, "version": FORMAT_VERSION, "frontend": frontend.to_dict(), "model": model.to_dict(),
            "vocabulary": list(vocabulary), "info": dict(info), "train": dict(train or {})}


CHECKSUM_KEY = "weights_sha256"


def weights_checksum(tensors: Mapping[str, np.ndarray]) -> str:
    """SHA-256 of every tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape}\n".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def write_bundle(path: str | Path, tensors: Mapping[str, np.ndarray], frontend: FrontendConfig, model: ModelConfig,
                 info: Mapping | None = None, train: Mapping | None = None, dtype: Any = np.float16) -> Path:
    """Write weights (numpy arrays, stored as ``dtype``; the normalization statistics stay float32)
    and configs to ``path`` atomically. :func:`speechlstm.nn.model.save_bundle` writes a torch model."""
    from safetensors.numpy import save_file

    path = Path(path)
    arrays = {name: np.asarray(value).astype(np.float32 if name.startswith("feat_") else dtype)
              for name, value in tensors.items()}
    header = {**make_header(frontend, model, VOCABULARY, info or {}, train), CHECKSUM_KEY: weights_checksum(arrays)}
    with atomic_path(path) as temporary:
        save_file(arrays, str(temporary), metadata={"speechlstm": json.dumps(header)})
    return path


def load_bundle(path: str | Path | None = None) -> Bundle:
    """Read and validate a bundle; the shipped English model when ``path`` is None."""
    from safetensors import SafetensorError, safe_open

    path = Path(path) if path is not None else DEFAULT_BUNDLE
    onnx_hint = "; ONNX graphs run with --backend onnx or onnx-int8 (RecognizerConfig(backend=...))"
    if path.is_dir():
        bundles, graphs = (sorted(p.name for p in path.glob(pattern)) for pattern in ("*.safetensors", "*.onnx"))
        if bundles:
            what = f"pass the bundle file itself ({', '.join(bundles)})"
        elif graphs:
            what = f"it holds no model bundle (.safetensors) but ONNX graphs ({', '.join(graphs)}){onnx_hint}"
        else:
            what = "it holds no model bundle (.safetensors) and no ONNX graphs"
        raise BundleError(f"{path} is a folder: {what}")
    if path.suffix == ".onnx" and path.is_file():
        raise BundleError(f"{path} is an ONNX graph, not a model bundle (a .safetensors file){onnx_hint}")
    if not path.is_file():
        raise BundleError(f"model bundle not found: {path}{missing_model_hint(path)}")
    try:
        with safe_open(str(path), framework="np") as handle:
            raw = (handle.metadata() or {}).get("speechlstm")
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    except (SafetensorError, OSError, ValueError) as error:
        raise BundleError(f"{path} is not a readable model bundle ({error})") from None
    if raw is None:
        raise BundleError(f"{path} is a safetensors file but not a speechlstm bundle")
    try:
        header = json.loads(raw)
    except json.JSONDecodeError as error:
        raise BundleError(f"{path}: malformed bundle header ({error})") from None
    bundle = bundle_from_header(header, tensors, path)
    _check_weights(header, tensors, path)
    return bundle


def _check_weights(header: Mapping, tensors: Mapping[str, np.ndarray], path: Path) -> None:
    """Refuse weights that differ from those the bundle was written with (a damaged file)."""
    expected = header.get(CHECKSUM_KEY)
    if expected is None:
        warnings.warn(f"{path}: no checksum of the weights in the bundle header (written by an older "
                      "speechlstm), so damage to them cannot be detected")
    elif expected != weights_checksum(tensors):
        raise BundleError(f"{path}: the weights do not match the checksum in the bundle header (a damaged file?)")


def bundle_from_header(header: dict, tensors: dict[str, np.ndarray], path: str | Path,
                       weights: bool = True) -> Bundle:
    """Check a parsed header and build the bundle; shared by the safetensors and ONNX loaders.

    ``weights=False`` is for formats whose weights live elsewhere (ONNX graphs): the
    tensor shapes are then not checked and ``tensors`` may be empty.
    """
    try:
        if header.get("format") != FORMAT:
            raise BundleError(f"{path}: unknown format {header.get('format')!r}")
        if header.get("version") not in READABLE_VERSIONS:
            raise BundleError(f"{path}: bundle version {header.get('version')} is not supported "
                              f"(this speechlstm reads versions {', '.join(map(str, READABLE_VERSIONS))})")
        header = upgrade_header(header)
        frontend, model = _section(FrontendConfig, header["frontend"]), _section(ModelConfig, header["model"])
        bundle = Bundle(frontend, model, tuple(header["vocabulary"]), tensors, header.get("info", {}), str(path),
                        dict(header.get("train") or {}))
    except (KeyError, AttributeError) as error:
        raise BundleError(f"{path}: malformed bundle header ({error})") from None
    except TypeError as error:
        raise BundleError(f"{path}: model settings do not fit this speechlstm ({error})") from None
    except ValueError as error:
        raise BundleError(f"{path}: {error}") from None
    _validate(bundle, Path(path), weights)
    return bundle


def upgrade_header(header: Mapping) -> dict:
    """A version-1 header as version 2: the phone head's size (0, for the oldest files) and an
    empty training config are filled in. Version-2 headers come back as they are."""
    header = dict(header)
    if header.get("version") == 1:
        header["model"] = {"phone_vocab_size": 0, **header["model"]}
        header.setdefault("train", {})
        header["version"] = 2
    return header


_REQUIRED = {FrontendConfig: ("sample_rate", "n_fft", "win_length", "hop_length", "n_mels"),
             ModelConfig: ("stack", "hidden", "layers", "vocab_size", "chunk", "right")}


def _section(cls: type, values: Mapping) -> Any:
    """A config from a header section; the sizes must be stored, not defaulted."""
    kind = "frontend" if cls is FrontendConfig else "model"
    for key in _REQUIRED[cls]:
        if key not in values:
            what = "non-negative" if key == "right" else "positive"
            raise ValueError(f"{kind} setting {key!r} must be a {what} integer, got None")
    return cls.from_dict(values)


def _validate(bundle: Bundle, path: Path, weights: bool) -> None:
    """Check settings and shapes against each other so a bad file fails here, not mid-stream."""
    model = bundle.model
    vocabulary = bundle.vocabulary
    if (model.vocab_size != len(vocabulary) or vocabulary[0] != "<blk>" or " " not in vocabulary
            or not all(isinstance(token, str) for token in vocabulary)):
        raise BundleError(f"{path}: vocabulary ({len(vocabulary)} tokens) must start with '<blk>', contain "
                          f"a space and match the model's output size ({model.vocab_size})")
    if not weights:
        return
    expected = {
        "feat_mean": (bundle.frontend.n_mels,),
        "feat_std": (bundle.frontend.n_mels,),
        "head.weight": (len(bundle.vocabulary), 2 * model.hidden),
        "forward_lstms.0.weight_ih_l0": (4 * model.hidden, bundle.frontend.n_mels * model.stack),
    }
    for name, shape in expected.items():
        if name not in bundle.tensors:
            raise BundleError(f"{path}: tensor {name!r} is missing")
        if tuple(bundle.tensors[name].shape) != shape:
            raise BundleError(f"{path}: tensor {name!r} has shape {bundle.tensors[name].shape}, expected {shape}")
