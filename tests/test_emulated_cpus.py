"""The shipped int8 model gives the same transcripts on the CPUs edge users have (issue 23).

Each CPU is emulated by ``scripts/emulated_cpus.sh`` (QEMU user mode): an AVX2-only x86
(Haswell: no AVX-512, no VNNI, so onnxruntime's u8 x s8 kernels add product pairs in 16 bits)
and a Cortex-A72 (aarch64, no dot product). The host runs the same script natively; `.ci/run`
sets the emulators up, and where they are not set up the test says how to.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import ROOT, SAMPLES

SCRIPT = ROOT / "scripts" / "emulated_cpus.sh"
CLIPS = [SAMPLES / "goforward.wav", SAMPLES / "sense_and_sensibility_0880.wav"]
TRANSCRIBE = """
import json, sys
from speechlstm import Recognizer
recognizer = Recognizer.from_bundle(None, backend="onnx-int8")
print(json.dumps({mode: [recognizer.transcribe_file(path, mode=mode).text for path in sys.argv[1:]]
                  for mode in ("offline", "streaming")}))
"""


def _transcripts(command: list[str]) -> dict[str, list[str]]:
    done = subprocess.run([*command, "-c", TRANSCRIBE, *map(str, CLIPS)], capture_output=True, text=True,
                          cwd=ROOT, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def native() -> dict[str, list[str]]:
    return _transcripts([sys.executable])


@pytest.mark.parametrize("cpu", ["haswell", "cortex-a72"])
def test_same_transcripts_as_natively(cpu, native):
    check = subprocess.run(["bash", str(SCRIPT), "check", cpu], capture_output=True, text=True)
    if check.returncode:
        pytest.skip(f"{cpu} is not emulated here: {check.stderr.strip()}")
    assert _transcripts(["bash", str(SCRIPT), "run", cpu]) == native
