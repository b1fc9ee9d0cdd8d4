"""opensyncparty_transports: the session protocol over WebSocket, on anyio + wsproto.

:class:`WebSocketServer` serves an :class:`opensyncparty_core.SessionServer`
on asyncio or trio; :func:`serve_until_signal` runs one until SIGINT/SIGTERM.
:func:`connect` opens a client connection. The ``opensyncparty-server``
command is :func:`main`; :func:`add_limit_arguments` gives another command
line the same limit flags.
"""

from ._cli import add_limit_arguments, limit_options, main, resolve_backend, serve_until_signal
from ._client import ClientConnection, ConnectionClosed, HandshakeError, connect
from ._server import WebSocketServer, wall_clock_ms

__all__ = [
    "ClientConnection",
    "ConnectionClosed",
    "HandshakeError",
    "WebSocketServer",
    "add_limit_arguments",
    "connect",
    "limit_options",
    "main",
    "resolve_backend",
    "serve_until_signal",
    "wall_clock_ms",
]
