"""Hard inputs: every bad or awkward input has a documented outcome (issue #7).

Each table row is an input and what must happen to it: a transcription that succeeds, or
a one-line error naming the file with the documented exit code (1 input, 3 model,
4 output). File inputs go through the CLI in-process (offline) and through the Python
API (streaming, reading block by block); model files through both too.
"""
from __future__ import annotations

import json
import os
import pickle
import re
import stat
import subprocess
import sys
import time
import tracemalloc
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp
from safetensors import safe_open
from safetensors.numpy import save_file

import speechlstm.recognizer as recognizer_module
from speechlstm import AudioError, Recognizer, StreamError
from speechlstm.bundle import BundleError, weights_checksum
from speechlstm.cli import main
from speechlstm.frontend import LogMel, StreamingLogMel
from speechlstm.io.atomic import atomic_write
from speechlstm.io.audio import AudioWarning, iter_blocks, read_audio, to_mono_float

from conftest import SAMPLES

RATE = 16000
NON_UTF8 = b"caf\xe9-\xff.wav"


def _noise(seconds: float, rate: int = RATE, scale: float = 0.1, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(seconds * rate)) * scale).astype(np.float32)


def _wav_bytes(samples: np.ndarray, rate: int, subtype: str | None = None, fmt: str = "WAV") -> bytes:
    import io
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def _with_header_rate(rate: int) -> bytes:
    """A 16-bit mono WAV whose header claims ``rate`` (16000 frames of noise)."""
    data = bytearray(_wav_bytes(_noise(1.0), RATE, "PCM_16"))
    data[24:28] = rate.to_bytes(4, "little")
    data[28:32] = (2 * rate).to_bytes(4, "little")
    return bytes(data)


def _speech(seconds: float) -> np.ndarray:
    audio = read_audio(SAMPLES / "goforward.wav")
    middle = len(audio) // 2
    return audio[middle:middle + int(seconds * RATE)]


def _encoded(container: str, codec: str | None, rate: int, video: bool = False) -> bytes:
    """One second of noise encoded by FFmpeg (PyAV) into ``container``, with a short video track if asked."""
    import io
    from fractions import Fraction

    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as out:
        picture = out.add_stream("mpeg4", rate=5) if video else None
        sound = out.add_stream(codec, rate=rate, layout="stereo") if codec else None
        packets = []
        if picture:
            picture.width, picture.height, picture.pix_fmt = 32, 32, "yuv420p"
            for index in range(5):
                frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
                frame.pts = index
                packets += picture.encode(frame)
            packets += picture.encode(None)
        if sound:
            frame = av.AudioFrame.from_ndarray(np.stack([_noise(1.0, rate), _noise(1.0, rate, seed=1)]),
                                               format="fltp", layout="stereo")
            frame.rate, frame.pts, frame.time_base = rate, 0, Fraction(1, rate)
            packets += [*sound.encode(frame), *sound.encode(None)]
        for packet in packets:
            out.mux(packet)
    return buffer.getvalue()


@dataclass(frozen=True)
class FileCase:
    """An input file, how to make its bytes, and the expected outcome."""

    name: str
    make: Callable[[], bytes] | None
    error: str | None = None
    duration: float | None = None
    warning: str | None = None
    tolerance: float = 0.01


