#!/usr/bin/env python3
"""How many concurrent real-time streams ``speechlstm serve`` sustains, measured open loop.

For each worker count, a server is started with ``--workers`` W pinned to W cores
(``taskset``) and N clients speak the Vosk protocol as a live source would: each sends 100 ms
messages at real-time pace whatever the server does (a separate task reads the answers), so
queueing anywhere shows as lag instead of slowing the clients down. Clients connect spread
over the first ``--ramp`` seconds, so the server's admission control (``--max-lag``, close
1013) can refuse the late ones when it is behind; refused clients are counted, not retried.

Figures per run, over all admitted clients:

* **word lag**: for each word of each final that a partial showed first, the time from its end
  in the audio (as sent) to the first partial with that many words in the utterance: p50 and
  p95. It includes the model's right context and the 100 ms messages. The words first shown by
  their final (mostly an utterance's last, which the lexicon decoder shows once the next word
  starts) are counted apart: their wait is the final's.
* **final lag**: from the end of an utterance's last word to its final: p50 and p95; at least
  the endpoint's trailing silence (0.8 s by default).
* **behind**: how long after its last audio message a client got the final for eof (max).
* **server CPU per audio second**: all worker processes' CPU time over the audio admitted; its
  reciprocal is the streams one core would carry with nothing else running, a figure that holds
  up on a shared machine where the lags measure the competition for the cores too.
* **clients**: this process's CPU per audio second admitted (what the clients took from the
  cores they share with the server), and the p95 of how late a message went out against its
  real-time schedule (above a few ms, the clients themselves were short of CPU).

``--client-cores`` pins the clients (this process) to other cores than the server's, where the
machine has them (``--workers 1 --client-cores 1`` on two cores): then the server's figures
are its own. Otherwise the clients share the server's cores and its figures are a lower bound.

N is *sustained* when no client was refused and the p95 word lag is under ``--max-p95``.
N doubles from ``--start`` until it is not sustained, then the last gap is bisected (or
``--streams`` names the N to run). The
clients run in this process, beside the server: on a shared machine they and everything
else take some of its CPU, so the figures are a lower bound.

    python tools/bench_server.py                               # shipped model, 1 and 2 workers
    python tools/bench_server.py --workers 1 2 --streams 4 8     # the same loads on 1 and 2 workers
    python tools/bench_server.py --workers 1 --seconds 20 --json server.json -- --decoder greedy
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import time
from typing import Callable

import numpy as np

from benchlib import ROOT, SAMPLES, machine
from speechlstm.io.audio import read_audio

RATE = 16000
BLOCK = RATE // 10  # 100 ms


def audio(seconds: float) -> bytes:
    """The samples/ clips joined and repeated to ``seconds``, as 16-bit PCM at 16 kHz."""
    joined = np.concatenate([read_audio(path, RATE) for path in sorted(SAMPLES.glob("*.wav"))])
    joined = np.tile(joined, int(np.ceil(seconds * RATE / len(joined))))[:int(seconds * RATE)]
    return (np.clip(joined, -1, 1) * 32767).astype("<i2").tobytes()


async def client(url: str, pcm: bytes, delay: float) -> dict | None:
    """One live caller; its word lags, final lags and how far behind its eof final came (None: refused)."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    await asyncio.sleep(delay)
    replies: list[tuple[float, dict]] = []
    async with connect(url, max_size=None) as ws:
        try:
            await ws.send(json.dumps({"config": {"sample_rate": RATE}}))
        except ConnectionClosed:  # refused at once
            return None

        async def receive() -> None:
            try:
                async for message in ws:
                    replies.append((time.monotonic(), json.loads(message)))
            except ConnectionClosed:
                pass
        receiver = asyncio.create_task(receive())
        started, late = time.monotonic(), []
        try:
            for index, offset in enumerate(range(0, len(pcm), BLOCK * 2)):
                due = started + (index + 1) * 0.1
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                late.append(time.monotonic() - due)
                await ws.send(pcm[offset:offset + BLOCK * 2])
            last_sent = time.monotonic()
            await ws.send('{"eof" : 1}')
        except ConnectionClosed:
            pass
        await receiver
        if ws.close_code == 1013:
            return None
    return {**lags(replies, started), "late": late,
            "behind": replies[-1][0] - last_sent if replies else float("inf")}


