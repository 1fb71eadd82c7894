"""``speechlstm serve``: the Vosk protocol through a real WebSocket client (websockets, as
vosk-server's examples use) against servers on loopback; every fault; the token; SIGTERM;
20 streams at real-time pace; and the page in a real browser (chromium through selenium)."""
from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("aiohttp", reason="the server needs aiohttp: pip install 'speechlstm[server]'")
websockets = pytest.importorskip("websockets")
from websockets.asyncio.client import connect  # noqa: E402
from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: E402

import speechlstm.recognizer as recognizer_module  # noqa: E402
from speechlstm import Recognizer  # noqa: E402
from speechlstm.cli import main  # noqa: E402
from speechlstm.config import EndpointConfig  # noqa: E402
from speechlstm.io.audio import resample  # noqa: E402
from speechlstm.server import ServerConfig, serve  # noqa: E402
from speechlstm.server.vosk import StreamConfig  # noqa: E402
from speechlstm.server.workers import LOAD_WINDOW, Channel, DecodePool  # noqa: E402

from conftest import SAMPLES  # noqa: E402

THREE = SAMPLES / "three_utterances.wav"
THREE_SPANS = [(0.300, 1.196), (2.196, 3.761), (4.761, 6.121)]  # speech in three_utterances.wav (samples/README.md)
EOF = '{"eof" : 1}'  # byte for byte what vosk-server's clients send


@contextmanager
def running(recognizer: Recognizer, **options):
    """A server on a free loopback port, in a thread with its own event loop; yields its ws:// URL.
    Its lag budget is a minute and its load budget unbounded unless given: this machine may be loaded, and only
    two tests are about them."""
    options.setdefault("max_lag", 60.0)
    options.setdefault("max_load", 1e6)
    ready: queue.Queue = queue.Queue()
    state: dict = {}

    async def main() -> None:
        state["loop"], state["stop"] = asyncio.get_running_loop(), asyncio.Event()
        await serve(recognizer, ServerConfig(port=0, **options), ready.put, state["stop"])

    def thread_main() -> None:
        try:
            asyncio.run(main())
        except BaseException as error:  # reported to the test below
            ready.put(error)

    thread = threading.Thread(target=thread_main, daemon=True)
    thread.start()
    url = ready.get(timeout=60)
    if isinstance(url, BaseException):
        raise url
    try:
        yield url.replace("http://", "ws://")
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(30)
        assert not thread.is_alive(), "the server did not stop"


