"""ONNX export and the torch-free edge runtime, checked against torch on a tiny random model."""
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import onnxruntime as ort
import pytest
import torch

from conftest import ROOT, SAMPLES
from speechlstm import BundleError, Recognizer
from speechlstm.backends import resolve_backend
from speechlstm.model_files import exported_files
from speechlstm.backends.onnx import OnnxBackend, load_onnx
from speechlstm.backends.torch import TorchBackend
from speechlstm.nn.model import model_from_bundle
from speechlstm.bundle import load_bundle
from speechlstm.cli import main
from speechlstm.nn.export import export
from test_streaming import _chunked_offline, stream_log_probs

WAV = SAMPLES / "goforward.wav"


@pytest.fixture(scope="module")
def exported(tiny_bundle, tmp_path_factory):
    """A copy of the tiny bundle with its fp32 and int8 graphs next to it."""
    folder = tmp_path_factory.mktemp("exported")
    bundle = shutil.copy(tiny_bundle, folder / "tiny.safetensors")
    export(bundle, folder)
    export(bundle, folder, int8=True)
    return bundle


@pytest.fixture(scope="module")
def torch_backend(tiny_bundle):
    return TorchBackend(model_from_bundle(load_bundle(tiny_bundle)))


def _frames(seed, count):
    return np.random.default_rng(seed).standard_normal((count, 80)).astype(np.float32)


