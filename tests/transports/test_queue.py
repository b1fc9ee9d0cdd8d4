"""A client's outbound queue: bounded in frames and bytes, drained in bounded writes."""

from __future__ import annotations

from typing import Any, cast

import anyio.abc
import pytest
from wsproto.connection import Connection, ConnectionType

from opensyncparty_transports._connection import _WRITE_CHUNK, _Connection

# A connection holds a cancel scope, which needs a running event loop.
pytestmark = pytest.mark.anyio


class _Stream:
    """Just enough of a socket stream for a queue that never writes directly."""

    def extra(self, attribute: Any, default: Any = None) -> Any:
        return None  # no direct write happens: a write is always in progress


def backlogged(queue_size: int, max_queue_bytes: int) -> _Connection:
    """A connection with a write in progress, so every frame goes to the queue."""
    stream = cast(anyio.abc.SocketStream, _Stream())
    conn = _Connection(
        "c", Connection(ConnectionType.SERVER), stream, queue_size, max_queue_bytes, 0.0
    )
    conn.writing = True
    return conn


async def test_queue_refuses_a_frame_past_its_byte_budget() -> None:
    conn = backlogged(queue_size=100, max_queue_bytes=250)
    assert conn.push(b"a" * 100)
    assert conn.push(b"b" * 150)
    assert not conn.push(b"c")
    assert conn.queue_bytes == 250


async def test_queue_refuses_a_frame_past_its_length() -> None:
    conn = backlogged(queue_size=2, max_queue_bytes=10_000)
    assert conn.push(b"a")
    assert conn.push(b"b")
    assert not conn.push(b"c")


async def test_zero_byte_budget_means_no_byte_limit() -> None:
    conn = backlogged(queue_size=3, max_queue_bytes=0)
    assert all(conn.push(b"x" * 1_000_000) for _ in range(3))
    assert not conn.push(b"y")


async def test_empty_queue_takes_one_frame_over_the_budget() -> None:
    conn = backlogged(queue_size=100, max_queue_bytes=10)
    assert conn.push(b"x" * 1_000)
    assert not conn.push(b"y")


async def test_writes_join_small_frames_and_slice_a_large_one_without_copying() -> None:
    conn = backlogged(queue_size=10_000, max_queue_bytes=10**9)
    small = [bytes([i % 256]) * 1_000 for i in range(200)]
    large = b"L" * (3 * _WRITE_CHUNK + 5)
    for frame in [*small, large, b"tail"]:
        assert conn.push(frame)
    writes = []
    while conn.queue:
        writes.append(conn.pop_chunk())
    assert b"".join(writes) == b"".join([*small, large, b"tail"])
    assert all(len(w) <= _WRITE_CHUNK for w in writes)
    # The large frame goes out as views of the one shared object.
    assert [len(w) for w in writes if isinstance(w, memoryview) and w.obj is large] == [
        _WRITE_CHUNK,
        _WRITE_CHUNK,
        _WRITE_CHUNK,
    ]
    assert len(writes) < len(small)
    assert conn.queue_bytes == 0


async def test_rest_of_a_sliced_frame_is_a_partly_sent_head() -> None:
    conn = backlogged(queue_size=10, max_queue_bytes=10**9)
    conn.push(b"x" * (_WRITE_CHUNK + 1))
    conn.push(b"next")
    conn.pop_chunk()
    # A close now must send that one byte first, and may drop what follows it.
    assert conn.partial
    assert bytes(conn.queue[0]) == b"x"
