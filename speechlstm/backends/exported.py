"""Names and places of exported ONNX graphs (no onnxruntime needed to find them)."""
from __future__ import annotations

import re
from pathlib import Path

from ..bundle import DEFAULT_BUNDLE, BundleError

GRAPHS = ("offline", "streaming")
EXPORTED = re.compile(r"^(?P<stem>.+)\.(?P<graph>offline|streaming)(?P<int8>\.int8)?\.onnx$")


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
            raise BundleError(f"{path}: expected one exported {kind} model, found {len(stems)} ({', '.join(stems)})")
        stem = stems[0]
    else:
        folder, stem = path.parent, path.stem
    return {graph: folder / exported_name(stem, graph, int8) for graph in GRAPHS}
