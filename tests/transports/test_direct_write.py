"""Frames written straight to the socket keep their order and their framing.

The server writes a frame to the socket itself when nothing of that client's
is buffered, and queues only what the kernel does not take. These tests make
the kernel refuse most of a frame (a peer with a small receive window that
is not reading) and check what the peer finally reads.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import anyio.abc
import attrs
import pytest
from wsproto import WSConnection
from wsproto.events import CloseConnection, Event, Ping, Pong, TextMessage

from opensyncparty_core import (
    ClientLeft,
    Config,
    CreateRoom,
    JoinRoom,
    ParticipantsUpdate,
    PlayState,
    RoomState,
    StateUpdate,
    encode,
)
from opensyncparty_transports import ClientConnection, WebSocketServer, connect

from .support import TIMEOUT, raw_websocket, receive_until, running_server

pytestmark = pytest.mark.anyio

# Loopback's socket buffers take a few of these from a peer that is not reading.
# Tests that queue them turn the byte budget off (max_queue_bytes=0): they are
# about the order of partly written frames, not about eviction.
BIG = 2_000_000
MAX_BIG = 10
SMALL_UPDATES = 50
CONFIG = attrs.evolve(
    Config(),
    max_message_bytes=2 * BIG,
    rate_limit_per_second=100_000.0,
    rate_limit_burst=100_000,
    min_state_update_interval_ms=0,
)


def update(room: str, i: int, blob: str = "", **payload: object) -> StateUpdate:
    # The play state changes every time, so the core relays every update.
    play_state: PlayState = "paused" if i % 2 else "playing"
    return StateUpdate(
        room=room, position=float(i), play_state=play_state, payload={"blob": blob, **payload}
    )


async def fill_until_queued(
    server: WebSocketServer, host: ClientConnection, reader: ClientConnection, room: str
) -> int:
    """Send big updates until one of them is left partly unwritten; return their number.

    The reader joined last, so once it has an update the slow peer's share was
    already written, or queued.
    """
    blob = "b" * BIG
    sent = 0
    while server.peak_queue_length == 0:
        assert sent < MAX_BIG, "the kernel took every frame whole"
        await host.send(update(room, sent, blob))
        assert (await receive_until(reader, StateUpdate)).position == sent
        sent += 1
    return sent


def positions(messages: list[dict[str, Any]]) -> list[float]:
    return [m["payload"]["position"] for m in messages if m["type"] == "state_update"]


async def read_frames(
    stream: anyio.abc.SocketStream, ws: WSConnection, until: Callable[[dict[str, Any]], bool]
) -> tuple[list[dict[str, Any]], CloseConnection | None]:
    """Messages the peer reads (wsproto checks every frame) up to ``until`` or a close."""
    messages: list[dict[str, Any]] = []
    parts: list[str] = []
    while True:
        try:
            data: bytes | None = await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            data = None
        ws.receive_data(data)
        for event in ws.events():
            if isinstance(event, CloseConnection):
                return messages, event
            assert isinstance(event, TextMessage), event
            parts.append(event.data)
            if event.message_finished:
                messages.append(json.loads("".join(parts)))
                parts.clear()
                if until(messages[-1]):
                    return messages, None
        assert data is not None, "connection ended without a close frame"


async def test_backends_give_a_non_blocking_socket_whose_writes_keep_order() -> None:
    """What the direct write relies on: ``os.write`` between stream sends lands in order."""
    received = bytearray()
    with anyio.fail_after(TIMEOUT):
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with listener, anyio.create_task_group() as tg:

            async def serve(stream: anyio.abc.SocketStream) -> None:
                async with stream:
                    sock = stream.extra(anyio.abc.SocketAttribute.raw_socket)
                    assert sock.gettimeout() == 0.0
                    await stream.send(b"one,")
                    assert os.write(sock.fileno(), b"two,") == 4
                    await stream.send(b"three")
                tg.cancel_scope.cancel()

            tg.start_soon(listener.serve, serve)
            async with await anyio.connect_tcp("127.0.0.1", port) as client:
                while True:
                    try:
                        received += await client.receive()
                    except anyio.EndOfStream:
                        break
    assert bytes(received) == b"one,two,three"


async def test_frames_behind_a_partly_written_frame_wait_for_it() -> None:
    with anyio.fail_after(TIMEOUT):
        async with (
            running_server(config=CONFIG, max_queue_bytes=0) as server,
            connect(server.url) as host,
            connect(server.url) as reader,
        ):
            await host.send(CreateRoom())
            room = (await receive_until(host, RoomState)).room
            slow_stream, slow_ws = await raw_websocket(server.port, receive_buffer=4096)
            async with slow_stream:
                await slow_stream.send(slow_ws.send(TextMessage(data=encode(JoinRoom(room=room)))))
                while (await receive_until(host, ParticipantsUpdate)).participant_count < 2:
                    pass
                await reader.send(JoinRoom(room=room))
                await receive_until(reader, RoomState)
                # Big frames the slow peer cannot take, then small ones behind them:
                # some while it is not reading, the rest while it catches up.
                big = await fill_until_queued(server, host, reader, room)
                count = big + 2 * SMALL_UPDATES
                for i in range(big, big + SMALL_UPDATES):
                    await host.send(update(room, i))
                for i in range(big, big + SMALL_UPDATES):
                    assert (await receive_until(reader, StateUpdate)).position == i
                read: list[tuple[list[dict[str, Any]], CloseConnection | None]] = []

                async def catch_up() -> None:
                    last = [float(count - 1)]
                    read.append(
                        await read_frames(slow_stream, slow_ws, lambda m: positions([m]) == last)
                    )

                async with anyio.create_task_group() as tg:
                    tg.start_soon(catch_up)
                    for i in range(big + SMALL_UPDATES, count):
                        await host.send(update(room, i))
                        assert (await receive_until(reader, StateUpdate)).position == i
                [(messages, close)] = read
                assert close is None
                assert positions(messages) == [float(i) for i in range(count)]
                blobs = [m["payload"]["blob"] for m in messages if m["type"] == "state_update"]
                assert [len(b) for b in blobs] == [BIG if i < big else 0 for i in range(count)]


async def test_close_frame_follows_the_rest_of_a_partly_written_frame() -> None:
    with anyio.fail_after(TIMEOUT):
        async with (
            running_server(config=CONFIG, max_queue_bytes=0, close_timeout=TIMEOUT) as server,
            connect(server.url) as host,
            connect(server.url) as reader,
        ):
            await host.send(CreateRoom())
            room = (await receive_until(host, RoomState)).room
            slow_stream, slow_ws = await raw_websocket(server.port, receive_buffer=4096)
            async with slow_stream:
                await slow_stream.send(slow_ws.send(TextMessage(data=encode(JoinRoom(room=room)))))
                while (await receive_until(host, ParticipantsUpdate)).participant_count < 2:
                    pass
                await reader.send(JoinRoom(room=room))
                await receive_until(reader, RoomState)
                big = await fill_until_queued(server, host, reader, room)
                server.stop()

                messages, close = await read_frames(slow_stream, slow_ws, lambda m: False)
                assert close is not None
                assert close.code == 1001
                assert positions(messages) == [float(i) for i in range(big)]


@contextmanager
def broken_pipe_on_first_write_of(marker: bytes) -> Iterator[None]:
    """``os.write`` fails once, as on a peer that has gone, for data holding ``marker``."""
    real_write = os.write
    failed = False

    def write(fd: int, data: bytes) -> int:
        nonlocal failed
        if not failed and marker in data:
            failed = True
            raise BrokenPipeError(32, "Broken pipe")
        return real_write(fd, data)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "write", write)
        yield
    assert failed, "the marked frame was never written directly"


async def test_broken_pipe_on_a_direct_write_disconnects_only_that_client() -> None:
    with anyio.fail_after(TIMEOUT):
        async with (
            running_server(config=CONFIG) as server,
            connect(server.url) as host,
            connect(server.url) as doomed,
            connect(server.url) as reader,
        ):
            await host.send(CreateRoom())
            room = (await receive_until(host, RoomState)).room
            # Fan-out follows join order: the doomed guest is written to before the reader.
            await doomed.send(JoinRoom(room=room))
            await receive_until(doomed, RoomState)
            await reader.send(JoinRoom(room=room))
            await receive_until(reader, RoomState)
            with broken_pipe_on_first_write_of(b"doomed-marker"):
                await host.send(update(room, 1, note="doomed-marker"))
                assert (await receive_until(reader, StateUpdate)).position == 1
                left = await receive_until(host, ClientLeft)
            assert left.participant_count == 2
            assert len(server.core.client_ids) == 2
            await host.send(update(room, 2))
            assert (await receive_until(reader, StateUpdate)).position == 2


@contextmanager
def half_written_once(marker: bytes) -> Iterator[None]:
    """``os.write`` takes only half of the first data holding ``marker``, as a full socket may."""
    real_write = os.write
    cut = False

    def write(fd: int, data: bytes) -> int:
        nonlocal cut
        if not cut and marker in data:
            cut = True
            return real_write(fd, data[: len(data) // 2])
        return real_write(fd, data)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "write", write)
        yield
    assert cut, "the marked frame was never written directly"


async def test_close_right_after_a_half_written_frame_sends_its_rest_first() -> None:
    marker = b"half-marker"
    with anyio.fail_after(TIMEOUT):
        async with running_server() as server:
            stream, ws = await raw_websocket(server.port)
            async with stream:
                with half_written_once(marker):
                    # One read on the server: the pong is cut short, then the close comes in.
                    close = CloseConnection(code=1000, reason="bye")
                    await stream.send(ws.send(Ping(payload=marker)) + ws.send(close))
                    events: list[Event] = []
                    while not any(isinstance(e, CloseConnection) for e in events):
                        ws.receive_data(await stream.receive())
                        events.extend(e for e in ws.events() if not isinstance(e, TextMessage))
                assert [type(e) for e in events] == [Pong, CloseConnection]
                assert isinstance(events[0], Pong)
                assert events[0].payload == marker
