"""The WebSocket server: sockets and tasks around one :class:`SessionServer`.

Theory of operation. One anyio task group holds a task per connection and
one timer task. A connection task runs the HTTP handshake (wsproto's
:class:`~wsproto.handshake.H11Handshake`: ``GET /ws`` upgrades, ``GET
/health`` answers JSON, anything else gets an HTTP error), keeps only the
resulting WebSocket :class:`~wsproto.connection.Connection`, then reads: it
feeds the socket's bytes to wsproto, reassembles messages under the size
limit and hands them to the core. Whatever the core returns is fanned out
without waiting, and a client whose outbound queue is full is evicted there
and then, so nobody waits for it.

Writing. Most frames never touch a queue or a task: when nothing is queued
for a client and no write of ours is in progress, the socket's own buffer in
the backend is empty too (anyio's asyncio stream returns from ``send`` only
once its transport has drained; trio's ``send_all`` only once all is
written), so the frame is written straight to the non-blocking socket, in
order. Only what the kernel does not take, the rest of a frame or whole
frames behind it, waits in the client's bounded queue, and only then is a
writer task started (in the server's task group); it drains the queue
through the stream and ends when the queue is empty. Waking a writer task
per recipient per frame cost far more than the protocol itself, and an idle
client now holds one task and no task group of its own. The head of the
queue may be the tail of a frame already partly on the wire: a graceful
close sends that tail before the close frame, never drops it.

Batching. While the events of one read are handled (a host that fell behind
sends several messages in one segment), frames are gathered per recipient
and written at the end in one system call per recipient; what the kernel
does not take is queued frame by frame, so the queue bound still counts
frames. Under load, when the server falls behind, more than half of the
frames shared a write this way (see docs/performance.rst).

Every call into the core is synchronous and made from a task of this event
loop, so the core needs no locks. After each call the timer task is woken if
the core's next deadline moved earlier.

What must never leak in here: anything about rooms, hosts or message types.
The transport moves text; the core decides what it means.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from urllib.parse import urlsplit

import anyio
import anyio.abc
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.frame_protocol import CloseReason, FrameProtocol
from wsproto.handshake import H11Handshake
from wsproto.utilities import RemoteProtocolError

from opensyncparty_core import Config, Outgoing, SessionServer

__all__ = ["WebSocketServer", "wall_clock_ms"]

logger = logging.getLogger("opensyncparty_transports.server")

WEBSOCKET_PATH = "/ws"
HEALTH_PATH = "/health"

_RECEIVE_SIZE = 65_536
# h11 refuses request heads over 16 KiB; the copy kept for routing needs no more.
_MAX_HEAD_BYTES = 16_384


def wall_clock_ms() -> int:
    """The wall clock in milliseconds since the epoch: the core's ``now``."""
    return time.time_ns() // 1_000_000


def _new_id() -> str:
    return str(uuid.uuid4())


