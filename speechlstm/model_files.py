"""Where model files live and what they are called: the shipped models folder, the default
bundle, the LM and lexicon that come with a model, the punctuation model, the exported ONNX
graphs' names, and the hint given when one of them is missing.

It imports nothing of the package but :mod:`.errors`, so that the bundle reader, the decoders,
the backends and the exporter all name files the same way without importing each other.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from .config import MODES
from .errors import ModelFileError


def _models_dir() -> Path:
    """$SPEECHLSTM_MODELS if set; else the package's own models/ (a wheel or ``pip install .``
    carries the checkout's models/ as package data); else the checkout's models/ (editable)."""
    if os.environ.get("SPEECHLSTM_MODELS"):
        return Path(os.environ["SPEECHLSTM_MODELS"])
    package = Path(__file__).resolve().parent
    return package / "models" if (package / "models").is_dir() else package.parent / "models"


MODELS_DIR = _models_dir()
"""Where the shipped model, LM, lexicon and punctuation model live."""
DEFAULT_BUNDLE = MODELS_DIR / "speechlstm-en.safetensors"
LM_FILE = "lm.arpa.gz"
"""The language model a model comes with (beside it, else the shipped one)."""
LEXICON_FILE = "lexicon.txt.gz"
"""Pronunciations of the LM's words, for decoding a model's phone head."""
DEFAULT_PUNCTUATOR = MODELS_DIR / "punct-en.int8.onnx"

GRAPHS = MODES
"""An exported model has one graph per mode."""
EXPORTED = re.compile(rf"^(?P<stem>.+)\.(?P<graph>{'|'.join(GRAPHS)})(?P<int8>\.int8)?\.onnx$")
"""The name of an exported graph: ``{stem}.{graph}[.int8].onnx``."""


def companion_file(model: str | Path | None, name: str) -> Path:
    """The file ``name`` (:data:`LM_FILE`, :data:`LEXICON_FILE`) a model comes with: in the
    model's folder (or in ``model`` itself when it names a folder), else the shipped one."""
    if model is not None:
        path = Path(model)
        beside = (path if path.is_dir() else path.parent) / name
        if beside.is_file():
            return beside
    return MODELS_DIR / name


def missing_model_hint(path: Path) -> str:
    """Why the shipped model can be missing, for errors about ``path``; empty for other paths."""
    if path.parent != MODELS_DIR:
        return ""
    if os.environ.get("SPEECHLSTM_MODELS"):
        return f" (SPEECHLSTM_MODELS={MODELS_DIR} does not hold the shipped model; unset it or pass --model)"
    return (" (the shipped model was not installed: reinstall speechlstm from a checkout whose models/ "
            "holds it, set SPEECHLSTM_MODELS to such a folder, or pass --model)")


def missing_graph_hint(missing: Path) -> str:
    """How to get a missing streaming graph: export it from the bundle beside it, or use the
    other precision's graph when that one is there; reinstall only when neither exists."""
    match = EXPORTED.match(missing.name)
    int8 = bool(match["int8"])
    bundle = missing.with_name(f"{match['stem']}.safetensors")
    other = missing.with_name(exported_name(match["stem"], "streaming", not int8))
    if not bundle.is_file() and not other.is_file():
        return missing_model_hint(missing) or " (create it with speechlstm export)"
    hint = f" (create it with speechlstm export{' --int8' if int8 else ''} --model {bundle}"
    if other.is_file():
        hint += f", or use --backend {'onnx' if int8 else 'onnx-int8'} ({other.name} is there)"
    return hint + ")"


def exported_name(stem: str, graph: str, int8: bool) -> str:
    """File name of one exported graph: ``{stem}.{graph}[.int8].onnx``."""
    return f"{stem}.{graph}{'.int8' if int8 else ''}.onnx"


def exported_stems(folder: Path, int8: bool) -> list[str]:
    """Stems of the exported models (streaming graphs) of one precision in ``folder``."""
    matches = (EXPORTED.match(path.name) for path in folder.glob("*.streaming*.onnx"))
    return sorted({m["stem"] for m in matches if m and bool(m["int8"]) == int8})


def exported_files(model: str | Path | None, int8: bool) -> dict[str, Path]:
    """The offline and streaming graph paths for ``model``: a bundle path (the files lie
    next to it; the bundle itself need not exist), a folder holding one exported model,
    or either ONNX file of a pair. Only the streaming graph must exist."""
    path = Path(model) if model is not None else DEFAULT_BUNDLE
    match = EXPORTED.match(path.name)
    if match:
        folder, stem = path.parent, match["stem"]
    elif path.is_dir():
        folder, stems = path, exported_stems(path, int8)
        if len(stems) != 1:
            kind = "int8" if int8 else "fp32"
            raise ModelFileError(f"{path}: expected one exported {kind} model, found {len(stems)} "
                                 f"({', '.join(stems)})")
        stem = stems[0]
    else:
        folder, stem = path.parent, path.stem
    return {graph: folder / exported_name(stem, graph, int8) for graph in GRAPHS}
