"""Speed, memory and accuracy of the torch, ONNX fp32 and ONNX int8 backends, measured in one run.

Each (backend, mode) configuration runs in a fresh subprocess, so its peak resident
memory (interpreter, libraries, model and activations) is its own. RTF is
processing seconds per audio second after the model is loaded and warmed up, with
``--threads`` CPU threads (default 1). The ONNX graphs are exported from the bundle
into a temporary folder first, so all three backends run the same weights.

    python tools/bench_backends.py                       # samples/*.wav, shipped model
    python tools/bench_backends.py --manifest dev.tsv --limit 40 --json bench.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = [(backend, mode) for backend in ("torch", "onnx", "onnx-int8") for mode in ("offline", "streaming")]


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MB. Linux carries ru_maxrss over fork and
    exec (a child reports its parent's peak when that is larger), so the per-process VmHWM
    from /proc is read where it exists."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_worker(model: str, backend: str, mode: str, threads: int, files: list[str], repeat: int) -> dict:
    """Transcribe ``files`` in this process and report time, peak memory and hypotheses."""
    from speechlstm import Recognizer
    start = time.perf_counter()
    recognizer = Recognizer.from_bundle(model, backend=backend, mode=mode, threads=threads)
    load_s = time.perf_counter() - start
    recognizer.transcribe(np.zeros(16000, np.float32), 16000)
    best, texts, audio_s = float("inf"), [], 0.0
    for _ in range(repeat):
        start = time.perf_counter()
        transcripts = [recognizer.transcribe_file(path) for path in files]
        best = min(best, time.perf_counter() - start)
        texts = [t.text for t in transcripts]
        audio_s = sum(t.duration for t in transcripts)
    return {"backend": backend, "mode": mode, "load_s": load_s, "process_s": best, "audio_s": audio_s,
            "rtf": best / audio_s, "peak_rss_mb": peak_rss_mb(), "torch_imported": "torch" in sys.modules,
            "texts": texts}


def inputs(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """Audio paths and reference texts: a manifest's rows or the samples with their .txt."""
    if args.manifest:
        from speechlstm.data import read_manifest
        rows = read_manifest(args.manifest)[: args.limit]
        return [str(row.path) for row in rows], [row.text for row in rows]
    wavs = sorted((ROOT / "samples").glob("*.wav"))[: args.limit]
    return [str(w) for w in wavs], [w.with_suffix(".txt").read_text().strip() for w in wavs]


def measure(args: argparse.Namespace, files: list[str], folder: Path) -> list[dict]:
    """Run every configuration in its own subprocess."""
    from speechlstm.export import export
    model = str(folder / Path(args.model).name)
    Path(model).write_bytes(Path(args.model).read_bytes())
    export(model, folder)
    export(model, folder, int8=True)
    (folder / "files.json").write_text(json.dumps(files))
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    rows = []
    for backend, mode in CONFIGS:
        command = [sys.executable, __file__, "--worker", backend, mode, "--model", model,
                   "--threads", str(args.threads), "--repeat", str(args.repeat), "--files", str(folder / "files.json")]
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if done.returncode:
            raise SystemExit(f"{backend} {mode} failed:\n{done.stderr}")
        rows.append(json.loads(done.stdout.splitlines()[-1]))
        print(f"{backend:>9} {mode:<9} RTF {rows[-1]['rtf']:.4f}", file=sys.stderr)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| backend | mode | RTF | peak RSS (MB) | load (s) | WER % | same text as torch |",
             "|---|---|---:|---:|---:|---:|---:|"]
    reference = {row["mode"]: row["texts"] for row in rows if row["backend"] == "torch"}
    for row in rows:
        same = sum(a == b for a, b in zip(row["texts"], reference[row["mode"]]))
        lines.append(f"| {row['backend']} | {row['mode']} | {row['rtf']:.4f} | {row['peak_rss_mb']:.0f} | "
                     f"{row['load_s']:.2f} | {100 * row['wer']:.2f} | {same}/{len(row['texts'])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "speechlstm-en.safetensors")
    parser.add_argument("--manifest", type=Path, help="TSV manifest instead of samples/*.wav")
    parser.add_argument("--limit", type=int, help="only the first N files")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1, help="time each configuration N times, keep the best")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--worker", nargs=2, metavar=("BACKEND", "MODE"), help=argparse.SUPPRESS)
    parser.add_argument("--files", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        files = json.loads(args.files.read_text())
        print(json.dumps(run_worker(str(args.model), *args.worker, args.threads, files, args.repeat)))
        return
    from speechlstm.scoring import score
    files, refs = inputs(args)
    with tempfile.TemporaryDirectory() as scratch:
        rows = measure(args, files, Path(scratch))
    for row in rows:
        row["wer"] = score(refs, row["texts"])["wer"]
    print(f"{len(files)} files, {rows[0]['audio_s']:.1f} s of audio, {args.threads} thread(s), "
          f"{platform.processor() or platform.machine()}, model {args.model.name}\n")
    print(table(rows))
    if args.json:
        summary = {"model": str(args.model), "files": len(files), "threads": args.threads,
                   "machine": platform.platform(), "rows": rows}
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
