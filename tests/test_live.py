"""Live transcription: endpointing on synthetic block sources, and the CLI through a real
PulseAudio daemon whose default source is a FIFO the test plays clips into."""
from __future__ import annotations

import json
import math
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from speechlstm import Recognizer, RecognizerConfig, load_bundle
from speechlstm.cli import main
import speechlstm.live as live_module
from speechlstm.config import EndpointConfig
from speechlstm.errors import DeviceError, MissingPackageError
from speechlstm.live import LiveSession, MicrophoneSource, transcribe_live
from speechlstm.text import VOCABULARY

from conftest import SAMPLES

THREE = SAMPLES / "three_utterances.wav"
# speech spans of three_utterances.wav (samples/README.md), in seconds
THREE_SPANS = [(0.300, 1.196), (2.196, 3.761), (4.761, 6.121)]


def _blocks(samples: np.ndarray, rate: int, seconds: float = 0.1):
    step = int(rate * seconds)
    return ((rate, samples[i:i + step]) for i in range(0, len(samples), step))


def _finals(recognizer, samples, rate, endpoint=None):
    return [e for e in transcribe_live(recognizer, _blocks(samples, rate), endpoint) if e.kind == "final"]


@pytest.fixture(scope="module")
def one_thread():
    """Run as ``speechlstm live`` does: one torch thread (restored afterwards)."""
    import torch
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def tiny(tiny_bundle, one_thread):
    """Greedy: a beam search over random weights finds few words, so the decoder-silence rule
    (which the energy tests do not measure) would cut utterances between them."""
    return Recognizer.from_bundle(tiny_bundle, decoder="greedy")


@pytest.fixture(scope="module")
def shipped(shipped_bundle, one_thread):
    return Recognizer.from_bundle(shipped_bundle)


def test_energy_endpoints_split_three_utterances_even_with_random_weights(tiny):
    samples, rate = sf.read(THREE, dtype="float32")
    finals = _finals(tiny, samples, rate)
    assert len(finals) == 3
    for event, (start, end) in zip(finals, THREE_SPANS):
        assert event.words and all(start - 0.5 <= w.start and w.end <= end + 1.0 for w in event.words)


def test_max_utterance_cuts_long_speech(tiny):
    rng = np.random.default_rng(0)
    noise = (rng.standard_normal(16000 * 5) * 0.1).astype(np.float32)
    events = list(transcribe_live(tiny, _blocks(noise, 16000), EndpointConfig(max_utterance=1.0)))
    finals = [e for e in events if e.kind == "final"]
    assert len(finals) >= 4 and all(e.end - e.start <= 1.05 for e in finals)
    assert all(a.end <= b.start + 1e-6 for a, b in zip(finals, finals[1:]))


def test_partials_carry_session_times_and_precede_their_final(tiny):
    samples, rate = sf.read(THREE, dtype="float32")
    events = list(transcribe_live(tiny, _blocks(samples, rate)))
    assert [e.kind for e in events].count("final") == 3
    second = events[[i for i, e in enumerate(events) if e.kind == "final"][0] + 1:]
    assert second[0].kind == "partial" and second[0].start >= THREE_SPANS[0][1]
    assert json.loads(json.dumps(events[-1].to_dict()))["words"]


class _LoudIsSpeech:
    """A stand-in acoustic model: emits "a" on loud frames and blank elsewhere.

    It lets the decoder-silence rules be tested in steady background noise (where the energy
    rule never fires) without depending on what a trained model hears.
    """

    stack, chunk, right, heads = 3, 10, 8, ("chars",)

    def initial_state(self):
        return None

    def step(self, frames, main_steps, state, head="chars"):
        loud = frames[:main_steps * self.stack].reshape(main_steps, self.stack, -1).mean(axis=(1, 2)) > -4.5
        log_probs = np.full((main_steps, len(VOCABULARY)), -30.0, dtype=np.float32)
        log_probs[:, 0] = np.where(loud, -30.0, 0.0)
        log_probs[:, VOCABULARY.index("a")] = np.where(loud, 0.0, -30.0)
        return log_probs, state


