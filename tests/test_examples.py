"""The README's data examples run from a clone without ../shared: the tiny corpus
(recipes/en/local/make_tiny_corpus.py), then eval, train, build-lm and build-lexicon as the
README writes them, and the recipe's --tiny stages."""
from __future__ import annotations

import gzip
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

#: the README's command lines that need a corpus: the tiny corpus first, then the commands on it
EXAMPLE = re.compile(r"^((?:python recipes/en/local/make_tiny_corpus\.py|speechlstm (?:eval|train|build-lm|"
                     r"build-lexicon)) .*?)\s*(?:#.*)?$", re.MULTILINE)
#: a tiny model and a few seconds for the README's training command (the last of each option counts)
TINY_TRAINING = ["--hidden", "16", "--layers", "2", "--chunk", "4", "--right", "2", "--max-minutes", "0.05",
                 "--epochs", "1", "--batch-seconds", "8", "--warmup", "2", "--workers", "0", "--device", "cpu"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                reason="espeak-ng is not installed (scripts/install_system_deps.sh installs it)")


def _readme_examples() -> dict[str, list[str]]:
    """The README's example commands by their first two words, as argument lists for this interpreter."""
    examples = {}
    for line in EXAMPLE.findall((ROOT / "README.md").read_text()):
        words = shlex.split(line)
        program = [sys.executable] if words[0] == "python" else [sys.executable, "-m", "speechlstm"]
        examples[" ".join(words[:2])] = program + words[1:]
    return examples


def _run(command: list[str], cwd, env=ENV) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{command}: {done.stderr[-3000:]}"
    return done


def test_readme_examples_run_on_the_tiny_corpus(tmp_path):
    examples = _readme_examples()
    assert set(examples) == {"python recipes/en/local/make_tiny_corpus.py", "speechlstm eval", "speechlstm train",
                             "speechlstm build-lm", "speechlstm build-lexicon"}, examples
    (tmp_path / "recipes").symlink_to(ROOT / "recipes")  # a clone's layout, writing into tmp_path
    _run(examples.pop("python recipes/en/local/make_tiny_corpus.py"), tmp_path)
    corpus = tmp_path / "exp" / "tiny"
    assert sum(path.stat().st_size for path in corpus.rglob("*")) < 3_000_000
    _run(examples["speechlstm eval"], tmp_path)
    assert {path.name for path in (tmp_path / "eval").iterdir()} >= {"recogs-streaming.txt", "errs-streaming.txt"}
    assert "--max-minutes" in examples["speechlstm train"]
    _run(examples["speechlstm train"] + TINY_TRAINING, tmp_path)
    assert (tmp_path / "exp" / "smoke" / "last.safetensors").exists()
    _run(examples["speechlstm build-lm"], tmp_path)
    _run(examples["speechlstm build-lexicon"], tmp_path)
    with gzip.open(tmp_path / "lexicon.txt.gz", "rt") as handle:
        spelled = {line.split("\t")[0] for line in handle}
    assert {"fish", "sister's", "lighthouse"} <= spelled


def test_recipe_tiny_stages_run_from_a_clone(tmp_path):
    """Stage 1 writes the tiny corpus where SHARED points (here a fresh folder), 3 builds its LM and
    lexicon, 4 trains (a tiny model), 5 decodes its dev set."""
    env = {**ENV, "SHARED": str(tmp_path / "tiny"), "EXP": str(tmp_path / "run"), "MINUTES": "0.05",
           "TRAIN_ARGS": " ".join(TINY_TRAINING + ["--eval-limit", "2"])}
    done = _run(["bash", str(ROOT / "recipes" / "en" / "run.sh"), "--tiny", "--stage", "1", "--stop-stage", "5"],
                ROOT, env)
    assert "stage 1: tiny corpus" in done.stderr and (tmp_path / "tiny" / "data" / "dev.tsv").exists()
    assert (tmp_path / "run" / "lm.arpa.gz").exists() and (tmp_path / "run" / "lexicon.txt.gz").exists()
    figures = json.loads((tmp_path / "run" / "decode.json").read_text())
    assert figures and (tmp_path / "run" / "train" / "last.safetensors").exists()
