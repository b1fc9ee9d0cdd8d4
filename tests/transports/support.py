"""Helpers for transport tests: a server on a free port, message filters."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import anyio
import anyio.abc
from anyio.streams.buffered import BufferedByteReceiveStream
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import AcceptConnection, CloseConnection, Request

from opensyncparty_core import ServerMessage
from opensyncparty_transports import ClientConnection, ConnectionClosed, WebSocketServer

M = TypeVar("M", bound=ServerMessage)

# Every network wait in these tests is bounded by this many seconds.
TIMEOUT = 10.0


@asynccontextmanager
async def running_server(**kwargs: Any) -> AsyncIterator[WebSocketServer]:
    """A :class:`WebSocketServer` on 127.0.0.1 and a free port for the block."""
    server = WebSocketServer(host="127.0.0.1", port=0, **kwargs)
    async with anyio.create_task_group() as tg:
        await tg.start(server.serve)
        try:
            yield server
        finally:
            server.stop()


async def receive_until(client: ClientConnection, kind: type[M]) -> M:
    """The next message of type ``kind``, skipping others (e.g. ``room_list`` broadcasts)."""
    while True:
        message = await client.receive()
        if isinstance(message, kind):
            return message


async def until_closed(client: ClientConnection) -> ConnectionClosed:
    """Read and drop messages until the server closes; return how it closed."""
    while True:
        try:
            await client.receive()
        except ConnectionClosed as closed:
            return closed


async def raw_websocket(
    port: int, *, receive_buffer: int | None = None
) -> tuple[anyio.abc.SocketStream, WSConnection]:
    """A bare wsproto client on 127.0.0.1, upgraded, for frames :func:`connect` won't send.

    ``receive_buffer`` sets SO_RCVBUF before connecting (a small window makes a
    client that never reads fill up quickly).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.setblocking(False)
    try:
        sock.connect(("127.0.0.1", port))
    except BlockingIOError:
        await anyio.wait_writable(sock)
    stream = await anyio.abc.SocketStream.from_socket(sock)
    ws = WSConnection(ConnectionType.CLIENT)
    await stream.send(ws.send(Request(host=f"127.0.0.1:{port}", target="/ws")))
    while ws.state is not ConnectionState.OPEN:
        ws.receive_data(await stream.receive())
        # Frames may arrive with the 101 response; they stay in ws for the caller.
        event = next(ws.events(), None)
        assert event is None or isinstance(event, AcceptConnection), event
    return stream, ws


async def read_close_code(stream: anyio.abc.SocketStream, ws: WSConnection) -> int:
    """Read (and drop) messages until the server's close frame; return its code."""
    while True:
        try:
            data: bytes | None = await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            data = None
        ws.receive_data(data)
        for event in ws.events():
            if isinstance(event, CloseConnection):
                return event.code


@asynccontextmanager
async def server_process(
    command: list[str], env: dict[str, str], ready: str
) -> AsyncIterator[anyio.abc.Process]:
    """A server subprocess, yielded once a line of its log contains ``ready``; killed after."""
    process = await anyio.open_process(command, env=env)
    try:
        assert process.stderr is not None
        log = BufferedByteReceiveStream(process.stderr)
        while ready not in (await log.receive_until(b"\n", 65_536)).decode(errors="replace"):
            pass
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await process.aclose()
