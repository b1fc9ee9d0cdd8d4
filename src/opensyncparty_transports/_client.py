"""A small WebSocket client for the session protocol, on anyio and wsproto.

One :class:`ClientConnection` per socket. It runs no task of its own: bytes
are read only inside :meth:`ClientConnection.receive_text`, which also
answers pings and the server's close frame. Sends may come from another task
than receives; a lock keeps their socket writes whole.
"""

from __future__ import annotations

import collections
import logging
import ssl
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from urllib.parse import urlsplit

import anyio
import anyio.abc
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError

from opensyncparty_core import ClientMessage, ServerMessage, decode_server_message, encode

__all__ = ["ClientConnection", "ConnectionClosed", "HandshakeError", "connect"]

logger = logging.getLogger("opensyncparty_transports.client")

_RECEIVE_SIZE = 65_536


class HandshakeError(Exception):
    """The server answered the upgrade request with an HTTP response instead."""

    def __init__(self, status_code: int, body: bytes) -> None:
        super().__init__(f"WebSocket upgrade refused with HTTP {status_code}")
        self.status_code = status_code
        self.body = body


class ConnectionClosed(Exception):
    """The WebSocket is closed; ``code`` is the close code (1006: no close frame)."""

    def __init__(self, code: int, reason: str | None) -> None:
        super().__init__(f"connection closed with code {code}" + (f": {reason}" if reason else ""))
        self.code = code
        self.reason = reason


