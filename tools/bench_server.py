#!/usr/bin/env python3
"""How many concurrent real-time streams ``speechlstm serve`` sustains on 1 and 2 cores.

For each core count, a server is started on those cores (``taskset``; ``--workers`` = cores)
and N clients speak the Vosk protocol at real-time pace: ``--seconds`` of the samples/ clips
each, in 100 ms messages, every client starting at a random offset within the first
message. Latency is the time from sending an audio message to receiving its answer (the
partial or final that includes it). N is *sustained* when the p95 latency stays under
``--max-p95`` and no client falls more than 10 % behind real time. N doubles from 1 until it
is not sustained, then the last gap is bisected; the first row is one stream alone. Each row
also gives the server's CPU time per second of audio it took in (all threads, from
/proc): its reciprocal, the streams one fully available core would carry, holds up on a
shared machine where the latency figures measure the competition for the cores too.

    python tools/bench_server.py                          # shipped model, 1 and 2 cores
    python tools/bench_server.py --cores 1 --seconds 10 --decoder greedy --json server.json

The clients run in this process on all cores, beside the server: on a 2-core machine they
take some of the server's CPU, so the figures are a lower bound.
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


async def client(url: str, pcm: bytes, delay: float) -> tuple[list[float], float]:
    """One real-time caller: latencies of its messages and how far behind real time it ended (s)."""
    from websockets.asyncio.client import connect

    await asyncio.sleep(delay)
    latencies = []
    async with connect(url) as ws:
        await ws.send(json.dumps({"config": {"sample_rate": RATE}}))
        started = time.monotonic()
        for index, offset in enumerate(range(0, len(pcm), BLOCK * 2)):
            due = started + index * 0.1
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            sent = time.monotonic()
            await ws.send(pcm[offset:offset + BLOCK * 2])
            await ws.recv()
            latencies.append(time.monotonic() - sent)
        behind = time.monotonic() - due  # how late the last answer came after its audio was due
        await ws.send('{"eof" : 1}')
        await ws.recv()
    return latencies, behind


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid``, all its threads (Linux /proc)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(url: str, streams: int, pcm: bytes, pid: int) -> dict:
    cpu = cpu_seconds(pid)
    results = await asyncio.gather(*(client(url, pcm, random.uniform(0, 0.1)) for _ in range(streams)))
    cpu = cpu_seconds(pid) - cpu
    latencies = sorted(x for result, _ in results for x in result)
    audio_seconds = streams * len(pcm) / 2 / RATE
    return {"streams": streams, "p50_ms": round(1000 * statistics.median(latencies), 1),
            "p95_ms": round(1000 * latencies[int(0.95 * (len(latencies) - 1))], 1),
            "max_behind_s": round(max(behind for _, behind in results), 2),
            "cpu_per_audio_s": round(cpu / audio_seconds, 4)}


def start_server(cores: int, options: list[str]) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "speechlstm", "serve", "--port", "0", "--max-streams", "1000",
               "--workers", str(cores), *options]
    pinned = ["taskset", "-c", ",".join(str(core) for core in range(cores)), *command]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(pinned, stderr=subprocess.PIPE, text=True, env=env)
    line = server.stderr.readline()
    match = re.search(r"http://\S+", line)
    if not match:
        server.kill()
        raise SystemExit(f"the server did not start: {line}{server.stderr.read()}")
    return server, match.group(0).replace("http://", "ws://")


def measure(cores: int, args: argparse.Namespace, pcm: bytes) -> list[dict]:
    """Rows for 1 stream, then doubling N until not sustained, then bisecting the gap."""
    server, url = start_server(cores, args.server_options)
    rows = []

    def run(streams: int) -> bool:
        row = {"cores": cores, **asyncio.run(load(url, streams, pcm, server.pid))}
        row["sustained"] = row["p95_ms"] <= args.max_p95 and row["max_behind_s"] <= 0.1 * args.seconds
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
        return row["sustained"]

    try:
        good, bad = 1, None
        run(1)
        streams = args.start
        while bad is None and streams <= args.limit:
            if run(streams):
                good, streams = streams, streams * 2
            else:
                bad = streams
        while bad is not None and bad - good > max(1, good // 8):
            middle = (good + bad) // 2
            good, bad = (middle, bad) if run(middle) else (good, middle)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cores", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=15.0, help="audio per stream (default: 15)")
    parser.add_argument("--max-p95", type=float, default=500.0, metavar="MS",
                        help="p95 latency under which N counts as sustained (default: 500)")
    parser.add_argument("--start", type=int, default=8, help="the first N after one stream (default: 8)")
    parser.add_argument("--limit", type=int, default=512, help="the largest N tried (default: 512)")
    parser.add_argument("--json", help="also write the rows and the machine here")
    args, args.server_options = parser.parse_known_args()  # the rest goes to speechlstm serve
    pcm = audio(args.seconds)
    report = {"machine": machine(("numpy", "onnxruntime", "aiohttp", "websockets")),
              "server_options": args.server_options, "seconds": args.seconds,
              "rows": [row for cores in args.cores for row in measure(cores, args, pcm)]}
    print("| cores | streams | p50 ms | p95 ms | max behind s | sustained | server CPU s per audio s |\n"
          "|---:|---:|---:|---:|---:|---|---:|")
    for row in report["rows"]:
        print(f"| {row['cores']} | {row['streams']} | {row['p50_ms']} | {row['p95_ms']} | {row['max_behind_s']} | "
              f"{'yes' if row['sustained'] else 'no'} | {row['cpu_per_audio_s']} |")
    for cores in args.cores:
        sustained = [row["streams"] for row in report["rows"] if row["cores"] == cores and row["sustained"]]
        print(f"{cores} core(s): {max(sustained, default=0)} real-time streams sustained")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(report, file, indent=2)


if __name__ == "__main__":
    main()
