"""Decoding threads for the server: the event loop hands audio over and awaits the answers.

Each :class:`DecodeWorker` thread owns the streams of its connections. It takes every job
that arrived while it was busy, adds their audio to their streams, decodes the ready chunks
of all those streams together (:meth:`Recognizer.decode_ready`, one backend call per chunk
shape a round) and answers each job through its asyncio future. A connection may have several audio
messages in flight (its answers go out in order); the server bounds how many.

Endpoints are decided on the audio, not on the messages: a channel hands its stream whole
:data:`ENDPOINT_STEP` pieces (keeping the rest for the next message) and checks for an
endpoint after each, so the same audio gives the same finals whatever the client's message
size. Decoders for hotwords and phrase lists are built on a thread of their own
(:meth:`DecodePool.open`), never on a decoding thread, and kept by the recognizer for reuse.

:meth:`DecodePool.lag` is how far decoding is behind the audio that came in: the oldest
unanswered message's age, or the longest answer time of the last :data:`LAG_WINDOW` seconds.
:meth:`DecodePool.projected_load` is how busy the decoding threads would be with one stream
more: every open stream, those too new to show in the measured load included, at the busy share
per stream of the last :data:`LOAD_WINDOW` seconds. The server admits by it, so a burst of new
clients is refused before the lag builds up rather than after.
"""
from __future__ import annotations

import asyncio
import collections
import itertools
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..config import SAMPLE_RATE
from ..live import LiveSession
from ..recognizer import Recognizer
from ..results import LiveEvent
from .vosk import INVALID_DATA, ProtocolError, StreamConfig, final_message, partial_message

ENDPOINT_STEP = 0.1
"""Seconds of audio between endpoint checks; a message's audio reaches the stream in such steps."""

LAG_WINDOW = 2.0
"""Seconds over which :meth:`DecodePool.lag` remembers answer times."""

LOAD_WINDOW = 3.0
"""Seconds over which :meth:`DecodePool.load` measures how busy the decoding threads are."""

CALIBRATION_SECONDS = 2.0
"""Audio one stream decodes at the start to price a stream before any has been measured."""

CALIBRATION_MARGIN = 1.3
"""A stream in the server takes about this many times its decoding alone (messages, answers, the
event loop's share of the interpreter): 0.0144 alone against a busy share of 0.017-0.022 per
stream at 24-60 streams, stage 10 on the Ice Lake Xeon (RESULTS.md, "Server capacity")."""


@dataclass(eq=False)
class Channel:
    """One connection's live session, on the worker that owns it, and the audio short of a step."""

    worker: "DecodeWorker"
    config: StreamConfig
    rate: int
    session: LiveSession | None = None
    opened: float = field(default_factory=time.monotonic)
    last_audio: float = field(default_factory=time.monotonic)
    """When its latest audio message came (monotonic)."""
    held: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int16), repr=False)

    def steps(self, samples: np.ndarray, flush: bool = False) -> list[np.ndarray]:
        """``samples`` after the held ones, cut into whole steps; the rest is held (``flush``: sent too)."""
        audio = np.concatenate([self.held, samples]) if len(self.held) else samples
        size = max(1, round(self.rate * ENDPOINT_STEP))
        whole = len(audio) - (0 if flush else len(audio) % size)
        self.held = audio[whole:]
        return [audio[i:i + size] for i in range(0, whole, size)]


@dataclass(eq=False)
class _Job:
    """Work for a worker thread; ``run`` returns the answer, or ``samples`` make it a feed."""

    channel: Channel
    future: asyncio.Future
    run: Callable[[], Any] | None = None
    samples: np.ndarray | None = field(default=None, repr=False)


