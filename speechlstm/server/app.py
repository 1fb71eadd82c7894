"""The aiohttp application: the Vosk WebSocket on any path that is not an HTTP route, the page,
health and uploads.

The event loop only moves messages: decoding runs on :class:`~.workers.DecodePool` threads,
file uploads on a thread of their own. A connection reads its messages as they come and hands
their audio to its decoding thread at once; the answers go out in order as they are ready, at
most ``max_in_flight`` of them pending (then reading waits, and TCP slows the client). Every
connection holds one of ``max_streams`` slots (:class:`Slots`, shared by the worker processes
of :mod:`.processes`) from its upgrade to its close; one more is refused at once (close 1013),
before any model work, and so is any new one while decoding lags more than ``max_lag``
seconds behind the audio or would, with it, keep the decoding threads busy more than
``max_load`` of the time (every open stream at the measured busy share per stream), so the
streams already running stay on time. A connection that
breaks a rule gets the close code and reason of :class:`~.vosk.ProtocolError`; whatever goes
wrong inside one connection closes that connection (1011), never the server. A connection
is closed after ``idle_timeout`` seconds without audio (pings do not count), and a TCP
connection that has not sent a whole HTTP request within ``request_timeout`` seconds is dropped.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import signal
import socket
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from aiohttp import WSMsgType, web

from ..config import MODES, ServerConfig
from ..model_files import DEFAULT_BUNDLE
from ..io.audio import AudioError
from ..recognizer import Recognizer, RecognizerConfig
from ..results import Transcript
from . import vosk
from .vosk import GOING_AWAY, INTERNAL, NORMAL, TRY_AGAIN_LATER, UNSUPPORTED_DATA, ProtocolError, StreamConfig
from .workers import Channel, DecodePool

log = logging.getLogger("speechlstm.server")

STATIC = Path(__file__).resolve().parent / "static"

DRAIN_SECONDS = 10.0
"""At shutdown, how long the open streams' finals may take to go out."""