def http(url: str, path: str, data: bytes | None = None, headers: dict | None = None) -> tuple[int, dict | str]:
    request = urllib.request.Request(url.replace("ws://", "http://") + path, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, body, kind = response.status, response.read(), response.headers.get_content_type()
    except urllib.error.HTTPError as error:
        status, body, kind = error.code, error.read(), error.headers.get_content_type()
    return status, json.loads(body) if kind == "application/json" else body.decode()


def pcm(path: Path, rate: int | None = None) -> tuple[bytes, int]:
    """A clip as 16-bit little-endian PCM (resampled to ``rate``) and its rate."""
    samples, source = sf.read(path, dtype="float32")
    rate = rate or source
    samples = resample(samples, source, rate)
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes(), rate


async def vosk_client(url: str, audio: bytes, rate: int, chunk: int = 8000, pace: float = 0.0,
                      config: dict | None = None, send_config: bool = True) -> tuple[list[dict], int]:
    """vosk-server's test client: config, binary chunks each answered, eof; the replies and the close code.
    ``pace`` > 0 sends at that many times real time; ``send_config=False`` sends no config message."""
    async with connect(url, max_size=None) as ws:
        if send_config:
            await ws.send(json.dumps({"config": {"sample_rate": rate, **(config or {})}}))
        replies = []
        started = time.monotonic()
        for offset in range(0, len(audio), chunk):
            if pace:
                await asyncio.sleep(max(0.0, started + offset / 2 / rate / pace - time.monotonic()))
            await ws.send(audio[offset:offset + chunk])
            replies.append(json.loads(await ws.recv()))
        await ws.send(EOF)
        replies.append(json.loads(await ws.recv()))
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        return replies, ws.close_code


def finals(replies: list[dict]) -> list[dict]:
    return [reply for reply in replies if "text" in reply and reply["text"]]


async def closed_with(ws) -> tuple[int, str]:
    """Wait for the server's close; its code and reason."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await ws.recv()
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def one_too_many(url: str, clients: list) -> tuple[tuple[int, str], list]:
    """Start the ``clients`` (vosk_client coroutines); once the server counts them all, one more
    caller: its close (code, reason) and the clients' results."""
    tasks = [asyncio.create_task(client) for client in clients]
    while http(url, "/healthz")[1]["streams"] < len(tasks):
        await asyncio.sleep(0.05)
    async with connect(url) as extra:
        refused = await closed_with(extra)
    return refused, await asyncio.gather(*tasks)


@pytest.fixture(scope="module")
def tiny(tiny_bundle):
    """Greedy on random weights: energy endpoints split three_utterances.wav in three (tests/test_live.py)."""
    return Recognizer.from_bundle(tiny_bundle, decoder="greedy", mode="streaming")


@pytest.fixture(scope="module")
def server(tiny):
    with running(tiny, max_streams=3, idle_timeout=1.5, max_message_bytes=64 * 1024) as url:
        yield url


def wait_for_streams(url: str, count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while http(url, "/healthz")[1]["streams"] != count:
        assert time.monotonic() < deadline, f"streams in use did not return to {count}"
        time.sleep(0.05)


# The protocol -----------------------------------------------------------------------


@pytest.mark.parametrize("path,rate", [("/", 16000), ("/ws", 8000)])
def test_partials_then_finals_with_word_times_then_eof(server, path, rate):
    audio, rate = pcm(THREE, rate)
    replies, code = asyncio.run(vosk_client(server + path, audio, rate, chunk=rate // 5))
    assert code == 1000
    assert len(replies) == -(-len(audio) // (rate // 5)) + 1, "one answer per audio message, and one for eof"
    assert all(set(reply) in ({"partial"}, {"text", "result"}, {"text"}) for reply in replies)
    assert any(reply.get("partial") for reply in replies)
    utterances = finals(replies)
    assert len(utterances) == 3
    for final, (start, end) in zip(utterances, THREE_SPANS):
        words = final["result"]
        assert final["text"] == " ".join(w["word"] for w in words)
        assert all(set(w) == {"word", "start", "end", "conf"} and 0 <= w["conf"] <= 1 for w in words)
        assert all(start - 0.5 <= w["start"] <= w["end"] <= end + 1.0 for w in words), (words, start, end)
    wait_for_streams(server, 0)


def test_eof_without_audio_and_reset_mid_stream(server):
    async def client():
        async with connect(server) as ws:
            audio, rate = pcm(THREE)
            await ws.send(audio[:int(rate * 1.0) * 2])
            assert "partial" in json.loads(await ws.recv())
            await ws.send('{"reset" : 1}')
            reset = json.loads(await ws.recv())
            await ws.send(EOF)
            return reset, json.loads(await ws.recv()), await closed_with(ws)

    reset, final, (code, _) = asyncio.run(client())
    assert reset["text"] and reset["result"], "reset ends the utterance with a final"
    assert final == {"text": ""} and code == 1000, "an empty final is vosk-server's {\"text\": \"\"}"


# vosk-server compatibility ------------------------------------------------------------


def texts_and_times(replies: list[dict]) -> list[tuple[str, list]]:
    return [(f["text"], [(w["word"], w["start"], w["end"]) for w in f.get("result", [])]) for f in finals(replies)]


def test_no_config_means_8000_hz_as_vosk_server(server):
    audio, rate = pcm(THREE, 8000)
    with_config, _ = asyncio.run(vosk_client(server, audio, rate, chunk=1600))
    without, code = asyncio.run(vosk_client(server, audio, rate, chunk=1600, send_config=False))
    assert code == 1000 and len(finals(without)) == 3
    assert texts_and_times(without) == texts_and_times(with_config)
    assert http(server, "/healthz")[1]["sample_rate"] == 8000


def test_a_wav_header_is_skipped_and_gives_the_rate(server):
    """vosk-server's Node and Go clients send the WAV file as it is, header first, with no config."""
    audio, rate = pcm(THREE)
    raw, _ = asyncio.run(vosk_client(server, audio, rate, chunk=8000))
    wav, code = asyncio.run(vosk_client(server, THREE.read_bytes(), rate, chunk=8000, send_config=False))
    assert code == 1000 and texts_and_times(wav) == texts_and_times(raw) and len(finals(raw)) == 3


def test_a_message_is_converted_once_by_the_stream_that_takes_it(tiny):
    """parse_audio hands on a view of the message's 16-bit samples; the stream makes the one float copy."""
    from speechlstm.server.vosk import parse_audio

    data = np.array([-32768, -1, 0, 1, 32767], "<i2").tobytes()
    samples, rate = parse_audio(data, first=False)
    assert rate is None and samples.dtype == np.int16 and samples.base is not None  # no copy of the bytes
    stream = tiny.create_stream()
    stream.accept_waveform(16000, samples)
    np.testing.assert_array_equal(stream.audio[0], np.array([-32768, -1, 0, 1, 32767], np.float32) / 32768)


def test_any_path_that_is_not_an_http_route_is_the_websocket(server):
    audio, rate = pcm(THREE)
    replies, code = asyncio.run(vosk_client(server + "/asr/en/", audio, rate, chunk=8000))
    assert code == 1000 and len(finals(replies)) == 3
    assert http(server, "/asr/en/")[0] == 404, "a browser gets no page there"
    assert http(server, "/healthz")[0] == 200


def test_words_0_sample_rate_as_a_string_and_the_model_key(server, tiny):
    audio, rate = pcm(THREE)
    replies, code = asyncio.run(vosk_client(server, audio, rate, chunk=8000,
                                            config={"sample_rate": "16000", "words": 0, "model": "tiny"}))
    assert code == 1000 and len(finals(replies)) == 3
    assert all(set(reply) in ({"partial"}, {"text"}) for reply in replies), "no word list with words: 0"


def test_unknown_config_keys_and_models_are_refused_with_a_reason(server):
    for config, reason in [({"language": "en"}, "unknown config key 'language'"),
                           ({"model": "/srv/models/vosk-en"}, "is not served here; this server serves tiny")]:
        async def client():
            async with connect(server) as ws:
                await ws.send(json.dumps({"config": config}))
                return await closed_with(ws)
        code, message = asyncio.run(client())
        assert code == 1003 and reason in message, (code, message)


@pytest.fixture(scope="module")
def shipped_server(shipped):
    with running(shipped, max_streams=4) as url:
        yield url


def test_max_alternatives_gives_the_n_best_in_vosk_server_shape(shipped_server, shipped):
    audio, rate = pcm(SAMPLES / "espeak_kitchen_lights.wav")
    replies, code = asyncio.run(vosk_client(shipped_server, audio, rate, chunk=6400, config={"max_alternatives": 3}))
    outcome = [reply for reply in replies if "alternatives" in reply]
    assert code == 1000 and outcome and all("text" not in reply for reply in outcome)
    alternatives = outcome[0]["alternatives"]
    assert len(alternatives) == 3 and len({a["text"] for a in alternatives}) == 3
    assert [a["confidence"] for a in alternatives] == sorted((a["confidence"] for a in alternatives), reverse=True)
    assert all(set(a) == {"text", "confidence", "result"} and set(a["result"][0]) == {"word", "start", "end"}
               for a in alternatives)
    assert alternatives[0]["text"] == shipped.transcribe_file(SAMPLES / "espeak_kitchen_lights.wav",
                                                              mode="streaming").text


def test_phrase_list_decodes_only_those_phrases(shipped_server):
    phrases = ["turn on the kitchen lights", "turn off the kitchen lights", "go forward", "stop", "[unk]"]
    allowed = {word for phrase in phrases[:-1] for word in phrase.split()}
    for clip in ("espeak_kitchen_lights.wav", "goforward.wav"):
        audio, rate = pcm(SAMPLES / clip)
        replies, code = asyncio.run(vosk_client(shipped_server, audio, rate, chunk=6400,
                                                config={"phrase_list": phrases}))
        heard = " ".join(f["text"] for f in finals(replies)).split()
        assert code == 1000 and heard and set(heard) <= allowed, (clip, heard)
    assert "kitchen" in heard or "forward" in heard


# Faults -------------------------------------------------------------------------------

FAULTS = {
    "malformed JSON": ("text", '{"config": ', 1007, "malformed JSON"),
    "unknown message": ("text", '{"hello": 1}', 1003, "expected"),
    "odd byte count": ("bytes", b"\x00" * 3201, 1007, "even number of bytes"),
    "an Ogg file": ("bytes", b"OggS" + bytes(3000), 1003, "got an Ogg file"),
    "a stereo WAV file": ("bytes", b"RIFF" + bytes(4) + b"WAVEfmt " + (16).to_bytes(4, "little")
                          + bytes.fromhex("01000200803e000000fa00000400 1000".replace(" ", "")) + b"data" + bytes(3204),
                          1003, "16-bit mono PCM"),
    "unsupported rate": ("text", '{"config": {"sample_rate": 1000}}', 1003, "unsupported sample_rate"),
    "rate not a number": ("text", '{"config": {"sample_rate": "fast"}}', 1007, "sample_rate"),
    "hotwords on greedy": ("config", '{"config": {"sample_rate": 16000, "hotwords": ["kitchen"]}}', 1007,
                           "beam decoder"),
    "bad hotwords": ("text", '{"config": {"hotwords": "kitchen"}}', 1007, "hotwords must be"),
    "message too big": ("bytes", b"\x00" * (64 * 1024 + 2), 1009, ""),
}


@pytest.mark.parametrize("fault", FAULTS, ids=list(FAULTS))
def test_faults_get_a_clear_close_code_and_the_server_stays_up(server, fault):
    kind, payload, expected, reason = FAULTS[fault]

    async def client():
        async with connect(server, max_size=None) as ws:
            await ws.send(payload if kind != "config" else payload)
            if kind == "config":  # the hotwords are checked when the stream is made, at the first audio
                await ws.send(b"\x00" * 3200)
            return await closed_with(ws)

    code, message = asyncio.run(client())
    assert code == expected and reason in message, (code, message)
    wait_for_streams(server, 0)
    assert http(server, "/healthz")[1]["status"] == "ok"


BAD_CONFIGS = {
    "NaN rate": ('{"config": {"sample_rate": NaN}}', "NaN is not JSON"),
    "Infinity rate": ('{"config": {"sample_rate": Infinity}}', "Infinity is not JSON"),
    "1e400 rate": ('{"config": {"sample_rate": 1e400}}', "whole number of Hz"),
    "hotwords not a list": ('{"config": {"hotwords": 5}}', "hotwords must be a list"),
    "nested brackets": ('{"config": ' + "[" * 30000 + "]" * 30000 + "}", "nested too deeply"),
    "phrase_list not a list": ('{"config": {"phrase_list": "yes no"}}', "phrase_list must be a list"),
    "max_alternatives negative": ('{"config": {"max_alternatives": -1}}', "max_alternatives"),
}


@pytest.mark.parametrize("config", BAD_CONFIGS, ids=list(BAD_CONFIGS))
def test_bad_configs_get_1007_with_a_reason_and_no_traceback(server, config, caplog):
    text, reason = BAD_CONFIGS[config]

    async def client():
        async with connect(server, max_size=None) as ws:
            await ws.send(text)
            return await closed_with(ws)

    with caplog.at_level("ERROR", logger="speechlstm.server"):
        code, message = asyncio.run(client())
    assert code == 1007 and reason in message, (code, message)
    assert not caplog.records, "a bad config is the client's fault: nothing in the server's log"


HOTWORD_LIMITS = {
    "too many": ([f"word{i}" for i in range(101)], 1008, "at most 100 hotwords"),
    "too long": (["a" * 101], 1008, "at most 100 characters"),
    "boost too big": ([["kitchen", 1000]], 1007, "greater than 0 and at most 20"),  # config.MAX_HOTWORD_BOOST
}


@pytest.mark.parametrize("limit", HOTWORD_LIMITS, ids=list(HOTWORD_LIMITS))
def test_hotwords_are_limited_per_connection(server, limit):
    hotwords, expected, reason = HOTWORD_LIMITS[limit]

    async def client():
        async with connect(server) as ws:
            await ws.send(json.dumps({"config": {"hotwords": hotwords}}))
            return await closed_with(ws)

    code, message = asyncio.run(client())
    assert code == expected and reason in message, (code, message)


def test_hotword_decoders_are_built_off_the_decoding_thread_and_cached_with_a_bound(tiny_bundle, monkeypatch):
    """Each new hotword set builds a decoder on the builder thread (never a decoding thread); the
    recognizer keeps at most HOTWORD_DECODERS of them."""
    recognizer = Recognizer.from_bundle(tiny_bundle, decoder="prefix", lm=None, mode="streaming")
    built = []
    original = recognizer_module.build_decoder

    def recording(*args, **kwargs):
        built.append(threading.current_thread().name)
        return original(*args, **kwargs)
    monkeypatch.setattr(recognizer_module, "build_decoder", recording)
    audio, rate = pcm(THREE)
    with running(recognizer) as url:
        for i in range(Recognizer.HOTWORD_DECODERS + 4):
            replies, code = asyncio.run(vosk_client(url, audio[:rate], rate, chunk=8000,
                                                    config={"hotwords": [f"kitchen{'s' * i}"]}))
            assert code == 1000
    assert len(built) == Recognizer.HOTWORD_DECODERS + 4, "one build per new hotword set"
    assert all(name.startswith("speechlstm-build") for name in built), built
    assert len(recognizer._decoders) == Recognizer.HOTWORD_DECODERS


def test_idle_means_no_audio_pings_do_not_keep_a_client(server):
    """A client that sends only pings (and config) is closed after the idle timeout (1.5 s here)."""
    async def client():
        async with connect(server, ping_interval=None) as ws:
            await ws.send('{"config": {"sample_rate": 16000}}')
            started = time.monotonic()
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await (await ws.ping())
                    await asyncio.sleep(0.2)
            return closed.value.rcvd.code, closed.value.rcvd.reason, time.monotonic() - started

    code, reason, waited = asyncio.run(client())
    assert code == 1001 and "no audio" in reason and 1.0 < waited < 6, (code, reason, waited)
    wait_for_streams(server, 0)


@pytest.mark.parametrize("sent", [b"", b"GET / HTTP/1.1\r\nHost: localhost\r\n"], ids=["nothing", "half a request"])
def test_tcp_connections_without_a_whole_request_are_dropped(tiny, sent):
    with running(tiny, request_timeout=1.0) as url:
        host, port = url.removeprefix("ws://").split(":")
        with socket.create_connection((host, int(port))) as client:
            client.sendall(sent)
            client.settimeout(10)
            started = time.monotonic()
            assert client.recv(100) == b"", "the server closes it"
            assert time.monotonic() - started < 5


def test_the_same_audio_gives_the_same_finals_whatever_the_message_size(server):
    """Endpoints are decided on 100 ms steps of audio, not per message."""
    audio, rate = pcm(THREE)
    outcomes = [texts_and_times(asyncio.run(vosk_client(server, audio, rate, chunk=chunk))[0])
                for chunk in (640, 3200, 6400, 9600, 32000)]
    assert len(outcomes[0]) == 3 and all(outcome == outcomes[0] for outcome in outcomes), outcomes


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_memory_stays_flat_under_connect_stream_disconnect_churn(tiny):
    """150 sessions, 6 at a time, each 0.5 s of audio then eof (or a dropped connection): the RSS
    of the process that serves them grows by less than 10 MB after the first 30."""
    audio, rate = pcm(THREE)
    audio = audio[:rate]  # 0.5 s of 16-bit samples

    async def session(url, index):
        if index % 3:
            await vosk_client(url, audio, rate, chunk=3200)
        else:
            ws = await connect(url)
            await ws.send(audio[:6400])
            await ws.recv()
            ws.transport.abort()

    async def churn(url, sessions):
        for start in range(0, sessions, 6):
            await asyncio.gather(*(session(url, start + i) for i in range(6)))

    with running(tiny, max_streams=8) as url:
        asyncio.run(churn(url, 30))
        wait_for_streams(url, 0)
        before = rss_mb()
        asyncio.run(churn(url, 120))
        wait_for_streams(url, 0)
        after = rss_mb()
    assert after - before < 10, f"RSS grew from {before:.0f} to {after:.0f} MB"


def test_new_streams_are_refused_while_decoding_lags(tiny):
    """With a lag budget no decoding meets, the first stream is admitted (nothing lags yet) and the
    next, while it runs, is refused with 1013; the admitted one goes on to its finals."""
    audio, rate = pcm(THREE)

    async def main(url):
        first = asyncio.create_task(vosk_client(url, audio, rate, chunk=3200, pace=2.0))
        while http(url, "/healthz")[1]["lag"] == 0:
            await asyncio.sleep(0.05)
        async with connect(url) as extra:
            refused = await closed_with(extra)
        return refused, await first

    with running(tiny, max_lag=1e-6) as url:
        (code, reason), (replies, close) = asyncio.run(main(url))
    assert code == 1013 and "busy" in reason and "behind" in reason
    assert close == 1000 and len(finals(replies)) == 3


def test_a_burst_of_new_streams_is_priced_before_it_shows_in_the_load(tiny):
    """Admission by projected load: every open stream, new ones included, at the busy share per stream
    measured over the window (load over stream-seconds of audio), else at the calibrated price."""
    async def main():
        pool = DecodePool(tiny)
        try:
            pool.stream_cost = 0.1
            assert pool.projected_load(2) == pytest.approx(0.3)
            now = time.monotonic()
            for opened in (now - 10, now - LOAD_WINDOW / 2):  # one spoke through the window, one half of it
                pool.channels.add(Channel(pool.workers[0], StreamConfig(), 16000, opened=opened, last_audio=now))
            pool.workers[0].rounds.append((now - LOAD_WINDOW, now - 0.4 * LOAD_WINDOW))  # busy 60 % of the window
            assert pool.load() == pytest.approx(0.6, abs=0.01)
            assert pool.projected_load(5) == pytest.approx(0.4 * 6, abs=0.02)  # 0.6 over 1.5 streams
        finally:
            pool.stop()

    asyncio.run(main())


def test_a_stream_that_would_overload_decoding_is_refused(tiny):
    with running(tiny, max_load=1e-9) as url:
        async def client():
            async with connect(url) as ws:
                return await closed_with(ws)
        code, reason = asyncio.run(client())
        health = http(url, "/healthz")[1]
    assert code == 1013 and "busy" in reason and "%" in reason
    assert health["load"] == 0 and health["max_load"] == 1e-9 and health["streams"] == 0


def test_idle_connection_gets_its_final_and_is_closed(server):
    async def client():
        async with connect(server) as ws:
            audio, rate = pcm(THREE)
            started = time.monotonic()
            await ws.send(audio[:int(rate * 1.1) * 2])  # in the middle of the first utterance
            await ws.recv()
            final = json.loads(await ws.recv())
            return final, await closed_with(ws), time.monotonic() - started

    final, (code, reason), waited = asyncio.run(client())
    assert final["text"] and code == 1001 and "no audio for 1.5 s" in reason and 1.4 < waited < 10


def test_a_client_that_vanishes_mid_utterance_frees_its_stream(server):
    async def client():
        ws = await connect(server)
        audio, rate = pcm(THREE)
        await ws.send(audio[:int(rate * 0.9) * 2])
        await ws.recv()
        assert http(server, "/healthz")[1]["streams"] == 1
        ws.transport.abort()  # no close frame: the TCP connection just drops

    asyncio.run(client())
    wait_for_streams(server, 0)


def test_max_utterance_cuts_long_speech(tiny):
    noise = (np.random.default_rng(0).standard_normal(16000 * 4) * 3000).astype("<i2").tobytes()
    with running(tiny.with_options(endpoint=EndpointConfig(max_utterance=1.0))) as url:
        replies, code = asyncio.run(vosk_client(url, noise, 16000, chunk=1600))
    cut = [reply for reply in replies if "result" in reply and reply["result"]]
    assert code == 1000 and len(cut) >= 3
    assert all(r["result"][-1]["end"] - r["result"][0]["start"] <= 1.05 for r in cut)


def test_stream_beyond_max_streams_is_refused_while_the_others_keep_going(server):
    audio, rate = pcm(THREE)

    clients = [vosk_client(server, audio, rate, chunk=3200, pace=4.0) for _ in range(3)]
    (code, reason), results = asyncio.run(one_too_many(server, clients))
    assert code == 1013 and "3 streams" in reason
    texts = {tuple(f["text"] for f in finals(replies)) for replies, _ in results}
    assert len(texts) == 1 and len(next(iter(texts))) == 3, "all three streams finished, with the same text"
    wait_for_streams(server, 0)


def test_token(tiny):
    audio, rate = pcm(THREE)
    with running(tiny, token="s3cret") as url:
        for headers, query in [({}, ""), ({"Authorization": "Bearer wrong"}, ""), ({}, "?token=wrong")]:
            with pytest.raises(InvalidStatus) as refused:
                asyncio.run(vosk_client(url + query, audio, rate, chunk=32000))
            assert refused.value.response.status_code == 401
        assert http(url, "/transcribe", THREE.read_bytes())[0] == 401
        for query, headers in [("?token=s3cret", None), ("", {"Authorization": "Bearer s3cret"})]:
            async def client():
                async with connect(url + query, additional_headers=headers) as ws:
                    await ws.send(EOF)
                    return json.loads(await ws.recv())
            assert asyncio.run(client()) == {"text": ""}
        assert http(url, "/transcribe", THREE.read_bytes(), {"Authorization": "Bearer s3cret"})[0] == 200
        assert http(url, "/healthz")[0] == 200, "health checks need no token"


# HTTP -------------------------------------------------------------------------------


def test_page_health_and_transcribe(server, tiny):
    status, page = http(server, "/")
    assert status == 200 and "<title>speechlstm" in page and "/static/app.js" in page
    assert "audioWorklet" in http(server, "/static/app.js")[1]
    assert http(server, "/static/pcm-worklet.js")[0] == 200
    status, health = http(server, "/healthz")
    assert status == 200 and health["model"] == "tiny.safetensors" and health["capacity"] == 3
    assert health["streams"] == 0
    status, body = http(server, "/transcribe?name=three_utterances.wav", THREE.read_bytes())
    expected = tiny.transcribe_file(THREE, mode="offline").to_dict()
    assert status == 200 and body == {**expected, "path": "three_utterances.wav"}
    status, body = http(server, "/transcribe?name=notes.txt", b"these are not audio samples")
    assert status == 415 and "notes.txt" in body["error"]


def test_sigterm_flushes_the_finals_and_exits_0(tiny_bundle, capsys):
    """The command itself, in this process: SIGTERM mid-utterance sends the final, closes 1001, exits 0."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"ws://127.0.0.1:{port}"
    outcome: dict = {}

    async def client():
        for _ in range(600):
            try:
                ws = await connect(url)
                break
            except OSError:
                await asyncio.sleep(0.1)
        async with ws:
            audio, rate = pcm(THREE)
            await ws.send(audio[:int(rate * 1.1) * 2])
            await ws.recv()
            os.kill(os.getpid(), signal.SIGTERM)
            outcome["final"] = json.loads(await ws.recv())
            outcome["closed"] = await closed_with(ws)

    def client_thread():
        try:
            asyncio.run(client())
        finally:
            if "final" not in outcome:  # never leave the server running
                os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=client_thread)
    thread.start()
    code = main(["serve", "--model", str(tiny_bundle), "--port", str(port), "--decoder", "greedy"])
    thread.join(30)
    assert code == 0 and "stopped" in capsys.readouterr().err
    code, reason = outcome["closed"]
    assert outcome["final"]["text"] and outcome["final"]["result"] and code == 1001 and "shutting down" in reason


def test_a_busy_port_is_one_line_and_exit_2(tiny_bundle, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        code = main(["serve", "--model", str(tiny_bundle), "--port", str(busy.getsockname()[1]), "--decoder", "greedy"])
    error = capsys.readouterr().err
    assert code == 2 and "cannot listen on 127.0.0.1:" in error and "Traceback" not in error



@pytest.mark.parametrize("option, value, message", [("--port", "70000", "port must be 0 to 65535, got 70000"),
                                                    ("--sample-rate", "4000", "sample rate must be 8000 to 48000, got 4000")])
def test_server_settings_out_of_bounds_are_one_line_and_exit_2_before_the_model_loads(option, value, message, capsys):
    """ServerConfig holds the rule; the command line reports it (the model named here does not exist)."""
    assert main(["serve", "--model", "missing.safetensors", option, value]) == 2
    assert capsys.readouterr().err == f"speechlstm: error: {message}\n"

# Load and the shipped model ---------------------------------------------------------

CLIPS = ["espeak_kitchen_lights.wav", "flite_real_time.wav", "goforward.wav", "sense_and_sensibility_0880.wav",
         "sense_and_sensibility_0930.wav"]


@pytest.fixture(scope="module")
def shipped(shipped_bundle):
    return Recognizer.from_bundle(shipped_bundle, mode="streaming")


@pytest.fixture(scope="module")
def streaming_texts(shipped) -> dict[str, str]:
    """Streaming transcription of each clip as the clients send it (16-bit PCM, a hair from the
    file's samples: on a word at the edge of two readings that hair decides)."""
    return {clip: shipped.transcribe(np.frombuffer(audio, "<i2"), rate, mode="streaming").text
            for clip, (audio, rate) in ((clip, pcm(SAMPLES / clip)) for clip in CLIPS)}


@pytest.mark.parametrize("workers", [1, 2])
def test_20_streams_at_real_time_pace_equal_transcribe_streaming(shipped, streaming_texts, workers):
    """20 callers at once, 100 ms messages at real-time pace: every final equals ``transcribe --mode
    streaming`` of the same clip (one decoding thread or two sharing the recognizer); a 21st caller
    is refused while they run."""
    clips = [CLIPS[i % len(CLIPS)] for i in range(20)]
    with running(shipped, max_streams=20, decode_threads=workers) as url:
        clients = [vosk_client(url, *pcm(SAMPLES / clip), chunk=3200, pace=1.0) for clip in clips]
        (code, _), results = asyncio.run(one_too_many(url, clients))
    assert code == 1013
    for clip, (replies, close) in zip(clips, results):
        assert close == 1000
        assert " ".join(f["text"] for f in finals(replies)) == streaming_texts[clip], clip


def test_worker_processes_share_one_port_and_the_stream_count(tiny_bundle):
    """``--workers 2``: two processes answer on one port (connections spread over both), the stream
    limit counts both, and SIGTERM ends both with exit 0."""
    command = [sys.executable, "-m", "speechlstm", "serve", "--model", str(tiny_bundle), "--decoder", "greedy",
               "--port", "0", "--workers", "2", "--max-streams", "3"]
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    try:
        line = server.stderr.readline()
        url = re.search(r"http://\S+", line).group(0).replace("http://", "ws://")
        assert "2 workers" in line
        processes = {http(url, "/healthz")[1]["process"] for _ in range(30)}
        audio, rate = pcm(THREE)

        clients = [vosk_client(url, audio, rate, chunk=3200, pace=4.0) for _ in range(3)]
        (code, _), results = asyncio.run(one_too_many(url, clients))
        server.send_signal(signal.SIGTERM)
        assert server.wait(60) == 0
    finally:
        server.kill()
    assert len(processes) == 2 and server.pid in processes
    assert code == 1013 and all(close == 1000 and len(finals(replies)) == 3 for replies, close in results)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                    reason="needs Debian's chromium and chromium-driver (bash scripts/install_system_deps.sh)")
def test_the_page_in_a_real_browser(shipped, tmp_path):
    """Chromium with a WAV file as its microphone: the page shows the clip's transcript as finals
    with times; the file upload shows the file's. The screenshot is what a user sees."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    clip = SAMPLES / "espeak_kitchen_lights.wav"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                     f"--use-file-for-fake-audio-capture={clip}%noloop", "--autoplay-policy=no-user-gesture-required",
                     "--window-size=900,760"):
        options.add_argument(argument)
    screenshot = Path(os.environ.get("SPEECHLSTM_SCREENSHOT", tmp_path / "page.png"))
    with running(shipped) as url:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        try:
            driver.get(url.replace("ws://", "http://") + "/")
            driver.find_element(By.ID, "start").click()
            wait = WebDriverWait(driver, 60, poll_frequency=0.2)
            wait.until(lambda d: d.find_element(By.ID, "finals").text)  # the endpoint after the clip
            driver.find_element(By.ID, "stop").click()
            wait.until(lambda d: d.find_element(By.ID, "status").text == "Stopped.")
            shown = driver.find_element(By.ID, "finals").text
            driver.find_element(By.ID, "file").send_keys(str(clip))
            driver.find_element(By.ID, "upload").click()
            wait.until(lambda d: d.find_element(By.ID, "file-text").text)
            uploaded = driver.find_element(By.ID, "file-text").text
            driver.save_screenshot(str(screenshot))
        finally:
            driver.quit()
    assert re.search(r"\d:\d\d\.\d\d–\d:\d\d\.\d\d", shown), shown
    heard = set(re.sub(r"\d:\d\d\.\d\d–\d:\d\d\.\d\d", " ", shown).split())
    reference = set(clip.with_suffix(".txt").read_text().split())
    # the browser resamples its fake microphone, so the words need not be transcribe's; half of the
    # reference's words show that the page displays this clip's transcript
    assert len(heard & reference) >= 0.5 * len(reference), shown
    assert uploaded == shipped.transcribe_file(clip, mode="offline").readable

