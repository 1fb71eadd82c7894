"""The aiohttp application: the Vosk WebSocket on ``/`` and ``/ws``, the page, health and uploads.

The event loop only moves messages: decoding runs on :class:`~.workers.DecodePool` threads,
file uploads on a thread of their own. Every connection holds one of ``max_streams`` slots
from its upgrade to its close; one more is refused at once (close 1013), before any model
work, so the streams already running do not notice it. A connection that breaks a rule gets
the close code and reason of :class:`~.vosk.ProtocolError`; whatever goes wrong inside one
connection closes that connection (1011), never the server.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
import signal
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from aiohttp import WSMsgType, web

from ..bundle import DEFAULT_BUNDLE
from ..io.audio import AudioError
from ..recognizer import Recognizer
from ..results import Transcript
from . import vosk
from .vosk import GOING_AWAY, INTERNAL, INVALID_DATA, NORMAL, TRY_AGAIN_LATER, ProtocolError, StreamConfig
from .workers import Channel, DecodePool

log = logging.getLogger("speechlstm.server")

STATIC = Path(__file__).resolve().parent / "static"


@dataclass(frozen=True)
class ServerConfig:
    """Where to listen and the limits that keep the server up under bad clients and load."""

    host: str = "127.0.0.1"
    port: int = 2700
    max_streams: int = 20
    token: str | None = None
    workers: int = 1
    idle_timeout: float = 30.0
    """Seconds without a message before a connection is closed (1001; its final is sent first)."""
    max_message_bytes: int = 256 * 1024
    """The largest WebSocket message (8 s of 16 kHz PCM); larger ones close the connection (1009)."""
    max_upload_bytes: int = 200 * 1024 * 1024
    """The largest POST /transcribe body (HTTP 413 beyond)."""
    heartbeat: float = 20.0
    """Ping interval: a client that vanished without closing is noticed within about this time."""


@dataclass(eq=False)
class _Connection:
    """A WebSocket and its channel; ``lock`` keeps a message and a shutdown flush apart."""

    ws: web.WebSocketResponse
    channel: Channel | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class SpeechServer:
    """The routes and the state behind them: the pool, the open connections, the slots."""

    def __init__(self, recognizer: Recognizer, config: ServerConfig) -> None:
        self.recognizer, self.config = recognizer, config
        self.connections: set[_Connection] = set()
        self.draining = False
        self.pool: DecodePool | None = None
        self.uploads = ThreadPoolExecutor(1, thread_name_prefix="speechlstm-upload")

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.config.max_upload_bytes)
        app.router.add_get("/", self.index)
        app.router.add_get("/ws", self.socket)
        app.router.add_get("/healthz", self.health)
        app.router.add_post("/transcribe", self.transcribe)
        app.router.add_static("/static", STATIC)
        app.on_startup.append(self._start)
        app.on_shutdown.append(self._drain)
        app.on_cleanup.append(self._stop)
        return app

    async def _start(self, app: web.Application) -> None:
        self.pool = DecodePool(self.recognizer, self.config.workers)

    async def _drain(self, app: web.Application) -> None:
        """Shutdown: every open stream gets its final and a 1001 close."""
        self.draining = True
        await asyncio.gather(*(self._close(c, GOING_AWAY, "server shutting down", final=True)
                               for c in list(self.connections)))

    async def _stop(self, app: web.Application) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.pool.stop)
        self.uploads.shutdown(wait=True)

    # HTTP ------------------------------------------------------------------------------

    async def index(self, request: web.Request) -> web.StreamResponse:
        """A WebSocket upgrade is the Vosk protocol (as vosk-server serves it); a browser gets the page."""
        if web.WebSocketResponse().can_prepare(request).ok:
            return await self.socket(request)
        return web.FileResponse(STATIC / "index.html")

    async def health(self, request: web.Request) -> web.Response:
        model = Path(self.recognizer.config.model or DEFAULT_BUNDLE).name
        return web.json_response({"status": "draining" if self.draining else "ok", "model": model,
                                  "backend": self.recognizer.config.backend, "sample_rate": self.recognizer.sample_rate,
                                  "streams": len(self.connections), "capacity": self.config.max_streams,
                                  "workers": self.config.workers})

    async def transcribe(self, request: web.Request) -> web.Response:
        """An uploaded file (multipart field ``file``, or the raw body) to ``transcribe --format json``'s JSON."""
        self._authorize(request)
        mode = request.query.get("mode", "offline")
        if mode not in ("offline", "streaming"):
            raise _json_error(web.HTTPBadRequest, f"mode must be offline or streaming, got {mode!r}")
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
        ws = web.WebSocketResponse(max_msg_size=config.max_message_bytes, heartbeat=config.heartbeat)
        await ws.prepare(request)
        if len(self.connections) >= config.max_streams or self.draining:
            await ws.close(code=TRY_AGAIN_LATER, message=_reason(
                f"server full: {config.max_streams} streams in use, try again later"))
            return ws
        connection = _Connection(ws)
        self.connections.add(connection)
        try:
            await self._converse(connection)
        except ConnectionError:  # the client went away while we answered
            pass
        except Exception:
            log.exception("connection from %s failed", request.remote)
            await self._close(connection, INTERNAL, "internal error")
        finally:
            self.connections.discard(connection)
            if connection.channel is not None:
                self.pool.close(connection.channel)
        return ws

    async def _converse(self, connection: _Connection) -> None:
        """Read messages until eof, a close, a fault or the idle timeout; answer each."""
        ws, config = connection.ws, StreamConfig()
        while True:
            try:
                message = await ws.receive(timeout=self.config.idle_timeout)
            except asyncio.TimeoutError:
                await self._close(connection, GOING_AWAY, f"idle for {self.config.idle_timeout:g} s", final=True)
                return
            if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                return  # closed by the client, or too big (aiohttp has closed it with 1009)
            async with connection.lock:
                if ws.closed:
                    return
                try:
                    config = await self._answer(connection, message, config)
                except ProtocolError as error:
                    await ws.close(code=error.code, message=_reason(str(error)))
                if ws.closed:
                    return

    async def _answer(self, connection: _Connection, message, config: StreamConfig) -> StreamConfig:
        """One message: config (before the audio), audio (partial or final), eof or reset (final)."""
        ws = connection.ws
        if message.type == WSMsgType.BINARY:
            samples = vosk.parse_audio(message.data, first=connection.channel is None)
            channel = await self._channel(connection, config)
            await ws.send_json(await self.pool.feed(channel, samples))
            return config
        kind, new = vosk.parse_text(message.data, config)
        if kind == "config":
            if connection.channel is not None and new != config:
                raise ProtocolError(INVALID_DATA, "the config message must come before the audio")
            return new
        final = await self.pool.finish(connection.channel) if connection.channel else vosk.final_message(None)
        await ws.send_json(final)
        if kind == "eof":
            await ws.close(code=NORMAL)
        return config

    async def _channel(self, connection: _Connection, config: StreamConfig) -> Channel:
        if connection.channel is None:
            connection.channel = await self.pool.open(config)
        return connection.channel

    async def _close(self, connection: _Connection, code: int, reason: str, final: bool = False) -> None:
        """Close with ``code``; with ``final``, the utterance in progress is sent first."""
        async with connection.lock:
            ws = connection.ws
            if ws.closed:
                return
            try:
                if final and connection.channel is not None:
                    await ws.send_json(await self.pool.finish(connection.channel))
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


async def serve(recognizer: Recognizer, config: ServerConfig, on_ready: Callable[[str], None] | None = None,
                stop: asyncio.Event | None = None) -> None:
    """Serve until ``stop`` is set (default: until SIGTERM or SIGINT); then stop accepting, send
    every open stream its final and close it (1001), and return. ``on_ready`` gets the base URL."""
    loop = asyncio.get_running_loop()
    if stop is None:
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
    runner = web.AppRunner(SpeechServer(recognizer, config).app(), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, config.host, config.port).start()
        host, port = runner.addresses[0][:2]
        if on_ready is not None:
            on_ready(f"http://{host}:{port}")
        await stop.wait()
    finally:
        await runner.cleanup()
