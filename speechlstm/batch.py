"""Batch transcription at scale: inputs from manifests and folders, worker processes, a resumable log.

``speechlstm transcribe`` on an archive (thousands of files) needs three things a loop over
files in one process lacks:

* **every core**: :class:`WorkerPool` runs N processes, each loading the model once and
  running it on one thread, because a batch-1 LSTM's matrices are too small to split across
  threads (RESULTS.md: Threads) but independent files scale across processes;
* **surviving interruption**: :class:`ResumeLog` appends one JSON line per finished file,
  written and flushed whole, so a killed run loses only the files in flight and a rerun skips
  the rest;
* **not stopping on a bad file**: every file ends as an :class:`Outcome`, a transcript or an
  error, and the batch goes on; a worker process that dies (a crash, the out-of-memory killer)
  fails only the file it held and is replaced.

:mod:`speechlstm.ray_batch` runs the same per-file work on a Ray cluster.
"""
from __future__ import annotations

import json
import os
import signal
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from multiprocessing import connection, get_context
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from .errors import InputError, OutputError, UsageError, WorkerError
from .io.audio import STDIN, AudioError
from .io.formats import to_json_line
from .recognizer import Interrupted, Recognizer, RecognizerConfig
from .results import Transcript

AUDIO_EXTENSIONS = frozenset({
    ".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".mp4", ".m4v", ".webm",
    ".mkv", ".mov", ".wma", ".aif", ".aiff", ".au", ".caf", ".w64", ".amr", ".3gp"})
"""What ``--recursive`` picks up in a folder (case-insensitive): the formats libsndfile or FFmpeg read."""

OnAudio = Callable[[int, float], None]
"""Progress inside files: called with a file's index in the batch and the seconds of it decoded so far."""

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
"""Set for worker processes so that numpy's BLAS (the frontend's mel matrix) does not start one
thread per core in every worker: N workers on N cores would otherwise fight over them."""


class BatchError(InputError, ValueError):
    """An input list that cannot be used; the message names the file."""


class ResumeLogError(OutputError, ValueError):
    """A resume log (``--resume -o FILE``) that no earlier run wrote; the message names the line."""


@dataclass(frozen=True)
class Input:
    """One file to transcribe, with its duration when a manifest gave one (for the progress bar)."""

    path: Path
    duration: float | None = None


def read_path_list(path: Path) -> list[Input]:
    """The files a ``--manifest`` names: a TSV manifest with a header holding a ``path`` column
    (paths relative to the manifest's folder, as in ``speechlstm eval`` and training; a
    ``duration`` column is used when present), or a plain list with one path a line (relative
    paths are relative to the list's folder too, so a list works from any current directory;
    blank lines and lines starting with ``#`` are skipped). A list that cannot be read is a
    :class:`BatchError`, one that is malformed a :class:`~speechlstm.io.manifest.ManifestError`."""
    from .io.manifest import ManifestError, read_manifest

    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            lines = handle.read().splitlines()
    except OSError as error:
        raise BatchError(f"cannot read manifest {path}: {error.strerror or error}") from None
    first = next((line for line in lines if line.strip()), "")
    if "\t" in first or first.strip() == "path":
        return [Input(row.path, row.duration or None) for row in read_manifest(path, columns=("path",))]
    if any("\0" in line for line in lines):
        raise ManifestError(f"{path}: not a manifest (a TSV file with a path column, or one path a line)")
    return [Input(path.parent / line.strip()) for line in lines if line.strip() and not line.startswith("#")]


def audio_files_under(folder: Path) -> list[Path]:
    """Every audio file under ``folder`` (by extension, :data:`AUDIO_EXTENSIONS`), in sorted order
    so that a rerun sees the same list; symbolic links to folders are not followed (no cycles)."""
    found = []
    for root, folders, files in os.walk(folder, onerror=_raise):
        folders.sort()
        found += [Path(root) / name for name in sorted(files) if Path(name).suffix.lower() in AUDIO_EXTENSIONS]
    return found


def _raise(error: OSError) -> None:
    raise BatchError(f"cannot list {error.filename}: {error.strerror or error}")


def collect_inputs(files: Sequence[Path], manifests: Sequence[Path] = (), recursive: bool = False) -> list[Input]:
    """Positional files, then the files of each manifest, in order. With ``recursive``, a folder
    among ``files`` stands for the audio files under it; without, it stays an input and fails
    as one (``is a directory``), as a plain file list always did."""
    inputs: list[Input] = []
    for path in files:
        if recursive and path.is_dir():
            found = audio_files_under(path)
            if not found:
                warnings.warn(f"{path}: no audio files under this folder")
            inputs += map(Input, found)
        else:
            inputs.append(Input(path))
    for manifest in manifests:
        inputs += read_path_list(manifest)
    return inputs


