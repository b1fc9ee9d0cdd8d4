"""One write per client per read handled, not one per message.

A host that falls behind sends several messages in one TCP segment; the
server handles them in one go and gives each recipient all of its frames
in one system call. What the kernel does not take is queued frame by frame,
so the queue's bound still counts frames.
"""

from __future__ import annotations

import os
from typing import Any, cast

import anyio
import anyio.abc
import attrs
import pytest
from wsproto.connection import Connection, ConnectionType
from wsproto.events import TextMessage

from opensyncparty_core import Config, CreateRoom, JoinRoom, RoomState, StateUpdate, encode
from opensyncparty_transports import connect
from opensyncparty_transports._connection import _Connection

from .support import TIMEOUT, raw_websocket, receive_until, running_server

CONFIG = attrs.evolve(
    Config(),
    rate_limit_per_second=100_000.0,
    rate_limit_burst=100_000,
    min_state_update_interval_ms=0,
)
FRAMES = [b"one", b"two-", b"three"]

# _Connection holds a cancel scope, which needs a running event loop.
pytestmark = pytest.mark.anyio


class _Stream:
    """The one thing _Connection reads from its stream: the raw socket."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def extra(self, _attribute: Any) -> Any:
        return self

    def fileno(self) -> int:
        return self.fd


def connection(queue_size: int = 10, max_queue_bytes: int = 0) -> _Connection:
    stream = cast(anyio.abc.SocketStream, _Stream(99))
    ws = Connection(ConnectionType.SERVER)
    return _Connection("c", ws, stream, queue_size, max_queue_bytes, 0.0)


def kernel_takes(monkeypatch: pytest.MonkeyPatch, accepted: int) -> list[bytes]:
    """Make ``os.write`` take ``accepted`` bytes; returns the list of what it was given."""
    written: list[bytes] = []

    def write(_fd: int, data: bytes) -> int:
        written.append(bytes(data))
        return min(accepted, len(data))

    monkeypatch.setattr(os, "write", write)
    return written


async def test_frames_go_out_in_one_write_when_nothing_is_queued(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    written = kernel_takes(monkeypatch, 1_000)
    conn = connection()
    assert conn.push_many(FRAMES)
    assert written == [b"one" + b"two-" + b"three"]
    assert not conn.queue


async def test_the_unsent_rest_is_queued_frame_by_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    kernel_takes(monkeypatch, 5)  # "one" and "tw"
    conn = connection()
    assert conn.push_many(FRAMES)
    assert list(conn.queue) == [b"o-", b"three"]
    assert conn.partial


async def test_a_write_ending_on_a_frame_boundary_leaves_no_partial_frame(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kernel_takes(monkeypatch, 3)
    conn = connection()
    assert conn.push_many(FRAMES)
    assert list(conn.queue) == [b"two-", b"three"]
    assert not conn.partial


async def test_more_unsent_frames_than_the_queue_holds_is_an_eviction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kernel_takes(monkeypatch, 0)
    assert connection(queue_size=3).push_many(FRAMES)
    assert not connection(queue_size=2).push_many(FRAMES)


async def test_unsent_frames_over_the_byte_budget_are_an_eviction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kernel_takes(monkeypatch, 0)
    assert connection(max_queue_bytes=12).push_many(FRAMES)  # 3 + 4 + 5 bytes
    assert not connection(max_queue_bytes=11).push_many(FRAMES)
    conn = connection(max_queue_bytes=12)
    conn.push_many(FRAMES)
    assert conn.queue_bytes == 12


async def test_frames_behind_a_queue_are_queued_not_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    written = kernel_takes(monkeypatch, 1_000)
    conn = connection(queue_size=3)
    conn.queue.append(b"earlier")
    assert not conn.push_many(FRAMES)  # 1 + 3 frames do not fit in 3
    assert written == []


async def test_messages_read_together_reach_a_guest_in_one_write_and_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(config=CONFIG) as server, connect(server.url) as guest:
            host_stream, host_ws = await raw_websocket(server.port)
            async with host_stream:
                await host_stream.send(host_ws.send(TextMessage(data=encode(CreateRoom()))))
                room = None
                while room is None:
                    host_ws.receive_data(await host_stream.receive())
                    for event in host_ws.events():
                        if isinstance(event, TextMessage) and '"room_state"' in event.data:
                            room = event.data.split('"room":"', 1)[1].split('"', 1)[0]
                await guest.send(JoinRoom(room=room))
                await receive_until(guest, RoomState)
                guest_id = server.core.room(room).clients[1]
                raw_socket = server._connections[guest_id].raw_socket
                assert raw_socket is not None  # no TLS here
                guest_fd = raw_socket.fileno()

                writes: list[int] = []
                real_write = os.write

                def counting_write(fd: int, data: bytes) -> int:
                    if fd == guest_fd:
                        writes.append(len(data))
                    return real_write(fd, data)

                monkeypatch.setattr(os, "write", counting_write)
                updates = [
                    StateUpdate(
                        room=room, position=float(i), play_state=("playing", "paused")[i % 2]
                    )
                    for i in range(5)
                ]
                # Five messages in one segment: the server reads them at once.
                data = b"".join(host_ws.send(TextMessage(data=encode(u))) for u in updates)
                await host_stream.send(data)
                received = [await receive_until(guest, StateUpdate) for _ in updates]
                assert [m.position for m in received] == [0.0, 1.0, 2.0, 3.0, 4.0]
                assert len(writes) == 1


async def test_a_client_without_backlog_holds_no_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    # An empty deque is 760 bytes: 7 MiB at 10,000 idle clients.
    kernel_takes(monkeypatch, 1_000)
    conn = connection()
    assert conn.push_many(FRAMES)
    assert conn.push(b"four")
    assert conn._queue is None
    kernel_takes(monkeypatch, 0)
    assert conn.push(b"five")
    assert conn.queued == 1
    assert conn.pop_chunk() == b"five"
    conn.drop_empty_queue()  # what the writer does once it has drained the queue
    assert conn._queue is None
    assert conn.queued == 0
