"""transcribe --ray: a local Ray instance on loopback with 2 workers gives the single-process texts."""
import json
import shutil
import subprocess
import sys

import pytest

from conftest import SAMPLES

pytest.importorskip("ray.data", reason="needs Ray Data (pip install 'speechlstm[ray]')")
pytest.importorskip("pyarrow")


def test_ray_gives_the_text_of_one_process(tiny_bundle, tmp_path):
    files = []
    for number, clip in enumerate(sorted(SAMPLES.glob("*.wav"))[:3] * 2):
        files.append(tmp_path / f"clip{number}.wav")
        shutil.copy(clip, files[-1])
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    files.insert(2, bad)
    transcribe = [sys.executable, "-m", "speechlstm", "transcribe", "--model", str(tiny_bundle), "--decoder", "greedy",
                  *map(str, files)]
    local = subprocess.run([*transcribe, "--format", "json"], capture_output=True, text=True, timeout=300)
    assert local.returncode == 1 and "bad.wav" in local.stderr
    expected = [(r["path"], r["text"]) for r in map(json.loads, local.stdout.splitlines())]
    assert len(expected) == len(files) - 1

    merged = tmp_path / "out.jsonl"
    on_ray = subprocess.run([*transcribe, "--ray", "local", "--jobs", "2", "-o", str(merged)],
                            capture_output=True, text=True, timeout=600)
    assert on_ray.returncode == 1, on_ray.stderr
    assert f"speechlstm: error: {bad}: " in on_ray.stderr and "Traceback" not in on_ray.stderr
    records = [json.loads(line) for line in merged.read_text().splitlines()]
    assert [r["path"] for r in records] == list(map(str, files))
    assert [(r["path"], r["text"]) for r in records if "error" not in r] == expected
    assert [r for r in records if "error" in r][0]["path"] == str(bad)
    assert list((tmp_path / "out.jsonl.shards").glob("*.json"))

    import pyarrow.parquet as pq
    parquet = tmp_path / "out.parquet"
    on_ray = subprocess.run([*transcribe, "--ray", "local", "--jobs", "2", "--format", "parquet", "-o",
                             str(parquet), "--shards-dir", str(tmp_path / "shards")], capture_output=True, text=True,
                            timeout=600)
    assert on_ray.returncode == 1, on_ray.stderr
    table = pq.read_table(parquet).to_pylist()
    assert [(r["path"], r["text"]) for r in table if r["error"] is None] == expected
    assert list((tmp_path / "shards").glob("*.parquet"))