class DecodeWorker(threading.Thread):
    """One decoding thread and the streams it owns."""

    def __init__(self, recognizer: Recognizer, loop: asyncio.AbstractEventLoop, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.recognizer, self.loop = recognizer, loop
        self.jobs: queue.Queue[_Job | None] = queue.Queue()
        self.rounds: collections.deque[tuple[float, float]] = collections.deque()
        """(start, end) of its rounds of work in the last :data:`LOAD_WINDOW` seconds (the current one: end inf)."""
        self.lock = threading.Lock()

    def busy(self, since: float, now: float) -> float:
        """Seconds of ``since`` .. ``now`` this thread spent working."""
        with self.lock:
            return sum(max(0.0, min(end, now) - max(start, since)) for start, end in self.rounds)

    def run(self) -> None:
        while True:
            jobs = [self.jobs.get()]
            with self.lock:
                self.rounds.append((time.monotonic(), float("inf")))
            while not self.jobs.empty():
                jobs.append(self.jobs.get_nowait())
            self._work(jobs)
            with self.lock:
                end = time.monotonic()
                self.rounds[-1] = (self.rounds[-1][0], end)
                while self.rounds[0][1] < end - LOAD_WINDOW:
                    self.rounds.popleft()
            if None in jobs:
                return

    def _work(self, jobs: list[_Job | None]) -> None:
        """The jobs in order; feeds of distinct channels between two other jobs are decoded together."""
        wave: list[_Job] = []
        for job in jobs:
            if job is None:
                continue
            if job.samples is None or any(other.channel is job.channel for other in wave):
                self._decode(wave)
                wave = []
            if job.samples is None:
                self._answer(job, job.run)
            else:
                wave.append(job)
        self._decode(wave)

    def _decode(self, feeds: list[_Job]) -> None:
        """Each feed's audio step by step, all feeds' ready chunks decoded together after each step; answers."""
        steps = {job: job.channel.steps(job.samples) for job in feeds}
        finals: dict[_Job, list[LiveEvent]] = {job: [] for job in feeds}
        failed: set[_Job] = set()
        for index in range(max((len(s) for s in steps.values()), default=0)):
            active = [job for job in feeds if index < len(steps[job]) and job not in failed]
            for job in active:
                try:
                    job.channel.session.accept(job.channel.rate, steps[job][index])
                except Exception as error:  # an engine failure ends that connection, not the server
                    failed.add(job)
                    self._settle(job.future, None, error)
            active = [job for job in active if job not in failed]
            try:
                self.recognizer.decode_ready([job.channel.session.stream for job in active])
                for job in active:
                    event = job.channel.session.poll()
                    if event is not None and event.kind == "final":
                        finals[job].append(event)
            except Exception as error:
                for job in active:
                    failed.add(job)
                    self._settle(job.future, None, error)
        for job in feeds:
            if job not in failed:
                self._answer(job, lambda job=job: _answer(job.channel, finals[job]))

    def _answer(self, job: _Job, run: Callable[[], Any]) -> None:
        try:
            result, error = run(), None
        except Exception as failure:
            result, error = None, failure
        self._settle(job.future, result, error)

    def _settle(self, future: asyncio.Future, result: Any, error: BaseException | None) -> None:
        def settle() -> None:
            if future.done():  # the connection went away meanwhile
                return
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)
        try:
            self.loop.call_soon_threadsafe(settle)
        except RuntimeError:  # the loop has closed: nobody waits any more
            pass

    def submit(self, channel: Channel, run: Callable[[], Any] | None = None,
               samples: np.ndarray | None = None) -> asyncio.Future:
        future = self.loop.create_future()
        self.jobs.put(_Job(channel, future, run, samples))
        return future


def _answer(channel: Channel, finals: list[LiveEvent]) -> dict:
    """The answer to an audio message: its final (several, at endpoints in one message, joined), else the partial."""
    if not finals:
        return partial_message(channel.session.partial)
    if len(finals) == 1:
        return final_message(finals[0], channel.config)
    words = tuple(word for event in finals for word in event.words)
    tokens = tuple(token for event in finals for token in event.tokens)
    joined = LiveEvent("final", " ".join(event.text for event in finals), finals[0].start, finals[-1].end, words,
                       tokens if len(tokens) == len(words) else ())
    return final_message(joined, channel.config)