class _Connection:
    """One accepted WebSocket: its wsproto state, socket and outbound queue."""

    __slots__ = (
        "client_id",
        "close_code",
        "close_reason",
        "lost",
        "partial",
        "parts",
        "peer_close",
        "queue",
        "queue_size",
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
        stream: anyio.abc.SocketStream,
        queue_size: int,
    ) -> None:
        self.client_id = client_id
        self.ws = ws
        self.stream = stream
        self.raw_socket = stream.extra(anyio.abc.SocketAttribute.raw_socket)
        # Frames waiting for the writer task; never more than queue_size.
        self.queue: collections.deque[bytes] = collections.deque()
        self.queue_size = queue_size
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

    def push(self, frame: bytes) -> bool:
        """Send or queue ``frame`` without waiting; False if the queue is full.

        Raises :class:`OSError` if the socket is broken. The caller starts the
        writer task if this left anything queued.
        """
        queue = self.queue
        if queue or self.writer_active or self.writing:
            # Bytes of ours are still ahead of this frame: it goes behind them.
            if len(queue) >= self.queue_size:
                return False
            queue.append(frame)
            return True
        # Nothing of ours is buffered anywhere, so the socket may be written
        # directly. The descriptor is looked up each time: once the backend has
        # closed the socket it is -1 (an OSError here), never a reused number.
        try:
            sent = os.write(self.raw_socket.fileno(), frame)
        except (BlockingIOError, InterruptedError):
            sent = 0
        if sent < len(frame):
            queue.append(frame[sent:] if sent else frame)
            self.partial = sent > 0
        return True

    def push_many(self, frames: list[bytes]) -> bool:
        """:meth:`push` for several frames, in one write when nothing is ahead of them.

        What the kernel does not take is queued frame by frame, as single
        pushes would have queued it, so ``queue_size`` counts frames either way.
        """
        if len(frames) == 1 or self.queue or self.writer_active or self.writing:
            return all(self.push(frame) for frame in frames)
        data = b"".join(frames)
        try:
            sent = os.write(self.raw_socket.fileno(), data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        offset = 0
        for frame in frames:
            end = offset + len(frame)
            if end > sent:
                if offset < sent:
                    self.queue.append(frame[sent - offset :])
                    self.partial = True
                elif self.queue and len(self.queue) >= self.queue_size:
                    return False
                else:
                    self.queue.append(frame)
            offset = end
        return True

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


class WebSocketServer:
    """Serves the session protocol over WebSocket, on anyio (asyncio or trio).

    :param host: address to bind; ``"0.0.0.0"`` for every IPv4 interface.
    :param port: TCP port; ``0`` picks a free one (read it from :attr:`port`).
    :param config: the core's timings and limits; the specification's if omitted.
        ``config.max_message_bytes`` is the largest incoming message.
    :param queue_size: messages that may wait for one client; a client with a
        full queue is disconnected (close code 1008).
    :param clock: returns the core's ``now``; :func:`wall_clock_ms` by default.
    :param id_source: returns a new unique id per call; UUID4 strings by default.
    :param handshake_timeout: seconds a connection may take to complete its
        HTTP request.
    :param close_timeout: seconds the closing handshake may take before the
        socket is closed regardless.

    Run it with ``await server.serve()`` in a task group and end it with
    :meth:`stop`; :func:`serve_until_signal` does both for a process.
    """

    def __init__(
        self,
        *,
        host: str = "0.0.0.0",
        port: int = 3000,
        config: Config | None = None,
        queue_size: int = 256,
        clock: Callable[[], int] = wall_clock_ms,
        id_source: Callable[[], str] = _new_id,
        handshake_timeout: float = 10.0,
        close_timeout: float = 2.0,
    ) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, got {queue_size!r}")
        self.host = host
        self.core = SessionServer(id_source=id_source, config=config)
        """The protocol state machine. Read its views (``client_ids``, ``room(...)``)
        freely; its event methods belong to this server."""
        self.queue_size = queue_size
        self.handshake_timeout = handshake_timeout
        self.close_timeout = close_timeout
        self._clock = clock
        self._port: int | None = None
        self._requested_port = port
        self._connections: dict[str, _Connection] = {}
        self._handshakes: set[anyio.CancelScope] = set()
        self._stopping = False
        self._accept_scope: anyio.CancelScope | None = None
        # Writer tasks run here, next to the connection tasks that end them.
        self._task_group: anyio.abc.TaskGroup | None = None
        self._timer_wakeup = anyio.Event()
        self._armed_deadline: int | None = None
        # Frames outgoing text once per broadcast; the per-client wsproto
        # connections still do the handshake, reading, control frames and close.
        self._framer = FrameProtocol(client=False, extensions=[])
        # Frames gathered per client while a read is being handled, written in
        # one system call per client at its end (see _read_loop).
        self._batches: dict[_Connection, list[bytes]] = {}
        self._holding = False
        self.evictions = 0
        """Clients disconnected so far because their outbound queue was full."""
        self.peak_queue_length = 0
        """Longest outbound queue any client has had (never above ``queue_size``)."""

    # ------------------------------------------------------------------
    # Public API
    # ------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound TCP port. Raises :class:`RuntimeError` before :meth:`serve` binds."""
        if self._port is None:
            raise RuntimeError("the server is not listening yet")
        return self._port

    @property
    def url(self) -> str:
        """``ws://host:port/ws`` for the bound port."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}{WEBSOCKET_PATH}"

    async def serve(
        self, *, task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Listen and serve until :meth:`stop`; then close every client with 1001.

        With ``await task_group.start(server.serve)`` the caller gets the bound port.
        """
        listener = await anyio.create_tcp_listener(
            local_host=self.host, local_port=self._requested_port
        )
        self._port = int(listener.extra(anyio.abc.SocketAttribute.local_port))
        async with anyio.create_task_group() as tg:
            self._task_group = tg
            timer_scope = anyio.CancelScope()
            tg.start_soon(self._run_timer, timer_scope)
            logger.info("opensyncparty listening on %s", self.url)
            task_status.started(self._port)
            async with listener:
                with anyio.CancelScope() as accept_scope:
                    self._accept_scope = accept_scope
                    if self._stopping:
                        accept_scope.cancel()
                    await listener.serve(self._handle_stream, task_group=tg)
            logger.info("shutting down: closing %d client(s)", len(self._connections))
            for scope in self._handshakes:
                scope.cancel()
            for conn in list(self._connections.values()):
                conn.request_close(CloseReason.GOING_AWAY, "server shutting down")
            timer_scope.cancel()
        self._task_group = None
        logger.info("stopped")

    def stop(self) -> None:
        """Stop accepting and close every client with 1001; :meth:`serve` then returns.

        Call it from the event loop's thread (a task or a signal handler task).
        """
        self._stopping = True
        if self._accept_scope is not None:
            self._accept_scope.cancel()

    # ------------------------------------------------------------------
    # Connections
    # ------------------------------------------------------------------

    async def _handle_stream(self, stream: anyio.abc.SocketStream) -> None:
        # One connection's failure must never end the task group that serves the others.
        try:
            await self._serve_connection(stream)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            logger.debug("connection lost: %r", exc)
        except Exception:
            logger.exception("connection handler failed")

    async def _serve_connection(self, stream: anyio.abc.SocketStream) -> None:
        async with stream:
            ws: Connection | None = None
            with anyio.CancelScope() as scope:
                self._handshakes.add(scope)
                if self._stopping:  # accepted just before stop(): do not start
                    scope.cancel()
                try:
                    with anyio.move_on_after(self.handshake_timeout):
                        ws = await self._handshake(stream)
                finally:
                    self._handshakes.discard(scope)
            if scope.cancelled_caught or self._stopping or ws is None:
                return
            await self._run_websocket(stream, ws)

    async def _handshake(self, stream: anyio.abc.SocketStream) -> Connection | None:
        """Read the HTTP request; upgrade it, or answer it and return None.

        Only the WebSocket connection outlives this: the HTTP parser is dropped.
        """
        handshake = H11Handshake(ConnectionType.SERVER)
        head = b""
        while True:
            try:
                data = await stream.receive(_RECEIVE_SIZE)
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return None
            if len(head) < _MAX_HEAD_BYTES:
                head += data
            try:
                handshake.receive_data(data)
            except RemoteProtocolError as exc:
                # Not a WebSocket upgrade: a plain HTTP request, or a malformed one.
                await self._answer_http(stream, handshake, head, exc)
                return None
            for event in handshake.events():
                if isinstance(event, Request):
                    path = urlsplit(event.target).path
                    if path == WEBSOCKET_PATH:
                        await stream.send(handshake.send(AcceptConnection()))
                        return handshake.connection
                    if path == HEALTH_PATH:
                        await self._send_response(stream, handshake, *self._health())
                    else:
                        await self._send_response(stream, handshake, 404, "Not Found\n")
                    return None

    async def _answer_http(
        self,
        stream: anyio.abc.SocketStream,
        ws: H11Handshake,
        head: bytes,
        exc: RemoteProtocolError,
    ) -> None:
        method, path = _request_line(head)
        hint = exc.event_hint
        if path == HEALTH_PATH and method == "GET":
            await self._send_response(stream, ws, *self._health())
        elif path == HEALTH_PATH:
            allow = [(b"allow", b"GET")]
            await self._send_response(stream, ws, 405, "Method Not Allowed\n", allow)
        elif path == WEBSOCKET_PATH or path is None or not isinstance(hint, RejectConnection):
            status = hint.status_code if isinstance(hint, RejectConnection) else 400
            headers = list(hint.headers) if isinstance(hint, RejectConnection) else []
            logger.warning("refused a bad upgrade request from %s: %s", _peer(stream), exc)
            await self._send_response(stream, ws, status, f"{exc}\n", headers)
        else:
            await self._send_response(stream, ws, 404, "Not Found\n")

    def _health(self) -> tuple[int, str, list[tuple[bytes, bytes]], bytes]:
        body = json.dumps(
            {
                "status": "ok",
                "clients": len(self.core.client_ids),
                "rooms": len(self.core.room_ids),
            }
        )
        return 200, body, [], b"application/json"

    @staticmethod
    async def _send_response(
        stream: anyio.abc.SocketStream,
        ws: H11Handshake,
        status: int,
        body: str,
        headers: list[tuple[bytes, bytes]] | None = None,
        content_type: bytes = b"text/plain; charset=utf-8",
    ) -> None:
        """Answer with an HTTP response through wsproto's rejection events, then close."""
        payload = body.encode()
        all_headers = [
            (b"content-type", content_type),
            (b"content-length", str(len(payload)).encode()),
            (b"connection", b"close"),
            *(headers or []),
        ]
        reject = RejectConnection(status_code=status, headers=all_headers, has_body=True)
        data = ws.send(reject) + ws.send(RejectData(data=payload, body_finished=True))
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
            await stream.send(data)

    async def _run_websocket(self, stream: anyio.abc.SocketStream, ws: Connection) -> None:
        client_id, out = self.core.connect(self._clock())
        conn = _Connection(client_id, ws, stream, self.queue_size)
        self._connections[client_id] = conn
        logger.info("client %s connected from %s", client_id, _peer(stream))
        self._deliver(out)
        try:
            with conn.read_scope:
                await self._read_loop(conn)
        finally:
            self._deliver(self._forget(conn))
            with anyio.CancelScope(shield=True):
                with anyio.move_on_after(self.close_timeout):
                    await self._finish_writing(conn)
                    await self._close_handshake(conn)
                await self._stop_writer(conn)
        logger.info("client %s disconnected (%s)", client_id, conn.close_reason or conn.close_code)

    async def _read_loop(self, conn: _Connection) -> None:
        ws, stream = conn.ws, conn.stream
        while True:
            try:
                data: bytes | None = await stream.receive(_RECEIVE_SIZE)
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                data = None
            ws.receive_data(data)
            # Everything one read brings (a host behind by several seeks) is
            # written once per recipient, not once per message.
            self._holding = True
            try:
                if self._handle_events(conn):
                    return
            finally:
                self._holding = False
                self._flush()

    def _handle_events(self, conn: _Connection) -> bool:
        """Handle what wsproto decoded; True once the connection is closing."""
        ws = conn.ws
        for event in ws.events():
            if isinstance(event, (TextMessage, BytesMessage)):
                self._on_message_data(conn, event)
            elif isinstance(event, Ping):
                self._batches.setdefault(conn, []).append(ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                if ws.state is ConnectionState.OPEN:
                    # wsproto found a framing error and reports it as a close.
                    logger.warning(
                        "client %s broke the WebSocket protocol: %s",
                        conn.client_id,
                        event.reason,
                    )
                    conn.request_close(event.code, event.reason or "protocol error")
                else:
                    conn.peer_close = event
                    if conn.close_code is None:
                        conn.close_code = event.code
                        conn.close_reason = f"closed by peer ({event.code})"
                return True
            if conn.close_code is not None or conn.lost:
                return True
        return False

    def _on_message_data(self, conn: _Connection, event: TextMessage | BytesMessage) -> None:
        """Reassemble a message, refusing to hold more than the size limit."""
        data = event.data
        if isinstance(data, str):
            conn.size += len(data) if data.isascii() else len(data.encode())
        else:
            conn.size += len(data)
        limit = self.core.config.max_message_bytes
        if conn.size > limit:
            logger.warning("client %s sent a message over %d bytes", conn.client_id, limit)
            conn.request_close(CloseReason.MESSAGE_TOO_BIG, f"message over {limit} bytes")
            return
        if isinstance(data, str):
            conn.parts.append(data)
        if not event.message_finished:
            return
        text = "".join(conn.parts)
        conn.parts.clear()
        conn.size = 0
        now = self._clock()
        if isinstance(event, TextMessage):
            self._deliver(self.core.receive(conn.client_id, text, now))
        else:
            self._deliver(self.core.receive_binary(conn.client_id, now))

    def _start_writer(self, conn: _Connection) -> None:
        assert self._task_group is not None  # connections exist only while serving
        conn.writer_active = True
        conn.write_scope = anyio.CancelScope()
        self._task_group.start_soon(self._write_loop, conn, conn.write_scope)

    async def _write_loop(self, conn: _Connection, scope: anyio.CancelScope) -> None:
        """Drain ``conn``'s queue through the stream, then end."""
        queue = conn.queue
        try:
            with scope:
                while queue:
                    # Everything queued goes out in one write.
                    data = queue[0] if len(queue) == 1 else b"".join(queue)
                    queue.clear()
                    conn.partial = False
                    conn.writing = True
                    await conn.stream.send(data)
                    conn.writing = False
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            conn.close_reason = conn.close_reason or "connection lost"
            conn.read_scope.cancel()
        except Exception:
            # It runs in the server's task group: one client's failure must not end it.
            logger.exception("writer of client %s failed", conn.client_id)
            conn.read_scope.cancel()
        finally:
            conn.writer_active = False
            if conn.writer_done is not None:
                conn.writer_done.set()

    async def _finish_writing(self, conn: _Connection) -> None:
        """Drop queued frames but the tail of a partly sent one; wait for the writer."""
        queue = conn.queue
        if conn.partial:
            while len(queue) > 1:
                queue.pop()
        else:
            queue.clear()
        if conn.writer_active:
            conn.writer_done = anyio.Event()
            await conn.writer_done.wait()

    async def _stop_writer(self, conn: _Connection) -> None:
        """Cut short a writer still running, so it is gone before the stream closes."""
        if conn.writer_active and conn.write_scope is not None:
            conn.write_scope.cancel()
            if conn.writer_done is None:
                conn.writer_done = anyio.Event()
            with anyio.move_on_after(self.close_timeout):
                await conn.writer_done.wait()

    async def _close_handshake(self, conn: _Connection) -> None:
        """Send or answer the close frame, then wait briefly for the peer's."""
        ws, stream = conn.ws, conn.stream
        if conn.writing or conn.lost:
            return
        try:
            if ws.state is ConnectionState.REMOTE_CLOSING and conn.peer_close is not None:
                await stream.send(ws.send(conn.peer_close.response()))
            elif ws.state is ConnectionState.OPEN:
                code = conn.close_code if conn.close_code is not None else 1000
                await stream.send(ws.send(CloseConnection(code=code, reason=conn.close_reason)))
            # RFC 6455 7.1.1: the server closes TCP once the peer's close frame is in.
            while ws.state is ConnectionState.LOCAL_CLOSING:
                try:
                    data: bytes | None = await stream.receive(_RECEIVE_SIZE)
                except anyio.EndOfStream:
                    data = None
                ws.receive_data(data)
                for _ in ws.events():
                    pass
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass

    # ------------------------------------------------------------------
    # Delivery and the core's timer
    # ------------------------------------------------------------------

    def _forget(self, conn: _Connection) -> list[Outgoing]:
        """Tell the core ``conn`` is gone (once) and stop routing to it."""
        if self._connections.pop(conn.client_id, None) is None:
            return []
        return self.core.disconnect(conn.client_id, self._clock())

    def _enqueue(self, conn: _Connection, frames: list[bytes]) -> list[Outgoing]:
        """Send ``frames`` to ``conn`` without waiting; evict ``conn`` if its queue is full.

        Returns what the core has to say about ``conn`` leaving, if it did.
        """
        try:
            accepted = conn.push_many(frames)
        except OSError as exc:
            # As if the writer's send had failed, but the core hears of it now.
            logger.debug("client %s: write failed: %r", conn.client_id, exc)
            conn.lost = True
            conn.close_reason = conn.close_reason or "connection lost"
            conn.read_scope.cancel()
            return self._forget(conn)
        if not accepted:
            self.evictions += 1
            logger.warning(
                "client %s evicted: outbound queue full (%d messages)",
                conn.client_id,
                self.queue_size,
            )
            conn.request_close(
                CloseReason.POLICY_VIOLATION, "outbound queue full", abort_write=True
            )
            return self._forget(conn)
        queued = len(conn.queue)
        if queued:
            if queued > self.peak_queue_length:
                self.peak_queue_length = queued
            if not conn.writer_active:
                self._start_writer(conn)
        return []

    def _deliver(self, out: list[Outgoing]) -> None:
        """Fan out the core's messages: now, or at the end of the read being handled."""
        self._collect(out)
        if not self._holding:
            self._flush()

    def _collect(self, out: list[Outgoing]) -> None:
        """Add each message's frame to its recipients' batches, framed once per message."""
        connections = self._connections
        batches = self._batches
        for outgoing in out:
            # Server frames are unmasked, so one frame serves every recipient.
            frame: bytes | None = None
            for recipient in outgoing.recipients:
                conn = connections.get(recipient)
                if conn is not None:
                    if frame is None:
                        frame = bytes(self._framer.send_data(outgoing.text, fin=True))
                    batch = batches.get(conn)
                    if batch is None:
                        batches[conn] = [frame]
                    else:
                        batch.append(frame)

    def _flush(self) -> None:
        """Write each client's batch in one go; evictions add their own messages."""
        while self._batches:
            batches, self._batches = self._batches, {}
            for conn, frames in batches.items():
                # An eviction earlier in this loop may have ended this connection.
                if self._connections.get(conn.client_id) is conn:
                    self._collect(self._enqueue(conn, frames))
        deadline = self.core.next_deadline()
        if deadline is not None and (
            self._armed_deadline is None or deadline < self._armed_deadline
        ):
            self._timer_wakeup.set()

    async def _run_timer(self, scope: anyio.CancelScope) -> None:
        with scope:
            while True:
                self._timer_wakeup = anyio.Event()
                deadline = self._armed_deadline = self.core.next_deadline()
                if deadline is None:
                    await self._timer_wakeup.wait()
                    continue
                delay = (deadline - self._clock()) / 1000
                if delay > 0:
                    with anyio.move_on_after(delay):
                        await self._timer_wakeup.wait()
                    continue
                self._armed_deadline = None
                self._deliver(self.core.handle_timer(self._clock()))


def _request_line(head: bytes) -> tuple[str | None, str | None]:
    """Method and path of a request head, or ``None`` where unreadable.

    Only used to route requests that wsproto refused to upgrade; wsproto and
    h11 have already parsed (or refused) the request itself.
    """
    line = head.lstrip(b"\r\n").split(b"\r\n", 1)[0]
    parts = line.split(b" ")
    if len(parts) != 3 or not parts[1].startswith(b"/") or not parts[2].startswith(b"HTTP/"):
        return None, None
    try:
        method = parts[0].decode("ascii")
        path = urlsplit(parts[1].decode("ascii")).path
    except (UnicodeDecodeError, ValueError):
        return None, None
    return method, path


def _peer(stream: anyio.abc.SocketStream) -> str:
    address = stream.extra(anyio.abc.SocketAttribute.remote_address, "?")
    if isinstance(address, tuple):
        return f"{address[0]}:{address[1]}"
    return str(address)