def test_decoder_silence_ends_utterances_in_steady_noise(tiny_bundle):
    recognizer = Recognizer(load_bundle(tiny_bundle), _LoudIsSpeech(), RecognizerConfig(mode="streaming"))
    rng = np.random.default_rng(1)
    audio = (rng.standard_normal(16000 * 9) * 0.01).astype(np.float32)  # -40 dBFS: never "silent" by energy
    for start in (1.0, 3.0):
        audio[int(start * 16000):int((start + 0.5) * 16000)] *= 30
    session = LiveSession(recognizer)
    events = list(session.events(_blocks(audio, 16000)))
    finals = [e for e in events if e.kind == "final"]
    assert [round(e.start, 1) for e in finals] == [1.0, 3.0]
    assert [e.kind for e in events] == ["partial", "final", "partial", "final"]


def test_no_speech_restarts_the_stream_without_events(tiny_bundle):
    recognizer = Recognizer(load_bundle(tiny_bundle), _LoudIsSpeech(), RecognizerConfig(mode="streaming"))
    session = LiveSession(recognizer, EndpointConfig(trailing_silence_no_speech=2.0))
    noise = (np.random.default_rng(2).standard_normal(16000 * 5) * 0.01).astype(np.float32)
    offsets = []

    def source():
        for item in _blocks(noise, 16000):
            offsets.append(session.utterance.offset if session.utterance else None)
            yield item

    assert list(session.events(source())) == []
    starts = sorted({offset for offset in offsets if offset is not None})
    # each restart comes 2.0 s of decoded audio later, i.e. at most chunk + right + a block later
    assert len(starts) == 3 and all(2.0 <= b - a <= 2.0 + 0.3 + 0.24 + 0.1 for a, b in zip(starts, starts[1:])), starts


def test_three_utterances_give_three_finals(shipped):
    samples, rate = sf.read(THREE, dtype="float32")
    finals = _finals(shipped, samples, rate)
    assert len(finals) == 3, [e.text for e in finals]
    for event, (start, end) in zip(finals, THREE_SPANS):
        assert event.text and start - 0.3 <= event.start < event.end <= end + 0.3, (event, start, end)


def test_silence_alone_emits_nothing(shipped):
    assert list(transcribe_live(shipped, _blocks(np.zeros(16000 * 6, np.float32), 16000))) == []


# --- MicrophoneSource against a stand-in sounddevice ---------------------------------------

class _FakeSoundDevice:
    """A stand-in for the sounddevice module: one input device (default rate 44100 Hz) that
    accepts the rates in ``rates``. Its stream captures a 100 ms block every 100 ms, each
    filled with its index, and hands it to the callback ``lag`` seconds after the block is
    complete, as audio waits in a sound server's buffers."""

    PortAudioError = RuntimeError

    def __init__(self, rates: set[int], lag: float = 0.3) -> None:
        self.rates, self.lag, self.opened_at = rates, lag, None

    def query_devices(self, device=None, kind=None):
        return {"name": "fake mic", "index": 0, "default_samplerate": 44100.0, "max_input_channels": 1}

    def check_input_settings(self, device=None, channels=None, dtype=None, samplerate=None):
        if samplerate not in self.rates:
            raise self.PortAudioError(f"Invalid sample rate [PaErrorCode -9997]: {samplerate}")

    def InputStream(self, device, channels, samplerate, blocksize, dtype, callback):  # noqa: N802 - sounddevice's name
        self.opened_at = samplerate
        return _FakeStream(samplerate, blocksize, callback, self.lag)


class _FakeStream:
    def __init__(self, rate: int, blocksize: int, callback, lag: float) -> None:
        self.rate, self.blocksize, self.callback, self.latency = rate, blocksize, callback, lag
        self.active, self.started = False, 0.0

    @property
    def time(self) -> float:
        return time.monotonic()

    def start(self) -> None:
        self.active, self.started = True, time.monotonic()
        threading.Thread(target=self._deliver, daemon=True).start()

    def _deliver(self) -> None:
        seconds = self.blocksize / self.rate
        for index in range(100):
            captured = self.started + index * seconds
            time.sleep(max(0.0, captured + seconds + self.latency - time.monotonic()))
            if not self.active:
                return
            block = np.full((self.blocksize, 1), index, dtype=np.float32)
            self.callback(block, self.blocksize, SimpleNamespace(inputBufferAdcTime=captured),
                          SimpleNamespace(input_overflow=False))

    def close(self) -> None:
        self.active = False


