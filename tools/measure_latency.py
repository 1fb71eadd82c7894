"""Measure live-transcription latency in simulated real time.

Each clip is fed to a :class:`speechlstm.live.LiveSession` in blocks, followed by silence
(a live source keeps delivering audio, so finals come from the endpoint rule, not from the
end of the input). Block ``k`` becomes available when its last sample would have been
spoken; its processing starts then, or when the previous block's processing ends if the
decoder has fallen behind, and takes the measured compute time. So an event's time is
audio time plus queueing plus compute, as on a live microphone with a zero-latency driver.

Ground truth is the offline (full BiLSTM) transcription of the same clip: a word's latency
is the time it first appears, complete, in a partial or final minus its offline end time;
the final latency is the time of an utterance's final minus the offline end of the last
offline word before the next utterance's first matched word. Streaming words are aligned to
offline words with difflib; unmatched ones are skipped.

    python tools/measure_latency.py [--model BUNDLE] [--block-ms 100] [samples/*.wav]
"""
from __future__ import annotations

import argparse
import difflib
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from speechlstm import Recognizer
from speechlstm.config import EndpointConfig
from speechlstm.io.audio import read_audio
from speechlstm.live import LiveSession
from speechlstm.results import LiveEvent

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class SimulatedClock:
    """Feeds blocks and keeps the simulated wall time of the block being processed."""

    audio_end: float = 0.0
    start: float = 0.0
    finish: float = 0.0
    started_at: float = 0.0
    compute: float = 0.0

    def feed(self, samples: np.ndarray, rate: int, block: int) -> Iterator[tuple[int, np.ndarray]]:
        for i in range(0, len(samples), block):
            piece = samples[i:i + block]
            self.audio_end += len(piece) / rate
            self.start = max(self.audio_end, self.finish)
            self.started_at = time.perf_counter()
            yield rate, piece
            self.compute += time.perf_counter() - self.started_at
            self.finish = self.now()

    def now(self) -> float:
        return self.start + time.perf_counter() - self.started_at


@dataclass
class ClipLatency:
    name: str
    word_latencies: list[float] = field(default_factory=list)
    final_latencies: list[float] = field(default_factory=list)
    words: int = 0
    rtf: float = 0.0


def measure(recognizer: Recognizer, offline: Recognizer, path: Path, block_ms: int, trailing: float,
            endpoint: EndpointConfig) -> ClipLatency:
    """Latencies of one clip (see the module docstring); ``offline`` gives the reference times."""
    rate = recognizer.sample_rate
    audio = read_audio(path, rate)
    reference = offline.transcribe(audio, rate).result.words
    clock = SimulatedClock()
    samples = np.concatenate([audio, np.zeros(int(trailing * rate), np.float32)])
    shown: list[tuple[float, int, LiveEvent]] = []
    finals: list[tuple[LiveEvent, float]] = []
    done = 0
    for event in LiveSession(recognizer, endpoint).events(clock.feed(samples, rate, rate * block_ms // 1000)):
        shown.append((clock.now(), done, event))
        if event.kind == "final":
            finals.append((event, shown[-1][0]))
            done += len(event.words)
    hypothesis = [w for event, _ in finals for w in event.words]
    seen: dict[int, float] = {}
    for at, base, event in shown:
        for index, word in enumerate(event.words, start=base):
            if index < len(hypothesis) and word.word == hypothesis[index].word:
                seen.setdefault(index, at)
    matcher = difflib.SequenceMatcher(a=[w.word for w in reference], b=[w.word for w in hypothesis], autojunk=False)
    offline_of = {j: i for a, b, size in matcher.get_matching_blocks() for i, j in zip(range(a, a + size), range(b, b + size))}
    result = ClipLatency(path.name, words=len(reference), rtf=clock.compute / clock.audio_end)
    result.word_latencies = [seen[j] - reference[i].end for j, i in sorted(offline_of.items())]
    anchors, first = [], 0
    for event, _ in finals:
        matched = [offline_of[j] for j in range(first, first + len(event.words)) if j in offline_of]
        anchors.append(min(matched) if matched else None)
        first += len(event.words)
    for k, (event, at) in enumerate(finals):
        following = next((a for a in anchors[k + 1:] if a is not None), len(reference))
        if anchors[k] is not None:
            result.final_latencies.append(at - reference[following - 1].end)
    return result


def _fmt(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:7.0f}" if values else "      -"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clips", nargs="*", type=Path, default=sorted((ROOT / "samples").glob("*.wav")))
    parser.add_argument("--model", type=Path, help="model bundle (default: the shipped model)")
    parser.add_argument("--block-ms", type=int, default=100, help="audio block size, as a microphone delivers it")
    parser.add_argument("--endpoint-silence", type=int, default=800, metavar="MS")
    parser.add_argument("--trailing", type=float, default=3.0, help="seconds of silence fed after each clip")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--backend", default="auto", help="torch, onnx, onnx-int8 or auto (as the CLI)")
    parser.add_argument("--head", default="auto", help="model output decoded: auto, chars or phones (as the CLI)")
    args = parser.parse_args(argv)
    recognizer = Recognizer.from_bundle(args.model, mode="streaming", threads=args.threads, backend=args.backend,
                                        head=args.head)
    offline = Recognizer.from_bundle(args.model, mode="offline", threads=args.threads, backend="torch", head=args.head)
    endpoint = EndpointConfig(trailing_silence=args.endpoint_silence / 1000)
    measure(recognizer, offline, args.clips[0], args.block_ms, args.trailing, endpoint)  # warm-up
    rows = [measure(recognizer, offline, clip, args.block_ms, args.trailing, endpoint) for clip in args.clips]
    print(f"backend {recognizer.config.backend}, head {recognizer.decoder.head}, block {args.block_ms} ms, endpoint silence {args.endpoint_silence} ms, "
          f"chunk {recognizer.bundle.chunk_seconds * 1000:.0f} ms + right context "
          f"{recognizer.bundle.right_context_seconds * 1000:.0f} ms; latencies in ms (median)")
    print(f"{'clip':<34} {'words':>5} {'matched':>7} {'word':>7} {'max':>7} {'final':>7} {'RTF':>6}")
    for row in rows:
        worst = f"{max(row.word_latencies) * 1000:7.0f}" if row.word_latencies else "      -"
        print(f"{row.name:<34} {row.words:>5} {len(row.word_latencies):>7} {_fmt(row.word_latencies)} "
              f"{worst} {_fmt(row.final_latencies)} {row.rtf:6.3f}")
    words = [v for row in rows for v in row.word_latencies]
    finals = [v for row in rows for v in row.final_latencies]
    per_clip = [statistics.median(row.word_latencies) for row in rows if row.word_latencies]
    print(f"{'all (median over words)':<34} {sum(r.words for r in rows):>5} {len(words):>7} {_fmt(words)} "
          f"{'':>7} {_fmt(finals)} {statistics.mean(r.rtf for r in rows):6.3f}")
    print(f"{'median of per-clip medians':<34} {'':>5} {'':>7} {_fmt(per_clip)}")


if __name__ == "__main__":
    main()