FILE_CASES = [
    FileCase("empty.wav", lambda: b"", "cannot read audio"),
    FileCase("zero_frames.wav", lambda: _wav_bytes(np.zeros(0, np.float32), RATE, "PCM_16"), duration=0.0,
             warning="contains no audio samples"),
    FileCase("truncated.wav", lambda: _wav_bytes(_noise(1.0), RATE, "PCM_16")[:16044], duration=0.5,
             warning="truncated: the file holds 50% of the audio"),
    # libsndfile gives up on the cut-off frame ("flac decoder lost sync"); FFmpeg decodes the frames before it.
    FileCase("truncated.flac", lambda: _wav_bytes(_noise(1.0), RATE, "PCM_16", "FLAC")[:12000], duration=0.256,
             warning="truncated or damaged (flac decoder lost sync)"),
    FileCase("corrupt_header.wav", lambda: b"XXXX" + _wav_bytes(_noise(0.5), RATE)[4:], "cannot read audio"),
    FileCase("text_renamed.wav", lambda: b"this is a text file, not audio\n" * 20, "cannot read audio"),
    FileCase("a_directory.wav", None, "is a directory"),
    FileCase("missing.wav", lambda: None, "no such file"),
    FileCase("rate_1hz_header.wav", lambda: _with_header_rate(1), "implausible sample rate 1 Hz"),
    FileCase("rate8k.wav", lambda: _wav_bytes(_noise(1.0, 8000), 8000), duration=1.0),
    FileCase("rate4k.wav", lambda: _wav_bytes(_noise(1.0, 4000), 4000), duration=1.0,
             warning="sampled at 4000 Hz: it lacks the sounds above 2 kHz that speech"),
    FileCase("rate22050.wav", lambda: _wav_bytes(_noise(1.0, 22050), 22050), duration=1.0),
    FileCase("rate44100.flac", lambda: _wav_bytes(_noise(1.0, 44100), 44100, fmt="FLAC"), duration=1.0),
    FileCase("rate48k.wav", lambda: _wav_bytes(_noise(1.0, 48000), 48000), duration=1.0),
    FileCase("rate96k.wav", lambda: _wav_bytes(_noise(1.0, 96000), 96000, "PCM_24"), duration=1.0),
    FileCase("stereo.wav", lambda: _wav_bytes(np.stack([_noise(1.0), _noise(1.0, seed=1)], 1), RATE), duration=1.0),
    FileCase("six_channels.wav", lambda: _wav_bytes(np.stack([_noise(1.0, seed=s) for s in range(6)], 1), RATE),
             duration=1.0),
    FileCase("pcm_u8.wav", lambda: _wav_bytes(_noise(1.0), RATE, "PCM_U8"), duration=1.0),
    FileCase("pcm_24.wav", lambda: _wav_bytes(_noise(1.0), RATE, "PCM_24"), duration=1.0),
    FileCase("float32.wav", lambda: _wav_bytes(_noise(1.0), RATE, "FLOAT"), duration=1.0),
    FileCase("nan_samples.wav", lambda: _wav_bytes(np.where(np.arange(RATE) % 3 == 0, np.nan, _noise(1.0))
                                                  .astype(np.float32), RATE, "FLOAT"), duration=1.0),
    FileCase("inf_samples.wav", lambda: _wav_bytes(np.tile(np.float32([np.inf, -np.inf, 0.1]), RATE // 3), RATE,
                                                  "FLOAT"), duration=1.0),
    FileCase("huge_floats.wav", lambda: _wav_bytes(np.tile(np.float32([1e30, -1e30, 3e38]), RATE // 3), RATE,
                                                  "FLOAT"), duration=1.0),
    FileCase("clipping.wav", lambda: _wav_bytes(np.clip(_noise(1.0, scale=5.0), -1, 1), RATE, "PCM_16"),
             duration=1.0),
    FileCase("dc_offset.wav", lambda: _wav_bytes(0.6 + _noise(1.0), RATE, "PCM_16"), duration=1.0),
    FileCase("silence.wav", lambda: _wav_bytes(np.zeros(RATE, np.float32), RATE, "PCM_16"), duration=1.0),
    FileCase("white_noise.wav", lambda: _wav_bytes(_noise(2.0, scale=0.5), RATE, "PCM_16"), duration=2.0),
    FileCase("speech_50ms.wav", lambda: _wav_bytes(_speech(0.05), RATE, "PCM_16"), duration=0.05),
    FileCase("shorter_than_a_frame.wav", lambda: _wav_bytes(_noise(0.005), RATE, "PCM_16"), duration=0.005),
    FileCase("vorbis.ogg", lambda: _wav_bytes(_noise(1.0), RATE, "VORBIS", "OGG"), duration=1.0),
    # libsndfile cannot read these; FFmpeg (PyAV) decodes them. AAC adds a priming frame.
    FileCase("aac.m4a", lambda: _encoded("ipod", "aac", 44100), duration=1.0, tolerance=0.1),
    FileCase("opus.webm", lambda: _encoded("webm", "libopus", 48000), duration=1.0, tolerance=0.03),
    FileCase("video.mp4", lambda: _encoded("mp4", "aac", 16000, video=True), duration=1.0, tolerance=0.1),
    FileCase("video_only.mp4", lambda: _encoded("mp4", None, 16000, video=True), "no audio stream"),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hard_inputs")
    for case in FILE_CASES:
        if case.make is None:
            (folder / case.name).mkdir()
        elif (content := case.make()) is not None:
            (folder / case.name).write_bytes(content)
    return folder


@pytest.fixture(scope="module")
def streaming(tiny_bundle) -> Recognizer:
    return Recognizer.from_bundle(tiny_bundle, mode="streaming", chunk_ms=250)


def _cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([os.fsdecode(a) if isinstance(a, bytes) else str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _assert_one_line_error(err: str, *fragments: str) -> None:
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("speechlstm: error: ") and "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


@pytest.mark.parametrize("case", FILE_CASES, ids=lambda c: c.name)
def test_file_through_cli(capsys, tiny_bundle, files, case):
    code, out, err = _cli(capsys, "transcribe", "--model", tiny_bundle, "--format", "json", files / case.name)
    if (files / case.name).is_dir():  # a folder alone is a usage error that names --recursive
        assert code == 2 and out == "" and "--recursive" in err
    elif case.error:
        assert code == 1 and out == ""
        _assert_one_line_error(err, case.error, case.name)
    else:
        assert code == 0, err
        record = json.loads(out)
        assert record["duration"] == pytest.approx(case.duration, abs=case.tolerance)
        assert isinstance(record["text"], str)
        if case.warning:
            assert err.startswith("speechlstm: warning: ") and case.warning in err and case.name in err
            assert len(err.splitlines()) == 1
        else:
            assert err == ""


@pytest.mark.parametrize("case", FILE_CASES, ids=lambda c: c.name)
def test_file_through_api_streaming(streaming, files, case):
    if case.error:
        with pytest.raises(AudioError, match=case.error) as caught:
            streaming.transcribe_file(files / case.name)
        assert case.name in str(caught.value)
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        transcript = streaming.transcribe_file(files / case.name)
    assert [str(w.message) for w in caught if case.warning and case.warning in str(w.message)] or not case.warning
    assert all(issubclass(w.category, AudioWarning) for w in caught) and (case.warning or not caught)
    assert transcript.duration == pytest.approx(case.duration, abs=case.tolerance)
    assert all(np.isfinite([w.confidence for w in transcript.result.words]))


@pytest.mark.parametrize("block_seconds", [0.1, 10.0])
def test_truncated_flac_decodes_up_to_the_cut(tmp_path, block_seconds):
    """libsndfile stops mid-stream, after some blocks or none; FFmpeg goes on from there, so the
    lossless audio comes out exactly as encoded up to the cut, with no block twice."""
    audio = np.round(_noise(3.0) * 32768) / 32768  # exactly representable in 16 bits
    whole = _wav_bytes(audio, RATE, "PCM_16", "FLAC")
    path = tmp_path / "cut.flac"
    path.write_bytes(whole[: len(whole) * 6 // 10])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        decoded = np.concatenate(list(iter_blocks(path, RATE, block_seconds)))
    assert 0.5 * len(audio) < len(decoded) < 0.7 * len(audio)
    np.testing.assert_array_equal(decoded, audio[: len(decoded)].astype(np.float32))
    assert [str(w.message) for w in caught] == [
        f"{path}: truncated or damaged (flac decoder lost sync): transcribing the {len(decoded) / RATE:.2f} s "
        f"that decode"]


def test_unreadable_file(capsys, tiny_bundle, tmp_path):
    locked = tmp_path / "locked.wav"
    locked.write_bytes(_wav_bytes(_noise(0.5), RATE))
    locked.chmod(0)
    if os.access(locked, os.R_OK):
        pytest.skip("running as root (or with CAP_DAC_OVERRIDE): chmod 000 does not stop reads")
    code, out, err = _cli(capsys, "transcribe", "--model", tiny_bundle, locked)
    assert code == 1 and out == ""
    _assert_one_line_error(err, "cannot read audio", "locked.wav")


def test_non_utf8_file_name(capsys, tiny_bundle, files, tmp_path):
    """Bytes paths work in the API; the CLI echoes the name so that it maps back to the same bytes."""
    path = os.fsencode(tmp_path) + b"/" + NON_UTF8
    with open(path, "wb") as handle:
        handle.write(_wav_bytes(_noise(0.5), RATE))
    transcript = Recognizer.from_bundle(tiny_bundle).transcribe_file(path)
    assert os.fsencode(transcript.path) == path and transcript.duration == pytest.approx(0.5)
    code, out, err = _cli(capsys, "transcribe", "--model", tiny_bundle, "--format", "json", path)
    assert code == 0, err
    assert os.fsencode(json.loads(out)["path"]) == path
    listing = tmp_path / "listing.tsv"
    code, _, err = _cli(capsys, "transcribe", "--model", tiny_bundle, "--format", "tsv", "-o", listing, path,
                        files / "silence.wav")
    assert code == 0, err
    assert listing.read_bytes().split(b"\t")[0] == path


@pytest.mark.parametrize("target,fragment", [
    ("missing_dir/out.txt", "does not exist"),
    ("existing_dir", "cannot write"),
], ids=["output-in-missing-directory", "output-is-a-directory"])
def test_output_errors_exit_4(capsys, tiny_bundle, files, tmp_path, target, fragment):
    (tmp_path / "existing_dir").mkdir()
    code, out, err = _cli(capsys, "transcribe", "--model", tiny_bundle, "-o", tmp_path / target,
                          files / "silence.wav")
    assert code == 4 and out == ""
    _assert_one_line_error(err, fragment)
    assert not [p for p in tmp_path.rglob("*.tmp")]


def _special_output(kind: str, folder: Path) -> Path:
    """An -o target that is not a plain file in a plain folder."""
    path = folder / kind
    if kind in ("full_device", "null_device"):
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 7 if kind == "full_device" else 3))
    elif kind == "symlink":
        (folder / "target.txt").write_text("previous run\n")
        path.symlink_to("target.txt")
    elif kind == "stdout_link":
        path.symlink_to("/proc/self/fd/1")
    elif kind == "fifo":
        os.mkfifo(path)
    return path


@pytest.mark.skipif(os.geteuid() != 0, reason="making device nodes needs root")
@pytest.mark.parametrize("kind", ["full_device", "null_device", "symlink", "fifo"])
def test_output_to_devices_fifos_and_links_writes_through(capsys, tiny_bundle, files, tmp_path, kind):
    """Atomic replacement is for regular files: a device, a FIFO (with its reader) and a link's
    target are written in place; what cannot be written (a full device) is exit 4."""
    target = _special_output(kind, tmp_path)
    reader = os.open(target, os.O_RDONLY | os.O_NONBLOCK) if kind == "fifo" else None
    kind_before = stat.S_IFMT(target.lstat().st_mode)
    try:
        code, out, err = _cli(capsys, "transcribe", "--model", tiny_bundle, "--format", "tsv", "-o", target,
                              files / "silence.wav")
        received = os.read(reader, 65536) if reader is not None else b""
    finally:
        if reader is not None:
            os.close(reader)
    assert stat.S_IFMT(target.lstat().st_mode) == kind_before, "the output was replaced by another kind of file"
    assert _leftovers(tmp_path) == []
    if kind == "full_device":
        assert code == 4 and out == ""
        _assert_one_line_error(err, str(target), "No space left on device")
        return
    assert code == 0 and out == "", err
    if kind == "symlink":
        assert (tmp_path / "target.txt").read_text().startswith(f"{files / 'silence.wav'}\t")
    if kind == "fifo":
        assert received.decode().startswith(f"{files / 'silence.wav'}\t")


def test_output_through_a_link_to_standard_output(tiny_bundle, files, tmp_path):
    """-o /dev/stdout (a link to /proc/self/fd/1) writes into the pipe, not over the link."""
    link = _special_output("stdout_link", tmp_path)
    result = subprocess.run([sys.executable, "-m", "speechlstm", "transcribe", "--model", str(tiny_bundle),
                             "--format", "tsv", "-o", str(link), str(files / "silence.wav")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{files / 'silence.wav'}\t")
    assert link.is_symlink() and os.readlink(link) == "/proc/self/fd/1"


@pytest.mark.parametrize("target", ["a_folder", "missing_folder/out.txt"])
def test_output_is_checked_before_the_first_file(capsys, tiny_bundle, files, tmp_path, monkeypatch, target):
    (tmp_path / "a_folder").mkdir()
    calls = []
    monkeypatch.setattr(Recognizer, "transcribe_file", lambda self, path: calls.append(path))
    code, out, err = _cli(capsys, "transcribe", "--model", tiny_bundle, "-o", tmp_path / target,
                          files / "silence.wav", files / "stereo.wav")
    assert code == 4 and out == "" and calls == []
    _assert_one_line_error(err, str(tmp_path / target))


# Model bundles ---------------------------------------------------------------------------

class _Exploit:
    """Unpickling this would create ``marker``: proof that a loader executed code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def _rewrite(tiny_bundle: Path, target: Path, edit_header=None, edit_tensors=None) -> None:
    with safe_open(str(tiny_bundle), framework="np") as handle:
        header = json.loads(handle.metadata()["speechlstm"])
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    if edit_header:
        edit_header(header)
    if edit_tensors:
        edit_tensors(tensors)
        header["weights_sha256"] = weights_checksum(tensors)  # a file written that way, not a damaged one
    save_file(tensors, str(target), metadata={"speechlstm": json.dumps(header)})


def _make_model(kind: str, tiny_bundle: Path, target: Path) -> None:
    if kind == "truncated":
        data = tiny_bundle.read_bytes()
        target.write_bytes(data[: len(data) // 2])
    elif kind == "random_bytes":
        target.write_bytes(np.random.default_rng(0).bytes(4096))
    elif kind == "pickle":
        target.write_bytes(pickle.dumps(_Exploit(target.with_name("pwned"))))
    elif kind == "plain_safetensors":
        save_file({"weight": np.zeros((3, 3), np.float32)}, str(target))
    elif kind == "bad_header_json":
        save_file({"weight": np.zeros(3, np.float32)}, str(target), metadata={"speechlstm": "{not json"})
    elif kind == "future_version":
        _rewrite(tiny_bundle, target, lambda h: h.update(version=99))
    elif kind == "missing_setting":
        _rewrite(tiny_bundle, target, lambda h: h["model"].pop("hidden"))
    elif kind == "unknown_setting":
        _rewrite(tiny_bundle, target, lambda h: h["model"].update(attention_heads=4))
    elif kind == "bad_vocabulary":
        _rewrite(tiny_bundle, target, lambda h: h.update(vocabulary=[]))
    elif kind == "wrong_tensor_shape":
        _rewrite(tiny_bundle, target, edit_tensors=lambda t: t.update(
            {"forward_lstms.1.weight_hh_l0": np.zeros((7, 7), np.float32)}))
    elif kind == "wrong_head_shape":
        _rewrite(tiny_bundle, target, edit_tensors=lambda t: t.update(
            {"head.weight": np.zeros((5, 48), np.float32)}))
    elif kind == "directory":
        target.mkdir()
    elif kind == "corrupted_weights":
        data = bytearray(tiny_bundle.read_bytes())
        start = 8 + int.from_bytes(data[:8], "little") + 1000  # past the header, inside the weights
        data[start:start + 4000] = np.random.default_rng(0).bytes(4000)
        target.write_bytes(bytes(data))


MODEL_CASES = [
    ("missing", "model bundle not found"),
    ("directory", "is a folder: it holds no model bundle"),
    ("truncated", "not a readable model bundle"),
    ("random_bytes", "not a readable model bundle"),
    ("pickle", "not a readable model bundle"),
    ("plain_safetensors", "not a speechlstm bundle"),
    ("bad_header_json", "malformed bundle header"),
    ("future_version", "version 99 is not supported"),
    ("missing_setting", "'hidden' must be a positive integer"),
    ("unknown_setting", "do not fit this speechlstm"),
    ("bad_vocabulary", "vocabulary (0 tokens)"),
    ("wrong_tensor_shape", "weights do not fit the model config"),
    ("wrong_head_shape", "tensor 'head.weight' has shape"),
    ("corrupted_weights", "the weights do not match the checksum in the bundle header (a damaged file?)"),
]


@pytest.mark.parametrize("kind,fragment", MODEL_CASES, ids=[c[0] for c in MODEL_CASES])
def test_bad_model_files(capsys, tiny_bundle, files, tmp_path, kind, fragment):
    model = tmp_path / f"{kind}.safetensors"
    _make_model(kind, tiny_bundle, model)
    code, out, err = _cli(capsys, "transcribe", "--model", model, "--backend", "torch", files / "silence.wav")
    assert code == 3 and out == ""
    _assert_one_line_error(err, fragment)
    assert model.name in err
    with pytest.raises(BundleError, match=re.escape(fragment)):
        Recognizer.from_bundle(model, backend="torch")
    assert not (tmp_path / "pwned").exists(), "loading a model executed code"


def test_bundle_without_a_checksum_loads_with_a_warning(capsys, tiny_bundle, files, tmp_path):
    """Bundles written before the header held a checksum of the weights still load, with a warning."""
    old = tmp_path / "old.safetensors"
    _rewrite(tiny_bundle, old, lambda header: header.pop("weights_sha256"))
    code, out, err = _cli(capsys, "transcribe", "--model", old, "--backend", "torch", files / "silence.wav")
    assert code == 0
    assert err.splitlines() == [f"speechlstm: warning: {old}: no checksum of the weights in the bundle header "
                                "(written by an older speechlstm), so damage to them cannot be detected"]
    code, _, err = _cli(capsys, "transcribe", "--model", tiny_bundle, "--backend", "torch", files / "silence.wav")
    assert code == 0 and err == ""


# Arrays and streams through the Python API --------------------------------------------

ARRAY_ERRORS = [
    ("object_dtype", lambda: np.array([0.1, "a", None], dtype=object), 16000, "numeric samples"),
    ("strings", lambda: np.array(["0.1", "0.2"]), 16000, "numeric samples"),
    ("complex", lambda: np.zeros(100, np.complex64), 16000, "numeric samples"),
    ("boolean", lambda: np.ones(100, bool), 16000, "numeric samples"),
    ("three_dimensional", lambda: np.zeros((10, 2, 2), np.float32), 16000, r"shape \(n,\)"),
    ("zero_dimensional", lambda: np.array(0.5), 16000, r"shape \(n,\)"),
    ("no_channels", lambda: np.zeros((100, 0), np.float32), 16000, "at least one channel"),
    ("channels_first", lambda: np.zeros((2, 16000), np.float32), 16000, "pass the transpose"),
    ("python_list", lambda: [0.0] * 1000, 16000, "numpy array"),
    ("path_string", lambda: "samples/goforward.wav", 16000, "numpy array"),
    ("rate_zero", lambda: np.zeros(100, np.float32), 0, "positive integer"),
    ("rate_negative", lambda: np.zeros(100, np.float32), -16000, "positive integer"),
    ("rate_float", lambda: np.zeros(100, np.float32), 16000.0, "positive integer"),
    ("rate_string", lambda: np.zeros(100, np.float32), "16000", "positive integer"),
    ("rate_implausible", lambda: np.zeros(100, np.float32), 10, "outside the supported"),
]


@pytest.mark.parametrize("make,rate,message", [c[1:] for c in ARRAY_ERRORS], ids=[c[0] for c in ARRAY_ERRORS])
@pytest.mark.parametrize("mode", ["offline", "streaming"])
def test_bad_arrays_raise_audio_error(streaming, mode, make, rate, message):
    with pytest.raises(AudioError, match=message):
        streaming.with_options(mode=mode).transcribe(make(), rate)


@pytest.mark.parametrize("samples,rate", [
    (np.zeros(0, np.float32), 16000),
    ((_noise(0.5) * 32767).astype(np.int16), 16000),
    ((_noise(0.5, 8000) * 127 + 128).astype(np.uint8), 8000),
    (np.stack([_noise(0.5)] * 6, 1).astype(np.float64), 16000),
    (_noise(0.5, 44100).astype(np.float16), np.int64(44100)),
], ids=["empty", "int16", "uint8_8k", "six_channel_float64", "float16_numpy_rate"])
@pytest.mark.parametrize("mode", ["offline", "streaming"])
def test_awkward_arrays_transcribe(streaming, mode, samples, rate):
    transcript = streaming.with_options(mode=mode).transcribe(samples, rate)
    assert transcript.duration == pytest.approx(len(samples) / rate, abs=0.01)


def test_stream_misuse(streaming):
    stream = streaming.create_stream()
    with pytest.raises(AudioError, match="positive integer"):
        stream.accept_waveform(True, np.zeros(10, np.float32))
    with pytest.raises(AudioError, match="positive integer"):
        stream.accept_waveform(16000.0, np.zeros(10, np.float32))
    with pytest.raises(AudioError, match="numeric samples"):
        stream.accept_waveform(16000, "not audio")
    stream.accept_waveform(16000, [0.0] * 800)
    streaming.finish(stream)
    with pytest.raises(StreamError, match="after input_finished"):
        stream.accept_waveform(16000, np.zeros(10, np.float32))
    assert streaming.decode_ready(stream) == 0
    assert streaming.finish(stream) == streaming.get_result(stream)


# Property tests -------------------------------------------------------------------------

EXTREME = st.one_of(st.floats(width=32, allow_nan=True, allow_infinity=True),
                    st.sampled_from([float(np.float32(v)) for v in (1e30, -1e30, 3.4e38, -3.4e38, 1e-45, 1e-38)]))


@settings(max_examples=30, deadline=None)
@given(hnp.arrays(np.float32, st.integers(0, 3000), elements=EXTREME),
       st.lists(st.integers(1, 900), min_size=1, max_size=8))
def test_frontend_features_always_finite(samples, sizes):
    stream, start, parts = StreamingLogMel(), 0, []
    for size in sizes:
        parts.append(stream.accept(samples[start:start + size]))
        start += size
    parts.append(stream.accept(samples[start:]))
    streamed = np.concatenate(parts)
    assert np.isfinite(streamed).all()
    np.testing.assert_allclose(streamed, LogMel()(samples), rtol=1e-5, atol=1e-4)


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(st.sampled_from([np.float64, np.float32, np.int16, np.int32, np.uint8]),
                  hnp.array_shapes(min_dims=1, max_dims=2, max_side=40)))
def test_to_mono_float_is_finite_or_refuses(samples):
    try:
        mono = to_mono_float(samples)
    except AudioError:
        assert samples.ndim == 2 and samples.shape[1] == 0
        return
    assert mono.dtype == np.float32 and mono.shape == (samples.shape[0],)
    assert np.isfinite(mono).all()


def test_integer_channels_are_scaled_before_they_are_mixed():
    left = np.array([32767, -32768, 0, 16384], dtype=np.int16)
    stereo = np.stack([left, left], axis=1)
    assert np.allclose(to_mono_float(stereo), to_mono_float(left), atol=1e-6)
    assert np.abs(to_mono_float(np.stack([left, np.zeros_like(left)], axis=1))).max() <= 0.5 + 1e-6


class _FiniteChecking:
    """Wraps a backend and checks that every feature frame it receives is finite."""

    def __init__(self, backend) -> None:
        self.backend = backend
        self.stack, self.chunk, self.right, self.heads = backend.stack, backend.chunk, backend.right, backend.heads

    def initial_state(self):
        return self.backend.initial_state()

    def step(self, frames, main_steps, state, head="chars"):
        assert np.isfinite(frames).all()
        log_probs, state = self.backend.step(frames, main_steps, state, head)
        assert np.isfinite(log_probs).all()
        return log_probs, state

    def full(self, frames, head="chars"):
        return self.backend.full(frames, head)


@settings(max_examples=25, deadline=None)
@given(kind=st.sampled_from(["noise", "silence", "extreme", "denormal"]),
       sizes=st.lists(st.integers(1, 5000), min_size=1, max_size=10),
       rate=st.sampled_from([8000, 16000, 44100]), seed=st.integers(0, 2**16))
def test_stream_any_split_any_values(streaming, kind, sizes, rate, seed):
    rng = np.random.default_rng(seed)
    total = sum(sizes)
    samples = {"noise": rng.standard_normal(total) * 0.3, "silence": np.zeros(total),
               "extreme": rng.choice([1e30, -1e30, np.nan, np.inf, -np.inf, 0.5], total),
               "denormal": rng.standard_normal(total) * 1e-42}[kind].astype(np.float32)
    checked = Recognizer(streaming.bundle, _FiniteChecking(streaming.backend), streaming.config, streaming.decoder)
    stream, start = checked.create_stream(), 0
    for size in sizes:
        stream.accept_waveform(rate, samples[start:start + size])
        checked.decode_ready(stream)
        start += size
    result = checked.finish(stream)
    whole = checked.create_stream()
    whole.accept_waveform(rate, samples)
    assert checked.finish(whole).text == result.text
    assert stream.seconds_received == pytest.approx(total / rate, abs=0.01)


# Bounded memory and atomic outputs -----------------------------------------------------

@pytest.mark.parametrize("mode, block, limit", [("streaming", RATE, 8e6), ("offline", 10 * RATE, 64e6)])
def test_long_file_in_bounded_memory(tmp_path, monkeypatch, mode, block, limit):
    """Ten minutes read block by block, never whole: streaming in a few MB, offline in segments
    (the whole-file offline run held 890 MB of numpy arrays at its peak)."""
    import torch

    from speechlstm.config import FrontendConfig, ModelConfig
    from speechlstm.nn.model import AcousticModel, save_bundle

    torch.manual_seed(0)
    model = save_bundle(tmp_path / "tiny_long_chunks.safetensors",
                        AcousticModel(ModelConfig(hidden=24, layers=2, chunk=40, right=3)), FrontendConfig(),
                        dtype=np.float32)
    path = tmp_path / "ten_minutes.wav"
    with sf.SoundFile(path, "w", RATE, 1, "PCM_16") as out:
        for seed in range(60):
            out.write(_noise(10.0, seed=seed))
    blocks: list[int] = []

    def recording_iter_blocks(*args, **kwargs):
        for block in real_iter_blocks(*args, **kwargs):
            blocks.append(len(block))
            yield block

    real_iter_blocks = recognizer_module.iter_blocks
    monkeypatch.setattr(recognizer_module, "iter_blocks", recording_iter_blocks)
    threads = torch.get_num_threads()
    # Greedy keeps this test fast: on a random model's dense posteriors beam search takes
    # about a minute here (its word cap is tested in test_beam_search.py).
    recognizer = Recognizer.from_bundle(model, mode=mode, chunk_ms=1000, threads=1, decoder="greedy")
    tracemalloc.start()
    start = time.process_time()  # CPU time: a busy machine slows the wall clock, not the work
    try:
        transcript = recognizer.transcribe_file(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        torch.set_num_threads(threads)
    elapsed = time.process_time() - start
    assert transcript.duration == pytest.approx(600.0) and transcript.result.words[-1].end > 590
    assert len(blocks) == 600 * RATE // block and max(blocks) == block
    assert peak < limit, f"peak traced memory {peak / 1e6:.1f} MB for 600 s (the audio alone is 38 MB)"
    assert elapsed < 30, f"{elapsed:.1f} CPU s"


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("failure", [KeyboardInterrupt, RuntimeError])
def test_interrupt_or_failure_keeps_the_finished_results(capsys, tiny_bundle, files, tmp_path, monkeypatch,
                                                          failure):
    """Ctrl-C (or a crash) in the middle of a batch: -o holds the results finished before it, in
    input order; one that stops before any result leaves the previous file as it was."""
    target = tmp_path / "out.txt"
    target.write_text("previous run\n")
    monkeypatch.setattr("speechlstm.batch.transcribe_batch", _failing_on(failure, 2))
    argv = ["transcribe", "--model", tiny_bundle, "--format", "tsv", "-o", target,
            files / "silence.wav", files / "stereo.wav", files / "pcm_24.wav"]
    if failure is KeyboardInterrupt:
        code, _, err = _cli(capsys, *argv)
        assert code == 130 and "interrupted" in err
    else:
        with pytest.raises(RuntimeError):
            _cli(capsys, *argv)
    assert [line.split("\t")[0] for line in target.read_text().splitlines()] == [str(files / "silence.wav")]
    assert _leftovers(tmp_path) == []
    finished = target.read_text()
    monkeypatch.setattr("speechlstm.batch.transcribe_batch", _failing_on(failure, 1))
    if failure is KeyboardInterrupt:
        assert _cli(capsys, *argv)[0] == 130
        assert target.read_text() == finished


def _failing_on(failure: type, number: int):
    """A stand-in for batch.transcribe_batch whose ``number``-th file raises ``failure``."""
    from speechlstm.batch import transcribe_one

    def outcomes(config, paths, jobs=1, progress=None):
        recognizer = Recognizer.from_config(config)
        for index, path in enumerate(paths):
            if index + 1 == number:
                raise failure("stopped")
            yield transcribe_one(recognizer, index, path)
    return outcomes


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()],
                         ids=["disk-full", "interrupt"])
def test_failed_write_leaves_no_partial_file(capsys, tiny_bundle, files, tmp_path, monkeypatch, failure):
    target = tmp_path / "out.jsonl"
    target.write_text("previous run\n")

    def failing_replace(source, destination):
        raise failure

    monkeypatch.setattr("speechlstm.io.atomic.os.replace", failing_replace)
    code, _, err = _cli(capsys, "transcribe", "--model", tiny_bundle, "--format", "json", "-o", target,
                        files / "silence.wav", files / "stereo.wav")
    assert code == (4 if isinstance(failure, OSError) else 130)
    assert ("No space left" in err) if isinstance(failure, OSError) else ("interrupted" in err)
    assert target.read_text() == "previous run\n" and _leftovers(tmp_path) == []


def test_output_dir_skips_failed_inputs(capsys, tiny_bundle, files, tmp_path):
    code, _, err = _cli(capsys, "transcribe", "--model", tiny_bundle, "--output-dir", tmp_path,
                        files / "silence.wav", files / "text_renamed.wav", files / "stereo.wav")
    assert code == 1 and "text_renamed.wav" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["silence.txt", "stereo.txt"]


def test_atomic_write_permissions(tmp_path):
    """The temporary file's private 0600 mode must not leak onto outputs."""
    umask = os.umask(0o022)
    try:
        fresh = tmp_path / "fresh.txt"
        atomic_write(fresh, "a\n")
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o644
        fresh.chmod(0o640)
        atomic_write(fresh, "b\n")
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o640 and fresh.read_text() == "b\n"
    finally:
        os.umask(umask)


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o027, 0o640)])
def test_bundles_get_normal_permissions(tmp_path, umask, mode):
    """safetensors writes 0600 files; a trained or exported bundle must be readable like any file."""
    from speechlstm.config import FrontendConfig, ModelConfig
    from speechlstm.nn.model import AcousticModel, save_bundle

    previous = os.umask(umask)
    try:
        path = save_bundle(tmp_path / "b.safetensors", AcousticModel(ModelConfig(hidden=8, layers=1)), FrontendConfig())
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert [p.name for p in tmp_path.iterdir()] == ["b.safetensors"]


def test_torch_backend_on_exported_files_says_what_they_are(capsys, tiny_bundle, files, tmp_path):
    (tmp_path / "graphs").mkdir()
    (tmp_path / "graphs" / "m.streaming.onnx").write_bytes(b"not really onnx")
    (tmp_path / "empty").mkdir()
    (tmp_path / "bundles").mkdir()
    (tmp_path / "bundles" / "a.safetensors").write_bytes(tiny_bundle.read_bytes())
    for model, fragment in ((tmp_path / "graphs", "no model bundle (.safetensors) but ONNX graphs "
                                                   "(m.streaming.onnx); ONNX graphs run with --backend onnx"),
                            (tmp_path / "graphs" / "m.streaming.onnx", "is an ONNX graph, not a model bundle"),
                            (tmp_path / "empty", "is a folder: it holds no model bundle"),
                            (tmp_path / "bundles", "pass the bundle file itself (a.safetensors)")):
        code, out, err = _cli(capsys, "transcribe", "--backend", "torch", "--model", model, files / "silence.wav")
        assert code == 3 and out == ""
        _assert_one_line_error(err, fragment)