def log_to_stderr() -> None:
    """The server's log lines (a connection's failure) on stderr, as ``speechlstm: ...``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("speechlstm: %(message)s"))
    log.addHandler(handler)


class Slots:
    """The count of open streams against ``max_streams``; the worker processes share one
    through ``shared`` (a ``multiprocessing.Value('i')``)."""

    def __init__(self, limit: int, shared: Any = None) -> None:
        self.limit, self.shared, self.local = limit, shared, 0

    def take(self) -> bool:
        if self.shared is None:
            if self.local >= self.limit:
                return False
            self.local += 1
            return True
        with self.shared.get_lock():
            if self.shared.value >= self.limit:
                return False
            self.shared.value += 1
            return True

    def give(self) -> None:
        if self.shared is None:
            self.local -= 1
            return
        with self.shared.get_lock():
            self.shared.value -= 1

    @property
    def used(self) -> int:
        return self.local if self.shared is None else self.shared.value


@dataclass(frozen=True)
class _Close:
    """An answer queue's last item: close with ``code``; with ``final``, the utterance's final first."""

    code: int
    reason: str = ""
    final: bool = False


@dataclass(eq=False)
class _Connection:
    """A WebSocket, its channel and its answers: futures (or dicts) in message order, then a :class:`_Close`."""

    ws: web.WebSocketResponse
    answers: asyncio.Queue
    config: StreamConfig = StreamConfig()
    channel: Channel | None = None
    closing: bool = False


class SpeechServer:
    """The routes and the state behind them: the pool, the open connections, the slots."""

    def __init__(self, recognizer: Recognizer, config: ServerConfig, slots: Slots | None = None) -> None:
        self.recognizer, self.config = recognizer, config
        self.slots = slots or Slots(config.max_streams)
        self.connections: set[_Connection] = set()
        self.draining = False
        self.pool: DecodePool | None = None
        self.uploads = ThreadPoolExecutor(1, thread_name_prefix="speechlstm-upload")
        self.unrequested: set[asyncio.Protocol] = set()
        """TCP connections (aiohttp's protocol objects) that have not sent a whole HTTP request yet."""

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.config.max_upload_bytes, middlewares=[self._requested])
        app.router.add_get("/healthz", self.health)
        app.router.add_post("/transcribe", self.transcribe)
        app.router.add_static("/static", STATIC)
        app.router.add_get("/{path:.*}", self.index)  # last: any other path (vosk clients use /asr/en/ ...)
        app.on_startup.append(self._start)
        app.on_shutdown.append(self._drain)
        app.on_cleanup.append(self._stop)
        return app

    @web.middleware
    async def _requested(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        self.unrequested.discard(request.protocol)
        return await handler(request)

    async def _start(self, app: web.Application) -> None:
        self.pool = DecodePool(self.recognizer, self.config.decode_threads)
        await asyncio.get_running_loop().run_in_executor(self.pool.builder, self.pool.calibrate)

    async def _drain(self, app: web.Application) -> None:
        """Shutdown: every open stream gets its final and a 1001 close."""
        self.draining = True
        for connection in list(self.connections):
            self._end(connection, _Close(GOING_AWAY, "server shutting down", final=True))
        deadline = time.monotonic() + DRAIN_SECONDS
        while self.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def _stop(self, app: web.Application) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.pool.stop)
        self.uploads.shutdown(wait=True)

    # HTTP ------------------------------------------------------------------------------

    async def index(self, request: web.Request) -> web.StreamResponse:
        """A WebSocket upgrade on any path is the Vosk protocol (as in vosk-server); a browser gets the page on /."""
        if web.WebSocketResponse().can_prepare(request).ok:
            return await self.socket(request)
        if request.path != "/":
            raise web.HTTPNotFound()
        return web.FileResponse(STATIC / "index.html")

    async def health(self, request: web.Request) -> web.Response:
        model = Path(self.recognizer.config.model or DEFAULT_BUNDLE).name
        return web.json_response({"status": "draining" if self.draining else "ok", "model": model,
                                  "backend": self.recognizer.config.backend, "sample_rate": self.config.sample_rate,
                                  "streams": self.slots.used, "capacity": self.config.max_streams,
                                  "lag": round(self.pool.lag(), 3), "max_lag": self.config.max_lag,
                                  "load": round(self.pool.load(), 3), "max_load": self.config.max_load,
                                  "stream_cost": round(self.pool.stream_cost, 4),
                                  "process": os.getpid()})

    async def transcribe(self, request: web.Request) -> web.Response:
        """An uploaded file (multipart field ``file``, or the raw body) to ``transcribe --format json``'s JSON."""
        self._authorize(request)
        mode = request.query.get("mode", RecognizerConfig.mode)
        if mode not in MODES:
            raise _json_error(web.HTTPBadRequest, f"mode must be {' or '.join(MODES)}, got {mode!r}")
        name, data = await _upload(request)
        if not data:
            raise _json_error(web.HTTPBadRequest, "no audio: POST the file as the body or as multipart field 'file'")
        try:
            transcript = await asyncio.get_running_loop().run_in_executor(
                self.uploads, self._transcribe_bytes, data, Path(name).suffix[:16], mode)
        except AudioError as error:
            raise _json_error(web.HTTPUnsupportedMediaType, f"cannot decode {name}: {error}") from None
        return web.json_response(replace(transcript, path=name).to_dict())

    def _transcribe_bytes(self, data: bytes, suffix: str, mode: str) -> Transcript:
        """On the upload thread: the bytes through a temporary file (what the audio readers take)."""
        with tempfile.NamedTemporaryFile(suffix=suffix) as file:
            file.write(data)
            file.flush()
            try:
                return self.recognizer.transcribe_file(file.name, mode=mode)
            except AudioError as error:
                raise AudioError(str(error).replace(file.name + ": ", "").replace(file.name, "the upload")) from None

    def _authorize(self, request: web.Request) -> None:
        """With a token, ``Authorization: Bearer T`` or ``?token=T``; else HTTP 401."""
        token = self.config.token
        if not token:
            return
        header = request.headers.get("Authorization", "")
        given = header[len("Bearer "):] if header.startswith("Bearer ") else request.query.get("token", "")
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise web.HTTPUnauthorized(text="a token is required: Authorization: Bearer TOKEN or ?token=TOKEN\n",
                                       headers={"WWW-Authenticate": "Bearer"})

    # WebSocket -----------------------------------------------------------------------

    async def socket(self, request: web.Request) -> web.StreamResponse:
        """One Vosk connection: a slot, a channel once audio comes, both freed however it ends."""
        self._authorize(request)
        config = self.config
        ws = web.WebSocketResponse(max_msg_size=config.max_message_bytes, heartbeat=config.heartbeat,
                                   compress=False)
        await ws.prepare(request)
        refusal = self._refusal()
        if refusal is not None:
            await ws.close(code=TRY_AGAIN_LATER, message=_reason(refusal))
            return ws
        connection = _Connection(ws, asyncio.Queue())
        self.connections.add(connection)
        sender = asyncio.create_task(self._send(connection))
        try:
            await self._read(connection, sender)
            await sender
        except ConnectionError:  # the client went away while we answered
            pass
        except Exception:
            log.exception("connection from %s failed", request.remote)
            await self._shut(ws, INTERNAL, "internal error")
        finally:
            sender.cancel()
            self.connections.discard(connection)
            self.slots.give()
            if connection.channel is not None:
                self.pool.close(connection.channel)
        return ws

    def _refusal(self) -> str | None:
        """Why a new stream cannot be taken now (a slot is taken when it can)."""
        if self.draining:
            return "server shutting down"
        lag = self.pool.lag()
        if lag > self.config.max_lag:
            return f"server busy: decoding is {lag:.1f} s behind, try again later"
        load = self.pool.projected_load(len(self.connections))
        if load > self.config.max_load:
            return f"server busy: one more stream would keep decoding {load:.0%} busy, try again later"
        if not self.slots.take():
            return f"server full: {self.config.max_streams} streams in use, try again later"
        return None

    async def _read(self, connection: _Connection, sender: asyncio.Task) -> None:
        """Read messages until eof, a close, a fault or the idle timeout; queue their answers."""
        ws, idle = connection.ws, self.config.idle_timeout
        last_audio = time.monotonic()
        while not connection.closing and not sender.done():
            try:
                async with asyncio.timeout(max(0.0, last_audio + idle - time.monotonic())):
                    message = await ws.receive()
            except TimeoutError:
                self._end(connection, _Close(GOING_AWAY, f"no audio for {idle:g} s", final=True))
                return
            if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                self._end(connection, None)  # closed by the client, or too big (aiohttp has closed it with 1009)
                return
            if message.type == WSMsgType.BINARY:
                last_audio = time.monotonic()
            try:
                await self._take(connection, message, last_audio)
            except ProtocolError as error:
                self._end(connection, _Close(error.code, str(error)))
            while connection.answers.qsize() >= self.config.max_in_flight and not sender.done():
                await asyncio.sleep(0.01)

    async def _take(self, connection: _Connection, message, received: float) -> None:
        """One message: config (before the audio), audio (partial or final), eof or reset (final)."""
        if message.type == WSMsgType.BINARY:
            samples, header_rate = vosk.parse_audio(message.data, first=connection.channel is None)
            if connection.channel is None:
                config = connection.config
                connection.channel = await self.pool.open(
                    config, config.sample_rate or header_rate or self.config.sample_rate)
            connection.answers.put_nowait(self.pool.feed(connection.channel, samples, received))
            return
        kind, new = vosk.parse_text(message.data, connection.config)
        if kind == "config":
            if connection.channel is not None and new != connection.config:
                raise ProtocolError(vosk.INVALID_DATA, "the config message must come before the audio")
            self._check_model(new)
            connection.config = new
            return
        connection.answers.put_nowait(self.pool.finish(connection.channel) if connection.channel
                                      else vosk.final_message(None, connection.config))
        if kind == "eof":
            self._end(connection, _Close(NORMAL))

    def _check_model(self, config: StreamConfig) -> None:
        """vosk-server loads the model a config names; this server serves one and says so."""
        served = Path(self.recognizer.config.model or DEFAULT_BUNDLE)
        if config.model is not None and config.model not in (served.name, served.stem, str(served)):
            raise ProtocolError(UNSUPPORTED_DATA, f"model {config.model!r}"[:60] + f" is not served here; "
                                                  f"this server serves {served.name}")

    def _end(self, connection: _Connection, close: _Close | None) -> None:
        """No more messages are read; the answers queued go out, then ``close`` (None: just stop)."""
        if not connection.closing:
            connection.closing = True
            connection.answers.put_nowait(close)

    async def _send(self, connection: _Connection) -> None:
        """Send the answers in message order; end with the close that ends the queue."""
        ws = connection.ws
        while True:
            item = await connection.answers.get()
            if item is None:
                return
            if isinstance(item, _Close):
                if item.final and connection.channel is not None:
                    await ws.send_json(await self.pool.finish(connection.channel))
                await self._shut(ws, item.code, item.reason)
                return
            try:
                answer = await item if isinstance(item, asyncio.Future) else item
            except ProtocolError as error:
                await self._shut(ws, error.code, str(error))
                return
            if not ws.closed:
                await ws.send_json(answer)

    @staticmethod
    async def _shut(ws: web.WebSocketResponse, code: int, reason: str) -> None:
        if not ws.closed:
            try:
                await ws.close(code=code, message=_reason(reason))
            except ConnectionError:
                pass