@dataclass(frozen=True)
class Outcome:
    """How one file ended: a ``transcript``, or an ``error`` message (which names the file).
    ``index`` is the file's position in the batch; ``warnings`` were raised while decoding it
    in a worker process, for the parent to show."""

    index: int
    path: str
    transcript: Transcript | None = None
    error: str | None = None
    warnings: tuple[str, ...] = ()

    def record(self) -> dict:
        """The JSON record: ``--format json``'s object (path, text, duration, words) or ``{path, error}``."""
        if self.transcript is None:
            return {"path": self.path, "error": self.error}
        return self.transcript.to_dict()


def transcribe_one(recognizer: Recognizer, index: int, path: str, capture_warnings: bool = False,
                   on_audio: OnAudio | None = None) -> Outcome:
    """Transcribe one file of a batch. Any failure but an interrupt becomes the file's error, so
    that one file the decoder chokes on does not end a batch of thousands; errors other than
    unreadable audio keep their exception type in the message, since they point to a bug."""
    progress = None if on_audio is None else partial(on_audio, index)
    with warnings.catch_warnings(record=capture_warnings) as caught:
        if capture_warnings:
            warnings.simplefilter("always")
        try:
            transcript, error = recognizer.transcribe_file(path, progress=progress), None
        except AudioError as failure:
            transcript, error = None, str(failure)
        except Interrupted as interrupt:
            raise Interrupted(replace(interrupt.partial, path=path)) from None
        except Exception as failure:  # noqa: BLE001 - recorded as this file's failure; the batch goes on
            transcript, error = None, f"{path}: {type(failure).__name__}: {failure}"
    messages = tuple(str(warning.message) for warning in caught or ())
    return Outcome(index, path, transcript, error, messages)


def in_process(config: RecognizerConfig, paths: Sequence[str], on_audio: OnAudio | None = None) -> Iterator[Outcome]:
    """``--jobs 1``: one recognizer in this process (standard input and Ctrl-C's partial result work
    here); warnings go straight to the caller's handler."""
    recognizer = Recognizer.from_config(config)
    for index, path in enumerate(paths):
        yield transcribe_one(recognizer, index, path, on_audio=on_audio)


def in_input_order(outcomes: Iterable[Outcome]) -> Iterator[Outcome]:
    """Outcomes numbered 0, 1, 2... as they finish, passed on in input order (a finished file
    waits only for those before it)."""
    waiting: dict[int, Outcome] = {}
    following = 0
    for outcome in outcomes:
        waiting[outcome.index] = outcome
        while following in waiting:
            yield waiting.pop(following)
            following += 1


def default_jobs() -> int:
    """One worker per core this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _worker(conn: connection.Connection, config: RecognizerConfig, report_audio: bool = False) -> None:
    """A worker process: load the model once, then transcribe one file per message until told to
    stop or until the parent goes away (with ``report_audio``, sending the audio decoded inside
    each file as it goes). Ctrl-C is the parent's to handle: it stops the workers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        recognizer = Recognizer.from_config(config)
    except Exception as error:  # noqa: BLE001 - sent to the parent, which reports it as a model error
        _send(conn, ("failed", error))
        return
    if not _send(conn, ("ready", None)):
        return
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        on_audio = (lambda index, seconds: _send(conn, ("audio", (index, seconds)))) if report_audio else None
        if not _send(conn, ("done", transcribe_one(recognizer, *task, capture_warnings=True, on_audio=on_audio))):
            return


def _send(conn: connection.Connection, message: tuple) -> bool:
    """Send to the parent; False when it is gone. An exception that does not pickle goes as text."""
    try:
        try:
            conn.send(message)
        except (TypeError, AttributeError, ValueError) as unpicklable:
            conn.send(("failed", RuntimeError(f"{message[1]!r} ({unpicklable})")))
        return True
    except (BrokenPipeError, EOFError, OSError):
        return False


@contextmanager
def _thread_environment(threads: int) -> Iterator[None]:
    """Children inherit the environment when they start: pin their BLAS threads there, unless the
    user already chose (threads 0 keeps the libraries' defaults)."""
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    if threads:
        for name in THREAD_VARIABLES:
            os.environ.setdefault(name, str(threads))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class _Slot:
    """One worker process and the file it is working on."""

    def __init__(self, context, config: RecognizerConfig, report_audio: bool = False) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_worker, args=(child, config, report_audio), daemon=True,
                                       name="speechlstm-worker")
        with _thread_environment(config.threads):
            self.process.start()
        child.close()  # the parent keeps only its end, so a dead worker reads as end of file
        self.ready = False
        self.task: tuple[int, str] | None = None

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


