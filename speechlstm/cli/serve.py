"""``speechlstm serve``: the Vosk-protocol WebSocket server, the browser page and POST /transcribe."""
from __future__ import annotations

import argparse
import asyncio
import os

from ..config import ServerConfig
from ..errors import MissingPackageError, UsageError
from .common import (add_endpoint_options, add_model_options, add_raw_option, endpoint_config, positive, positive_int,
                     recognizer_from_args, to_stderr)

TOKEN_VARIABLE = "SPEECHLSTM_TOKEN"
"""The environment variable that gives the token when ``--token`` does not."""


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register the ``serve`` subcommand."""
    parser = commands.add_parser(
        "serve", help="serve streaming recognition over WebSocket (the Vosk protocol) and a browser page",
        description="A WebSocket server that speaks the Vosk protocol on any path that is not an HTTP route, so "
                    "vosk-server clients work as they are: an optional {\"config\": {\"sample_rate\": R, ...}}, "
                    "binary 16-bit mono PCM messages (a WAV header at the start is skipped) each answered with "
                    "{\"partial\"} or, at an endpoint, {\"text\", \"result\"}, then {\"eof\" : 1}. Config keys: "
                    "sample_rate, words, max_alternatives, phrase_list, model (as vosk-server) and hotwords. A browser "
                    "opening / gets a page with microphone capture and file upload; GET /healthz reports the streams "
                    "in use and the decoding lag; POST /transcribe takes an audio file and returns the JSON of "
                    "`transcribe --format json`. New streams are refused (close 1013) when all --max-streams are in "
                    "use, decoding lags more than --max-lag behind the audio, or one more stream would keep the "
                    "decoding thread busier than --max-load. SIGTERM (or Ctrl-C) stops accepting, sends every stream "
                    "its final and exits 0.",
        epilog="examples:\n  speechlstm serve\n  speechlstm serve --host 0.0.0.0 --port 2700 --max-streams 80 "
               "--workers 2\n  speechlstm serve --sample-rate 16000\n  SPEECHLSTM_TOKEN=secret speechlstm serve "
               "--decoder greedy",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_argument_group("server")
    group.add_argument("--host", default=ServerConfig.host, help="address to listen on (default: %(default)s)")
    group.add_argument("--port", type=int, default=ServerConfig.port,
                       help="TCP port (default: %(default)s, vosk-server's; 0: any free)")
    group.add_argument("--max-streams", type=positive_int, default=ServerConfig.max_streams, metavar="N",
                       help="concurrent WebSocket streams, all workers together; one more is refused at once with "
                            "close code 1013 (default: %(default)s)")
    group.add_argument("--workers", type=positive_int, default=ServerConfig.workers, metavar="N",
                       help="server processes behind the one port, each decoding its own streams on its own core: "
                            "about one per core to give the server (default: %(default)s)")
    group.add_argument("--sample-rate", type=positive_int, default=ServerConfig.sample_rate, metavar="HZ",
                       help="the rate of audio sent without a config message or WAV header (default: %(default)s, "
                            "as vosk-server)")
    group.add_argument("--max-lag", type=positive(float), default=ServerConfig.max_lag, metavar="S",
                       help="refuse new streams (close 1013) while decoding is more than this many seconds behind "
                            "the audio (default: %(default)g)")
    group.add_argument("--max-load", type=positive(float), default=ServerConfig.max_load, metavar="SHARE",
                       help="refuse new streams (close 1013) when one more would keep the decoding thread busy more "
                            "than this share of the time, as measured over the last seconds; above 1 admits "
                            "streams that will fall behind (default: %(default)g)")
    group.add_argument("--token", default=os.environ.get(TOKEN_VARIABLE) or None,
                       help=f"require 'Authorization: Bearer TOKEN' or ?token=TOKEN on the WebSocket and POST "
                            f"/transcribe (default: ${TOKEN_VARIABLE}, else none)")
    group.add_argument("--idle-timeout", type=positive(float), default=ServerConfig.idle_timeout, metavar="S",
                       help="close a connection that sent no audio for this long, after its final "
                            "(default: %(default)g)")
    add_endpoint_options(parser)
    add_raw_option(parser)
    add_model_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Load the model, serve until SIGTERM or Ctrl-C, exit 0."""
    try:
        from ..server import log_to_stderr, serve, serve_processes
    except ImportError as error:
        raise MissingPackageError(f"the server needs aiohttp ({error}): pip install 'speechlstm[server]'") from None
    config = ServerConfig(host=args.host, port=args.port, max_streams=args.max_streams, workers=args.workers,
                          token=args.token, sample_rate=args.sample_rate, idle_timeout=args.idle_timeout,
                          max_lag=args.max_lag, max_load=args.max_load)
    recognizer = recognizer_from_args(args, mode="streaming", endpoint=endpoint_config(args))
    log_to_stderr()

    def ready(url: str) -> None:
        to_stderr(f"speechlstm: serving {recognizer.config.backend} on {url} (WebSocket on any other path than "
                  f"/healthz, /transcribe and /static; {config.max_streams} streams, {config.workers} "
                  f"worker{'s' * (config.workers > 1)}{', token required' if config.token else ''}); "
                  f"SIGTERM or Ctrl-C stops")

    try:
        if config.workers > 1:
            serve_processes(recognizer, config, ready)
        else:
            asyncio.run(serve(recognizer, config, ready))
    except OSError as error:
        raise UsageError(f"cannot listen on {config.host}:{config.port}: {error.strerror or error}") from None
    to_stderr("speechlstm: stopped")
    return 0
