"""One server process per worker behind one port, so that N cores carry about N times the streams.

Decoding in Python threads shares one interpreter lock, so a second thread adds little; a
second process adds a core. The first process (the command's own, whose model is already
loaded) binds the port and starts ``workers - 1`` more with ``spawn`` (each loads the model
itself: nothing is shared through ``fork`` with onnxruntime's or torch's threads). Every
process listens on the same port with ``SO_REUSEPORT`` (the kernel spreads the connections
evenly over them), decodes its own streams on its own core, and refuses new streams by its
own decoding lag; ``max_streams`` counts the streams of all processes together (:class:`~.app.Slots`
over a shared integer). SIGTERM or Ctrl-C reaches every process; each sends its streams
their finals and exits.
"""
from __future__ import annotations

import asyncio
import multiprocessing
import signal
import socket
from typing import Any, Callable

from ..config import ServerConfig
from ..errors import WorkerError
from ..recognizer import Recognizer, RecognizerConfig
from .app import Slots, log_to_stderr, serve

START_SECONDS = 300.0
"""How long a worker process may take to load the model."""


def serve_processes(recognizer: Recognizer, config: ServerConfig,
                    on_ready: Callable[[str], None] | None = None) -> None:
    """Serve on ``config.workers`` processes (this one included) until SIGTERM or SIGINT."""
    listener = socket.create_server((config.host, config.port), reuse_port=True)
    address = listener.getsockname()[:2]
    context = multiprocessing.get_context("spawn")
    shared = context.Value("i", 0)
    ready = context.Queue()
    children = [context.Process(target=_worker, args=(recognizer.config, config, address, shared, ready),
                                name=f"speechlstm-serve-{i + 1}") for i in range(config.workers - 1)]
    for child in children:
        child.start()
    try:
        for _ in children:
            failure = ready.get(timeout=START_SECONDS)
            if failure is not None:
                raise WorkerError(f"a worker process could not start: {failure}")

        async def main() -> None:
            stop = asyncio.Event()

            def stop_all() -> None:
                stop.set()
                for child in children:
                    child.terminate()  # SIGTERM: it drains its own streams
            for signum in (signal.SIGTERM, signal.SIGINT):
                asyncio.get_running_loop().add_signal_handler(signum, stop_all)
            await serve(recognizer, config, on_ready, stop, listener, Slots(config.max_streams, shared))
        asyncio.run(main())
    finally:
        for child in children:
            if child.is_alive():
                child.terminate()
            child.join()
        listener.close()


def _worker(recognizer_config: RecognizerConfig, config: ServerConfig, address: tuple[str, int], shared: Any,
            ready: Any) -> None:
    """A worker process: load the model, say so on ``ready``, serve until SIGTERM."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the first process passes Ctrl-C on as SIGTERM
    log_to_stderr()
    try:
        recognizer = Recognizer.from_config(recognizer_config)
        listener = socket.create_server(address, reuse_port=True)
    except Exception as error:
        ready.put(str(error))
        return

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await serve(recognizer, config, lambda url: ready.put(None), stop, listener,
                    Slots(config.max_streams, shared))
    asyncio.run(main())
