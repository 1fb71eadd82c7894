"""Batch transcription (issue 15): worker processes, input lists, a resumable JSON-lines log."""
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from speechlstm.cli import main

from conftest import SAMPLES

CLIPS = sorted(SAMPLES.glob("*.wav"))[:3]


def _run(capsys, *argv):
    code = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    return code, out, err


def _records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_jobs_give_the_text_of_one_process_in_input_order(capsys, tiny_bundle, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    files = [CLIPS[0], bad, *CLIPS[1:], CLIPS[0]]
    common = ("transcribe", "--model", tiny_bundle, "--decoder", "greedy", "--format", "tsv", *files)
    code, one, err = _run(capsys, *common)
    assert code == 1 and "bad.wav" in err
    code, two, err = _run(capsys, *common, "--jobs", "2")
    assert code == 1 and two == one
    assert err.startswith("speechlstm: error: ") and "bad.wav" in err and len(err.splitlines()) == 1
    assert [line.split("\t")[0] for line in two.splitlines()] == [str(f) for f in files if f != bad]


def test_manifests_and_folders(capsys, tiny_bundle, tmp_path):
    archive = tmp_path / "archive"
    (archive / "b").mkdir(parents=True)
    shutil.copy(CLIPS[0], archive / "b" / "two.wav")
    shutil.copy(CLIPS[1], archive / "one.WAV")
    (archive / "notes.txt").write_text("not audio, not picked up")
    listed = tmp_path / "lists" / "files.txt"
    listed.parent.mkdir()
    listed.write_text(f"# one path a line\n../archive/one.WAV\n\n{CLIPS[2]}\n")
    tsv = tmp_path / "manifest.tsv"
    tsv.write_text(f"path\tduration\ttext\narchive/b/two.wav\t1.5\tignored\n")
    code, out, err = _run(capsys, "transcribe", "--model", tiny_bundle, "--decoder", "greedy", "--format", "tsv",
                          "--recursive", archive, "--manifest", listed, "--manifest", tsv)
    assert code == 0, err
    assert [line.split("\t")[0] for line in out.splitlines()] == [
        str(archive / "one.WAV"), str(archive / "b" / "two.wav"), str(listed.parent / "../archive/one.WAV"),
        str(CLIPS[2]), str(archive / "b" / "two.wav")]


@pytest.mark.parametrize("argv,code,fragment", [
    (("--resume", "CLIP"), 2, "--resume needs -o"),
    (("--format", "parquet", "CLIP"), 2, "needs --ray"),
    (("--jobs", "2", "-"), 2, "standard input"),
    (("--resume", "--format", "tsv", "-o", "OUT", "CLIP"), 2, "does not go with --resume"),
    ((), 2, "no input files"),
    (("--manifest", "MISSING"), 1, "cannot read manifest"),
    (("--manifest", "CLIP"), 2, "not a manifest"),
    (("--manifest", "NO_PATH_COLUMN"), 2, "no path column"),
    (("--resume", "-o", "CLIP", "CLIP"), 4, "not a record of an earlier run"),
    (("--ray", "local", "CLIP"), 2, "--ray needs -o"),
    (("--ray", "local", "--resume", "--format", "parquet", "-o", "OUT", "CLIP"), 2, "does not go with --resume"),
], ids=["resume-without-output", "parquet-without-ray", "stdin-with-jobs", "resume-tsv", "no-inputs",
        "missing-manifest", "audio-as-manifest", "tsv-without-path", "foreign-log", "ray-without-output",
        "ray-resume-parquet"])
def test_batch_usage_errors_are_one_line(capsys, tiny_bundle, tmp_path, argv, code, fragment):
    names = {"CLIP": CLIPS[0], "OUT": tmp_path / "out.jsonl", "MISSING": tmp_path / "missing.txt",
             "NO_PATH_COLUMN": tmp_path / "files.tsv"}
    names["NO_PATH_COLUMN"].write_text("file\ttext\na.wav\thi\n")
    before = CLIPS[0].read_bytes()
    result = _run(capsys, "transcribe", "--model", tiny_bundle, *[names.get(a, a) for a in argv])
    assert result[0] == code and result[1] == ""
    assert result[2].startswith("speechlstm: error: ") and fragment in result[2] and len(result[2].splitlines()) == 1
    assert CLIPS[0].read_bytes() == before


def test_resume_skips_finished_files_and_retries_failed_ones(capsys, tiny_bundle, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    log = tmp_path / "out.jsonl"
    options = ("transcribe", "--model", tiny_bundle, "--decoder", "greedy", "--resume", "-o", log)
    code, out, err = _run(capsys, *options, CLIPS[0])
    assert code == 0 and out == "" and err == ""
    done = log.read_text()
    # A run killed while writing its next line left half of it.
    log.write_text(done + '{"path": "' + str(CLIPS[1]) + '", "te')
    code, out, err = _run(capsys, *options, "--jobs", "0", CLIPS[0], bad, CLIPS[1], CLIPS[2])  # one per core
    assert code == 1 and out == ""
    assert "incomplete last line" in err and "holds 1 of the 4 files" in err and "bad.wav" in err
    records = _records(log)
    assert log.read_text().startswith(done) and len(records) == 4
    assert sorted(r["path"] for r in records) == sorted(map(str, [CLIPS[0], bad, CLIPS[1], CLIPS[2]]))
    failed = [r for r in records if "error" in r]
    assert len(failed) == 1 and set(failed[0]) == {"path", "error"} and failed[0]["error"].startswith(f"{bad}: ")
    # The failed file is tried again (and fails again); the finished ones are not.
    code, _, err = _run(capsys, *options, CLIPS[0], bad, CLIPS[1], CLIPS[2])
    assert code == 1 and "holds 3 of the 4 files" in err
    assert [r["path"] for r in _records(log)[4:]] == [str(bad)]
    bad.unlink()
    code, _, err = _run(capsys, *options, CLIPS[0], CLIPS[1], CLIPS[2])
    assert code == 0 and "holds 3 of the 3 files" in err


def test_killed_run_resumes_with_whole_lines(tiny_bundle, tmp_path):
    """SIGKILL in the middle of a --jobs 2 run: every line left is whole and the rerun does only the rest."""
    files = []
    for number in range(12):
        files.append(tmp_path / f"clip{number}.wav")
        shutil.copy(CLIPS[number % len(CLIPS)], files[-1])
    log = tmp_path / "out.jsonl"
    command = [sys.executable, "-m", "speechlstm", "transcribe", "--model", str(tiny_bundle), "--decoder", "greedy",
               "--jobs", "2", "--resume", "-o", str(log), *map(str, files)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None and not (log.exists() and log.read_text().count("\n") >= 2):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    first = _records(log) if log.read_text().endswith("\n") else None
    assert first is not None and 2 <= len(first)
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    records = _records(log)
    assert records[: len(first)] == first
    assert sorted(r["path"] for r in records) == sorted(map(str, files))
    assert all(set(r) - {"raw_text"} == {"path", "text", "duration", "words"} for r in records)


def test_interrupt_stops_the_workers(tiny_bundle, tmp_path):
    """Ctrl-C (SIGINT to the parent) stops a --jobs run at once with exit 130, whole lines only.

    The child gets SIGINT's default action back: a test run started in the background by a shell
    (``pytest &``, nohup) ignores SIGINT, and Python keeps that in its children."""
    files = [str(CLIPS[number % len(CLIPS)]) for number in range(40)]
    log = tmp_path / "out.jsonl"
    command = [sys.executable, "-m", "speechlstm", "transcribe", "--model", str(tiny_bundle), "--decoder", "greedy",
               "--jobs", "2", "--resume", "-o", str(log), *files]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None and not (log.exists() and log.read_text()):
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and err.endswith("speechlstm: interrupted\n") and "Traceback" not in err
    assert log.read_text().endswith("\n") and 1 <= len(_records(log)) < len(files)


def test_worker_that_dies_fails_only_its_file(tiny_bundle, tmp_path, monkeypatch):
    """A worker killed mid-file (a crash, the out-of-memory killer) is replaced; its file is recorded as failed."""
    from speechlstm.batch import WorkerPool
    from speechlstm.recognizer import RecognizerConfig

    fifo = tmp_path / "never.wav"
    os.mkfifo(fifo)  # a worker opening it blocks until it is killed
    pool = WorkerPool(RecognizerConfig(model=tiny_bundle, backend="torch").with_options(decoder="greedy"), jobs=2)
    paths = [str(CLIPS[0]), str(fifo), str(CLIPS[1])]
    outcomes = pool.transcribe(paths)
    finished = []
    for outcome in outcomes:
        finished.append(outcome)
        if len(finished) == 2:
            break
    holder = next(slot for slot in pool.slots if slot.task and slot.task[1] == str(fifo))
    os.kill(holder.process.pid, signal.SIGKILL)
    finished += list(outcomes)
    by_path = {o.path: o for o in finished}
    assert set(by_path) == set(paths)
    assert "worker process transcribing it died (killed by signal 9" in by_path[str(fifo)].error
    assert by_path[str(CLIPS[0])].transcript and by_path[str(CLIPS[1])].transcript


# Progress inside a long file (issue 27) -------------------------------------------------

@pytest.fixture(scope="module")
def twelve_seconds(tmp_path_factory):
    """12 s of noise: long enough for progress inside it, in either mode (offline reads 10 s blocks)."""
    import numpy as np
    import soundfile as sf

    path = tmp_path_factory.mktemp("long") / "twelve_seconds.flac"
    sf.write(path, (np.random.default_rng(0).standard_normal(12 * 16000) * 0.1).astype(np.float32), 16000)
    return path


@pytest.mark.parametrize("mode,step", [("offline", 10.0), ("streaming", 1.0)])
def test_progress_inside_one_file(tiny_bundle, twelve_seconds, mode, step):
    """Offline reads 10 s blocks, streaming 0.1 s ones: reported about once a second of audio or block."""
    from speechlstm import Recognizer

    recognizer = Recognizer.from_bundle(tiny_bundle, decoder="greedy")
    decoded = []
    transcript = recognizer.transcribe_file(twelve_seconds, mode=mode, progress=decoded.append)
    assert transcript.duration == pytest.approx(12.0)
    assert decoded == pytest.approx([step * n for n in range(1, math.ceil(12 / step))])


def test_worker_processes_report_progress_inside_files(tiny_bundle, twelve_seconds):
    from speechlstm.batch import transcribe_batch
    from speechlstm.recognizer import RecognizerConfig

    config = RecognizerConfig(model=tiny_bundle, mode="streaming").with_options(decoder="greedy")
    events = []
    for outcome in transcribe_batch(config, [str(twelve_seconds), str(CLIPS[0])], 2,
                                    on_audio=lambda index, seconds: events.append((index, seconds))):
        assert outcome.transcript is not None
        events.append((outcome.index, "done"))
    first = events[:events.index((0, "done"))]
    assert [seconds for index, seconds in first if index == 0] == pytest.approx([float(n) for n in range(1, 12)])


class _Terminal:
    """A stderr that says it is a terminal, so that the progress bar draws (into ``text``)."""

    def __init__(self):
        self.text = ""

    def isatty(self):
        return True

    def write(self, text):
        self.text += text

    def flush(self):
        pass


def test_progress_bar_moves_inside_a_file(capsys, tiny_bundle, twelve_seconds, monkeypatch):
    from speechlstm.progress import BatchProgress

    seen = []
    decoded = BatchProgress.decoded

    def spy(self, index, seconds):
        decoded(self, index, seconds)
        seen.append((index, seconds, self._bar.n, self._bar.total, self.files))

    monkeypatch.setattr(BatchProgress, "decoded", spy)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    code = main(["transcribe", "--model", str(tiny_bundle), "--decoder", "greedy", str(twelve_seconds), str(CLIPS[0])])
    assert code == 0
    # In the first file, before it is done: the bar's audio is what was decoded of it, out of both files.
    total = 12.0 + __import__("soundfile").info(CLIPS[0]).duration
    assert seen == [(0, 10.0, 10.0, pytest.approx(total), 0)]
    assert "0/2 files" in terminal.text and "\r" in terminal.text


def test_progress_of_a_file_of_unknown_length(monkeypatch):
    """Stdin's length is known only as it is decoded: the total grows with it."""
    from speechlstm.progress import BatchProgress

    monkeypatch.setattr(sys, "stderr", _Terminal())
    with BatchProgress([None, 5.0]) as progress:
        progress.decoded(0, 3.0)
        assert (progress._bar.n, progress._bar.total) == (3.0, 8.0)
        progress.decoded(0, 4.0)
        progress.done(4.5, index=0)
        assert (progress._bar.n, progress._bar.total, progress.files) == (4.5, 9.5, 1)
        progress.done(5.0, index=1)
        assert (progress._bar.n, progress._bar.total) == (9.5, 9.5)
