"""The staged recipe: data and train stages of recipes/en/run.sh on a tiny corpus."""
import os
import subprocess

import numpy as np
import soundfile as sf

from conftest import ROOT

RECIPE = ROOT / "recipes" / "en" / "run.sh"


def _tiny_shared(root):
    """A ``shared/data`` folder with one small manifest (noise clips with short texts)."""
    data = root / "data"
    (data / "clips").mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = ["path\tduration\tspeaker\tsource\tlicense\ttext"]
    for index, text in enumerate(["HELLO WORLD", "ONE TWO THREE", "SMALL MODEL", "STREAMING AUDIO"]):
        samples = rng.standard_normal(8000 + 1600 * index) * 0.1
        sf.write(data / "clips" / f"{index}.flac", samples, 16000)
        rows.append(f"clips/{index}.flac\t{len(samples) / 16000:.3f}\ts{index % 2}\ttiny\tCC0\t{text}")
    (data / "tiny.tsv").write_text("\n".join(rows) + "\n")
    return data / "tiny.tsv"


def _run(args, env, cwd=ROOT):
    return subprocess.run(["bash", str(RECIPE), *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **env}, cwd=cwd)


def test_recipe_runs_a_range_of_stages(tmp_path):
    dev = _tiny_shared(tmp_path / "shared")
    env = {"SHARED": str(tmp_path / "shared"), "EXP": str(tmp_path / "exp"), "MIX": "tiny.tsv:2", "DEV": str(dev),
           "MINUTES": "0.1", "LEXICON": "none", "HOLDOUT": "none",
           "TRAIN_ARGS": "--hidden 16 --layers 2 --chunk 4 --right 2 --epochs 2 --batch-seconds 4 --warmup 2 "
                         "--workers 0 --eval-limit 2"}
    result = _run(["--stage", "1", "--stop-stage", "1"], env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "exp" / "train.list").read_text().split() == [f"{tmp_path}/shared/data/tiny.tsv:2"]
    assert not (tmp_path / "exp" / "train").exists()
    result = _run(["--stage", "4", "--stop-stage", "4"], env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "exp" / "train" / "last.safetensors").exists()
    assert "stage 4" in result.stderr and "stage 5" not in result.stderr


def test_recipe_holds_readers_out_as_dev2(tmp_path):
    dev = _tiny_shared(tmp_path / "shared")
    speakers = tmp_path / "held.txt"
    speakers.write_text("# held out\ns1\tM\n")
    env = {"SHARED": str(tmp_path / "shared"), "EXP": str(tmp_path / "exp"), "MIX": "tiny.tsv:2", "DEV": str(dev),
           "HOLDOUT": str(speakers)}
    result = _run(["--stage", "1", "--stop-stage", "1"], env)
    assert result.returncode == 0, result.stderr
    train = tmp_path / "exp" / "tiny.train.tsv"
    assert (tmp_path / "exp" / "train.list").read_text().split() == [f"{train}:2"]
    from speechlstm.io.manifest import read_manifest
    kept, held = read_manifest(train, ("path", "text")), read_manifest(tmp_path / "exp" / "dev2.tsv", ("path", "text"))
    assert [u.text for u in kept] == ["HELLO WORLD", "SMALL MODEL"]
    assert [u.text for u in held] == ["ONE TWO THREE", "STREAMING AUDIO"]
    assert all(u.path.exists() for u in kept + held)
    speakers.write_text("nobody\n")
    result = _run(["--stage", "1", "--stop-stage", "1"], env)
    assert result.returncode != 0 and "speakers not in any training manifest: nobody" in result.stderr


def test_recipe_refuses_a_missing_corpus_and_unknown_options(tmp_path):
    result = _run(["--stage", "1", "--stop-stage", "1"], {"SHARED": str(tmp_path / "nowhere"),
                                                          "EXP": str(tmp_path / "exp")})
    assert result.returncode == 1 and "not found (set SHARED)" in result.stderr
    result = _run(["--stages", "1"], {"EXP": str(tmp_path / "exp")})
    assert result.returncode == 2 and "unknown option" in result.stderr


def test_recipe_lm_stage_builds_an_arpa_model_and_its_lexicon(tmp_path):
    text = tmp_path / "shared" / "text"
    text.mkdir(parents=True)
    (text / "lm_text.txt.xz").write_bytes(__import__("lzma").compress(
        b"the cat sat on the mat\nthe dog sat on the log\na cat and a dog\n" * 5))
    (text / "vocab200k.txt").write_text("the\ncat\nsat\non\nmat\ndog\nlog\na\nand\n")
    with __import__("gzip").open(text / "lexicon200k.txt.gz", "wt") as handle:
        handle.write("THE\tDH AH0\nCAT\tK AE1 T\nZEBRA\tZ IY1 B R AH0\n")
    env = {"SHARED": str(tmp_path / "shared"), "EXP": str(tmp_path / "exp"), "LM_ARGS": "--vocab-size 9 --prune 0 0 0"}
    result = _run(["--stage", "3", "--stop-stage", "3"], env)
    assert result.returncode == 0, result.stderr[-3000:]
    from speechlstm.decode.lm import ArpaLM
    lm = ArpaLM(tmp_path / "exp" / "lm.arpa.gz")
    assert lm.order == 3 and "cat" in lm
    with __import__("gzip").open(tmp_path / "exp" / "lexicon.txt.gz", "rt") as handle:
        assert handle.read() == "the\tDH AH\ncat\tK AE T\n"
    built = (tmp_path / "exp" / "lm.arpa.gz").stat().st_mtime_ns
    again = _run(["--stage", "3", "--stop-stage", "3"], env)
    assert again.returncode == 0 and "up to date" in again.stderr
    assert (tmp_path / "exp" / "lm.arpa.gz").stat().st_mtime_ns == built
    changed = _run(["--stage", "3", "--stop-stage", "3"], {**env, "LM_ARGS": "--vocab-size 8 --prune 0 0 0"})
    assert changed.returncode == 0 and "up to date" not in changed.stderr
    assert "cat" in ArpaLM(tmp_path / "exp" / "lm.arpa.gz")