def _reason(text: str) -> bytes:
    """A close reason: at most 123 bytes of UTF-8 (RFC 6455)."""
    return text.encode("utf-8")[:123].decode("utf-8", "ignore").encode("utf-8")


def _json_error(kind: Callable[..., web.HTTPException], message: str) -> web.HTTPException:
    return kind(text=json.dumps({"error": message}), content_type="application/json")


async def _upload(request: web.Request) -> tuple[str, bytes]:
    """(file name, bytes) of a multipart field ``file`` or of the raw body."""
    if request.content_type.startswith("multipart/"):
        async for part in await request.multipart():
            if part.name == "file":
                return part.filename or "upload", await part.read()
        return "upload", b""
    return request.query.get("name", "upload"), await request.read()


class _RequestDeadline:
    """aiohttp's protocol factory, with a timer per TCP connection: one that has not sent a whole
    HTTP request within ``timeout`` seconds is dropped (aiohttp itself waits for ever)."""

    def __init__(self, factory: Callable, server: SpeechServer, timeout: float) -> None:
        self.factory, self.server, self.timeout = factory, server, timeout

    def __call__(self) -> asyncio.Protocol:
        protocol = self.factory()
        self.server.unrequested.add(protocol)
        asyncio.get_running_loop().call_later(self.timeout, self._check, protocol)
        return protocol

    def _check(self, protocol: asyncio.Protocol) -> None:
        if protocol in self.server.unrequested:
            self.server.unrequested.discard(protocol)
            if protocol.transport is not None:
                protocol.transport.close()


