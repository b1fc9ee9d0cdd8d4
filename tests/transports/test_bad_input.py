"""Bad input over the wire (spec section 6): the sender gets ``error``, nobody else notices."""

from __future__ import annotations

import anyio
import pytest
from wsproto.events import TextMessage

from opensyncparty_core import (
    ClientHello,
    ClientLeft,
    CreateRoom,
    Error,
    JoinRoom,
    Ping,
    Pong,
    RoomState,
)
from opensyncparty_transports import ClientConnection, ConnectionClosed, connect

from .support import SEED, TIMEOUT, raw_websocket, read_close_code, receive_until, running_server

pytestmark = pytest.mark.anyio


async def assert_alive(client: ClientConnection, tag: str) -> None:
    """The client is still served: its ping is answered (after any earlier pongs)."""
    await client.send(Ping(payload={"tag": tag}))
    while (await receive_until(client, Pong)).payload != {"tag": tag}:
        pass


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("not json", "Invalid message format"),
        ("[1, 2]", "Invalid message format"),
        ('{"payload": {}}', "Invalid message format"),
        ('{"type": "dance"}', "dance"),
        ('{"type": "create_room", "payload": {"name": 5}}', "name"),
        ('{"type": "ping", "ts": "yesterday"}', "ts"),
    ],
)
async def test_bad_text_gets_an_error_and_the_connection_goes_on(text: str, expected: str) -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server() as server, connect(server.url) as client:
            await client.send_text(text)
            error = await receive_until(client, Error)
            assert expected in error.message
            await assert_alive(client, "after")


async def test_binary_frame_gets_an_error_and_the_connection_goes_on() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server() as server, connect(server.url) as client:
            await client.send_bytes(b"\x00\x01")
            error = await receive_until(client, Error)
            assert error.message == "Binary messages are not supported"
            await assert_alive(client, "after")


async def test_fragmented_text_is_reassembled() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server() as server:
            stream, ws = await raw_websocket(server.port)
            async with stream:
                text = '{"type": "ping", "payload": "' + "x" * 50_000 + '"}'
                for start in range(0, len(text), 8_000):
                    part = text[start : start + 8_000]
                    finished = start + 8_000 >= len(text)
                    await stream.send(ws.send(TextMessage(data=part, message_finished=finished)))
                received = ""
                while '"pong"' not in received:
                    ws.receive_data(await stream.receive())
                    for event in ws.events():
                        if isinstance(event, TextMessage):
                            received = event.data if event.message_finished else received
                assert "x" * 50_000 in received


async def test_oversize_message_closes_only_that_connection_with_1009() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(config=SEED) as server, connect(server.url) as host:
            await host.send(CreateRoom())
            room = (await receive_until(host, RoomState)).room
            async with connect(server.url) as big:
                big_id = (await receive_until(big, ClientHello)).client_id
                await big.send(JoinRoom(room=room))
                await receive_until(big, RoomState)
                limit = server.core.config.max_message_bytes
                await big.send_text('{"type": "ping", "payload": "' + "x" * limit + '"}')
                with pytest.raises(ConnectionClosed) as info:
                    await receive_until(big, Error)
                assert info.value.code == 1009
            # The core was told: the room goes on without the sender.
            left = await receive_until(host, ClientLeft)
            assert (left.client, left.participant_count) == (big_id, 1)
            assert big_id not in server.core.client_ids
            await assert_alive(host, "after")


async def test_oversize_is_refused_before_the_message_ends() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server() as server:
            stream, ws = await raw_websocket(server.port)
            async with stream:
                chunk = "x" * 16_384
                # 80 KiB in fragments and never finished: the server must close as
                # soon as the limit is crossed, not wait for the message to end.
                for _ in range(5):
                    await stream.send(ws.send(TextMessage(data=chunk, message_finished=False)))
                assert await read_close_code(stream, ws) == 1009
                assert server.core.client_ids == ()


async def test_flood_is_rate_limited_and_others_go_on() -> None:
    with anyio.fail_after(TIMEOUT):
        async with (
            running_server() as server,
            connect(server.url) as flooder,
            connect(server.url) as other,
        ):
            await receive_until(flooder, ClientHello)
            burst = server.core.config.rate_limit_burst
            for i in range(2 * burst):
                await flooder.send(Ping(payload=i))
            await flooder.send_text("not json")
            pongs = 0
            while True:
                message = await flooder.receive()
                if isinstance(message, Error):
                    break
                if isinstance(message, Pong):
                    pongs += 1
            assert message.message == "Rate limit exceeded"
            # A burst is accepted (plus what refilled while it was sent), no more.
            assert burst <= pongs < 2 * burst
            await assert_alive(other, "unaffected")
            # The bucket refills with time; the flooder is served again, not dropped.
            await anyio.sleep(0.2)
            await assert_alive(flooder, "later")
