"""The training recipe on tiny data: LibriSpeech import, augmentation, a single-process run, and DDP with two CPU ranks."""
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import recipe_script
from speechlstm.bundle import load_bundle
from speechlstm.io.manifest import read_manifest
from speechlstm.nn.augment import AugmentConfig, augment, frequency_warp, spec_augment
from speechlstm.nn.data import bucket_batches

import_librispeech = recipe_script("import_librispeech").import_librispeech

WORDS = ["hello world", "speech to text", "a small model", "streaming audio", "one two three"]


@pytest.fixture(scope="module")
def librispeech(tmp_path_factory):
    """A LibriSpeech-layout folder: two speakers, one chapter each, FLAC + trans.txt."""
    root = tmp_path_factory.mktemp("LibriSpeech") / "train-tiny"
    rng = np.random.default_rng(0)
    for speaker, chapter in (("19", "198"), ("26", "495")):
        folder = root / speaker / chapter
        folder.mkdir(parents=True)
        lines = []
        for index, text in enumerate(WORDS):
            utterance = f"{speaker}-{chapter}-{index:04d}"
            sf.write(folder / f"{utterance}.flac", (rng.standard_normal(8000 + 1600 * index) * 0.1), 16000)
            lines.append(f"{utterance} {text.upper()}")
        (folder / f"{speaker}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
    return root


def test_import_librispeech(librispeech, tmp_path):
    manifest = tmp_path / "exp" / "train.tsv"
    assert import_librispeech(librispeech, manifest) == 10
    rows = read_manifest(manifest)
    assert rows[0].text == "HELLO WORLD" and rows[0].speaker == "librispeech-19"
    assert rows[0].path.exists() and abs(rows[0].duration - 0.5) < 1e-3


def test_bucket_batches_cover_weighted_items():
    import random
    batches = bucket_batches([1.0, 2.0, 3.0, 10.0], [2, 1, 1, 1], batch_seconds=6.0, rng=random.Random(0))
    assert sorted(i for b in batches for i in b) == [0, 0, 1, 2, 3]
    assert all(max([1.0, 2.0, 3.0, 10.0][i] for i in b) * len(b) <= 10.0 for b in batches)


def test_frequency_warp_moves_energy_along_the_mel_axis():
    feats = np.zeros((3, 80), dtype=np.float32)
    feats[:, 40] = 1.0
    assert np.array_equal(frequency_warp(feats, 1.0), feats)
    stretched = frequency_warp(feats, 1.1)
    assert stretched.shape == feats.shape and stretched.dtype == feats.dtype
    assert 43 <= int(np.argmax(stretched[0])) <= 45


def test_spec_augment_strength_scales_the_masks():
    feats = np.random.default_rng(0).standard_normal((600, 80)).astype(np.float32)
    assert np.array_equal(spec_augment(feats, np.random.default_rng(1), 0.0), feats)
    masked = [int((spec_augment(feats, np.random.default_rng(seed), strength) != feats).sum())
              for strength in (1.0, 3.0) for seed in range(20)]
    assert sum(masked[20:]) > 2 * sum(masked[:20]) > 0


def test_augment_keeps_length_and_range():
    samples = np.sin(np.arange(24007) / 9).astype(np.float32) * 0.5
    config = AugmentConfig(p_speed=0.0, p_reverb=1.0, p_noise=1.0)
    out = augment(samples, np.random.default_rng(0), config, babble=np.zeros(100, dtype=np.int16))
    assert out.shape == samples.shape and out.dtype == np.float32 and np.abs(out).max() <= 1.0


def _train(manifest, out, extra=(), launcher=(sys.executable, "-m", "speechlstm", "train")):
    """Train through ``speechlstm train`` (the documented command) unless another launcher is given."""
    command = [*launcher, "--train", f"{manifest}:2", "--dev", str(manifest), "--out", str(out),
               "--hidden", "16", "--layers", "2", "--chunk", "4", "--right", "2", "--max-minutes", "0.15",
               "--epochs", "2", "--batch-seconds", "4", "--warmup", "2", "--workers", "0", "--device", "cpu", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, capture_output=True, text=True, timeout=240, env=env)


def test_train_resume_and_bundle(librispeech, tmp_path):
    manifest = tmp_path / "train.tsv"
    import_librispeech(librispeech, manifest)
    first = _train(manifest, tmp_path / "run", ["--epochs", "1", "--max-minutes", "3", "--spec-augment", "0.5",
                                                "--speed-prob", "0", "--warp-prob", "1", "--keep-snapshots", "1"])
    assert first.returncode == 0, first.stderr[-2000:]
    log = (tmp_path / "run" / "train_log.tsv").read_text().splitlines()
    assert log[0].startswith("step\tepoch") and len(log) >= 2
    assert first.stdout.splitlines()[0] == log[0]  # the console log has the file's header row
    assert "resuming" not in first.stderr
    bundle = load_bundle(tmp_path / "run" / "best.safetensors")
    assert bundle.model.hidden == 16 and "offline_wer" in bundle.info
    assert bundle.train["hidden"] == 16 and bundle.train["epochs"] == 1  # the training options travel along
    assert bundle.train["spec_augment"] == 0.5 and bundle.train["speed_prob"] == 0
    first_step = int(load_bundle(tmp_path / "run" / "last.safetensors").info["step"])
    second = _train(manifest, tmp_path / "run", ["--epochs", "2", "--max-minutes", "3", "--keep-snapshots", "1"])
    assert second.returncode == 0, second.stderr[-2000:]
    last_step = int(load_bundle(tmp_path / "run" / "last.safetensors").info["step"])
    assert last_step > first_step
    snapshots = sorted((tmp_path / "run" / "snapshots").iterdir())  # the first run's was pruned
    assert [p.name for p in snapshots] == [f"step{last_step:08d}.safetensors"]
    assert f"resuming {tmp_path / 'run' / 'checkpoint.pt'}: step {first_step}," in second.stderr
    # another model size into the same folder: one line naming both sizes, and nothing touched
    before = (tmp_path / "run" / "checkpoint.pt").read_bytes()
    other = _train(manifest, tmp_path / "run", ["--hidden", "24"])
    assert other.returncode == 2 and other.stderr.count("\n") == 1, other.stderr
    assert "--hidden 16 --layers 2; this command: --hidden 24 --layers 2" in other.stderr
    assert (tmp_path / "run" / "checkpoint.pt").read_bytes() == before


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this torch has CUDA and a GPU")
def test_device_cuda_without_cuda_is_one_line(tmp_path):
    done = _train(tmp_path / "absent.tsv", tmp_path / "run", ["--device", "cuda"])
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "--device cuda" in done.stderr and "--device cpu" in done.stderr
    assert not (tmp_path / "run").exists()


def test_distributed_two_cpu_processes(librispeech, tmp_path):
    manifest = tmp_path / "train.tsv"
    import_librispeech(librispeech, manifest)
    torchrun = (sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", "29533", "-m",
                "speechlstm", "train")
    result = _train(manifest, tmp_path / "ddp", launcher=torchrun)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "ddp" / "last.safetensors").exists()


