"""The reference OpenSyncParty server: the sans-IO core served over WebSocket.

    python examples/reference_server.py --host 127.0.0.1 --port 3000 --backend trio

Clients connect to ``ws://HOST:PORT/ws``; ``GET /health`` reports the load.
SIGINT or SIGTERM closes every client with 1001 and exits with status 0.
The ``opensyncparty-server`` command does the same. ``--help`` lists the
limits and timeouts (``--queue-size``, ``--max-connections``, ...), and it
adds what a public server needs (JWT auth, an Origin allow-list, TLS,
/metrics, configuration from the environment): see docs/deploy.rst.
"""

import argparse
import logging

import anyio

from opensyncparty_core import Config
from opensyncparty_transports import (
    WebSocketServer,
    add_limit_arguments,
    limit_options,
    serve_until_signal,
)


def main() -> None:
    parser = argparse.ArgumentParser(description="Run an OpenSyncParty session server.")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument(
        "--log-level", default="INFO", type=str.upper, choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    parser.add_argument("--backend", choices=["asyncio", "uvloop", "trio"], default="asyncio")
    # Connection limits and timeouts: the same flags as opensyncparty-server.
    add_limit_arguments(parser)
    args = parser.parse_args()
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(message)s")

    # Config() is the specification's timings; the server wraps a SessionServer
    # (every protocol rule) and only moves text between it and the sockets.
    server = WebSocketServer(host=args.host, port=args.port, config=Config(), **limit_options(args))
    # uvloop (the speedups extra) is asyncio with a faster event loop.
    if args.backend == "uvloop":
        anyio.run(
            serve_until_signal, server, backend="asyncio", backend_options={"use_uvloop": True}
        )
    else:
        anyio.run(serve_until_signal, server, backend=args.backend)


if __name__ == "__main__":
    main()