async def serve(recognizer: Recognizer, config: ServerConfig, on_ready: Callable[[str], None] | None = None,
                stop: asyncio.Event | None = None, sock: socket.socket | None = None,
                slots: Slots | None = None) -> None:
    """Serve until ``stop`` is set (default: until SIGTERM or SIGINT); then stop accepting, send
    every open stream its final and close it (1001), and return. ``on_ready`` gets the base URL.
    ``sock`` is a listening socket to accept on instead of ``config.host``/``config.port`` and
    ``slots`` the stream count shared with other processes (:mod:`.processes`)."""
    loop = asyncio.get_running_loop()
    if stop is None:
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
    server = SpeechServer(recognizer, config, slots)
    runner = web.AppRunner(server.app(), access_log=None, handle_signals=False, keepalive_timeout=15)
    await runner.setup()
    try:
        factory = _RequestDeadline(runner.server, server, config.request_timeout)
        if sock is None:
            listener = await loop.create_server(factory, config.host, config.port, reuse_address=True)
        else:
            listener = await loop.create_server(factory, sock=sock)
        host, port = listener.sockets[0].getsockname()[:2]
        if on_ready is not None:
            on_ready(f"http://{host}:{port}")
        await stop.wait()
        listener.close()
    finally:
        await runner.cleanup()
