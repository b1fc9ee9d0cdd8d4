"""A client connection that survives blips: reconnect with backoff, then resume.

:class:`ResumingConnection` wraps :func:`~opensyncparty_transports.connect`.
It remembers the ``resume_token`` of the last ``client_hello`` it passed on;
when the connection drops (any close it did not ask for), it reconnects with
exponential backoff and jitter and sends ``resume`` with that token before
anything else. The server's answers come through :meth:`ResumingConnection.receive`
like any message: the new connection's own ``client_hello``, then, if the
resume worked, a ``client_hello`` with the former id, ``room_state`` and the
chat history; if not (grace over, or a server without resume), an ``error``
and the client carries on under its new id. Protocol rules stay in the core;
this is I/O only.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from types import TracebackType

import anyio
import attrs

from opensyncparty_core import ClientHello, ClientMessage, Resume, ServerMessage

from ._client import ClientConnection, ConnectionClosed, HandshakeError, connect

__all__ = ["Backoff", "ResumingConnection"]

logger = logging.getLogger("opensyncparty_transports.client")


@attrs.frozen(kw_only=True)
class Backoff:
    """Waits between reconnection attempts: exponential, capped, with jitter."""

    initial: float = 0.25
    """Seconds before the first attempt (half of it fixed, half random)."""
    factor: float = 2.0
    """Growth of the wait per failed attempt."""
    maximum: float = 5.0
    """Longest wait, in seconds."""
    attempts: int = 10
    """Failed attempts in a row after which :meth:`ResumingConnection.receive`
    gives up and raises :class:`ConnectionClosed`."""

    def delay(self, attempt: int, jitter: float) -> float:
        """Seconds to wait before attempt number ``attempt`` (0 for the first).

        ``jitter`` in [0, 1) picks the random half: spread out, clients that
        lost the server together do not all come back at the same instant.
        """
        ceiling = min(self.maximum, self.initial * self.factor**attempt)
        return ceiling / 2 * (1 + jitter)


class ResumingConnection:
    """A session-server connection that reconnects and resumes after a drop.

    Use as ``async with ResumingConnection(url) as conn:``; then
    :meth:`send` and :meth:`receive` as with :class:`ClientConnection`. One
    task at a time may receive; sends may come from any task and wait out a
    reconnection.

    :param on_reconnect: called with (attempt number, seconds to wait) before
        each reconnection attempt, e.g. to tell the user.
    :param headers: extra request headers for every connection, as :func:`connect`.
    """

    def __init__(
        self,
        url: str,
        *,
        backoff: Backoff | None = None,
        timeout: float = 10.0,
        on_reconnect: Callable[[int, float], None] | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.url = url
        self._headers = tuple(headers)
        self.backoff = backoff if backoff is not None else Backoff()
        self._timeout = timeout
        self._on_reconnect = on_reconnect
        self._rng = random.Random()
        self._lock = anyio.Lock()
        self._stack = AsyncExitStack()
        self._connection: ClientConnection | None = None
        self._closing = False
        self.client_id: str | None = None
        """This client's id, from the last ``client_hello`` received."""
        self.resume_token: str | None = None
        """The token a reconnection will resume with, if the server offers one."""
        self.reconnects = 0
        """Reconnections so far."""

    async def __aenter__(self) -> ResumingConnection:
        await self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing = True
        with anyio.CancelScope(shield=True):
            await self._stack.aclose()

    async def send(self, message: ClientMessage) -> None:
        """Send ``message``, after a reconnection if the connection is down."""
        while True:
            connection = self._current()
            try:
                await connection.send(message)
                return
            except ConnectionClosed:
                await self._reconnect(connection)

    async def receive(self) -> ServerMessage:
        """The next message from the server, reconnecting (and resuming) as needed.

        Raises :class:`ConnectionClosed` only when this connection was closed
        on purpose or every reconnection attempt failed.
        """
        while True:
            connection = self._current()
            try:
                message = await connection.receive()
            except ConnectionClosed:
                await self._reconnect(connection)
                continue
            if isinstance(message, ClientHello):
                self.client_id = message.client_id
                self.resume_token = message.resume_token
            return message

    def _current(self) -> ClientConnection:
        if self._connection is None or self._closing:
            raise ConnectionClosed(1000, "closed")
        return self._connection

    async def _open(self) -> None:
        stack = AsyncExitStack()
        self._connection = await stack.enter_async_context(
            connect(self.url, timeout=self._timeout, headers=self._headers)
        )
        self._stack = stack

    async def _reconnect(self, failed: ClientConnection) -> None:
        async with self._lock:
            if self._closing:
                raise ConnectionClosed(1000, "closed")
            if self._connection is not failed:
                return  # another task reconnected already
            await self._stack.aclose()
            token = self.resume_token
            for attempt in range(self.backoff.attempts):
                delay = self.backoff.delay(attempt, self._rng.random())
                if self._on_reconnect is not None:
                    self._on_reconnect(attempt + 1, delay)
                logger.info("connection lost; reconnecting in %.2f s", delay)
                await anyio.sleep(delay)
                try:
                    await self._open()
                except (OSError, HandshakeError, TimeoutError) as exc:
                    logger.info("reconnection attempt %d failed: %s", attempt + 1, exc)
                    continue
                self.reconnects += 1
                if token is not None:
                    await self._current().send(Resume(token=token))
                return
            self._connection = None
            raise ConnectionClosed(1006, f"gave up after {self.backoff.attempts} attempts")
