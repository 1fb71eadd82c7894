#!/usr/bin/env python3
"""Batch throughput: audio hours per wall hour of ``speechlstm transcribe`` at scale (issue 15).

On about ``--minutes`` of audio from a manifest (dev by default; its files are repeated when it
holds less), it times, end to end as a user runs them (interpreter start, model loading and, for
Ray, starting a local Ray instance included):

* ``--jobs 1`` and ``--jobs 2`` (worker processes), then ``--ray local`` with 1 and 2 workers;
* the scaling efficiency of each: throughput over (workers x the throughput of ``--jobs 1``),
  so Ray's rows include what Ray costs;
* Ray's own cost per file: the same Ray Data pipeline with a no-op actor in place of the
  recognizer, on 500 paths and on one, ``(wall(500) - wall(1)) / 499``;
* PocketSphinx on the same files in one process (``tools/compare_pocketsphinx.py``, end to end too).

It also checks that every configuration gives the texts of ``--jobs 1``. The figures need an
otherwise idle machine with at least 2 cores: other load slows every row and flattens scaling;
the load average at the start is printed with the figures.

    python tools/bench_batch.py                                 # 20 minutes of dev, shipped model
    python tools/bench_batch.py --limit 4 --minutes 0           # smoke test: the first 4 files once
    python tools/bench_batch.py --json bench_batch.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from importlib.util import find_spec
from pathlib import Path

from benchlib import DEV, ROOT, machine
from speechlstm.io.manifest import read_manifest


def pick_files(manifest: Path, minutes: float, limit: int | None) -> list[tuple[Path, float, str]]:
    """(path, duration, text) rows: the first ``limit`` files, repeated in order until they hold
    ``minutes`` of audio (0: each once)."""
    rows = [(row.path, row.duration, row.text) for row in read_manifest(manifest)[:limit]]
    if not rows:
        raise SystemExit(f"{manifest}: no utterances")
    if any(duration <= 0 for _, duration, _ in rows):
        raise SystemExit(f"{manifest}: needs a duration column")
    picked, total = list(rows), sum(duration for _, duration, _ in rows)
    while total < 60 * minutes:
        path, duration, text = rows[len(picked) % len(rows)]
        picked.append((path, duration, text))
        total += duration
    return picked


def copies(rows: list[tuple[Path, float, str]], folder: Path) -> list[Path]:
    """The files as distinct paths (a symbolic link per repeat), so that results can be told apart."""
    paths = []
    for number, (path, _, _) in enumerate(rows):
        link = folder / f"{number:05d}-{path.name}"
        link.symlink_to(path.resolve())
        paths.append(link)
    return paths


def transcribe(options: list[str], files: list[Path], model: Path, folder: Path) -> tuple[float, list[str]]:
    """Wall seconds of one ``speechlstm transcribe`` run over ``files`` and the texts, in input order."""
    listing = folder / "files.txt"
    listing.write_text("".join(f"{path}\n" for path in files))
    output = folder / f"out-{'-'.join(options)}.jsonl"
    command = [sys.executable, "-m", "speechlstm", "transcribe", "--model", str(model), "--manifest", str(listing),
               "--format", "json", "-o", str(output), *options]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    wall = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{' '.join(options)} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    records = {r["path"]: r for r in map(json.loads, output.read_text().splitlines())}
    return wall, [records[str(path)]["text"] for path in files]


class NoOp:
    """Ray Data actor that reads nothing and decodes nothing: what is left is Ray's cost per file."""

    def __init__(self, config) -> None:
        from speechlstm.ray_batch import _schema
        self.schema = _schema()

    def __call__(self, batch):
        import pyarrow as pa
        rows = [{"index": index, "path": path, "text": "", "duration": 0.0, "words": [], "error": None,
                 "warnings": []} for index, path in zip(batch["index"].to_pylist(), batch["path"].to_pylist())]
        return pa.Table.from_pylist(rows, schema=self.schema)


