"""What the benchmarks share: the repository root, peak memory, the machine's description, a
backend that counts model calls, a decoder that records log-probs, and the sample clips as a manifest.

Benchmarks run as ``python tools/NAME.py`` with speechlstm installed (``pip install -e .``);
Python puts tools/ on the path, so they import this module without editing ``sys.path``. The
tests import it too (tests/conftest.py puts tools/ on their path), so a helper lives once.
"""
from __future__ import annotations

import os
import platform
import resource
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from speechlstm.config import CHAR_HEAD
from speechlstm.results import Result

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
SHARED = Path(os.environ.get("SHARED", ROOT.parent / "shared"))
DEV = SHARED / "data" / "dev.tsv"
"""The dev manifest of the shared corpora ($SHARED, default ../shared)."""


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


def machine(packages: Sequence[str] = ("numpy", "torch", "onnxruntime", "pocketsphinx", "faster-whisper",
                                       "ctranslate2")) -> dict:
    """CPU, cores, load and library versions: the context every figure depends on."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    versions = {}
    for package in packages:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return {"cpu": cpu, "cores": os.cpu_count(), "load_1min": os.getloadavg()[0], "python": platform.python_version(),
            "platform": platform.platform(), **versions}


class CountingBackend:
    """An acoustic backend that counts the chunks it runs (``steps``) and its calls (``calls``)."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.stack, self.chunk, self.right, self.heads = backend.stack, backend.chunk, backend.right, backend.heads
        self.steps = self.calls = 0

    def initial_state(self) -> Any:
        return self.backend.initial_state()

    def step(self, frames: np.ndarray, main_steps: int, state: Any, head: str = CHAR_HEAD) -> tuple[np.ndarray, Any]:
        self.steps += 1
        self.calls += 1
        return self.backend.step(frames, main_steps, state, head)

    def step_batch(self, frames: Sequence[np.ndarray], main_steps: int, states: Sequence[Any],
                   head: str = CHAR_HEAD) -> tuple[list, list]:
        self.steps += len(frames)
        self.calls += 1
        return self.backend.step_batch(frames, main_steps, states, head)

    def full(self, frames: np.ndarray, head: str = CHAR_HEAD) -> np.ndarray:
        self.calls += 1
        return self.backend.full(frames, head)


class LogProbRecorder:
    """A decoder that only keeps the log-probs it is given (its state is their list).

    Tools use it to run a stream once and decode its acoustic output many ways; tests use it
    to compare a stream's log-probs with the offline computation. ``head`` is the output recorded.
    """

    def __init__(self, head: str = CHAR_HEAD) -> None:
        self.head = head

    def new_state(self) -> list[np.ndarray]:
        return []

    def advance(self, state: list[np.ndarray], log_probs: np.ndarray) -> None:
        state.append(log_probs)

    def result(self, state: list[np.ndarray], final: bool = False) -> Result:
        return Result("")


def samples_manifest(folder: Path) -> Path:
    """A manifest of the sample clips (path, duration, text) written into ``folder``."""
    import soundfile as sf
    lines = ["path\tduration\ttext"]
    for wav in sorted(SAMPLES.glob("*.wav")):
        text = " ".join(wav.with_suffix(".txt").read_text(encoding="utf-8").split())
        lines.append(f"{wav}\t{sf.info(str(wav)).duration:.3f}\t{text}")
    path = folder / "samples.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