class ClientConnection:
    """An open WebSocket to a session server. Get one from :func:`connect`.

    One task at a time may receive; sends may come from any task.
    """

    def __init__(
        self, stream: anyio.abc.ByteStream, ws: WSConnection, max_message_bytes: int
    ) -> None:
        self._stream = stream
        self._ws = ws
        self._max_message_bytes = max_message_bytes
        self._send_lock = anyio.Lock()
        self._received: collections.deque[str] = collections.deque()
        self._parts: list[str] = []
        self._size = 0
        self._closed: ConnectionClosed | None = None

    @property
    def close_code(self) -> int | None:
        """The close code once the connection is closed, else ``None``."""
        return None if self._closed is None else self._closed.code

    async def send(self, message: ClientMessage) -> None:
        """Encode ``message`` and send it as one text frame."""
        await self.send_text(encode(message))

    async def send_text(self, text: str) -> None:
        """Send ``text`` as one text frame, as it is (it need not be valid protocol)."""
        await self._send_event(TextMessage(data=text))

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary frame (the protocol has none; servers answer ``error``)."""
        await self._send_event(BytesMessage(data=data))

    async def receive(self) -> ServerMessage:
        """The next message from the server, decoded.

        Raises :class:`ConnectionClosed` once the server has closed, and
        :class:`opensyncparty_core.RemoteProtocolError` for text that is not a
        valid server message.
        """
        return decode_server_message(await self.receive_text())

    async def receive_text(self) -> str:
        """The next text message from the server. Raises :class:`ConnectionClosed`."""
        while True:
            # Events first: frames that came with the handshake response are
            # already inside wsproto, and no more bytes may ever follow them.
            for event in self._ws.events():
                await self._handle(event)
            if self._received:
                return self._received.popleft()
            if self._closed is not None:
                raise self._closed
            try:
                data: bytes | None = await self._stream.receive(_RECEIVE_SIZE)
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                data = None
            self._ws.receive_data(data)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close the connection (closing handshake, then the socket). Idempotent."""
        if self._ws.state is ConnectionState.OPEN:
            try:
                await self._write(self._ws.send(CloseConnection(code=code, reason=reason)))
                with anyio.move_on_after(2.0):
                    while _awaiting_close_reply(self._ws):
                        try:
                            data: bytes | None = await self._stream.receive(_RECEIVE_SIZE)
                        except (anyio.EndOfStream, anyio.BrokenResourceError):
                            data = None
                        self._ws.receive_data(data)
                        for _ in self._ws.events():
                            pass
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass
            if self._closed is None:
                self._closed = ConnectionClosed(code, reason)
        await self._close_stream()

    async def _handle(self, event: Event) -> None:
        if isinstance(event, TextMessage):
            data = event.data
            self._size += len(data) if data.isascii() else len(data.encode())
            if self._size > self._max_message_bytes:
                await self.close(1009, "message too big")
                raise ConnectionClosed(1009, "message too big")
            self._parts.append(data)
            if event.message_finished:
                self._received.append("".join(self._parts))
                self._parts.clear()
                self._size = 0
        elif isinstance(event, Ping):
            await self._send_event(event.response())
        elif isinstance(event, CloseConnection):
            self._closed = ConnectionClosed(event.code, event.reason)
            if self._ws.state is not ConnectionState.CLOSED:
                # Answer the server's close (or report wsproto's framing error).
                with suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                    await self._write(self._ws.send(event.response()))
            await self._close_stream()
        # A binary message or a pong is nothing this protocol uses.

    async def _close_stream(self) -> None:
        # Over TLS, closing sends close_notify; a server that already closed TCP
        # (WebSocket has its own close handshake) makes that fail, harmlessly.
        with suppress(anyio.BrokenResourceError):
            await self._stream.aclose()

    async def _send_event(self, event: Event) -> None:
        try:
            data = self._ws.send(event)
        except LocalProtocolError:
            raise self._closed or ConnectionClosed(1006, None) from None
        try:
            await self._write(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            raise self._closed or ConnectionClosed(1006, None) from None

    async def _write(self, data: bytes) -> None:
        async with self._send_lock:
            await self._stream.send(data)


@asynccontextmanager
async def connect(
    url: str,
    *,
    max_message_bytes: int = 16 * 1024 * 1024,
    timeout: float = 10.0,
    headers: Sequence[tuple[str, str]] = (),
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[ClientConnection]:
    """Open a WebSocket to ``url`` (``ws://host:port/path`` or ``wss://``) for the block.

    :param max_message_bytes: a larger incoming message closes the connection
        with 1009 and raises :class:`ConnectionClosed`.
    :param timeout: seconds allowed for the TCP connection and the upgrade.
    :param headers: extra request headers, for example ``[("Origin", "https://jf.example")]``.
    :param ssl_context: for ``wss://``: the TLS context (the system's trusted
        certificates if omitted).
    :raises HandshakeError: the server refused the upgrade.
    :raises OSError: no connection (e.g. nothing listens there).
    :raises TimeoutError: the connection or the upgrade took longer than ``timeout``.

    The connection is closed (code 1000) when the block exits.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"not a ws:// or wss:// URL: {url!r}")
    tls = parts.scheme == "wss"
    port = parts.port or (443 if tls else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    with anyio.fail_after(timeout):
        stream: anyio.abc.ByteStream
        if tls:
            stream = await anyio.connect_tcp(
                parts.hostname, port, tls=True, ssl_context=ssl_context
            )
        else:
            stream = await anyio.connect_tcp(parts.hostname, port)
        try:
            ws = WSConnection(ConnectionType.CLIENT)
            host = parts.netloc.rpartition("@")[2]  # no credentials in the Host header
            extra = [(name.encode(), value.encode()) for name, value in headers]
            await stream.send(ws.send(Request(host=host, target=target, extra_headers=extra)))
            await _await_accept(stream, ws)
        except BaseException:
            await anyio.aclose_forcefully(stream)
            raise
    connection = ClientConnection(stream, ws, max_message_bytes)
    logger.debug("connected to %s", url)
    try:
        yield connection
    finally:
        with anyio.CancelScope(shield=True):
            await connection.close()


async def _await_accept(stream: anyio.abc.ByteStream, ws: WSConnection) -> None:
    status: int | None = None
    body = b""
    while True:
        try:
            data: bytes | None = await stream.receive(_RECEIVE_SIZE)
        except anyio.EndOfStream:
            data = None
        ws.receive_data(data)
        for event in ws.events():
            if isinstance(event, AcceptConnection):
                return
            if isinstance(event, RejectConnection):
                status = event.status_code
                if not event.has_body:
                    raise HandshakeError(status, b"")
            elif isinstance(event, RejectData) and status is not None:
                body += event.data
                if event.body_finished:
                    raise HandshakeError(status, body)
        if data is None:
            raise HandshakeError(status or 0, body)


def _awaiting_close_reply(ws: WSConnection) -> bool:
    return ws.state is ConnectionState.LOCAL_CLOSING
