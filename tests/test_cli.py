import io
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest
import soundfile as sf

from speechlstm.cli import main
from speechlstm.io.formats import subtitle_cues, to_srt, to_vtt
from speechlstm.punctuation import DEFAULT_PUNCTUATOR
from speechlstm.results import Word

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
    assert set(record) - {"raw_text"} == {"path", "text", "duration", "words"}


@pytest.mark.parametrize("name,reason", [("missing.wav", "no such file"), ("empty.wav", "cannot read"),
                                         ("text.wav", "cannot read")])
def test_bad_inputs_give_one_line_errors(capsys, tiny_bundle, inputs, name, reason):
    code, out, err = _run(capsys, "transcribe", "--model", tiny_bundle, inputs / name)
    assert code == 1
    assert out == "\n"
    assert len(err.strip().splitlines()) == 1 and reason in err and name in err


def test_bad_file_does_not_stop_the_others(capsys, tiny_bundle, inputs):
    code, out, err = _run(capsys, "transcribe", "--model", tiny_bundle, "--format", "tsv", inputs / "good.wav",
                          inputs / "empty.wav", inputs / "rate8k.flac", inputs)
    assert code == 1
    assert [line.split("\t")[0] for line in out.splitlines()] == [str(inputs / "good.wav"), str(inputs / "rate8k.flac")]
    assert "empty.wav" in err and "is a directory" in err


def test_a_folder_alone_asks_for_recursive(capsys, tiny_bundle, inputs):
    code, out, err = _run(capsys, "transcribe", "--model", tiny_bundle, inputs)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "is a folder" in err and "--recursive" in err


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
    shutil.copy(DEFAULT_PUNCTUATOR, tmp_path / DEFAULT_PUNCTUATOR.name)
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


@pytest.mark.parametrize("mode", ["offline", "streaming"])
def test_a_file_without_samples_is_like_silence(capsys, inputs, tmp_path, mode):
    """Both transcribe to empty text with exit 0 (the shipped model); the file without samples also warns."""
    silence = tmp_path / "silence.wav"
    sf.write(silence, np.zeros(5 * 16000, np.float32), 16000)
    sf.write(tmp_path / "zero.wav", np.zeros(0, np.float32), 16000)
    for path, warning in ((silence, None), (tmp_path / "zero.wav", "contains no audio samples"),
                          (inputs / "header_only.wav", "truncated")):
        code, out, err = _run(capsys, "transcribe", "--decoder", "greedy", "--mode", mode, "--format", "json", path)
        assert code == 0 and json.loads(out)["text"] == "", err
        assert (warning in err and path.name in err and "Traceback" not in err) if warning else err == ""


def test_text_format_is_one_line_per_input(capsys, tiny_bundle, inputs):
    """text is the transcript alone whether one input or many; tsv adds the path."""
    one = _run(capsys, "transcribe", "--model", tiny_bundle, inputs / "good.wav")[1]
    two = _run(capsys, "transcribe", "--model", tiny_bundle, inputs / "good.wav", inputs / "good.wav")[1]
    assert "\t" not in one and two == one * 2 and one.endswith("\n") and one.count("\n") == 1
    tsv = _run(capsys, "transcribe", "--model", tiny_bundle, "--format", "tsv", inputs / "good.wav")[1]
    assert tsv == f"{inputs / 'good.wav'}\t{one}"


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_failed_file_keeps_its_line_in_text_output(capsys, tiny_bundle, inputs, tmp_path, jobs):
    """Line N of plain text is input N's transcript, whichever inputs fail (an empty line for those)."""
    one = _run(capsys, "transcribe", "--model", tiny_bundle, inputs / "good.wav")[1]
    argv = ["transcribe", "--model", tiny_bundle, "--jobs", jobs, inputs / "good.wav", inputs / "empty.wav",
            inputs / "missing.wav", inputs / "good.wav"]
    code, out, err = _run(capsys, *argv)
    assert code == 1 and out == one + "\n\n" + one
    assert "empty.wav" in err and "missing.wav" in err
    code, out, _ = _run(capsys, *argv, "-o", tmp_path / "out.txt")
    assert code == 1 and out == "" and (tmp_path / "out.txt").read_text() == one + "\n\n" + one


