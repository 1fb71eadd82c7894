"""A non-editable install carries the shipped model: build a real wheel, install it into a
fresh virtual environment (reusing the running interpreter's packages, so nothing is downloaded)
and transcribe from outside the checkout with no environment variable pointing back at it."""
from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT, SAMPLES

SOURCES = ("speechlstm", "models", "pyproject.toml", "README.md", "LICENSE")


def _run(command: list, **options) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, **options)
    assert done.returncode == 0, f"{command}: {done.stderr[-2000:]}"
    return done


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory) -> tuple[Path, Path, dict]:
    """(wheel, venv bin folder, environment) with the wheel installed into the venv.

    The sources are copied first so the build never writes into the shared checkout."""
    root = tmp_path_factory.mktemp("packaging")
    source = root / "src"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, source / name)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(root),
          str(source)])
    wheel = next(root.glob("speechlstm-*.whl"))
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    _reuse_site_packages(venv)
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)])
    env = {key: value for key, value in os.environ.items() if key not in ("SPEECHLSTM_MODELS", "PYTHONPATH")}
    return wheel, venv / "bin", env


def _reuse_site_packages(venv: Path) -> None:
    """Put the running interpreter's site-packages after the new venv's own, whether it runs inside a
    virtual environment or not (``--system-site-packages`` would give the base interpreter's, which
    lack what a venv installed). A plain path line: the .pth files there, such as an editable
    install of this checkout, are not run, so the wheel is the only speechlstm the venv sees."""
    own = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    outer = [path for path in (*site.getsitepackages(), site.getusersitepackages()) if Path(path).is_dir()]
    (own / "outer-site-packages.pth").write_text("".join(f"{path}\n" for path in outer))


def test_wheel_carries_the_models_folder(wheel_env):
    wheel, _, _ = wheel_env
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"speechlstm/models/{path.name}" for pattern in ("*.safetensors", "*.int8.onnx", "lm.arpa.gz",
                                                                  "README.md")
               for path in (ROOT / "models").glob(pattern)}
    assert "speechlstm/models/speechlstm-en.safetensors" in shipped and shipped <= names
    assert not any(name.startswith("speechlstm/models/training_logs") for name in names)


def test_wheel_carries_the_server_page_and_the_spelling_table(wheel_env):
    wheel, _, _ = wheel_env
    names = set(zipfile.ZipFile(wheel).namelist())
    page = {f"speechlstm/server/static/{path.name}" for path in (ROOT / "speechlstm/server/static").iterdir()}
    assert "speechlstm/server/static/index.html" in page and page <= names
    assert "speechlstm/american_spelling.tsv" in names


def test_installed_wheel_transcribes_with_no_environment_variable(wheel_env, tmp_path):
    _, bin_dir, env = wheel_env
    where = _run([str(bin_dir / "python"), "-c", "import speechlstm.model_files as b; print(b.__file__, b.MODELS_DIR)"],
                 cwd=tmp_path, env=env).stdout.split()
    assert all(str(bin_dir.parent) in path for path in where), where
    clip = SAMPLES / "goforward.wav"
    installed = _run([str(bin_dir / "speechlstm"), "transcribe", "--format", "json", str(clip)],
                     cwd=tmp_path, env=env)
    checkout = _run([sys.executable, "-m", "speechlstm", "transcribe", "--format", "json", str(clip)], cwd=ROOT)
    assert json.loads(installed.stdout)["text"] == json.loads(checkout.stdout)["text"] != ""
    # a model folder given by path brings its own LM (it used to be looked up in site-packages/models/)
    other = _run([str(bin_dir / "speechlstm"), "transcribe", "--model", str(ROOT / "models"), str(clip)],
                 cwd=tmp_path, env=env)
    assert other.stdout.strip() == json.loads(checkout.stdout)["text"]


def test_missing_shipped_model_names_the_cause(wheel_env, tmp_path):
    _, bin_dir, env = wheel_env
    models = Path(_run([str(bin_dir / "python"), "-c", "import speechlstm.model_files as b; print(b.MODELS_DIR)"],
                       cwd=tmp_path, env=env).stdout.strip())
    hidden = models.with_name("models.hidden")
    models.rename(hidden)
    try:
        done = subprocess.run([str(bin_dir / "speechlstm"), "transcribe", str(SAMPLES / "goforward.wav")],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    finally:
        hidden.rename(models)
    assert done.returncode == 3 and "Traceback" not in done.stderr
    assert "shipped model was not installed" in done.stderr and "torch" not in done.stderr, done.stderr