@pytest.mark.parametrize("rates, expected", [({16000, 44100}, 16000), ({44100, 48000}, 44100)])
def test_microphone_opens_at_the_model_rate_where_supported(monkeypatch, rates, expected):
    fake = _FakeSoundDevice(rates)
    monkeypatch.setattr(live_module, "_import_sounddevice", lambda: fake)
    source = MicrophoneSource("fake", sample_rate=16000)
    assert source.sample_rate == fake.opened_at == expected


def test_close_still_yields_the_audio_captured_before_it(monkeypatch):
    """Ctrl-C after 1 s: the blocks captured before it but still on their way (0.3 s behind)
    are decoded; the blocks captured after it are not."""
    fake = _FakeSoundDevice({16000})
    monkeypatch.setattr(live_module, "_import_sounddevice", lambda: fake)
    source = MicrophoneSource("fake", sample_rate=16000)
    source.start()
    stopper = threading.Timer(1.0, source.close)
    stopper.start()
    indices = [int(block[0, 0]) for _, block in source]
    stopper.join()
    captured_before = math.ceil((source._stop_at - source._stream.started) / 0.1)
    assert captured_before >= 10 and indices == list(range(captured_before)), (captured_before, indices)


def test_close_before_start_yields_nothing(monkeypatch):
    monkeypatch.setattr(live_module, "_import_sounddevice", lambda: _FakeSoundDevice({16000}, lag=0.0))
    source = MicrophoneSource("fake", sample_rate=16000)
    source.close()
    start = time.monotonic()
    assert list(source) == [] and time.monotonic() - start < live_module.STOP_GRACE_SECONDS


# --- the CLI against a real audio stack -------------------------------------------------

PULSE_SCRIPT = """.fail
load-module module-native-protocol-unix
load-module module-pipe-source source_name=virtmic file={fifo} format=s16le rate=16000 channels=1
set-default-source virtmic
"""


@pytest.fixture(scope="module")
def pulse(tmp_path_factory):
    """A private PulseAudio daemon whose default source reads 16 kHz s16le from a FIFO.

    Yields (environment for clients, FIFO path). The daemon runs in the foreground of its
    own process, so it is stopped by that PID.
    """
    if shutil.which("pulseaudio") is None or shutil.which("pactl") is None:
        pytest.skip("pulseaudio is not installed (scripts/install_system_deps.sh installs it)")
    root = tmp_path_factory.mktemp("pulse")
    runtime, home = root / "run", root / "home"
    for folder in (runtime, home):
        folder.mkdir(mode=0o700)
    fifo = root / "mic.fifo"
    (root / "default.pa").write_text(PULSE_SCRIPT.format(fifo=fifo))
    (root / "client.conf").write_text("autospawn = no\n")
    env = {**os.environ, "HOME": str(home), "XDG_RUNTIME_DIR": str(runtime),
           "PULSE_SERVER": f"unix:{runtime}/pulse/native", "PULSE_CLIENTCONFIG": str(root / "client.conf")}
    daemon = subprocess.Popen(
        ["pulseaudio", "--daemonize=no", "-n", "-F", str(root / "default.pa"), "--exit-idle-time=-1",
         "--disallow-exit", "--resample-method=soxr-vhq", f"--log-target=file:{root / 'pulse.log'}"],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode != 0:
            if daemon.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"pulseaudio did not start: {(root / 'pulse.log').read_text()[-500:]}")
            time.sleep(0.1)
        yield env, fifo
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


