"""One accepted WebSocket connection: its wsproto state, socket and outbound queue.

The server (``_server``) owns the tasks; this object holds a connection's
state and writes to its socket without waiting (see the server's module
docstring, "Writing").
"""

from __future__ import annotations

import collections
import os

import anyio
import anyio.abc
from anyio.streams.tls import TLSStream
from wsproto.connection import Connection
from wsproto.events import CloseConnection

__all__ = ["_Connection"]

# Queued bytes are written in chunks of at most this size (small frames
# joined, a large one in slices of itself): never one buffer for the whole queue.
_WRITE_CHUNK = 65_536


class _Connection:
    """One accepted WebSocket: its wsproto state, socket and outbound queue."""

    __slots__ = (
        "_queue",
        "client_id",
        "close_code",
        "close_reason",
        "control_frames",
        "control_window",
        "fragments",
        "heard",
        "lost",
        "max_queue_bytes",
        "partial",
        "parts",
        "peer_close",
        "pinged_at",
        "queue_bytes",
        "queue_size",
        "quiet_since",
        "raw_socket",
        "read_scope",
        "size",
        "stream",
        "write_scope",
        "writer_active",
        "writer_done",
        "writing",
        "ws",
    )

    def __init__(
        self,
        client_id: str,
        ws: Connection,
        stream: anyio.abc.ByteStream,
        queue_size: int,
        max_queue_bytes: int,
        now: float,
    ) -> None:
        self.client_id = client_id
        self.ws = ws
        self.stream = stream
        # None under TLS: bytes must go through the TLS stream, never straight to the socket.
        self.raw_socket = (
            None
            if isinstance(stream, TLSStream)
            else stream.extra(anyio.abc.SocketAttribute.raw_socket)
        )
        # The outbound queue (see ``queue``), None while nothing waits: an
        # empty deque is 760 bytes, and most clients never have a backlog.
        self._queue: collections.deque[bytes | memoryview] | None = None
        self.queue_size = queue_size
        self.queue_bytes = 0
        self.max_queue_bytes = max_queue_bytes
        # Keepalive: the reader sets ``heard`` on any bytes; the sweep turns it
        # into ``quiet_since`` (event-loop seconds), so reading costs one store.
        self.heard = False
        self.quiet_since = now
        self.pinged_at = now
        # Frames of the incoming message so far; control frames in this window.
        self.fragments = 0
        self.control_frames = 0
        self.control_window = now
        # The head of the queue is the unsent tail of a frame partly on the wire.
        self.partial = False
        # Set while the writer task is inside a stream write; a write cut short
        # by cancellation may leave a partial frame, after which no frame can follow.
        self.writing = False
        self.writer_active = False
        self.write_scope: anyio.CancelScope | None = None
        # Created only when the closing connection task has to wait for the writer.
        self.writer_done: anyio.Event | None = None
        self.read_scope = anyio.CancelScope()
        self.close_code: int | None = None
        self.close_reason = ""
        self.peer_close: CloseConnection | None = None
        # A direct write failed: the socket is gone, no close frame can be sent.
        self.lost = False
        # Reassembly of the current incoming message.
        self.parts: list[str] = []
        self.size = 0

    @property
    def queue(self) -> collections.deque[bytes | memoryview]:
        """Frames waiting for the writer task, created on first use.

        Never more than ``queue_size`` frames nor, but for a single frame, more
        than ``max_queue_bytes`` bytes. A broadcast frame is one bytes object
        shared by every queue it is in; the unsent tail of a partly written one
        is a view of it, not a copy.
        """
        queue = self._queue
        if queue is None:
            queue = self._queue = collections.deque()
        return queue

    @property
    def queued(self) -> int:
        """Frames in the queue, without creating it."""
        return len(self._queue) if self._queue is not None else 0

    def drop_empty_queue(self) -> None:
        """Free the queue once drained, so a client idle after a backlog holds none."""
        if not self._queue:
            self._queue = None

    def push(self, frame: bytes) -> bool:
        """Send or queue ``frame`` without waiting; False if the queue is full.

        Raises :class:`OSError` if the socket is broken. The caller starts the
        writer task if this left anything queued.
        """
        if self._queue or self.writer_active or self.writing or self.raw_socket is None:
            queue = self.queue
            # Bytes of ours are still ahead of this frame: it goes behind them.
            # An empty queue takes any one frame, so a frame over the byte
            # budget still reaches a client that reads.
            budget = self.max_queue_bytes  # 0: no byte limit
            if len(queue) >= self.queue_size or (
                budget and queue and self.queue_bytes + len(frame) > budget
            ):
                return False
            queue.append(frame)
            self.queue_bytes += len(frame)
            return True
        # Nothing of ours is buffered anywhere, so the socket may be written
        # directly. The descriptor is looked up each time: once the backend has
        # closed the socket it is -1 (an OSError here), never a reused number.
        try:
            sent = os.write(self.raw_socket.fileno(), frame)
        except (BlockingIOError, InterruptedError):
            sent = 0
        if sent < len(frame):
            rest = memoryview(frame)[sent:] if sent else frame
            self.queue.append(rest)
            self.queue_bytes += len(rest)
            self.partial = sent > 0
        return True

    def push_many(self, frames: list[bytes]) -> bool:
        """:meth:`push` for several frames, in one write when nothing is ahead of them.

        What the kernel does not take is queued frame by frame, as single
        pushes would have queued it, so the bounds count the same either way.
        """
        if (
            len(frames) == 1
            or self._queue
            or self.writer_active
            or self.writing
            or self.raw_socket is None
        ):
            return all(self.push(frame) for frame in frames)
        try:
            sent = os.write(self.raw_socket.fileno(), b"".join(frames))
        except (BlockingIOError, InterruptedError):
            sent = 0
        offset = 0
        for frame in frames:
            end = offset + len(frame)
            if end > sent:
                if offset < sent:  # partly written: its tail heads the queue
                    rest = memoryview(frame)[sent - offset :]
                    self.queue.append(rest)
                    self.queue_bytes += len(rest)
                    self.partial = True
                elif not self._queue:  # an empty queue takes any one frame
                    self.queue.append(frame)
                    self.queue_bytes += len(frame)
                elif not self.push(frame):
                    return False
            offset = end
        return True

    def pop_chunk(self) -> bytes | memoryview:
        """Take the next write off the queue, at most ``_WRITE_CHUNK`` bytes.

        Small frames are joined; a larger frame goes out in views of itself,
        its rest staying at the head of the queue as a partly sent frame. A
        backend that copies what it cannot send at once (asyncio before 3.12)
        so copies at most one chunk per client.
        """
        queue = self.queue
        data = queue.popleft()
        self.partial = False
        if len(data) > _WRITE_CHUNK:
            view = memoryview(data)
            queue.appendleft(view[_WRITE_CHUNK:])
            self.partial = True
            data = view[:_WRITE_CHUNK]
        elif queue and len(data) + len(queue[0]) <= _WRITE_CHUNK:
            parts = [data]
            size = len(data)
            while queue and size + len(queue[0]) <= _WRITE_CHUNK:
                frame = queue.popleft()
                parts.append(frame)
                size += len(frame)
            data = b"".join(parts)
        self.queue_bytes -= len(data)
        return data

    def request_close(self, code: int, reason: str, *, abort_write: bool = False) -> None:
        """Stop reading; the connection task then finishes writing and sends a close frame.

        ``abort_write`` also cuts short a write in progress (for a peer that is
        not reading, whose writes may never finish); no close frame can follow it.
        """
        if self.close_code is None:
            self.close_code = code
            self.close_reason = reason
        self.read_scope.cancel()
        if abort_write and self.write_scope is not None:
            self.write_scope.cancel()
