"""Plain TCP read and written on the socket itself (``_rawsocket``), on asyncio and trio."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import anyio.lowlevel
import pytest

from opensyncparty_transports import connect
from opensyncparty_transports._rawsocket import RawSocketStream, accept_raw

from .support import TIMEOUT, running_server

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "uvloop", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> object:
    """uvloop too: its ``add_reader`` and socket handling are its own."""
    if request.param == "uvloop":
        return ("asyncio", {"use_uvloop": True})
    return request.param


@asynccontextmanager
async def accepted() -> AsyncIterator[tuple[RawSocketStream, anyio.abc.SocketStream]]:
    """A client connected to a raw listener: (our accepted end, the client's stream)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    with listener, anyio.fail_after(TIMEOUT):
        client = await anyio.connect_tcp("127.0.0.1", listener.getsockname()[1])
        async with client:
            ours = await accept_raw(listener)
            try:
                yield ours, client
            finally:
                await ours.aclose()


async def test_accepted_socket_is_non_blocking_without_nagle() -> None:
    async with accepted() as (ours, client):
        sock = ours.extra(anyio.abc.SocketAttribute.raw_socket)
        assert sock.getblocking() is False
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert ours.extra(anyio.abc.SocketAttribute.remote_address) == client.extra(
            anyio.abc.SocketAttribute.local_address
        )


async def test_bytes_sent_either_way_arrive_in_order() -> None:
    async with accepted() as (ours, client):
        await client.send(b"hello")
        assert await ours.receive() == b"hello"
        # More than the socket buffers hold: send waits for the reader.
        payload = bytes(range(256)) * 16_384
        got = bytearray()
        async with anyio.create_task_group() as tg:
            tg.start_soon(ours.send, payload)
            while len(got) < len(payload):
                got += await client.receive()
        assert got == payload


async def test_a_read_waits_for_bytes_and_is_cancellable() -> None:
    async with accepted() as (ours, client):
        with anyio.move_on_after(0.05) as scope:
            await ours.receive()
        assert scope.cancelled_caught
        # The cancelled wait left nothing registered: the next read works.
        await client.send(b"late")
        assert await ours.receive() == b"late"


async def test_a_cancelled_read_takes_no_bytes() -> None:
    async with accepted() as (ours, client):
        await client.send(b"kept")
        await anyio.sleep(0.05)  # in our receive buffer
        with anyio.CancelScope() as scope:
            scope.cancel()
            await ours.receive()
        assert scope.cancelled_caught
        assert await ours.receive() == b"kept"


async def test_end_of_stream_after_the_peer_closes() -> None:
    async with accepted() as (ours, client):
        await client.send(b"last")
        await client.send_eof()
        assert await ours.receive() == b"last"
        with pytest.raises(anyio.EndOfStream):
            await ours.receive()
        await ours.send_eof()
        with pytest.raises(anyio.EndOfStream):
            await client.receive()


async def test_a_reset_is_a_broken_resource() -> None:
    async with accepted() as (ours, client):
        raw = client.extra(anyio.abc.SocketAttribute.raw_socket)
        # SO_LINGER 0: closing sends RST instead of FIN.
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        await anyio.aclose_forcefully(client)
        with pytest.raises(anyio.BrokenResourceError):
            await ours.receive()


async def test_closing_wakes_a_waiting_reader_and_later_calls_fail_closed() -> None:
    async with accepted() as (ours, _client):
        failures: list[BaseException] = []

        async def read() -> None:
            try:
                await ours.receive()
            except anyio.ClosedResourceError as exc:
                failures.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            await anyio.wait_all_tasks_blocked()
            await ours.aclose()
        assert len(failures) == 1
        with pytest.raises(anyio.ClosedResourceError):
            await ours.receive()
        with pytest.raises(anyio.ClosedResourceError):
            await ours.send(b"x")
        await ours.aclose()  # twice is harmless


async def test_bytes_always_ready_do_not_hold_the_event_loop() -> None:
    async with accepted() as (ours, client):
        chunk = b"x" * 1024
        await client.send(chunk * 64)
        await anyio.sleep(0.05)  # all of it in our receive buffer
        turns = 0
        reading = True

        async def other_task() -> None:
            nonlocal turns
            while reading:
                turns += 1
                await anyio.lowlevel.checkpoint()

        async with anyio.create_task_group() as tg:
            tg.start_soon(other_task)
            got = 0
            while got < len(chunk) * 64:  # 64 reads, each with bytes ready
                got += len(await ours.receive(1024))
            reading = False
        # The other task ran only when a read let it: each read is a checkpoint.
        assert turns >= 8


async def test_plain_tcp_clients_are_served_on_raw_sockets() -> None:
    async with running_server() as server, connect(server.url):
        with anyio.fail_after(TIMEOUT):
            while not server._connections:
                await anyio.sleep(0.01)
        (conn,) = server._connections.values()
        assert isinstance(conn.stream, RawSocketStream)
        assert conn.raw_socket is conn.stream.extra(anyio.abc.SocketAttribute.raw_socket)
