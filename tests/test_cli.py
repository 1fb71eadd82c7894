import json
import os
import shlex
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from speechlstm.cli import main
from speechlstm.decoding import Word
from speechlstm.formats import subtitle_cues, to_srt, to_vtt

from conftest import SAMPLES


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    speech = (rng.standard_normal(16000) * 0.1).astype(np.float32)
    sf.write(folder / "good.wav", speech, 16000)
    sf.write(folder / "stereo44k.wav", np.stack([speech, speech], 1).repeat(3, 0)[:44100], 44100)
    sf.write(folder / "rate8k.flac", speech[:8000], 8000)
    (folder / "empty.wav").write_bytes(b"")
    (folder / "text.wav").write_text("this is not audio\n")
    whole = (folder / "good.wav").read_bytes()
    (folder / "truncated.wav").write_bytes(whole[: len(whole) // 2])
    (folder / "header_only.wav").write_bytes(whole[:44])
    return folder


def _run(capsys, *argv):
    code = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("name", ["good.wav", "stereo44k.wav", "rate8k.flac", "truncated.wav"])
def test_readable_inputs_transcribe(capsys, tiny_bundle, inputs, name):
    code, out, err = _run(capsys, "transcribe", "--model", tiny_bundle, "--format", "json", inputs / name)
    assert code == 0, err
    record = json.loads(out)
    assert set(record) == {"path", "text", "duration", "words"}


@pytest.mark.parametrize("name,reason", [("missing.wav", "no such file"), ("empty.wav", "cannot read"),
                                         ("text.wav", "cannot read"), ("header_only.wav", "no audio")])
def test_bad_inputs_give_one_line_errors(capsys, tiny_bundle, inputs, name, reason):
    code, out, err = _run(capsys, "transcribe", "--model", tiny_bundle, inputs / name)
    assert code == 1
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and reason in err and name in err


def test_bad_file_does_not_stop_the_others(capsys, tiny_bundle, inputs):
    code, out, err = _run(capsys, "transcribe", "--model", tiny_bundle, inputs / "good.wav",
                          inputs / "empty.wav", inputs / "rate8k.flac", inputs)
    assert code == 1
    assert [line.split("\t")[0] for line in out.splitlines()] == [str(inputs / "good.wav"), str(inputs / "rate8k.flac")]
    assert "empty.wav" in err and "is a directory" in err


def test_model_and_output_errors(capsys, tiny_bundle, inputs, tmp_path):
    code, _, err = _run(capsys, "transcribe", "--model", inputs / "text.wav", inputs / "good.wav")
    assert code == 3 and "not a readable model bundle" in err
    code, _, err = _run(capsys, "transcribe", "--model", tiny_bundle, "-o", tmp_path / "no" / "out.txt",
                        inputs / "good.wav")
    assert code == 4 and "does not exist" in err


def test_output_file_written_whole(capsys, tiny_bundle, inputs, tmp_path):
    target = tmp_path / "out.jsonl"
    code, out, _ = _run(capsys, "transcribe", "--model", tiny_bundle, "--format", "json", "-o", target,
                        inputs / "good.wav", inputs / "rate8k.flac")
    assert code == 0 and out == ""
    assert len(target.read_text().splitlines()) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_streaming_chunk_size_does_not_change_text(capsys, tiny_bundle):
    clip = SAMPLES / "goforward.wav"
    texts = {_run(capsys, "transcribe", "--model", tiny_bundle, "--mode", "streaming", "--chunk-ms", ms, clip)[1]
             for ms in (37, 400)}
    assert len(texts) == 1


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["transcribe", "--chunk-ms", "0", "x.wav"])
    assert exit_info.value.code == 2


def test_no_traceback_from_the_console_script(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_text("garbage")
    result = subprocess.run([sys.executable, "-m", "speechlstm", "transcribe", str(bad)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode in (1, 3)
    assert "Traceback" not in result.stderr


def test_subtitles():
    words = (Word("hello", 0.0, 0.4, 0.9), Word("world", 0.5, 0.9, 0.9), Word("again", 3.0, 3.4, 0.8))
    assert [c[2] for c in subtitle_cues(words)] == ["hello world", "again"]
    assert to_srt(words).startswith("1\n00:00:00,000 --> 00:00:00,900\nhello world\n\n2\n")
    assert to_vtt(words).startswith("WEBVTT\n\n00:00:00.000 --> 00:00:00.900\nhello world\n")


def test_closed_stdout_pipe_is_not_a_traceback(tiny_bundle):
    transcribe = [sys.executable, "-m", "speechlstm", "transcribe", "--format", "json", "--model", str(tiny_bundle),
                  "--decoder", "greedy", *[str(SAMPLES / "goforward.wav")] * 400]
    command = shlex.join(transcribe) + " | head -c 1 >/dev/null"
    result = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, timeout=300)
    assert "Traceback" not in result.stderr


def test_models_folder_from_the_environment(tmp_path, tiny_bundle):
    """Installs without the checkout's models/ point SPEECHLSTM_MODELS at a copy of it."""
    env = {**os.environ, "SPEECHLSTM_MODELS": str(tmp_path)}
    transcribe = [sys.executable, "-m", "speechlstm", "transcribe", "--decoder", "greedy", str(SAMPLES / "goforward.wav")]
    missing = subprocess.run(transcribe, capture_output=True, text=True, timeout=120, env=env)
    assert missing.returncode == 3 and "SPEECHLSTM_MODELS" in missing.stderr
    assert "Traceback" not in missing.stderr
    shutil.copy(tiny_bundle, tmp_path / "speechlstm-en.safetensors")
    found = subprocess.run([*transcribe, "--backend", "torch"], capture_output=True, text=True, timeout=120, env=env)
    assert found.returncode == 0, found.stderr


def test_train_subcommand_takes_the_recipe_options(capsys):
    """`speechlstm train` hands every option to the recipe (it used to reject them all)."""
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    assert exit_info.value.code == 0
    assert "--log-minutes" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main(["transcribe", "--log-minutes", "1", "x.wav"])
    assert exit_info.value.code == 2
