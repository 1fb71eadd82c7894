"""The CPU features that decide which int8 kernels onnxruntime runs (``speechlstm info``).

onnxruntime picks its u8 x s8 matrix kernels by CPU: VNNI (AVX512-VNNI or AVX-VNNI) adds
products in 32 bits, plain AVX2 and AVX-512 add pairs of them in 16 bits (exact for the 7-bit
weights :mod:`speechlstm.nn.export` writes), aarch64 uses NEON, with dot product where present.
The features come from numpy's CPU detection (CPUID / hwcaps, so also right under an
emulator, where /proc/cpuinfo shows the host), else from /proc/cpuinfo.
"""
from __future__ import annotations

import platform
from pathlib import Path

FEATURES = {  # name printed: numpy's feature names, /proc/cpuinfo flags
    "AVX2": (("AVX2",), ("avx2",)),
    "AVX-512": (("AVX512F",), ("avx512f",)),
    "VNNI": (("AVX512VNNI", "AVXVNNI"), ("avx512_vnni", "avx_vnni")),
    "NEON": (("ASIMD", "NEON"), ("asimd", "neon")),
    "dot product": (("ASIMDDP",), ("asimddp",)),
}


def _detected() -> tuple[set[str], int]:
    """The CPU's features in numpy's names (index 0) or /proc/cpuinfo's (index 1)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__
        return {name for name, present in __cpu_features__.items() if present}, 0
    except ImportError:
        try:
            text = Path("/proc/cpuinfo").read_text()
        except OSError:
            return set(), 1
        return {flag for line in text.splitlines() if line.split(":")[0].strip() in ("flags", "Features")
                for flag in line.split(":", 1)[1].split()}, 1


def cpu_features() -> str:
    """``machine: feature, ...`` for the features in :data:`FEATURES`, e.g. ``x86_64: AVX2, AVX-512, VNNI``."""
    found, source = _detected()
    names = [name for name, spellings in FEATURES.items() if found & set(spellings[source])]
    return f"{platform.machine()}: {', '.join(names) or 'none of AVX2, AVX-512, VNNI, NEON'}"
