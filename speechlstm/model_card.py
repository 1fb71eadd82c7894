"""The model card that ``speechlstm info`` prints: a bundle's (or exported graphs') essentials."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .backends import resolve_backend
from .bundle import Bundle, load_bundle
from .config import MODES
from .model_files import DEFAULT_BUNDLE, EXPORTED


def _card_source(path: str | Path | None) -> tuple[Bundle, str, list[Path]]:
    """The bundle a model card describes, its name and its files: a bundle file, or exported ONNX
    graphs (a graph or a folder of them; their header, no tensors)."""
    path = Path(path) if path is not None else DEFAULT_BUNDLE
    graphs = path.is_dir() and not any(path.glob("*.safetensors")) and any(path.glob("*.onnx"))
    if not (graphs or path.suffix == ".onnx"):
        bundle = load_bundle(path)
        return bundle, path.stem, [path]
    from .backends.onnx import load_onnx

    bundle, backend = load_onnx(path, int8=resolve_backend("auto", path) == "onnx-int8", threads=1)
    return bundle, EXPORTED.match(backend.paths["streaming"].name)["stem"], list(backend.paths.values())


def model_card(path: str | Path | None = None) -> dict[str, str]:
    """The essentials of a bundle (default: the shipped model) or of exported graphs, as
    ``speechlstm info`` prints them: from the header, tensor shapes and training info; the dev
    WER measured for a shipped model or recorded by the trainer."""
    bundle, name, files = _card_source(path)
    model, info, frontend = bundle.model, bundle.info, bundle.frontend
    language = re.search(r"-([a-z]{2,3})$", name)
    weights = [t for name, t in bundle.tensors.items() if not name.startswith("feat_")]
    window = frontend.win_length / frontend.sample_rate
    card = {
        "model": f"{name} ({', '.join(map(str, files))})",
        "training step": str(info.get("step", "not recorded")) if "steps" not in info else
                         ", ".join(map(str, info["steps"])) + f" (mean of {len(info['steps'])} snapshots)",
        "languages": info.get("language") or (f"{language.group(1)} (from the file name)" if language
                                              else "not recorded"),
        "vocabulary": f"{len(bundle.vocabulary)} CTC symbols: "
                      + " ".join(repr(t) if t.strip() in ("", "'") else t for t in bundle.vocabulary),
        "phone head": (f"{model.phone_vocab_size} CTC symbols (blank, word boundary, ARPAbet phones), "
                       "decoded through lexicon.txt.gz and the LM" if model.phone_vocab_size else "none"),
        "architecture": f"{model.layers} BiLSTM layers x {model.hidden} units per direction, "
                        f"{model.stack} frames stacked into {1000 * bundle.frame_shift:.0f} ms steps",
        "parameters": (f"{sum(int(np.prod(t.shape)) for t in weights) / 1e6:.2f} M "
                       f"({weights[0].dtype if weights else 'no'} weights)" if bundle.tensors
                       else "in the ONNX graphs (the bundle they were exported from counts them)"),
        "file size": f"{sum(file.stat().st_size for file in files) / 1e6:.1f} MB",
        "audio": f"{frontend.sample_rate} Hz mono, {frontend.n_mels} log-mel bins, "
                 f"{1000 * window:.0f} ms window, {1000 * frontend.hop_seconds:.0f} ms hop",
        "speaker normalization": (f"running mean of the stream's frames (from {frontend.speaker_norm.prior_seconds:g} s "
                                  f"of the global mean), {frontend.speaker_norm.weight:g} of it subtracted"
                                  if frontend.speaker_norm.weight else "none (global statistics only)"),
        "streaming latency": f"chunk {1000 * bundle.chunk_seconds:.0f} ms + right context "
                             f"{1000 * bundle.right_context_seconds:.0f} ms + window {1000 * window:.0f} ms = "
                             f"{1000 * (bundle.chunk_seconds + bundle.right_context_seconds + window):.0f} ms "
                             f"algorithmic latency",
        "training data": (f"{info['train_hours']} h" if "train_hours" in info else "not recorded")
                         + (f" from {len(info['manifests'])} manifests" if info.get("manifests") else ""),
    }
    wer = {mode: info[f"{mode}_wer"] for mode in MODES if f"{mode}_wer" in info}
    greedy = ", ".join(f"{100 * value:.1f} % {mode} (greedy)" for mode, value in wer.items())
    card["dev WER"] = info.get("dev_wer") or greedy or "not recorded in the bundle (see the model's README)"
    return card
