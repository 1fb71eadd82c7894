#!/usr/bin/env python3
"""Which widths and depths fit the speed budget: streaming RTF of onnx-int8 graphs on 1 thread.

    python tools/measure_model_sizes.py                       # 224-448 units, 3-6 layers
    python tools/measure_model_sizes.py --sizes 288x4 384x5 --seconds 60

Each size is the shipped model's architecture (frontend, stacking, chunk and right context,
both heads) with random weights of that width (units per direction) and depth, exported the
way the shipped model is (`speechlstm export --int8 --streaming-only`) and run in streaming
mode over samples/ (joined, repeated to --seconds; ``Recognizer.transcribe`` feeds it chunk by
chunk, as ``tools/bench.py`` does) with greedy decoding, so the figure is the frontend and the
acoustic model; the default beam decoder adds about 0.009 RTF (RESULTS.md). Accuracy is not measured here: a size is worth training only where it fits. The
issue's budget is a streaming RTF of at most 0.03 on 1 thread with onnx-int8.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from benchlib import SAMPLES, machine
from speechlstm import Recognizer
from speechlstm.bundle import Bundle, load_bundle
from speechlstm.io.audio import read_audio

DEFAULT_SIZES = ["224x4", "288x3", "288x4", "288x5", "288x6", "352x4", "384x4", "448x4"]


def build(shipped: Bundle, size: str, folder: Path) -> tuple[Path, Path, int]:
    """A bundle of ``shipped``'s architecture at ``size`` (UNITSxLAYERS), random weights, exported
    to onnx-int8 beside it; its path, the graph's path and the parameter count."""
    import torch

    from speechlstm.nn.export import export
    from speechlstm.nn.model import AcousticModel, save_bundle

    hidden, layers = (int(part) for part in size.split("x"))
    torch.manual_seed(0)
    model = AcousticModel(replace(shipped.model, hidden=hidden, layers=layers)).eval()
    model.feat_mean.copy_(torch.from_numpy(shipped.tensors["feat_mean"].astype(np.float32)))
    model.feat_std.copy_(torch.from_numpy(shipped.tensors["feat_std"].astype(np.float32)))
    path = save_bundle(folder / f"size{size}.safetensors", model, shipped.frontend, {"size": size})
    [graph] = export(path, folder, int8=True, graphs=["streaming"])
    return path, graph, sum(p.numel() for p in model.parameters())


def streaming_rtf(bundle: Path, audio: np.ndarray, rate: int, repeat: int) -> float:
    """The fastest of ``repeat`` streaming runs over ``audio``: wall seconds per audio second."""
    recognizer = Recognizer.from_bundle(bundle, backend="onnx-int8", threads=1, decoder="greedy", mode="streaming")
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        recognizer.transcribe(audio, rate)
        best = min(best, time.perf_counter() - start)
    return best / (len(audio) / rate)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=DEFAULT_SIZES,
                        help="UNITSxLAYERS per size (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=60.0, help="audio per run (default 60 s of samples/; 30 s ranked small sizes by noise)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per size; the fastest counts (default 5)")
    parser.add_argument("--budget", type=float, default=0.03, help="RTF budget to mark (default 0.03)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    for size in args.sizes:
        parts = size.split("x")
        if len(parts) != 2 or not all(part.isdigit() and int(part) > 0 for part in parts):
            parser.error(f"size {size!r} is not UNITSxLAYERS, e.g. 288x4")
    shipped = load_bundle()
    rate = shipped.frontend.sample_rate
    audio = np.concatenate([read_audio(path, rate) for path in sorted(SAMPLES.glob("*.wav"))])
    audio = np.resize(audio, int(args.seconds * rate))
    rows = []
    print(f"onnx-int8 streaming, 1 thread, greedy, {args.seconds:.0f} s of samples/, fastest of {args.repeat}; "
          f"shipped size {shipped.model.hidden}x{shipped.model.layers}")
    print("| units x layers | parameters (M) | int8 graph MB | streaming RTF | x shipped size | within budget |")
    print("|---|---:|---:|---:|---:|---|")
    with tempfile.TemporaryDirectory(prefix="speechlstm-sizes-") as scratch:
        for size in args.sizes:
            bundle, graph, params = build(shipped, size, Path(scratch))
            rows.append({"size": size, "params": params, "int8_mb": graph.stat().st_size / 1e6,
                         "rtf": streaming_rtf(bundle, audio, rate, args.repeat)})
    reference = next((row["rtf"] for row in rows if row["size"] == f"{shipped.model.hidden}x{shipped.model.layers}"),
                     None)
    for row in rows:
        ratio = f"{row['rtf'] / reference:.2f}" if reference else "-"
        print(f"| {row['size']} | {row['params'] / 1e6:.2f} | {row['int8_mb']:.1f} | {row['rtf']:.4f} | {ratio} | "
              f"{'yes' if row['rtf'] <= args.budget else 'no'} |")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "seconds": args.seconds, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
