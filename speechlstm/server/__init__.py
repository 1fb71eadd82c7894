"""``speechlstm serve``: a streaming WebSocket server that speaks the Vosk protocol.

* :mod:`.vosk`: the protocol's messages, checks and close codes.
* :mod:`.workers`: decoding threads that batch the ready chunks of all streams.
* :mod:`.app`: the aiohttp routes (WebSocket, page, health, uploads) and :func:`serve`.
* :mod:`.processes`: one server process per worker behind one port (:func:`serve_processes`).
* ``static/``: the browser page (microphone through an AudioWorklet, file upload).
"""
from ..config import ServerConfig
from .app import Slots, SpeechServer, log_to_stderr, serve
from .processes import serve_processes

__all__ = ["ServerConfig", "Slots", "SpeechServer", "log_to_stderr", "serve", "serve_processes"]
