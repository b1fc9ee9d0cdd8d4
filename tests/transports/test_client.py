"""The client helper against a scripted wsproto server: what it must not lose."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import anyio.abc
import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import AcceptConnection, CloseConnection, Ping, Pong, Request, TextMessage

from opensyncparty_core import Pong as PongMessage
from opensyncparty_core import encode
from opensyncparty_transports import ConnectionClosed, connect

from .support import TIMEOUT

pytestmark = pytest.mark.anyio

Script = Callable[[anyio.abc.SocketStream, WSConnection], Awaitable[None]]


async def with_scripted_server(script: Script, client: Callable[[str], Awaitable[None]]) -> None:
    """Run ``client(url)`` against a server that upgrades and then runs ``script``."""

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            ws = WSConnection(ConnectionType.SERVER)
            while not any(isinstance(e, Request) for e in ws.events()):
                ws.receive_data(await stream.receive())
            await script(stream, ws)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        await client(f"ws://127.0.0.1:{port}/ws")
        tg.cancel_scope.cancel()


async def answer_close(stream: anyio.abc.SocketStream, ws: WSConnection) -> None:
    """Wait for the client's close frame; answer it unless it answers ours."""
    while True:
        ws.receive_data(await stream.receive())
        for event in ws.events():
            if isinstance(event, CloseConnection):
                if ws.state is ConnectionState.REMOTE_CLOSING:
                    await stream.send(ws.send(event.response()))
                return


PONG = PongMessage(payload={"n": 1}, ts=1, server_ts=2)


async def test_message_in_the_same_packet_as_the_handshake_is_received() -> None:
    async def script(stream: anyio.abc.SocketStream, ws: WSConnection) -> None:
        await stream.send(ws.send(AcceptConnection()) + ws.send(TextMessage(data=encode(PONG))))
        await answer_close(stream, ws)

    async def client(url: str) -> None:
        async with connect(url) as connection:
            assert await connection.receive() == PONG

    with anyio.fail_after(TIMEOUT):
        await with_scripted_server(script, client)


async def test_ping_is_answered_and_close_code_is_reported() -> None:
    async def script(stream: anyio.abc.SocketStream, ws: WSConnection) -> None:
        await stream.send(ws.send(AcceptConnection()) + ws.send(Ping(payload=b"hi")))
        pong = None
        while pong is None:
            ws.receive_data(await stream.receive())
            pong = next((e for e in ws.events() if isinstance(e, Pong)), None)
        assert pong.payload == b"hi"
        await stream.send(ws.send(CloseConnection(code=4000, reason="done")))
        await answer_close(stream, ws)

    async def client(url: str) -> None:
        async with connect(url) as connection:
            with pytest.raises(ConnectionClosed) as info:
                await connection.receive()
            assert (info.value.code, info.value.reason) == (4000, "done")
            assert connection.close_code == 4000
            with pytest.raises(ConnectionClosed):
                await connection.send_text("too late")

    with anyio.fail_after(TIMEOUT):
        await with_scripted_server(script, client)


async def test_fragmented_server_message_is_reassembled() -> None:
    text = encode(PONG)

    async def script(stream: anyio.abc.SocketStream, ws: WSConnection) -> None:
        data = ws.send(AcceptConnection())
        data += ws.send(TextMessage(data=text[:5], message_finished=False))
        data += ws.send(TextMessage(data=text[5:], message_finished=True))
        await stream.send(data)
        await answer_close(stream, ws)

    async def client(url: str) -> None:
        async with connect(url) as connection:
            assert await connection.receive_text() == text

    with anyio.fail_after(TIMEOUT):
        await with_scripted_server(script, client)


async def test_bad_url_is_refused() -> None:
    with pytest.raises(ValueError, match="ws://"):
        async with connect("http://127.0.0.1:1/ws"):
            pass
