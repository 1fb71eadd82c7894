"""Decoding threads for the server: the event loop hands audio over and awaits the answer.

Each :class:`DecodeWorker` thread owns the streams of its connections. It takes every job
that arrived while it was busy, adds their audio to their streams, decodes the ready chunks
of all those streams together (:meth:`Recognizer.decode_streams`, one backend call per chunk
shape) and answers each job through its asyncio future. A connection has at most one job in
flight (its handler awaits each answer before it reads the next message), so a client that
sends faster than the server decodes is slowed by TCP, not queued without bound. The model
releases the GIL while it computes, so ``workers`` threads use up to as many cores.
"""
from __future__ import annotations

import asyncio
import queue
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..live import LiveSession
from ..recognizer import Recognizer
from .vosk import INVALID_DATA, ProtocolError, StreamConfig, final_message, partial_message


@dataclass(eq=False)
class Channel:
    """One connection's live session, on the worker that owns it."""

    worker: "DecodeWorker"
    config: StreamConfig
    session: LiveSession | None = None


@dataclass(eq=False)
class _Job:
    """Work for a worker thread; ``run`` returns the answer, or ``samples`` make it a feed."""

    channel: Channel
    future: asyncio.Future
    run: Callable[[], Any] | None = None
    samples: np.ndarray | None = field(default=None, repr=False)


class DecodeWorker(threading.Thread):
    """One decoding thread and the streams it owns."""

    def __init__(self, recognizer: Recognizer, loop: asyncio.AbstractEventLoop, create_lock: threading.Lock,
                 name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.recognizer, self.loop, self.create_lock = recognizer, loop, create_lock
        self.jobs: queue.Queue[_Job | None] = queue.Queue()
        self.channels = 0
        """Open channels (counted on the event loop's thread, to place new ones)."""

    def run(self) -> None:
        while True:
            jobs = [self.jobs.get()]
            while not self.jobs.empty():
                jobs.append(self.jobs.get_nowait())
            live = [job for job in jobs if job is not None]
            feeds = [job for job in live if job.samples is not None]
            for job in live:
                if job.samples is None:
                    self._answer(job, job.run)
            self._decode(feeds)
            if len(live) < len(jobs):
                return

    def _decode(self, feeds: list[_Job]) -> None:
        """Add each feed's audio, decode the ready chunks of all their streams together, answer."""
        accepted = []
        for job in feeds:
            try:
                job.channel.session.accept(job.channel.config.sample_rate, job.samples)
                accepted.append(job)
            except Exception as error:  # an engine failure ends that connection, not the server
                self._settle(job.future, None, error)
        streams = [job.channel.session.stream for job in accepted]
        try:
            while self.recognizer.decode_streams(streams):
                pass
        except Exception as error:
            for job in accepted:
                self._settle(job.future, None, error)
            return
        for job in accepted:
            self._answer(job, lambda session=job.channel.session: _poll(session))

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


def _poll(session: LiveSession) -> dict:
    """The answer to an audio message: the final at an endpoint, else the partial text."""
    event = session.poll()
    if event is not None and event.kind == "final":
        return final_message(event)
    return partial_message(session.partial)


class DecodePool:
    """``workers`` decoding threads sharing one recognizer; a new channel goes to the least loaded."""

    def __init__(self, recognizer: Recognizer, workers: int = 1) -> None:
        self.recognizer = recognizer
        lock = threading.Lock()  # create_stream caches hotword decoders in the shared recognizer
        loop = asyncio.get_running_loop()
        self.workers = [DecodeWorker(recognizer, loop, lock, f"speechlstm-decode-{i}") for i in range(workers)]
        for worker in self.workers:
            worker.start()

    async def open(self, config: StreamConfig) -> Channel:
        """A channel with a new stream (its hotwords' decoder is built on the worker)."""
        worker = min(self.workers, key=lambda w: w.channels)
        channel = Channel(worker, config)
        worker.channels += 1

        def create() -> LiveSession:
            with worker.create_lock:
                try:
                    return LiveSession(self.recognizer, hotwords=config.hotwords or None, punctuate=config.punctuate)
                except ValueError as error:  # hotwords with the greedy decoder, an unknown spelling
                    raise ProtocolError(INVALID_DATA, str(error)) from None
        try:
            channel.session = await worker.submit(channel, create)
        except BaseException:
            worker.channels -= 1
            raise
        return channel

    async def feed(self, channel: Channel, samples: np.ndarray) -> dict:
        """Audio in; the partial, or a final at an endpoint."""
        return await channel.worker.submit(channel, samples=samples)

    async def finish(self, channel: Channel) -> dict:
        """End the utterance (eof, reset, shutdown): its final."""
        return await channel.worker.submit(channel, lambda: final_message(channel.session.finish()))

    def close(self, channel: Channel) -> None:
        """Forget the channel: its stream is freed with it (a job still in flight just finishes)."""
        channel.worker.channels -= 1

    def stop(self) -> None:
        """End the threads once their queued jobs are done."""
        for worker in self.workers:
            worker.jobs.put(None)
        for worker in self.workers:
            worker.join()
