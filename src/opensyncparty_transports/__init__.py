"""opensyncparty_transports: the session protocol over WebSocket, on anyio + wsproto.

:class:`WebSocketServer` serves an :class:`opensyncparty_core.SessionServer`
on asyncio or trio; :func:`serve_until_signal` runs one until SIGINT/SIGTERM.
:func:`connect` opens a client connection. The ``opensyncparty-server``
command is :func:`main`.
"""

from ._cli import main, resolve_backend, serve_until_signal
from ._client import ClientConnection, ConnectionClosed, HandshakeError, connect
from ._server import WebSocketServer, wall_clock_ms

__all__ = [
    "ClientConnection",
    "ConnectionClosed",
    "HandshakeError",
    "WebSocketServer",
    "connect",
    "main",
    "resolve_backend",
    "serve_until_signal",
    "wall_clock_ms",
]
