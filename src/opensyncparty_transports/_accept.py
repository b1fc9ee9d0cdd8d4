"""The accept loop: no failure of one accept ends it; out of descriptors, it makes room.

Only binding the port may fail the server. Every accept error is logged
(throttled) and the loop tries again after a short back-off. When the
process has no file descriptor left (``EMFILE``/``ENFILE``), accept fails
even with nobody waiting, so the loop waits for a client first. Then it cuts
the oldest connections still in their HTTP request (they cost a descriptor
each and a real client finishes its request within a round trip). With none
to cut, it spends the one descriptor it holds in reserve to answer that
client (the server decides what: ``/health``, or 503) rather than leave it
hanging.

For plain TCP (``raw``) the loop accepts on the listening socket itself
and hands on a ``RawSocketStream`` (``_rawsocket``), so that asyncio
creates no transport for the connection; with TLS it takes anyio's stream.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import anyio
import anyio.abc

from ._admission import ThrottledLog
from ._rawsocket import accept_raw

__all__ = ["AcceptLoop"]

# Accept errors that mean "out of descriptors or buffers".
_EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
# Seconds the loop waits after an accept error before it tries again.
BACKOFF = 0.05
# Out of descriptors, up to this share of the handshakes in progress is cut,
# oldest first, if older than STALE_HANDSHAKE seconds.
_SHED_SHARE = 4
STALE_HANDSHAKE = 0.1
# Bytes read of a refused client's request before it is answered anyway.
_MAX_HEAD_BYTES = 16_384


class AcceptLoop:
    """Accepts for one server; :meth:`run` per listening socket.

    :param handle: serves an accepted connection (run in the given task group).
    :param shed_response: the whole HTTP response for a client refused for
        lack of descriptors, given the start of its request.
    :param handshakes: the server's handshakes in progress, with the
        ``anyio.current_time()`` each began, oldest first.
    :param raw: accept plain TCP connections as raw socket streams.
    """

    def __init__(
        self,
        *,
        handle: Callable[[anyio.abc.SocketStream], Coroutine[Any, Any, None]],
        shed_response: Callable[[bytes], bytes],
        handshakes: Mapping[anyio.CancelScope, float],
        log_error: ThrottledLog,
        log_refused: ThrottledLog,
        read_timeout: float,
        raw: bool = False,
    ) -> None:
        self._handle = handle
        self._shed_response = shed_response
        self._handshakes = handshakes
        self._log_error = log_error
        self._log_refused = log_refused
        self._read_timeout = read_timeout
        self._raw = raw
        self._reserve_fd: int | None = None

    def take_reserve(self) -> None:
        """Hold one descriptor back (again), if the process has one to spare."""
        if self._reserve_fd is None:
            with contextlib.suppress(OSError):
                self._reserve_fd = os.open(os.devnull, os.O_RDONLY)

    def release_reserve(self) -> None:
        if self._reserve_fd is not None:
            os.close(self._reserve_fd)
            self._reserve_fd = None

    async def run(
        self, listener: anyio.abc.Listener[anyio.abc.SocketStream], tg: anyio.abc.TaskGroup
    ) -> None:
        """Accept until cancelled; each connection is handled in ``tg``."""
        assert isinstance(listener, anyio.abc.SocketListener)
        while True:
            try:
                stream = await self._accept(listener)
            except (OSError, anyio.BrokenResourceError) as exc:
                # trio's backend reports a failed accept as BrokenResourceError from the OSError.
                cause = exc if isinstance(exc, OSError) else exc.__cause__
                self._log_error("accept failed: %s", cause or exc)
                if isinstance(cause, OSError) and cause.errno in _EXHAUSTED:
                    await self._make_room(listener, tg)
                await anyio.sleep(BACKOFF)
                continue
            tg.start_soon(self._handle, stream)

    async def _accept(self, listener: anyio.abc.SocketListener) -> anyio.abc.SocketStream:
        if self._raw:
            return await accept_raw(listener.extra(anyio.abc.SocketAttribute.raw_socket))
        return await listener.accept()

    async def _make_room(self, listener: anyio.abc.SocketListener, tg: anyio.abc.TaskGroup) -> None:
        """Out of descriptors: cut the oldest handshakes, or refuse one waiting client clearly."""
        # Act only for a client that waits, and only if descriptors are still short.
        await anyio.wait_readable(listener.extra(anyio.abc.SocketAttribute.raw_socket))
        try:
            tg.start_soon(self._handle, await self._accept(listener))
            return
        except (OSError, anyio.BrokenResourceError):
            pass
        now = anyio.current_time()
        stale = [s for s, began in self._handshakes.items() if now - began >= STALE_HANDSHAKE]
        if stale:
            for scope in stale[: max(1, len(self._handshakes) // _SHED_SHARE)]:
                scope.cancel()
            return
        if self._reserve_fd is None:
            self.take_reserve()
            return
        self.release_reserve()
        try:
            stream = await self._accept(listener)
        except (OSError, anyio.BrokenResourceError):
            self.take_reserve()
            return
        tg.start_soon(self._shed, stream)

    async def _shed(self, stream: anyio.abc.SocketStream) -> None:
        """Answer one client on the reserved descriptor, close, take the reserve back."""
        try:
            async with stream:
                self._log_refused("refused a client: out of file descriptors")
                head = b""
                with anyio.move_on_after(self._read_timeout):
                    while b"\r\n" not in head and len(head) < _MAX_HEAD_BYTES:
                        head += await stream.receive(_MAX_HEAD_BYTES)
                await stream.send(self._shed_response(head))
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass
        finally:
            self.take_reserve()
