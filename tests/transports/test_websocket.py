"""WebSocket control frames as RFC 6455 says, and the closing handshake."""

from __future__ import annotations

import anyio
import pytest
from wsproto.events import CloseConnection, Ping, Pong, TextMessage

from opensyncparty_core import ClientHello, CreateRoom, RoomList, RoomState, encode
from opensyncparty_transports import connect

from .support import (
    SEED,
    TIMEOUT,
    raw_websocket,
    read_close_code,
    receive_until,
    running_server,
    until_closed,
)

pytestmark = pytest.mark.anyio


async def test_ping_frame_is_answered_with_pong() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server() as server:
            stream, ws = await raw_websocket(server.port)
            async with stream:
                await stream.send(ws.send(Ping(payload=b"are you there")))
                pong = None
                while pong is None:
                    ws.receive_data(await stream.receive())
                    pong = next((e for e in ws.events() if isinstance(e, Pong)), None)
                assert pong.payload == b"are you there"


async def test_client_close_is_answered_and_counts_as_disconnect() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server() as server, connect(server.url) as guest:
            stream, ws = await raw_websocket(server.port)
            async with stream:
                await stream.send(ws.send(Ping(payload=b"sync")))
                while not any(isinstance(e, Pong) for e in ws.events()):
                    ws.receive_data(await stream.receive())
                assert len(server.core.client_ids) == 2
                await stream.send(ws.send(CloseConnection(code=1000, reason="bye")))
                reply = None
                while reply is None:
                    ws.receive_data(await stream.receive())
                    reply = next((e for e in ws.events() if isinstance(e, CloseConnection)), None)
                assert reply.code == 1000
                # RFC 6455 7.1.1: after the close handshake the server closes TCP.
                with pytest.raises(anyio.EndOfStream):
                    await stream.receive()
            await receive_until(guest, ClientHello)
            assert len(server.core.client_ids) == 1


async def test_dropped_tcp_connection_counts_as_disconnect() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(config=SEED) as server, connect(server.url) as guest:
            stream, ws = await raw_websocket(server.port)
            await stream.send(ws.send(TextMessage(data=encode(CreateRoom()))))
            while not (await receive_until(guest, RoomList)).rooms:
                pass
            # No close frame: the socket just goes away, and the room with it.
            await stream.aclose()
            assert (await receive_until(guest, RoomList)).rooms == ()
            assert server.core.room_ids == ()


async def test_shutdown_closes_clients_with_1001() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server() as server, connect(server.url) as host:
            await host.send(CreateRoom())
            await receive_until(host, RoomState)
            async with connect(server.url) as guest:
                await receive_until(guest, ClientHello)
                server.stop()
                for client in (host, guest):
                    assert (await until_closed(client)).code == 1001


async def test_invalid_utf8_text_closes_with_1007_and_counts_as_disconnect() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server() as server:
            stream, ws = await raw_websocket(server.port)
            async with stream:
                # A masked text frame (zero mask) whose one payload byte is not UTF-8.
                await stream.send(b"\x81\x81\x00\x00\x00\x00\xff")
                assert await read_close_code(stream, ws) == 1007
            assert server.core.client_ids == ()