def ray_overhead(files: list[Path], folder: Path, count: int = 500) -> float:
    """Seconds Ray Data adds per file (one actor, Ray already running): no-op runs on ``count``
    paths (the files, repeated) and on one, after a warm-up run, differenced, so that starting the
    actor pool cancels out. The instance claims more logical CPUs than it has (nothing here computes):
    each run's actor is released lazily, and with only the real cores the next run's actor and write tasks
    waited for CPUs forever."""
    from speechlstm.ray_batch import connect, run_dataset
    from speechlstm.recognizer import RecognizerConfig

    paths = [str(files[number % len(files)]) for number in range(max(count, len(files)))]
    walls = []
    connect("local", 8)
    import ray
    try:
        for subset in (paths[:1], paths[:1], paths):
            start = time.perf_counter()
            run_dataset(RecognizerConfig(), subset, 1, folder / f"noop{len(walls)}", actor=NoOp)
            walls.append(time.perf_counter() - start)
    finally:
        ray.shutdown()
    return (walls[2] - walls[1]) / (len(paths) - 1)  # walls[0] warms up Ray Data and the worker processes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", type=Path, default=DEV,
                        help="TSV manifest with path, duration and text (default: %(default)s)")
    parser.add_argument("--minutes", type=float, default=20.0,
                        help="audio to transcribe, repeating the manifest's files as needed (default 20; 0: each "
                             "file once)")
    parser.add_argument("--limit", type=int, help="use only the first N files of the manifest")
    parser.add_argument("--model", type=Path, help="model bundle (default: the shipped one)")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray rows")
    parser.add_argument("--no-pocketsphinx", action="store_true", help="skip the PocketSphinx baseline")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write all figures as JSON")
    args = parser.parse_args(argv)
    from speechlstm.model_files import DEFAULT_BUNDLE
    model = args.model or DEFAULT_BUNDLE
    info = machine()
    rows = pick_files(args.manifest, args.minutes, args.limit)
    audio_s = sum(duration for _, duration, _ in rows)
    ray = not args.no_ray and find_spec("ray") is not None
    configs = [("--jobs 1", ["--jobs", "1"], 1), ("--jobs 2", ["--jobs", "2"], 2)]
    if ray:
        configs += [("Ray, 1 worker", ["--ray", "local", "--jobs", "1"], 1),
                    ("Ray, 2 workers", ["--ray", "local", "--jobs", "2"], 2)]
    results = []
    with tempfile.TemporaryDirectory(prefix="speechlstm-bench-batch-") as scratch:
        folder = Path(scratch)
        files = copies(rows, folder)
        reference = None
        for name, options, workers in configs:
            wall, texts = transcribe(options, files, model, folder)
            reference = reference or texts
            results.append({"system": f"speechlstm {name}", "workers": workers, "wall_s": wall,
                            "same_text_as_jobs_1": texts == reference})
            print(f"{name}: {wall:.1f} s", file=sys.stderr)
        overhead = ray_overhead(files, folder) if ray else None
        if not args.no_pocketsphinx and find_spec("pocketsphinx") is not None:
            manifest = folder / "pocketsphinx.tsv"
            manifest.write_text("path\tduration\ttext\n" + "".join(
                f"{path}\t{duration}\t{text}\n" for path, (_, duration, text) in zip(files, rows)))
            start = time.perf_counter()
            subprocess.run([sys.executable, str(ROOT / "tools" / "compare_pocketsphinx.py"), "--manifest",
                            str(manifest)], capture_output=True, check=True)
            results.append({"system": "PocketSphinx, one process", "workers": 1,
                            "wall_s": time.perf_counter() - start, "same_text_as_jobs_1": None})
    for row in results:
        row["audio_h_per_wall_h"] = audio_s / row["wall_s"]
    for row in results:
        row["scaling_efficiency"] = (row["audio_h_per_wall_h"] / (row["workers"] * results[0]["audio_h_per_wall_h"])
                                     if row["system"].startswith("speechlstm") else None)
    print(f"Machine: {info['cpu']}, {info['cores']} cores, load average {info['load_1min']:.2f} at start; "
          f"Python {info['python']}")
    print(f"Audio: {len(files)} files, {audio_s / 60:.1f} minutes from {args.manifest}; model {model}")
    print()
    print("| system | workers | wall (s) | audio h per wall h | scaling efficiency | same text as --jobs 1 |")
    print("|---|---:|---:|---:|---:|---|")
    for row in results:
        efficiency = "-" if row["scaling_efficiency"] is None else f"{100 * row['scaling_efficiency']:.0f} %"
        same = "-" if row["same_text_as_jobs_1"] is None else ("yes" if row["same_text_as_jobs_1"] else "NO")
        print(f"| {row['system']} | {row['workers']} | {row['wall_s']:.1f} | {row['audio_h_per_wall_h']:.1f} | "
              f"{efficiency} | {same} |")
    if overhead is not None:
        print(f"\nRay Data's own cost per file (no-op actor, 1 worker): {1000 * overhead:.1f} ms")
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "manifest": str(args.manifest), "files": len(files),
                                         "audio_s": audio_s, "model": str(model), "rows": results,
                                         "ray_overhead_per_file_s": overhead}, indent=2) + "\n")
    return 0 if all(row["same_text_as_jobs_1"] is not False for row in results) else 1


if __name__ == "__main__":
    sys.exit(main())
