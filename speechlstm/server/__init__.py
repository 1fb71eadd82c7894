"""``speechlstm serve``: a streaming WebSocket server that speaks the Vosk protocol.

* :mod:`.vosk`: the protocol's messages, checks and close codes.
* :mod:`.workers`: decoding threads that batch the ready chunks of all streams.
* :mod:`.app`: the aiohttp routes (WebSocket, page, health, uploads) and :func:`serve`.
* ``static/``: the browser page (microphone through an AudioWorklet, file upload).
"""
from .app import ServerConfig, SpeechServer, serve

__all__ = ["ServerConfig", "SpeechServer", "serve"]