@pytest.mark.parametrize("graphs", ["both", "streaming only"])
@pytest.mark.parametrize("count", [2, 3, 14, 100, 301])
def test_offline_matches_torch(exported, torch_backend, count, graphs):
    paths = exported_files(exported, False)
    if graphs == "streaming only":
        paths["offline"] = exported.parent / "absent.onnx"
    backend = OnnxBackend(paths, preload="offline")
    frames = _frames(count, count)
    onnx_out, torch_out = backend.full(frames), torch_backend.full(frames)
    assert onnx_out.shape == torch_out.shape == (count // 3, 29)
    np.testing.assert_allclose(onnx_out, torch_out, atol=1e-4)


def test_offline_graph_batches_with_lengths(exported, torch_backend):
    session = ort.InferenceSession(str(exported_files(exported, False)["offline"]))
    feats = np.zeros((2, 120, 80), np.float32)
    feats[0], feats[1, :61] = _frames(0, 120), _frames(1, 61)
    log_probs, lengths = session.run(None, {"feats": feats, "lengths": np.array([120, 61])})
    assert lengths.tolist() == [40, 20]
    for row, (frames, steps) in enumerate([(feats[0], 40), (feats[1, :61], 20)]):
        np.testing.assert_allclose(log_probs[row, :steps], torch_backend.full(frames), atol=1e-4)


@pytest.mark.parametrize("main_steps,right", [(5, 3), (5, 0), (5, 2), (3, 3), (2, 1), (1, 0)])
def test_step_matches_torch_including_partial_chunks(exported, torch_backend, main_steps, right):
    _, backend = load_onnx(exported, int8=False)
    frames = _frames(main_steps * 10 + right, 24 + 3 * (main_steps + right) + 1)
    torch_state, onnx_state = torch_backend.initial_state(), backend.initial_state()
    for chunk_frames, steps in ((frames[:24], 5), (frames[24:], main_steps)):
        torch_out, torch_state = torch_backend.step(chunk_frames, steps, torch_state)
        onnx_out, onnx_state = backend.step(chunk_frames, steps, onnx_state)
        np.testing.assert_allclose(onnx_out, torch_out, atol=1e-4)
    for index in range(2):
        np.testing.assert_allclose(onnx_state[index], torch.cat([s[index] for s in torch_state]).numpy(), atol=1e-4)


@pytest.mark.parametrize("seed", range(3))
def test_stream_on_onnx_matches_torch_chunked_offline(exported, seed):
    onnx_recognizer = Recognizer.from_bundle(exported, backend="onnx")
    torch_recognizer = Recognizer.from_bundle(exported, backend="torch")
    rng = np.random.default_rng(seed)
    samples = (rng.standard_normal(int(rng.integers(3000, 40000))) * 0.2).astype(np.float32)
    np.testing.assert_allclose(stream_log_probs(onnx_recognizer, samples, rng),
                               _chunked_offline(torch_recognizer, samples), atol=1e-4)


def test_int8_weights_fit_seven_bits(exported):
    """u8 x s8 pair sums stay below 2**15 (no saturation on AVX2 without VNNI): |w| <= 64."""
    import onnx
    from onnx import numpy_helper
    for path in exported_files(exported, True).values():
        weights = [numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer
                   if t.data_type == onnx.TensorProto.INT8 and len(t.dims) == 3]
        assert weights and max(int(np.abs(w.astype(np.int16)).max()) for w in weights) <= 64


def test_int8_runs_with_the_right_shapes(exported):
    _, backend = load_onnx(exported, int8=True, preload="offline")
    offline = backend.full(_frames(0, 100))
    log_probs, (h, c) = backend.step(_frames(1, 24), 5, backend.initial_state())
    assert offline.shape == (33, 29) and log_probs.shape == (5, 29)
    assert h.shape == c.shape == (2, 1, 24)
    for out in (offline, log_probs):
        np.testing.assert_allclose(np.exp(out).sum(axis=1), 1.0, atol=1e-4)


def test_onnx_files_alone_are_a_complete_bundle(exported, tmp_path):
    for path in exported_files(exported, True).values():
        shutil.copy(path, tmp_path)
    bundle, backend = load_onnx(tmp_path / "tiny.streaming.int8.onnx")
    assert bundle.header() == load_bundle(exported).header()
    assert (backend.stack, backend.chunk, backend.right) == (3, 5, 3)
    recognizer = Recognizer.from_bundle(tmp_path, mode="streaming")
    assert recognizer.config.backend == "onnx-int8"
    assert isinstance(recognizer.transcribe_file(WAV).text, str)


def test_exported_graphs_carry_the_speaker_norm(normed_bundle, tmp_path):
    """The ONNX files alone normalize as the bundle does: their metadata holds the frontend."""
    bundle = shutil.copy(normed_bundle, tmp_path / "normed.safetensors")
    export(bundle, tmp_path, graphs=("streaming",))
    onnx_recognizer = Recognizer.from_bundle(bundle, backend="onnx")
    assert onnx_recognizer.bundle.frontend == load_bundle(normed_bundle).frontend
    rng = np.random.default_rng(5)
    samples = (rng.standard_normal(30000) * 0.2).astype(np.float32)
    np.testing.assert_allclose(stream_log_probs(onnx_recognizer, samples, rng),
                               _chunked_offline(Recognizer.from_bundle(bundle, backend="torch"), samples), atol=1e-4)


def test_default_backend_prefers_int8_next_to_the_bundle(exported, tiny_bundle):
    assert resolve_backend("auto", exported) == "onnx-int8"
    assert resolve_backend("auto", tiny_bundle) == "torch"
    assert resolve_backend("auto", exported.parent / "tiny.offline.onnx") == "onnx"
    assert Recognizer.from_bundle(tiny_bundle).config.backend == "torch"


def test_missing_or_bad_onnx_files_are_bundle_errors(tiny_bundle, tmp_path):
    with pytest.raises(BundleError, match="speechlstm export"):
        load_onnx(tiny_bundle)
    for graph in ("offline", "streaming"):
        (tmp_path / f"bad.{graph}.onnx").write_bytes(b"not onnx")
    with pytest.raises(BundleError, match="not a loadable ONNX model"):
        load_onnx(tmp_path, int8=False)


def test_cli_export_then_transcribe(tiny_bundle, tmp_path, capsys):
    assert main(["export", "--model", str(tiny_bundle), "--int8", "--streaming-only", "-o", str(tmp_path)]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["tiny.streaming.int8.onnx"]
    capsys.readouterr()
    for mode in ("offline", "streaming"):
        assert main(["transcribe", "--model", str(tmp_path), "--backend", "onnx-int8", "--threads", "1",
                     "--mode", mode, str(WAV)]) == 0
    assert main(["transcribe", "--model", str(tmp_path), "--backend", "onnx", str(WAV)]) == 3


def test_edge_path_never_imports_torch(exported):
    script = textwrap.dedent(f"""
        import sys

        class BlockTorch:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "torch":
                    raise ImportError("torch is blocked in this test")

        sys.meta_path.insert(0, BlockTorch())
        import speechlstm
        from speechlstm import Recognizer
        from speechlstm.errors import MissingPackageError
        recognizer = Recognizer.from_bundle({str(exported)!r})
        assert recognizer.config.backend == "onnx-int8", recognizer.config.backend
        offline = recognizer.transcribe_file({str(WAV)!r})
        streaming = recognizer.with_options(mode="streaming").transcribe_file({str(WAV)!r})
        assert offline.duration > 1 and streaming.duration > 1
        from speechlstm.cli import main
        assert main(["transcribe", "--model", {str(exported)!r}, "--format", "json", {str(WAV)!r}]) == 0
        try:
            Recognizer.from_bundle({str(exported)!r}, backend="torch")
            raise SystemExit("the torch backend loaded without torch")
        except MissingPackageError as error:
            assert "needs torch" in str(error)
        # a missing package is a usage error, the same code from every command (train too)
        assert main(["transcribe", "--model", {str(exported)!r}, "--backend", "torch", {str(WAV)!r}]) == 2
        assert "torch" not in sys.modules, "torch was imported"
        print("edge ok")
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "edge ok" in done.stdout


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_decode_streams_on_onnx_equals_each_stream_alone_exactly(exported, backend):
    from test_engine import check_decode_streams
    check_decode_streams(Recognizer.from_bundle(exported, backend=backend, decoder="prefix", lm=None))
