"""Batch transcription on a Ray cluster with Ray Data (``speechlstm transcribe --ray ADDRESS``).

Worker processes (:mod:`speechlstm.batch`) stop at one machine's cores. Ray Data takes the same
per-file work (:func:`speechlstm.batch.transcribe_one`) to as many machines as a Ray cluster has:
the file list becomes a dataset; an actor pool of :class:`Transcriber` actors, each holding one
recognizer (the model loaded once per actor, not per file), transcribes it; the workers write
JSON-lines or Parquet shards; the driver merges them into one output in input order. Ray Data's
streaming execution keeps memory bounded and retries the tasks of an actor that died.

The workers open the audio files and write the shards themselves, so on a cluster both must be
at paths every node sees (shared storage); the merged output is written by the driver.
"""
from __future__ import annotations

import json
import logging
import math
import os
import sys
import warnings
from pathlib import Path
from typing import Sequence

from .batch import transcribe_one
from .errors import MissingPackageError, UsageError
from .recognizer import Recognizer, RecognizerConfig

FILES_PER_BLOCK = 100
"""At most this many files per Ray Data block (one actor call): enough blocks for every actor to
stay busy and for long files to balance out, few enough that scheduling is cheap for millions."""


class RayBatchError(UsageError, RuntimeError):
    """Ray is missing, the cluster cannot be reached, or the job failed; one line for the user."""


def _schema():
    import pyarrow as pa

    word = pa.struct([("word", pa.string()), ("start", pa.float64()), ("end", pa.float64()),
                      ("confidence", pa.float64())])
    return pa.schema([("index", pa.int64()), ("path", pa.string()), ("text", pa.string()), ("raw_text", pa.string()),
                      ("duration", pa.float64()), ("words", pa.list_(word)), ("error", pa.string()),
                      ("warnings", pa.list_(pa.string()))])


class Transcriber:
    """A Ray Data actor: one recognizer for all the files it is given. Rows carry the file's
    position in the batch (``index``), so that the driver can restore input order, the path as the
    user named it (``path``, what the output shows) and as a worker opens it (``source``: absolute,
    since a worker's current directory is not the driver's)."""

    def __init__(self, config: RecognizerConfig) -> None:
        self.recognizer = Recognizer.from_config(config)
        self.schema = _schema()

    def __call__(self, batch):
        import pyarrow as pa

        rows = []
        for index, path, source in zip(*(batch[name].to_pylist() for name in ("index", "path", "source"))):
            outcome = transcribe_one(self.recognizer, index, source, capture_warnings=True)
            record = outcome.record()
            rows.append({"index": index, "path": path, "text": record.get("text"), "raw_text": record.get("raw_text"),
                         "duration": record.get("duration"), "words": record.get("words", []),
                         "error": outcome.error, "warnings": list(outcome.warnings)})
        return pa.Table.from_pylist(rows, schema=self.schema)


def connect(address: str, workers: int) -> None:
    """Join the cluster at ``address`` (``auto``: the one this machine belongs to), or with ``local``
    start a one-machine Ray on loopback with ``workers`` CPUs (all cores for 0)."""
    if address == "local":
        # Ray turns 127.0.0.1 into this machine's network address unless multi-node support is off;
        # a local instance has no other node to serve, so it stays on loopback.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError:
        raise MissingPackageError("--ray needs Ray Data: pip install 'speechlstm[ray]'") from None
    options = {"logging_level": logging.WARNING, "log_to_driver": False, "include_dashboard": False}
    try:
        if address == "local":
            ray.init(address="local", num_cpus=workers or None, _node_ip_address="127.0.0.1", **options)
        else:
            ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise RayBatchError(f"cannot reach the Ray cluster at {address!r}: {str(error).splitlines()[0]}") from None


def transcribe_on_ray(config: RecognizerConfig, paths: Sequence[str], address: str, workers: int, shards: Path,
                      fmt: str = "json") -> list[dict]:
    """Transcribe ``paths`` on the Ray at ``address`` (:func:`connect`) with ``workers`` actors (0: one
    per CPU of the cluster), write the shards into the folder ``shards`` (replacing what it held)
    and return every file's row (index, path, text, duration, words, error, warnings) in input order."""
    connect(address, workers)  # first: it says in one line when Ray is missing
    import ray

    try:
        run_dataset(config, paths, workers, shards, fmt)
    finally:
        ray.shutdown()
    return read_shards(shards, fmt)


def run_dataset(config: RecognizerConfig, paths: Sequence[str], workers: int, shards: Path, fmt: str = "json",
                actor: type = Transcriber) -> None:
    """The Ray Data job on the Ray this process is connected to: ``paths`` through an actor pool of
    ``workers`` ``actor`` instances into shards. ``actor`` stands in for :class:`Transcriber` where
    Ray's own cost is measured (tools/bench_batch.py)."""
    import ray
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = sys.stderr.isatty()
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)) // max(1, config.threads))
    blocks = min(len(paths), max(4 * workers, math.ceil(len(paths) / FILES_PER_BLOCK)))
    dataset = ray.data.from_items([{"index": i, "path": p, "source": os.path.abspath(p)}
                                   for i, p in enumerate(paths)], override_num_blocks=blocks)
    dataset = dataset.map_batches(actor, fn_constructor_kwargs={"config": config}, batch_size=1,
                                  batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=workers),
                                  num_cpus=max(1, config.threads))
    write = dataset.write_parquet if fmt == "parquet" else dataset.write_json
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*deprecated")  # Ray's own settings, not the user's
            write(str(shards), mode="overwrite")
    except Exception as error:  # noqa: BLE001 - Ray wraps what failed on the cluster in many types
        raise RayBatchError(f"the Ray job failed: {_first_line(error)}") from None


def _first_line(error: BaseException) -> str:
    """The innermost cause of a Ray error, in one line (Ray's messages run to pages)."""
    while error.__cause__ is not None:
        error = error.__cause__
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[-1] if lines else ''}"


def read_shards(shards: Path, fmt: str = "json") -> list[dict]:
    """Every row of the shards in ``shards``, in input order."""
    if fmt == "parquet":
        import pyarrow.parquet as pq
        return pq.read_table(shards, schema=_schema()).sort_by("index").to_pylist()
    rows = []
    for shard in sorted(shards.glob("*.json")):
        with open(shard, encoding="utf-8") as handle:
            rows += [json.loads(line) for line in handle if line.strip()]
    return sorted(rows, key=lambda row: row["index"])


def record(row: dict) -> dict:
    """A row as the record a local run writes: ``--format json``'s object or ``{path, error}``."""
    if row["error"] is not None:
        return {"path": row["path"], "error": row["error"]}
    raw = {"raw_text": row["raw_text"]} if row.get("raw_text") is not None else {}
    return {"path": row["path"], "text": row["text"], **raw, "duration": row["duration"], "words": row["words"]}


def write_parquet(rows: list[dict], output: Path) -> None:
    """The merged Parquet file, written whole beside ``output`` and renamed into place."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .io.atomic import atomic_path

    with atomic_path(output) as temporary:
        pq.write_table(pa.Table.from_pylist(rows, schema=_schema()), temporary)
