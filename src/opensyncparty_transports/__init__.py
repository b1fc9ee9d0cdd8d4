"""opensyncparty_transports: the session protocol over WebSocket, on anyio + wsproto.

:class:`WebSocketServer` serves an :class:`opensyncparty_core.SessionServer`
on asyncio or trio; :func:`serve_until_signal` runs one until SIGINT/SIGTERM.
:func:`connect` opens a client connection. The ``opensyncparty-server``
command is :func:`main`; :func:`add_limit_arguments` gives another command
line the same limit flags. :class:`JwtVerifier` checks upstream's JWTs.

Needs the ``transports`` extra; without it, importing a name from here
raises :class:`ModuleNotFoundError` saying which extra to install.
"""

from ._extras import missing_transports

_missing = missing_transports()

if _missing is None:
    from ._cli import (
        add_limit_arguments,
        limit_options,
        main,
        resolve_backend,
        serve_until_signal,
    )
    from ._client import ClientConnection, ConnectionClosed, HandshakeError, connect
    from ._jwt import JwtVerifier
    from ._server import WebSocketServer, wall_clock_ms
else:

    def __getattr__(name: str) -> object:
        if name.startswith("__"):
            raise AttributeError(name)
        raise ModuleNotFoundError(_missing)


__all__ = [
    "ClientConnection",
    "ConnectionClosed",
    "HandshakeError",
    "JwtVerifier",
    "WebSocketServer",
    "add_limit_arguments",
    "connect",
    "limit_options",
    "main",
    "resolve_backend",
    "serve_until_signal",
    "wall_clock_ms",
]
