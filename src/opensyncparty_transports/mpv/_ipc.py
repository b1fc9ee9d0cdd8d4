"""mpv's JSON IPC over a Unix socket, on anyio.

One connection, one reader task (:meth:`MpvIpc.run`). Each line mpv writes is
stamped with the local clock the moment it is read, before anything else
happens to it: for a ``property-change`` that stamp is the best estimate of
when mpv made the change (the socket is local, so it is late by tens of
microseconds, not by a scheduler's whims). Replies wake the request waiting
for them; everything else goes to the ``on_message`` callback, in order.

Every request is bounded by a timeout, and a connection that ends fails every
request in flight: nothing waits forever on an mpv that hangs or dies.
"""

from __future__ import annotations

import itertools
import json
import math
import socket
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import anyio
import anyio.abc
from anyio.streams.buffered import BufferedByteReceiveStream

__all__ = ["MpvError", "MpvIpc"]

# A line longer than this is not something this adapter asked for (a playlist, a
# track list): the connection is treated as broken rather than buffering without bound.
_MAX_LINE = 1024 * 1024


class MpvError(Exception):
    """mpv is missing, refused a command, answered too slowly, or went away."""


class _Waiter:
    __slots__ = ("done", "reply")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.reply: dict[str, Any] | None = None


class MpvIpc:
    """A JSON IPC connection to one mpv. Get one with :meth:`connect`.

    :param clock: local milliseconds, the clock each incoming line is stamped with.
    :param timeout: seconds a request may wait for its reply.
    """

    def __init__(
        self, stream: anyio.abc.ByteStream, clock: Callable[[], float], timeout: float = 2.0
    ) -> None:
        self._stream = stream
        self._reader = BufferedByteReceiveStream(stream)
        self._clock = clock
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._waiters: dict[int, _Waiter] = {}
        self._closed: MpvError | None = None
        self._send_lock = anyio.Lock()
        self._read_done: anyio.Event | None = None

    @classmethod
    async def connect(cls, path: str, clock: Callable[[], float], timeout: float = 2.0) -> MpvIpc:
        """Connect to mpv's ``--input-ipc-server`` socket at ``path``."""
        try:
            with anyio.fail_after(timeout):
                stream = await anyio.connect_unix(path)
        except (OSError, TimeoutError) as exc:
            raise MpvError(f"cannot connect to mpv at {path}: {exc}") from exc
        return cls(stream, clock, timeout)

    @property
    def closed(self) -> bool:
        """Whether the connection has ended (mpv quit, or :meth:`aclose`)."""
        return self._closed is not None

    async def run(self, on_message: Callable[[dict[str, Any], float], None]) -> None:
        """Read until mpv closes the socket, passing events to ``on_message(message, at)``.

        Returns when the connection ends, closed; requests still waiting then fail.
        Cancelling it closes the connection.
        """
        done = self._read_done = anyio.Event()

        async def read() -> None:
            # Shielded: the reader only ever stops at the end of the stream. On asyncio,
            # anyio's UNIX sockets can fail a loop callback when a pending read is
            # cancelled or closed as data arrives (mpv writes 25 times a second), so
            # stopping is a shutdown of the socket, which the read sees as its end.
            with anyio.CancelScope(shield=True):
                try:
                    await self._read(on_message)
                finally:
                    done.set()
                    await anyio.aclose_forcefully(self._stream)

        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            try:
                await done.wait()
            finally:
                if not done.is_set():
                    with anyio.CancelScope(shield=True):
                        await self.aclose()

    async def _read(self, on_message: Callable[[dict[str, Any], float], None]) -> None:
        try:
            while True:
                try:
                    line = await self._reader.receive_until(b"\n", _MAX_LINE)
                except (
                    anyio.EndOfStream,
                    anyio.IncompleteRead,
                    anyio.BrokenResourceError,
                    anyio.ClosedResourceError,
                    anyio.DelimiterNotFound,
                ):
                    return
                at = self._clock()
                try:
                    message = json.loads(line)
                except ValueError:
                    continue  # not ours to judge; mpv only ever writes JSON
                if not isinstance(message, dict):
                    continue
                request_id = message.get("request_id")
                if "event" not in message and isinstance(request_id, int):
                    waiter = self._waiters.pop(request_id, None)
                    if waiter is not None:
                        waiter.reply = message
                        waiter.done.set()
                    continue
                on_message(message, at)
        finally:
            self._fail_all(MpvError("mpv closed its IPC connection"))

    async def command(self, *args: Any, timeout: float | None = None) -> Any:
        """Run an mpv input command (``"set_property", "pause", True``); return its ``data``.

        :raises MpvError: mpv refused it, did not answer within ``timeout``
            (default: the connection's ``timeout``), or is gone.
        """
        if self._closed is not None:
            raise self._closed
        request_id = next(self._ids)
        waiter = self._waiters[request_id] = _Waiter()
        line = json.dumps({"command": list(args), "request_id": request_id}) + "\n"
        limit = self.timeout if timeout is None else timeout
        try:
            with anyio.move_on_after(limit):
                async with self._send_lock:
                    await self._stream.send(line.encode())
                await waiter.done.wait()
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            self._fail_all(MpvError("mpv closed its IPC connection"))
        finally:
            self._waiters.pop(request_id, None)
        reply = waiter.reply
        if reply is None:
            if self._closed is not None:
                raise self._closed
            raise MpvError(f"mpv did not answer {args[0]!r} within {limit:g} s")
        if reply.get("error") != "success":
            raise MpvError(f"mpv refused {list(args)!r}: {reply.get('error')}")
        return reply.get("data")

    async def aclose(self) -> None:
        """Close the connection; requests in flight fail with :class:`MpvError`."""
        self._fail_all(MpvError("IPC connection closed"))
        done = self._read_done
        if done is not None and not done.is_set():
            raw = self._stream.extra(anyio.abc.SocketAttribute.raw_socket, None)
            if raw is not None:
                with suppress(OSError):
                    raw.shutdown(socket.SHUT_RDWR)
                with anyio.move_on_after(1.0):
                    await done.wait()
        await anyio.aclose_forcefully(self._stream)

    def _fail_all(self, error: MpvError) -> None:
        if self._closed is None:
            self._closed = error
        for waiter in self._waiters.values():
            waiter.done.set()
        self._waiters.clear()


def finite(value: object) -> float | None:
    """``value`` as a float if it is a finite JSON number (not a bool), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None