class WorkerPool:
    """``jobs`` worker processes, each with its own :class:`Recognizer` (loaded once per process).

    Workers start with ``spawn``: a fresh interpreter, safe with torch and onnxruntime threads
    (``fork`` of a process that has run them is not). Each worker holds one file at a time, so the
    parent always knows which file a worker died on: that file is recorded as failed and the
    worker replaced. A model that does not load raises its error here (BundleError and the rest)
    as a single process would. Leaving :meth:`transcribe` early (an interrupt, an output error)
    terminates the workers at once rather than waiting for the files they hold. ``on_audio``
    hears how far into its file each worker is.
    """

    def __init__(self, config: RecognizerConfig, jobs: int, start_method: str = "spawn",
                 on_audio: OnAudio | None = None) -> None:
        self.config, self.jobs, self.on_audio = config, jobs, on_audio
        self._context = get_context(start_method)
        self.slots: list[_Slot] = []

    def transcribe(self, paths: Sequence[str]) -> Iterator[Outcome]:
        """Outcomes of ``paths`` (``index`` = position in ``paths``), in the order they finish."""
        tasks = iter(enumerate(paths))
        self.slots = slots = [self._start() for _ in range(min(self.jobs, len(paths)))]
        remaining, exhausted = len(paths), False
        try:
            while remaining:
                for conn in connection.wait([slot.conn for slot in slots]):
                    slot = next(s for s in slots if s.conn is conn)
                    try:
                        kind, payload = conn.recv()
                    except (EOFError, OSError):
                        died = self._died(slot)
                        slots.remove(slot)
                        if not exhausted:
                            slots.append(self._start())
                        if died is not None:
                            remaining -= 1
                            yield died
                        continue
                    if kind == "failed":
                        raise payload
                    if kind == "audio":
                        self.on_audio(*payload)
                        continue
                    if kind == "done":
                        slot.task = None
                        remaining -= 1
                        yield payload
                    slot.ready = True
                    slot.task = next(tasks, None)
                    exhausted = slot.task is None
                    try:
                        conn.send(slot.task)  # None tells an idle worker to exit
                    except OSError:
                        pass  # it died meanwhile: its end of file comes next, and with it the file's failure
        finally:
            for slot in slots:
                slot.stop()

    def _start(self) -> _Slot:
        return _Slot(self._context, self.config, report_audio=self.on_audio is not None)

    @staticmethod
    def _died(slot: _Slot) -> Outcome | None:
        """The failure of the file a dead worker held (None when it died holding none)."""
        slot.process.join(5)
        code = slot.process.exitcode
        if not slot.ready:
            raise WorkerError(f"a worker process died while loading the model (exit code {code})")
        if slot.task is None:
            return None
        index, path = slot.task
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        return Outcome(index, path, error=f"{path}: the worker process transcribing it died ({how}; out of memory?)")


def transcribe_batch(config: RecognizerConfig, paths: Sequence[str], jobs: int = 1,
                     on_audio: OnAudio | None = None) -> Iterator[Outcome]:
    """Every file's :class:`Outcome`: in input order in this process for ``jobs`` 1, else in the
    order they finish across ``jobs`` worker processes (0: one per core; :func:`in_input_order`
    restores order). ``on_audio`` hears the progress inside each file (a progress bar)."""
    jobs = jobs or default_jobs()
    if jobs == 1:
        return in_process(config, paths, on_audio)
    if STDIN in paths:
        raise UsageError("standard input ('-') can only be read with --jobs 1")
    return WorkerPool(config, jobs, on_audio=on_audio).transcribe(paths)


class ResumeLog:
    """The JSON-lines output of a resumable batch (``--resume -o out.jsonl``).

    Each finished file appends one line, written in one call and flushed, so a killed run leaves
    whole lines (at most a torn last one, which :meth:`open` cuts off before appending). A file
    counts as done when its last record has a transcript; failed files are recorded with their
    error and tried again on the next run, so that a run after a fix (a remounted disk, a codec
    installed) completes the batch. Readers take the last line of each path.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.done: set[str] = set()
        self._handle = None

    def open(self) -> "ResumeLog":
        """Read what earlier runs finished and open the log for appending."""
        try:
            with open(self.path, "rb") as handle:
                content = handle.read()
        except FileNotFoundError:
            content = b""
        whole = content[: content.rfind(b"\n") + 1]
        status: dict[str, bool] = {}
        for number, line in enumerate(whole.decode("utf-8", "surrogateescape").splitlines(), start=1):
            try:
                record = json.loads(line)
                path = record["path"]
            except (ValueError, TypeError, KeyError):
                raise ResumeLogError(f"{self.path}:{number}: not a record of an earlier run (a JSON object with a "
                                 f"path); resume needs the -o file a run wrote") from None
            status[path] = "error" not in record
        self.done = {path for path, ok in status.items() if ok}
        if len(whole) < len(content):
            os.truncate(self.path, len(whole))
            warnings.warn(f"{self.path}: removed an incomplete last line (the run writing it was killed)")
        self._handle = open(self.path, "a", encoding="utf-8", errors="surrogateescape")
        return self

    def append(self, record: dict) -> None:
        """One record as one whole line, on disk before the next file's (flushed)."""
        self._handle.write(to_json_line(record))
        self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> "ResumeLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