def _play(fifo: Path, pieces: list[np.ndarray], rate: int = 16000) -> None:
    """Write int16 ``pieces`` into the FIFO at real-time pace, 50 ms at a time."""
    audio = np.concatenate(pieces)
    step = rate // 20
    with open(fifo, "wb") as pipe:
        start = time.monotonic()
        for i in range(0, len(audio), step):
            pipe.write(audio[i:i + step].tobytes())
            pipe.flush()
            time.sleep(max(0.0, start + (i + step) / rate - time.monotonic()))


def _wait_for(stream, marker: bytes, timeout: float) -> str:
    """Read the raw pipe (no buffering that select() cannot see) until ``marker`` appears; what was read."""
    deadline, seen = time.monotonic() + timeout, b""
    while marker not in seen:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([stream], [], [], remaining)[0]:
            raise AssertionError(f"no {marker!r} on stderr within {timeout} s: {seen!r}")
        chunk = os.read(stream.fileno(), 4096)
        if not chunk:
            raise AssertionError(f"process ended before {marker!r}: {seen!r}")
        seen += chunk
    return seen.decode(errors="replace")


def _streaming_text(model: Path, clip: Path, capsys) -> str:
    capsys.readouterr()
    assert main(["transcribe", "--mode", "streaming", "--format", "json", "--raw-text", "--model", str(model), str(clip)]) == 0
    return json.loads(capsys.readouterr().out)["text"]