def _random_bundle(path, seed, **settings):
    import torch

    from speechlstm.config import FrontendConfig, ModelConfig
    from speechlstm.nn.model import AcousticModel, save_bundle
    torch.manual_seed(seed)
    return save_bundle(path, AcousticModel(ModelConfig(**{"hidden": 8, "layers": 2, **settings})), FrontendConfig(),
                       {"step": seed}, dtype=np.float32)


def test_average_writes_the_mean_of_the_weights(tmp_path):
    from speechlstm.cli import main
    inputs = [_random_bundle(tmp_path / f"s{seed}.safetensors", seed) for seed in (1, 2, 3)]
    assert main(["average", str(tmp_path / "avg.safetensors"), *map(str, inputs)]) == 0
    averaged = load_bundle(tmp_path / "avg.safetensors")
    bundles = [load_bundle(path) for path in inputs]
    assert averaged.model == bundles[0].model and averaged.info["steps"] == [1, 2, 3]
    for name, value in averaged.tensors.items():
        np.testing.assert_allclose(value, np.mean([b.tensors[name] for b in bundles], axis=0), atol=1e-3)


def test_average_refuses_other_architectures(tmp_path, capsys):
    from speechlstm.cli import main
    from speechlstm.errors import ModelError
    a = _random_bundle(tmp_path / "a.safetensors", 1)
    b = _random_bundle(tmp_path / "b.safetensors", 2, right=4)
    assert main(["average", str(tmp_path / "avg.safetensors"), str(a), str(b)]) == ModelError.exit_code
    assert "one architecture" in capsys.readouterr().err
    assert not (tmp_path / "avg.safetensors").exists()


def test_init_grows_a_shallower_bundle(librispeech, tmp_path):
    """Layer-wise pretraining: a 1-layer bundle initialises the first layer and the heads of a 2-layer run."""
    manifest = tmp_path / "train.tsv"
    import_librispeech(librispeech, manifest)
    shallow = _random_bundle(tmp_path / "shallow.safetensors", 5, layers=1)
    run = _train(manifest, tmp_path / "grown", ["--init", str(shallow), "--hidden", "8", "--epochs", "1"])
    assert run.returncode == 0, run.stderr[-2000:]
    before, after = load_bundle(shallow).tensors, load_bundle(tmp_path / "grown" / "last.safetensors").tensors
    assert after["forward_lstms.0.weight_ih_l0"].shape == before["forward_lstms.0.weight_ih_l0"].shape
    assert "forward_lstms.1.weight_ih_l0" in after and "forward_lstms.1.weight_ih_l0" not in before
    shrunk = _train(manifest, tmp_path / "shrunk", ["--init", str(tmp_path / "grown" / "last.safetensors"),
                                                    "--hidden", "8", "--layers", "1"])
    assert shrunk.returncode == 2 and shrunk.stderr.count("\n") == 1, shrunk.stderr
    assert "--hidden 8 --layers 2" in shrunk.stderr and "this command: --hidden 8 --layers 1" in shrunk.stderr