class DecodePool:
    """``workers`` decoding threads sharing one recognizer; a new channel goes to the least loaded."""

    def __init__(self, recognizer: Recognizer, workers: int = 1) -> None:
        self.recognizer = recognizer
        loop = asyncio.get_running_loop()
        self.workers = [DecodeWorker(recognizer, loop, f"speechlstm-decode-{i}") for i in range(workers)]
        for worker in self.workers:
            worker.start()
        self.builder = ThreadPoolExecutor(1, thread_name_prefix="speechlstm-build")
        self.waiting: dict[int, float] = {}
        """Unanswered audio messages: id -> when it came in (monotonic)."""
        self.answered: collections.deque[tuple[float, float]] = collections.deque()
        """(when, how long it took) of the answers of the last :data:`LAG_WINDOW` seconds."""
        self.ids = itertools.count()
        self.channels: set[Channel] = set()
        """Open channels (kept on the event loop's thread): where a new one goes, what the load is spread over."""
        self.stream_cost = 0.0
        """The least busy share a stream is priced at (:meth:`calibrate`)."""

    def calibrate(self) -> None:
        """Price one stream: CPU seconds of decoding per second of audio of a stream alone (a warm-up
        first). CPU, not wall time: a server started on a busy machine is not priced by its neighbours."""
        session = LiveSession(self.recognizer)
        step = np.random.default_rng(0).normal(0, 300, round(SAMPLE_RATE * ENDPOINT_STEP)).astype(np.int16)
        steps = round(CALIBRATION_SECONDS / ENDPOINT_STEP)
        for index in range(2 * steps):
            if index == steps:
                started = time.process_time()
            session.accept(SAMPLE_RATE, step)
            self.recognizer.decode_ready(session.stream)
            session.poll()
        alone = (time.process_time() - started) / CALIBRATION_SECONDS
        self.stream_cost = alone * CALIBRATION_MARGIN / len(self.workers)

    def load(self, now: float | None = None) -> float:
        """The decoding threads' busy share of the last :data:`LOAD_WINDOW` seconds (1: all always busy)."""
        now = time.monotonic() if now is None else now
        return sum(worker.busy(now - LOAD_WINDOW, now) for worker in self.workers) / LOAD_WINDOW / len(self.workers)

    def projected_load(self, streams: int) -> float:
        """The busy share with ``streams`` + 1 streams, each at the share per stream measured over the
        window (the load over the stream-seconds of audio that came in it) but never below
        :attr:`stream_cost`: in a burst the audio of new streams comes before their decoding."""
        now = time.monotonic()
        since = now - LOAD_WINDOW
        load = self.load(now)
        spoken = sum(max(0.0, channel.last_audio - max(channel.opened, since)) for channel in self.channels)
        measured = load * LOAD_WINDOW / spoken if spoken >= LOAD_WINDOW else 0.0
        return max(measured, self.stream_cost) * (streams + 1)

    async def open(self, config: StreamConfig, rate: int) -> Channel:
        """A channel with a new stream; its decoder (hotwords, phrase list) is built or found on the builder thread."""
        def build() -> None:
            try:
                self.recognizer.decoder_for(config.hotwords or None, config.phrase_list or None)
            except ValueError as error:  # hotwords with the greedy decoder, an unknown spelling, no phrase
                raise ProtocolError(INVALID_DATA, str(error)[:120]) from None
        await asyncio.get_running_loop().run_in_executor(self.builder, build)
        worker = min(self.workers, key=lambda w: sum(1 for channel in self.channels if channel.worker is w))
        channel = Channel(worker, config, rate)
        self.channels.add(channel)

        def create() -> LiveSession:  # the decoder is cached now: this is quick
            return LiveSession(self.recognizer, hotwords=config.hotwords or None, punctuate=config.punctuate,
                               phrases=config.phrase_list or None, alternatives=config.max_alternatives)
        try:
            channel.session = await worker.submit(channel, create)
        except BaseException:
            self.close(channel)
            raise
        return channel

    def feed(self, channel: Channel, samples: np.ndarray, received: float) -> asyncio.Future:
        """Audio in (``received``: when its message came, monotonic); the future of its partial, or final."""
        key = next(self.ids)
        self.waiting[key] = channel.last_audio = received
        future = channel.worker.submit(channel, samples=samples)

        def done(_: asyncio.Future) -> None:
            now = time.monotonic()
            self.answered.append((now, now - self.waiting.pop(key)))
        future.add_done_callback(done)
        return future

    def finish(self, channel: Channel) -> asyncio.Future:
        """End the utterance (eof, reset, shutdown), held audio included: the future of its final."""
        def run() -> dict:
            session = channel.session
            for step in channel.steps(np.zeros(0, dtype=np.int16), flush=True):
                session.accept(channel.rate, step)
            return final_message(session.finish(), channel.config)
        return channel.worker.submit(channel, run)

    def lag(self) -> float:
        """Seconds decoding is behind: the oldest unanswered message's age, or the slowest recent answer."""
        now = time.monotonic()
        while self.answered and self.answered[0][0] < now - LAG_WINDOW:
            self.answered.popleft()
        oldest = now - min(self.waiting.values()) if self.waiting else 0.0
        return max(oldest, max((took for _, took in self.answered), default=0.0))

    def close(self, channel: Channel) -> None:
        """Forget the channel: its stream is freed with it (a job still in flight just finishes)."""
        self.channels.discard(channel)

    def stop(self) -> None:
        """End the threads once their queued jobs are done."""
        self.builder.shutdown(wait=True)
        for worker in self.workers:
            worker.jobs.put(None)
        for worker in self.workers:
            worker.join()
