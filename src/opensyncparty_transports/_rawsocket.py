"""Plain TCP without the event loop's stream objects: accept and read the socket itself.

anyio's asyncio stream gives every connection a transport and a protocol
(a read ``deque`` and two ``asyncio.Event``, about 2.5 KiB for an idle
client) and pauses and resumes reading around every read, one
``epoll_ctl`` each. :class:`RawSocketStream` keeps only the non-blocking
socket: a read first tries ``recv``, which under load usually finds the
bytes already there, and only when it would block waits with
:func:`anyio.wait_readable` (asyncio, uvloop and trio alike). Writes go
through :meth:`~RawSocketStream.send` the same way, and the server's direct
writes (``_connection``) were already raw.

TLS does not use this: its records need anyio's TLS stream.
"""

from __future__ import annotations

import socket

import anyio
import anyio.abc
import anyio.lowlevel

__all__ = ["RawSocketStream", "accept_raw"]


class RawSocketStream(anyio.abc.SocketStream):
    """An accepted, non-blocking TCP socket as an anyio byte stream.

    Errors are anyio's: :class:`~anyio.EndOfStream` once the peer has
    closed, :class:`~anyio.BrokenResourceError` on a reset,
    :class:`~anyio.ClosedResourceError` after :meth:`aclose`. Each call is
    a checkpoint: cancellation is seen before any byte is taken, never
    after, and a read that finds bytes at once still lets the other tasks
    run first (a client that always has bytes ready cannot hold the event
    loop), while one that had to wait yields only there.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    @property
    def _raw_socket(self) -> socket.socket:
        return self._sock

    async def receive(self, max_bytes: int = 65_536) -> bytes:
        await anyio.lowlevel.checkpoint_if_cancelled()
        sock = self._sock
        waited = False
        while True:
            try:
                data = sock.recv(max_bytes)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError as exc:
                raise self._error(exc) from exc
            else:
                if not waited:
                    # Bytes were there at once: let the other tasks run, but
                    # without a cancellation that would lose these bytes.
                    await anyio.lowlevel.cancel_shielded_checkpoint()
                if not data:
                    raise anyio.EndOfStream
                return data
            # Waited for here, not in the except clause (whose exception the
            # frame would hold, about 500 bytes per idle client) nor in a
            # helper (another coroutine frame each).
            if sock.fileno() < 0:
                raise anyio.ClosedResourceError
            await anyio.wait_readable(sock)
            waited = True

    async def send(self, item: bytes) -> None:
        await anyio.lowlevel.checkpoint()
        sock = self._sock
        view = memoryview(item)
        while view:
            try:
                view = view[sock.send(view) :]
                continue
            except (BlockingIOError, InterruptedError):
                pass
            except OSError as exc:
                raise self._error(exc) from exc
            if sock.fileno() < 0:
                raise anyio.ClosedResourceError
            await anyio.wait_writable(sock)

    async def send_eof(self) -> None:
        await anyio.lowlevel.checkpoint()
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            raise self._error(exc) from exc

    async def aclose(self) -> None:
        sock = self._sock
        if sock.fileno() >= 0:
            # Wakes a task still waiting on the descriptor, before its number can be reused.
            anyio.notify_closing(sock)
            sock.close()

    def _error(self, exc: OSError) -> Exception:
        if self._sock.fileno() < 0:
            return anyio.ClosedResourceError()
        return anyio.BrokenResourceError()


async def accept_raw(listener: socket.socket) -> RawSocketStream:
    """Accept one client of a non-blocking listening socket, waiting for one if need be.

    Raises :class:`OSError` as :meth:`socket.socket.accept` does (out of
    descriptors, for one), :class:`~anyio.ClosedResourceError` if the
    listener is closed.
    """
    await anyio.lowlevel.checkpoint()
    while True:
        try:
            client, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            if listener.fileno() < 0:
                raise anyio.ClosedResourceError from None
            await anyio.wait_readable(listener)
            continue
        try:
            client.setblocking(False)
            # As anyio does: frames are written whole, so no Nagle delay.
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            client.close()
            raise
        return RawSocketStream(client)