def _live_cli(pulse, played: list[np.ndarray], model: Path, *options: str) -> tuple[str, str]:
    """Run ``speechlstm live --format json --raw-text`` on the pulse fixture's microphone, play ``played`` into it
    at real-time pace, press Ctrl-C once the last sample is in the FIFO; its (stdout, stderr)."""
    env, fifo = pulse
    live = subprocess.Popen(
        [sys.executable, "-m", "speechlstm", "live", "--device", "pulse", "--format", "json", "--raw-text",
         "--model", str(model), *options], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        listening = _wait_for(live.stderr, b"Ctrl-C", timeout=120)  # start-up on a busy machine
        assert "listening on 'pulse' at 16000 Hz" in listening, listening
        player = threading.Thread(target=_play, args=(fifo, played), daemon=True)
        player.start()
        player.join(timeout=sum(map(len, played)) / 16000 + 30)
        assert not player.is_alive(), "the FIFO stopped accepting audio"
        live.send_signal(signal.SIGINT)
        out, err = live.communicate(timeout=120)
    finally:
        if live.poll() is None:
            live.kill()
    assert live.returncode == 0, err
    return out, err


def test_live_cli_through_pulseaudio(pulse, shipped, shipped_bundle, tmp_path, capsys):
    """Clip A, 1.5 s of silence (an endpoint), clip B cut 30 to 130 ms after its last word,
    then Ctrl-C as soon as the last sample is in the FIFO (the flush).

    The device opens at the model's 16 kHz, so the samples arrive unchanged: the finals must
    equal those of the event API fed the same audio in the same 100 ms blocks in-process,
    including clip B's last word, still in the sound server's buffers when Ctrl-C comes.
    Clip A starts a stream exactly as ``transcribe --mode streaming`` does, so its text must
    also match that. (The audio ends on a whole block: PortAudio holds back a partial block
    until more audio completes it, which a microphone does and this FIFO, falling silent,
    would not.)
    """
    clips = [SAMPLES / "goforward.wav", SAMPLES / "espeak_kitchen_lights.wav"]
    audio = [sf.read(clip, dtype="int16")[0] for clip in clips]
    played = [audio[0], np.zeros(24000, np.int16)]
    end = np.flatnonzero(np.abs(audio[1]) > 300)[-1] + 480
    end += -(sum(map(len, played)) + end) % 1600
    played.append(audio[1][:end])
    expected = [e.text for e in _finals(shipped, np.concatenate(played), 16000)]
    assert len(expected) == 2 and expected[0] == _streaming_text(shipped_bundle, clips[0], capsys)
    log = tmp_path / "finals.jsonl"
    log.write_text("")
    out, err = _live_cli(pulse, played, shipped_bundle, "-o", str(log))
    finals = [json.loads(line) for line in out.splitlines()]
    texts = [f["text"] for f in finals]
    assert texts == expected, err
    assert finals[0]["end"] < finals[1]["start"] and set(finals[0]) == {"text", "start", "end", "words"}
    assert log.read_text() == out


DEV = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "dev.tsv"
#: dev clips whose readers run on through short pauses; a clone without ../shared plays samples/ instead
DEV_CLIPS = ("1673-143397-0011", "1673-143396-0017", "1673-143396-0012", "1673-143396-0009")
SAMPLE_CLIPS = ("sense_and_sensibility_0890", "flite_real_time", "espeak_kitchen_lights", "three_utterances")


def _live_vs_file_clips(folder: Path) -> list[Path]:
    """16 kHz int16 WAV files written into ``folder``: at most 10 s of speech, then 1.5 s of silence
    (an endpoint when played live; in the file too, so that both hear the same audio)."""
    import soxr
    from speechlstm.io.manifest import read_manifest
    if DEV.exists():
        sources = [row.path for row in read_manifest(DEV) if row.path.name.split(".")[0] in DEV_CLIPS]
    else:
        sources = [SAMPLES / f"{name}.wav" for name in SAMPLE_CLIPS]
    clips = []
    for source in sources:
        audio, rate = sf.read(source, dtype="float32")
        clips.append(folder / f"{source.name.split('.')[0]}.wav")
        speech = soxr.resample(audio, rate, 16000)[:160000]
        sf.write(clips[-1], np.concatenate([speech, np.zeros(24000, np.float32)]), 16000, subtype="PCM_16")
    assert len(clips) == 4
    return clips


def test_live_agrees_with_file_through_pulseaudio(pulse, shipped_bundle, tmp_path, capsys):
    """Each file played into the microphone of a fresh ``speechlstm live`` gives the words of
    ``transcribe --mode streaming`` of the file: at most 10 % WER over the files. Readers who pause
    briefly mid-sentence used to end utterances there (the lexicon decoder's last word lagged the
    speech), which cut words and restarted the LSTM mid-sentence: 35 % on one of these clips. (One
    session per file: a later utterance starts where the last endpoint fell, so its 30 ms steps and
    300 ms chunks fall elsewhere against the speech than in the file, which moves a few words.)"""
    import jiwer
    files, lives, errors = [], [], []
    for clip in _live_vs_file_clips(tmp_path):
        files.append(_streaming_text(shipped_bundle, clip, capsys))
        audio = sf.read(clip, dtype="int16")[0]
        out, err = _live_cli(pulse, [audio, np.zeros(-len(audio) % 1600, np.int16)], shipped_bundle)
        lives.append(" ".join(json.loads(line)["text"] for line in out.splitlines()))
        errors += [line for line in err.splitlines() if "warning" in line]
    wer = jiwer.wer(files, lives)
    assert wer <= 0.10, f"live against file: {wer:.1%} WER\nfile: {files}\nlive: {lives}\n{errors}"


def test_live_cli_missing_device_lists_devices(pulse):
    env, _ = pulse
    done = subprocess.run([sys.executable, "-m", "speechlstm", "live", "--device", "no such mic"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == DeviceError.exit_code and done.stdout == ""
    errors = [line for line in done.stderr.splitlines() if line.startswith("speechlstm:")]
    assert len(errors) == 1 and "'no such mic'" in errors[0] and "'pulse'" in errors[0], done.stderr


def test_live_without_sounddevice_is_one_line(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)
    for argv in (["live"], ["live", "--list-devices"]):
        assert main(argv) == MissingPackageError.exit_code == 2
        out, err = capsys.readouterr()
        assert out == "" and err == ("speechlstm: error: live audio needs the sounddevice package: "
                                     "pip install 'speechlstm[live]'\n")


def test_list_devices_with_none_says_so(capsys, monkeypatch):
    sounddevice = pytest.importorskip("sounddevice")
    monkeypatch.setattr(sounddevice, "query_devices", lambda *args, **kwargs: sounddevice.DeviceList([]))
    assert main(["live", "--list-devices"]) == DeviceError.exit_code
    out, err = capsys.readouterr()
    assert out == "" and "no audio devices found" in err and len(err.splitlines()) == 1