def lags(replies: list[tuple[float, dict]], started: float) -> dict:
    """Word and final lags from the answers (arrival time, message) of a client that started at ``started``."""
    words, finals = [], []
    shown: list[float] = []  # when the k-th word of the current utterance was first shown
    for arrived, reply in replies:
        if "partial" in reply:
            count = len(reply["partial"].split())
            shown += [arrived] * max(0, count - len(shown))
            continue
        result = reply.get("result", [])
        for k, word in enumerate(result):
            words.append(shown[k] - (started + word["end"]) if k < len(shown) else None)
        if result:
            finals.append(arrived - (started + result[-1]["end"]))
        shown = []
    return {"words": words, "finals": finals}


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` and of its child processes (the other workers), Linux /proc."""
    children = open(f"/proc/{pid}/task/{pid}/children").read().split()
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") + sum(cpu_seconds(int(c)) for c in children)


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[int(q * (len(values) - 1))] if values else float("nan")


async def load(url: str, streams: int, pcm: bytes, ramp: float) -> dict:
    results = await asyncio.gather(*(client(url, pcm, random.uniform(0, ramp)) for _ in range(streams)))
    admitted = [result for result in results if result is not None]
    every = [x for result in admitted for x in result["words"]]
    words = [x for x in every if x is not None]
    finals = [x for result in admitted for x in result["finals"]]
    return {"streams": streams, "refused": streams - len(admitted),
            "final_only_words": f"{(len(every) - len(words)) / max(len(every), 1):.0%}",
            "word_p50_s": round(statistics.median(words), 3) if words else None,
            "word_p95_s": round(percentile(words, 0.95), 3), "final_p50_s": round(percentile(finals, 0.5), 3),
            "final_p95_s": round(percentile(finals, 0.95), 3),
            "behind_max_s": round(max((r["behind"] for r in admitted), default=float("nan")), 2),
            "client_late_p95_s": round(percentile([x for r in admitted for x in r["late"]], 0.95), 3)}


def start_server(workers: int, options: list[str]) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "speechlstm", "serve", "--port", "0", "--max-streams", "1000",
               "--workers", str(workers), *options]
    pinned = ["taskset", "-c", ",".join(str(core) for core in range(workers)), *command]
    server = subprocess.Popen(pinned, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    line = server.stderr.readline()
    match = re.search(r"http://\S+", line)
    if not match:
        server.kill()
        raise SystemExit(f"the server did not start: {line}{server.stderr.read()}")
    return server, match.group(0).replace("http://", "ws://")


def measure(workers: int, args: argparse.Namespace, pcm: bytes) -> list[dict]:
    """Rows for ``--streams``, else for the search of :func:`search`."""
    server, url = start_server(workers, args.server_options)
    rows = []

    def run(streams: int) -> bool:
        cpu, clients = cpu_seconds(server.pid), time.process_time()
        row = {"workers": workers, **asyncio.run(load(url, streams, pcm, args.ramp))}
        audio_seconds = max((streams - row["refused"]) * len(pcm) / 2 / RATE, 1e-9)
        row["cpu_per_audio_s"] = round((cpu_seconds(server.pid) - cpu) / audio_seconds, 4)
        row["client_cpu_per_audio_s"] = round((time.process_time() - clients) / audio_seconds, 4)
        row["sustained"] = row["refused"] == 0 and row["word_p95_s"] <= args.max_p95
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
        time.sleep(3)  # the lag of this run leaves the server's window
        return row["sustained"]

    try:
        if args.streams:
            for streams in args.streams:
                run(streams)
        else:
            search(run, args.start, args.limit)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
    return rows


def search(run: Callable[[int], bool], start: int, limit: int) -> None:
    """N doubles from ``start`` while ``run(N)`` is sustained, then the last gap is bisected."""
    good, bad, streams = 0, None, start
    while bad is None and streams <= limit:
        if run(streams):
            good, streams = streams, streams * 2
        else:
            bad = streams
    while bad is not None and bad - good > max(1, good // 8):
        middle = (good + bad) // 2
        good, bad = (middle, bad) if run(middle) else (good, middle)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts (= cores) to measure")
    parser.add_argument("--seconds", type=float, default=20.0, help="audio per stream (default: 20)")
    parser.add_argument("--ramp", type=float, default=5.0, help="clients connect over this many seconds (default: 5)")
    parser.add_argument("--max-p95", type=float, default=1.0, metavar="S",
                        help="p95 word lag under which N counts as sustained (default: 1)")
    parser.add_argument("--start", type=int, default=4, help="the first N (default: 4)")
    parser.add_argument("--limit", type=int, default=512, help="the largest N tried (default: 512)")
    parser.add_argument("--streams", type=int, nargs="+", help="run exactly these N (no search)")
    parser.add_argument("--json", help="also write the rows and the machine here")
    parser.add_argument("server_options", nargs="*", help="after --: options for speechlstm serve")
    parser.add_argument("--client-cores", type=int, nargs="+", metavar="CORE",
                        help="run the clients on these cores (default: any; the server takes the first W)")
    args = parser.parse_args()
    if args.client_cores:
        os.sched_setaffinity(0, args.client_cores)
    pcm = audio(args.seconds)
    report = {"machine": machine(("numpy", "onnxruntime", "aiohttp", "websockets")),
              "server_options": args.server_options, "client_cores": args.client_cores, "seconds": args.seconds, "ramp": args.ramp,
              "rows": [row for workers in args.workers for row in measure(workers, args, pcm)]}
    print("| workers (cores) | streams | refused | word lag p50 / p95 s | words shown first by a final | "
          "final lag p50 / p95 s | max behind s | sustained | server CPU s per audio s | client CPU s per audio s | "
          "client late p95 s |\n|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    for row in report["rows"]:
        print(f"| {row['workers']} | {row['streams']} | {row['refused']} | {row['word_p50_s']} / {row['word_p95_s']} | "
              f"{row['final_only_words']} | "
              f"{row['final_p50_s']} / {row['final_p95_s']} | {row['behind_max_s']} | "
              f"{'yes' if row['sustained'] else 'no'} | {row['cpu_per_audio_s']} | {row['client_cpu_per_audio_s']} | "
              f"{row['client_late_p95_s']} |")
    for workers in args.workers:
        sustained = [row["streams"] for row in report["rows"] if row["workers"] == workers and row["sustained"]]
        print(f"{workers} worker(s): {max(sustained, default=0)} real-time streams sustained")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(report, file, indent=2)


if __name__ == "__main__":
    main()