def test_standard_input_among_files(capsys, tiny_bundle, inputs, monkeypatch):
    """'-' reads standard input (not seekable) without stopping the files around it."""
    class Stdin:
        buffer = io.BytesIO((inputs / "good.wav").read_bytes())

    monkeypatch.setattr(sys, "stdin", Stdin)
    code, out, err = _run(capsys, "transcribe", "--model", tiny_bundle, "--format", "tsv", inputs / "rate8k.flac",
                          "-", inputs / "text.wav", inputs / "stereo44k.wav")
    assert code == 1 and "text.wav" in err and "Traceback" not in err
    assert [line.split("\t")[0] for line in out.splitlines()] == [str(inputs / "rate8k.flac"), "-",
                                                                 str(inputs / "stereo44k.wav")]


def test_fifo_input(capsys, tiny_bundle, inputs, tmp_path):
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes((inputs / "good.wav").read_bytes()))
    writer.start()
    code, out, err = _run(capsys, "transcribe", "--model", tiny_bundle, "--format", "json", fifo)
    writer.join()
    assert code == 0, err
    assert json.loads(out)["duration"] == pytest.approx(1.0)


def test_pipe_into_a_batch(tiny_bundle, inputs):
    """The issue's command: cat x.wav | speechlstm transcribe a.flac /dev/stdin b.wav."""
    command = [sys.executable, "-m", "speechlstm", "transcribe", "--model", str(tiny_bundle), "--format", "tsv",
               str(inputs / "rate8k.flac"), "/dev/stdin", str(inputs / "stereo44k.wav")]
    result = subprocess.run(command, input=(inputs / "good.wav").read_bytes(), capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert [line.split(b"\t")[0] for line in result.stdout.splitlines()] == [
        str(inputs / "rate8k.flac").encode(), b"/dev/stdin", str(inputs / "stereo44k.wav").encode()]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_full_stdout_exits_4(tiny_bundle):
    command = [sys.executable, "-m", "speechlstm", "transcribe", "--model", str(tiny_bundle), "--decoder", "greedy",
               str(SAMPLES / "goforward.wav")]
    with open("/dev/full", "w") as full:
        result = subprocess.run(command, stdout=full, stderr=subprocess.PIPE, text=True, timeout=300)
    assert result.returncode == 4
    assert result.stderr == "speechlstm: error: cannot write to standard output: No space left on device\n"


def test_output_dir_is_created_and_same_stems_do_not_overwrite(capsys, tiny_bundle, inputs, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    shutil.copy(inputs / "good.wav", tmp_path / "a" / "x.wav")
    shutil.copy(inputs / "rate8k.flac", tmp_path / "b" / "x.flac")
    target = tmp_path / "new" / "folder"
    code, out, err = _run(capsys, "transcribe", "--model", tiny_bundle, "--format", "json", "--output-dir", target,
                          tmp_path / "a" / "x.wav", tmp_path / "b" / "x.flac")
    assert code == 0 and out == "", err
    assert sorted(p.name for p in target.iterdir()) == ["x-1.json", "x.json"]
    assert json.loads((target / "x.json").read_text())["path"] == str(tmp_path / "a" / "x.wav")
    assert json.loads((target / "x-1.json").read_text())["path"] == str(tmp_path / "b" / "x.flac")


def test_format_all(capsys, tiny_bundle, inputs, tmp_path):
    code, _, err = _run(capsys, "transcribe", "--model", tiny_bundle, "--format", "all", "--output-dir", tmp_path,
                        inputs / "good.wav")
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.json", "good.srt", "good.txt", "good.vtt"]
    assert (tmp_path / "good.vtt").read_text().startswith("WEBVTT")
    code, _, err = _run(capsys, "transcribe", "--model", tiny_bundle, "--format", "all", inputs / "good.wav")
    assert code == 2 and "--output-dir" in err


def test_skip_existing_continues_an_output_dir_batch(capsys, tiny_bundle, inputs, tmp_path):
    (tmp_path / "a").mkdir()
    files = [inputs / "good.wav", inputs / "rate8k.flac", tmp_path / "a" / "good.wav"]
    shutil.copy(inputs / "good.wav", files[2])
    out = tmp_path / "subs"
    argv = ["transcribe", "--model", tiny_bundle, "--decoder", "greedy", "--format", "srt", "--output-dir", out,
            "--skip-existing", *files]
    code, _, err = _run(capsys, *argv)
    assert code == 0 and err == ""
    assert sorted(p.name for p in out.iterdir()) == ["good-1.srt", "good.srt", "rate8k.srt"]
    # An interrupted run: one output missing, the others kept as they are.
    (out / "good.srt").write_text("kept\n")
    (out / "good-1.srt").unlink()
    code, _, err = _run(capsys, *argv)
    assert code == 0
    assert err == (f"speechlstm: skipping 2 of the 3 inputs: their outputs are in {out} already; "
                   "transcribing the other 1\n")
    assert (out / "good.srt").read_text() == "kept\n" and (out / "good-1.srt").read_text().startswith("1\n")
    # --format all: an input counts as done only with all four of its files.
    code, _, err = _run(capsys, *argv[:6], "all", *argv[7:])
    assert code == 0 and "skipping" not in err
    (out / "rate8k.vtt").unlink()
    (out / "good.txt").write_text("kept\n")
    code, _, err = _run(capsys, *argv[:6], "all", *argv[7:])
    assert "skipping 2 of the 3 inputs" in err and (out / "rate8k.vtt").exists()
    assert (out / "good.txt").read_text() == "kept\n"
    code, _, err = _run(capsys, *argv[:6], "all", *argv[7:])
    assert code == 0 and "skipping 3 of the 3 inputs" in err and "the other 0" in err
    code, _, err = _run(capsys, "transcribe", "--model", tiny_bundle, "--skip-existing", "-o", tmp_path / "x.txt",
                        inputs / "good.wav")
    assert code == 2 and err == ("speechlstm: error: --skip-existing goes with --output-dir (with -o FILE, "
                                 "--resume continues a batch)\n")


def test_chunk_ms_in_offline_mode_warns(capsys, tiny_bundle, inputs):
    code, out, err = _run(capsys, "transcribe", "--model", tiny_bundle, "--chunk-ms", "200", inputs / "good.wav")
    assert code == 0 and out
    assert err == ("speechlstm: warning: --chunk-ms only applies to --mode streaming; "
                   "offline mode reads each file whole\n")


def test_interrupted_streaming_prints_the_partial_text(capsys, tiny_bundle, monkeypatch):
    from speechlstm.stream import Stream
    real, calls = Stream.accept_waveform, []

    def interrupted(self, sample_rate, samples):
        calls.append(1)
        if len(calls) == 20:  # Ctrl-C as the 20th 100 ms block comes in
            raise KeyboardInterrupt
        return real(self, sample_rate, samples)

    monkeypatch.setattr(Stream, "accept_waveform", interrupted)
    code, out, err = _run(capsys, "transcribe", "--model", tiny_bundle, "--mode", "streaming", "--format", "json",
                          SAMPLES / "goforward.wav")
    assert code == 130
    record = json.loads(out)
    assert record["duration"] == pytest.approx(1.9, abs=0.11) and record["path"].endswith("goforward.wav")
    assert "partial result of" in err and err.endswith("speechlstm: interrupted\n")


def _on_a_terminal(argv: list[str]) -> str:
    """What a terminal (100 columns) shows when stdout and stderr both go to it."""
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    process = subprocess.Popen(argv, stdout=follower, stderr=follower, close_fds=True)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=300)
    os.close(leader)
    return b"".join(chunks).decode()


def test_progress_bar_on_a_terminal_only(tiny_bundle):
    files = [str(path) for path in sorted(SAMPLES.glob("*.wav"))[:3]]
    argv = [sys.executable, "-m", "speechlstm", "transcribe", "--model", str(tiny_bundle), "--decoder", "greedy",
            "--format", "tsv", *files]
    screen = _on_a_terminal(argv)
    assert re.search(r"\r1/3 files +\d+%\|.*\| \d+/\d+ s audio, RTF \d+\.\d{3} \[", screen), screen
    # Each result starts on a line the bar was cleared from, and the bar is gone at the end.
    results = [line for line in screen.split("\r\n") if "\t" in line]
    assert [re.sub(r"^.*\r", "", line).split("\t")[0] for line in results] == files
    assert all(re.search(r"\r +\r[^\r]*$", line) for line in results)
    assert re.search(r"\r +\r$", screen)
    piped = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert piped.returncode == 0 and piped.stderr == ""


@pytest.fixture
def manifest(tmp_path, inputs):
    """Two readable utterances and a missing one; no duration column (eval does not need it)."""
    shutil.copy(inputs / "good.wav", tmp_path / "a.wav")
    shutil.copy(inputs / "rate8k.flac", tmp_path / "b.flac")
    path = tmp_path / "eval.tsv"
    path.write_text("path\ttext\na.wav\thello world\nmissing.wav\tnot there\nb.flac\tone two\n")
    return path


def test_eval_skips_unreadable_audio_and_writes_per_utterance_results(capsys, tiny_bundle, manifest, tmp_path):
    code, out, err = _run(capsys, "eval", manifest, "--model", tiny_bundle, "--decoder", "greedy",
                          "--out-dir", tmp_path / "results", "--json", tmp_path / "figures.json")
    assert code == 1
    assert "| offline |" in out and "| streaming |" in out
    assert err.count("missing.wav: no such file (skipped)") == 1 and "1 utterance(s) skipped" in err
    figures = json.loads((tmp_path / "figures.json").read_text())
    assert figures["offline"]["utterances"] == 2 and figures["offline"]["skipped"] == 1
    recogs = (tmp_path / "results" / "recogs-streaming.txt").read_text().splitlines()
    assert recogs[0] == "a:\tref=['hello', 'world']" and recogs[1].startswith("a:\thyp=[")
    assert [line.split(":")[0] for line in recogs] == ["a", "a", "b", "b"]
    errs = (tmp_path / "results" / "errs-offline.txt").read_text()
    assert errs.startswith("%WER = ") and "PER-UTT ERRORS:" in errs and "PER-UTT DETAILS:" in errs
    assert re.search(r"^b\t\d+\t\d+\t\d+\t2\t", errs, re.MULTILINE)


@pytest.mark.parametrize("content,fragment", [
    (None, "not a manifest"),
    ("file\ttext\na.wav\thi\n", "no path column"),
    ("path\ttext\n", "lists no utterances"),
    ("path\tduration\ttext\na.wav\tlong\thi\n", "is not a number"),
], ids=["audio-file", "no-path-column", "empty", "bad-duration"])
def test_eval_bad_manifest_is_one_line(capsys, tiny_bundle, inputs, tmp_path, content, fragment):
    path = inputs / "good.wav"
    if content is not None:
        path = tmp_path / "m.tsv"
        path.write_text(content)
    code, out, err = _run(capsys, "eval", path, "--model", tiny_bundle)
    assert code == 2 and out == ""  # a usage error, as a malformed argument is
    assert err.startswith("speechlstm: error: ") and fragment in err and len(err.splitlines()) == 1


def test_eval_refuses_an_unwritable_json_before_working(capsys, tiny_bundle, manifest, tmp_path, monkeypatch):
    monkeypatch.setattr("speechlstm.evaluate.evaluate_manifest", lambda *a, **k: pytest.fail("evaluated"))
    for target in (tmp_path / "no" / "figures.json", tmp_path):
        code, out, err = _run(capsys, "eval", manifest, "--model", tiny_bundle, "--json", target)
        assert code == 4 and out == "" and err.startswith("speechlstm: error: cannot write")


@pytest.mark.parametrize("script", ["beam_search_hotwords.py", "many_streams.py", "streaming_from_file.py",
                                    "transcribe_files.py"])
def test_api_examples_without_arguments_print_usage(script):
    example = SAMPLES.parent / "python-api-examples" / script
    result = subprocess.run([sys.executable, str(example)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.startswith("usage: ") and "Traceback" not in result.stderr


def test_lm_that_is_not_arpa_is_one_line(capsys, tiny_bundle, inputs):
    code, out, err = _run(capsys, "transcribe", "--model", tiny_bundle, "--lm", inputs / "good.wav",
                          inputs / "good.wav")
    assert code == 3 and out == ""
    assert err.startswith("speechlstm: error: ") and "not a readable ARPA language model" in err
    assert len(err.splitlines()) == 1


def test_tools_help_runs_nothing():
    """--help explains and exits: make_samples.py used to rebuild samples/, compare_pocketsphinx.py
    needed pocketsphinx even for its help."""
    before = {path: path.stat().st_mtime_ns for path in SAMPLES.iterdir()}
    tools = SAMPLES.parent / "tools"
    result = subprocess.run([sys.executable, str(SAMPLES.parent / "scripts" / "make_samples.py"), "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.startswith("usage: ")
    assert {path: path.stat().st_mtime_ns for path in SAMPLES.iterdir()} == before
    without = ("import runpy, sys; sys.modules['pocketsphinx'] = None; sys.argv[0] = 'compare_pocketsphinx.py'; "
               f"runpy.run_path({str(tools / 'compare_pocketsphinx.py')!r}, run_name='__main__')")
    # run as `python tools/compare_pocketsphinx.py` is: its folder (here the working directory) on the path
    result = subprocess.run([sys.executable, "-c", without, "--help"], capture_output=True, text=True, timeout=120,
                            cwd=tools)
    assert result.returncode == 0 and "--manifest" in result.stdout
    result = subprocess.run([sys.executable, "-c", without], capture_output=True, text=True, timeout=120, cwd=tools)
    assert result.returncode == 1 and result.stderr.strip().endswith("(pip install pocketsphinx)")


def test_threads_and_hotword_usage_errors(capsys, tiny_bundle, inputs):
    with pytest.raises(SystemExit) as exit_info:
        main(["transcribe", "--threads", "-1", str(inputs / "good.wav")])
    assert exit_info.value.code == 2 and "--threads: must be 0" in capsys.readouterr().err
    code, out, err = _run(capsys, "transcribe", "--model", tiny_bundle, "--hotword", "東京:5", inputs / "good.wav")
    assert code == 2 and out == "" and err.startswith("speechlstm: error: hotword '東京': the model cannot write")
    code, out, err = _run(capsys, "transcribe", "--model", tiny_bundle, "--decoder", "greedy", "--hotword", "x",
                          inputs / "good.wav")  # DecodingConfig's rule, reported by the command line
    assert code == 2 and out == "" and err.startswith("speechlstm: error: hotwords need a beam decoder")
    code, out, err = _run(capsys, "transcribe", "--model", tiny_bundle, "--decoder", "lexicon", "--lm-weight", "0",
                          "--hotword", "x", inputs / "good.wav")  # the lexicon decoder's rule: one line too
    assert code == 2 and out == "" and err.startswith("speechlstm: error: hotwords need a positive LM weight")


def test_version_names_the_default_model(capsys):
    from speechlstm import __version__
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    version, model = capsys.readouterr().out.splitlines()
    assert version == f"speechlstm {__version__}"
    steps = r", training step \d+(, \d+)*( \(mean of \d+ snapshots\))?$"  # one step, or an average's
    assert model.startswith("model: speechlstm-en (") and re.search(steps, model)


def test_info_prints_the_model_card(capsys, tmp_path):
    from speechlstm.config import FrontendConfig, ModelConfig
    from speechlstm.nn.model import AcousticModel, save_bundle

    path = save_bundle(tmp_path / "tiny-de.safetensors", AcousticModel(ModelConfig(hidden=8, layers=2, chunk=5, right=3)),
                       FrontendConfig(), {"step": 7, "train_hours": 1.5, "manifests": ["a.tsv"],
                                          "offline_wer": 0.4, "streaming_wer": 0.5})
    code, out, err = _run(capsys, "info", path)
    assert code == 0, err
    card = dict(line.split(":", 1) for line in out.splitlines())
    card = {key: value.strip() for key, value in card.items()}
    assert card["training step"] == "7" and card["languages"] == "de (from the file name)"
    assert card["architecture"].startswith("2 BiLSTM layers x 8 units per direction")
    assert card["CPU (onnxruntime)"].startswith(platform.machine() + ":")
    assert card["streaming latency"] == ("chunk 150 ms + right context 90 ms + window 25 ms = 265 ms "
                                         "algorithmic latency")
    assert card["audio"].startswith("16000 Hz mono") and card["training data"] == "1.5 h from 1 manifests"
    assert card["dev WER"] == "40.0 % offline (greedy), 50.0 % streaming (greedy)"
    code, _, err = _run(capsys, "info", tmp_path / "missing.safetensors")
    assert code == 3 and "not found" in err


# Live captions from raw PCM on standard input (issue 27) ----------------------------------

def _pcm(path) -> bytes:
    """16-bit mono PCM at 16 kHz, as arecord -f S16_LE -r 16000 -c 1 writes it."""
    samples, rate = sf.read(path, dtype="int16")
    assert rate == 16000 and samples.ndim == 1
    return samples.astype("<i2").tobytes()


def test_raw_pcm_on_a_pipe_is_captioned_as_it_comes(shipped_bundle):
    """arecord ... | speechlstm transcribe --mode streaming --raw 16000 -: the first utterance is on stdout
    while the pipe is still open, as its endpoint (0.8 s of trailing silence) is found."""
    command = [sys.executable, "-m", "speechlstm", "transcribe", "--mode", "streaming", "--raw", "16000", "-"]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()), daemon=True)
    reader.start()
    try:
        process.stdin.write(_pcm(SAMPLES / "three_utterances.wav") + bytes(2 * 16000 * 2))  # and 2 s of silence
        process.stdin.flush()
        reader.join(timeout=240)
        assert lines and lines[0].endswith(b"\n"), "no result before the end of input"
        assert process.poll() is None  # still reading
    finally:
        process.stdin.close()
    rest, err = process.stdout.read(), process.stderr.read()
    assert process.wait(timeout=60) == 0, err
    assert err == b""  # no partials: stderr is not a terminal
    captions = [lines[0].decode().strip(), *rest.decode().splitlines()]
    assert len(captions) == 3 and captions[0] == "open the window", captions


def test_raw_pcm_json_and_interrupt(capsys, tiny_bundle, monkeypatch):
    """JSON lines as 'live' writes them; Ctrl-C prints the utterance so far, then exits 130."""
    pcm = _pcm(SAMPLES / "three_utterances.wav")

    class Stdin:
        buffer = io.BytesIO(pcm)

    monkeypatch.setattr(sys, "stdin", Stdin)
    code, out, err = _run(capsys, "transcribe", "--model", tiny_bundle, "--decoder", "greedy", "--mode",
                          "streaming", "--raw", "16000", "--format", "json", "-")
    assert code == 0 and err == ""
    records = [json.loads(line) for line in out.splitlines()]
    assert records and all(set(r) == {"text", "raw_text", "start", "end", "words"} and r["text"] for r in records)
    assert all(a["end"] <= b["start"] for a, b in zip(records, records[1:])) and records[-1]["end"] <= 6.5

    class Interrupted(io.BytesIO):
        def read1(self, size):
            if self.tell() >= len(pcm) // 3:
                raise KeyboardInterrupt
            return super().read1(size)

    Stdin.buffer = Interrupted(pcm)
    code, out, err = _run(capsys, "transcribe", "--model", tiny_bundle, "--decoder", "greedy", "--mode",
                          "streaming", "--raw", "16000", "-")
    assert code == 130 and err == "speechlstm: interrupted\n"
    assert out.endswith("\n") and out.strip()


@pytest.mark.parametrize("argv,fragment", [
    (["--raw", "16000", "a.wav"], "--raw reads standard input: give '-' as the only input"),
    (["--raw", "16000", "-"], "--raw needs --mode streaming"),
    (["--mode", "streaming", "--raw", "16000", "--format", "srt", "-"], "--format srt does not go with --raw"),
    (["--mode", "streaming", "--raw", "16000", "-o", "x.txt", "-"], "--raw prints each result to standard output"),
    (["--mode", "streaming", "--raw", "100", "-"], "--raw 100: the sample rate must be 1000-768000 Hz"),
], ids=["file", "offline", "srt", "output", "rate"])
def test_raw_usage_errors(capsys, tiny_bundle, argv, fragment):
    code, out, err = _run(capsys, "transcribe", "--model", tiny_bundle, *argv)
    assert code == 2 and out == "" and err.startswith("speechlstm: error: ") and fragment in err, err


def test_ray_without_ray_is_one_line(capsys, tiny_bundle, inputs, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError, as where it is not installed
    code, out, err = _run(capsys, "transcribe", "--model", tiny_bundle, "--ray", "local", "-o", tmp_path / "o.jsonl",
                          inputs / "good.wav")
    assert code == 2 and out == ""
    assert err.strip() == "speechlstm: error: --ray needs Ray Data: pip install 'speechlstm[ray]'"


@pytest.mark.parametrize("spec,fragment", [
    ("foo:inf", "boost inf must be a number greater than 0 and at most 20"),
    ("foo:nan", "boost nan must be a number greater than 0 and at most 20"),
    ("foo:1e9", "boost 1e+09 must be a number greater than 0 and at most 20"),
    ("foo:-3", "boost -3 must be a number greater than 0 and at most 20"),
    ("12:30", "hotword '12': boost 30 must be"),
    ("foo:", "expected PHRASE or PHRASE:BOOST"),
    ("a:b:5", "expected PHRASE or PHRASE:BOOST"),
])
def test_hotword_boosts_are_bounded(capsys, tiny_bundle, inputs, spec, fragment):
    code, out, err = _run(capsys, "transcribe", "--model", tiny_bundle, "--hotword", spec, inputs / "good.wav")
    assert code == 2 and out == "" and len(err.splitlines()) == 1, err
    assert fragment in err and "'\\:'" in err


def test_hotword_phrases_may_hold_an_escaped_colon(tmp_path):
    from speechlstm.cli import build_parser
    from speechlstm.cli.common import decoder_options

    listing = tmp_path / "hotwords.txt"
    listing.write_text("meet at 12\\:30:5\nback\\\\slash\n")
    args = build_parser().parse_args(["transcribe", "--hotword", "ratio 1\\:2", "--hotwords-file", str(listing)])
    assert decoder_options(args)["hotwords"] == (("ratio 1:2", 8.0), ("meet at 12:30", 5.0), ("back\\slash", 8.0))


def test_hotwords_file_that_is_not_utf8_is_one_line(capsys, tiny_bundle, inputs, tmp_path):
    listing = tmp_path / "hotwords.txt"
    listing.write_bytes(b"caf\xe9:5\n")
    code, out, err = _run(capsys, "transcribe", "--model", tiny_bundle, "--hotwords-file", listing, inputs / "good.wav")
    assert code == 2 and out == ""
    assert err == f"speechlstm: error: hotwords file {listing} is not UTF-8 text (byte 0xe9 on line 1)\n"


@pytest.mark.parametrize("boost", [float("nan"), float("inf"), 1e9, 0.0, -1.0])
def test_api_refuses_unbounded_hotword_boosts(boost):
    from speechlstm.config import DecodingConfig, HotwordError

    with pytest.raises(HotwordError, match="must be a number greater than 0 and at most 20"):
        DecodingConfig(hotwords={"foo": boost})


def test_missing_export_says_how_to_make_it(capsys, tiny_bundle, tmp_path):
    """--backend onnx where only the bundle (and the int8 graph) exist: export is what is missing."""
    clip = SAMPLES / "goforward.wav"
    code, out, err = _run(capsys, "transcribe", "--backend", "onnx", clip)
    assert code == 3 and out == "" and "reinstall" not in err and len(err.splitlines()) == 1
    assert "speechlstm-en.streaming.onnx" in err and "create it with speechlstm export" in err
    assert "or use --backend onnx-int8 (speechlstm-en.streaming.int8.onnx is there)" in err
    bundle = tmp_path / "m.safetensors"
    shutil.copy(tiny_bundle, bundle)
    code, out, err = _run(capsys, "transcribe", "--backend", "onnx-int8", "--model", bundle, clip)
    assert code == 3 and err.strip().endswith(f"(create it with speechlstm export --int8 --model {bundle})")


def test_info_takes_model_and_exported_graphs(capsys, tmp_path):
    from speechlstm.model_files import DEFAULT_BUNDLE

    graph = DEFAULT_BUNDLE.with_name("speechlstm-en.streaming.int8.onnx")
    (tmp_path / "graphs").mkdir()
    (tmp_path / "graphs" / graph.name).symlink_to(graph)
    cards = {}
    for argv in ([], ["--model", DEFAULT_BUNDLE], [graph], ["--model", tmp_path / "graphs"]):
        code, out, err = _run(capsys, "info", *argv)
        assert code == 0 and err == "", err
        cards[len(cards)] = {key: value.strip() for key, value in (line.split(":", 1) for line in out.splitlines())}
    assert cards[0] == cards[1]
    assert cards[0]["dev WER"].startswith("29.19 % offline, 29.78 % streaming (phone head, lexicon beam 100 + LM")
    assert cards[0]["speaker normalization"].startswith("running mean of the stream's frames (from 3 s")
    for card in cards[2], cards[3]:
        assert card["architecture"] == cards[0]["architecture"] and card["parameters"].startswith("in the ONNX graph")
        assert card["speaker normalization"] == cards[0]["speaker normalization"]
        assert card["file size"] == f"{graph.stat().st_size / 1e6:.1f} MB"


@pytest.mark.parametrize("command", ["transcribe", "train", "eval", "export", "info", "live", "serve", "build-lm",
                                     "build-lexicon"])
def test_help_texts_are_plain_and_say_each_default_once(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert exit_info.value.code == 0
    assert "``" not in text and ":func:" not in text, "reStructuredText in --help"
    assert "(default: None)" not in text and "(default: )" not in text
    options = re.split(r" (?=--?[a-z])", text.split("options:", 1)[1])
    assert not [option for option in options if option.count("(default: ") > 1]
    if command == "eval":
        assert "manifest TSV manifest" in text and "--mode {offline,streaming,both} which" in text


def test_tsv_escapes_tabs_and_newlines_in_file_names(capsys, tiny_bundle, inputs, tmp_path):
    odd = tmp_path / "a\tb\nc\\d.wav"
    shutil.copy(inputs / "good.wav", odd)
    code, out, err = _run(capsys, "transcribe", "--model", tiny_bundle, "--format", "tsv", odd, inputs / "good.wav")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 2 and all(line.count("\t") == 1 for line in lines)
    assert lines[0].split("\t")[0] == f"{tmp_path}/a\\tb\\nc\\\\d.wav"


def test_eval_ids_of_absolute_paths_stay_inside(capsys, tiny_bundle, inputs, tmp_path):
    """Ids are paths relative to the manifest's folder, or to the audio's common folder where
    the manifest lists paths elsewhere (absolute ones), never ../../..."""
    from speechlstm.evaluate import utterance_ids
    from speechlstm.io.manifest import read_manifest

    (tmp_path / "lists").mkdir()
    manifest = tmp_path / "lists" / "m.tsv"
    manifest.write_text(f"path\ttext\n{inputs / 'good.wav'}\thi\n{inputs / 'rate8k.flac'}\tho\n")
    assert utterance_ids(read_manifest(manifest, columns=("path", "text")), manifest) == ["good", "rate8k"]
    manifest.write_text("path\ttext\na/x.wav\thi\nb/y.wav\tho\n")
    assert utterance_ids(read_manifest(manifest, columns=("path", "text")), manifest) == ["a/x", "b/y"]
