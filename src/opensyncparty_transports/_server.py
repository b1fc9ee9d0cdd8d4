"""The WebSocket server: sockets and tasks around one :class:`SessionServer`.

Theory of operation. One anyio task group holds a task per connection, one
timer task and one keepalive task; the accept loops (``_accept``) feed it
and no accept error ends them. A connection task runs the HTTP handshake
(wsproto's :class:`~wsproto.handshake.H11Handshake`: ``GET /ws`` upgrades
once ``_admission`` lets it, ``GET /health`` answers JSON, anything else
gets an HTTP error), keeps only the resulting WebSocket
:class:`~wsproto.connection.Connection`, then reads: plain TCP straight
from the socket (``_rawsocket``: a ``recv`` first, a wait only when it
would block, no transport object per client), TLS through anyio's stream.
It feeds the bytes to wsproto, reassembles messages under the size and fragment limits
and hands them to the core. Whatever the core returns is fanned out without
waiting, and a client whose outbound queue is over its frame count or byte
budget is evicted there and then, so nobody waits for it.

Writing. Most frames never touch a queue or a task: when nothing is queued
for a client and no write of ours is in progress, nothing of ours is
buffered below us either (the raw stream's ``send`` returns only once the
kernel has taken every byte; under TLS every frame goes through anyio's
stream anyway), so the frame is written straight to the non-blocking socket,
in order. Only what the kernel does not take, the rest of a frame or whole
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
does not take is queued frame by frame, so the queue's bounds still count
frames and bytes as before. Under load, when the server falls behind, more
than half of the frames shared a write this way (docs/performance.rst).

Access and observation. With an ``ssl_context`` each accepted socket is
wrapped in TLS first (within the handshake timeout), and frames then always
go through the TLS stream, never straight to the socket. The ``Origin``
allow-list is checked on the upgrade request (``_origin.py``): a refusal is
an HTTP 403 and the core never hears of it. Counters for ``/metrics`` are
plain integers bumped here (``_metrics.py`` renders them at scrape time).

Every call into the core is synchronous and made from a task of this event
loop, so the core needs no locks. After each call the timer task is woken if
the core's next deadline moved earlier.

What must never leak in here: anything about rooms, hosts or message types.
The transport moves text; the core decides what it means.
"""

from __future__ import annotations

import contextlib
import json
import logging
import ssl
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import cast
from urllib.parse import urlsplit

import anyio
import anyio.abc
from anyio.streams.tls import TLSStream
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.frame_protocol import CloseReason, FrameProtocol
from wsproto.handshake import H11Handshake
from wsproto.utilities import RemoteProtocolError

from opensyncparty_core import Config, Error, Outgoing, SessionServer, TokenVerifier, encode

from ._accept import AcceptLoop
from ._admission import Admission, ThrottledLog
from ._connection import _Connection
from ._metrics import METRICS_PATH, ServerStats, registry_for, render, serve_metrics_connection
from ._origin import normalize_origin, origin_allowed

__all__ = ["WebSocketServer", "wall_clock_ms"]

logger = logging.getLogger("opensyncparty_transports.server")

WEBSOCKET_PATH = "/ws"
HEALTH_PATH = "/health"

_RECEIVE_SIZE = 65_536
# h11 refuses request heads over 16 KiB; the copy kept for routing needs no more.
_MAX_HEAD_BYTES = 16_384
# Repeated warnings of one kind (refused handshakes, evictions...) are logged
# at most once per this many seconds, with the count of the others.
LOG_INTERVAL = 10.0
# Frames read while waiting for the peer's close frame, at most.
_CLOSE_WAIT_FRAMES = 256
INTERNAL_ERROR = "Internal server error: message not processed"
# The ``reason`` label of /metrics' rejected handshakes, by the refusal's HTTP status.
_REFUSAL_REASONS = {400: "bad_request", 429: "per_address_cap", 503: "capacity"}


def wall_clock_ms() -> int:
    """The wall clock in milliseconds since the epoch: the core's ``now``."""
    return time.time_ns() // 1_000_000


def _new_id() -> str:
    return str(uuid.uuid4())


class WebSocketServer:
    """Serves the session protocol over WebSocket, on anyio (asyncio or trio).

    :param host: address to bind; ``"0.0.0.0"`` for every IPv4 interface.
    :param port: TCP port; ``0`` picks a free one (read it from :attr:`port`).
    :param config: the core's timings and limits; the specification's if omitted.
        ``config.max_message_bytes`` is the largest incoming message.
    :param queue_size: messages that may wait for one client; a client with a
        full queue is disconnected (close code 1008).
    :param max_queue_bytes: bytes that may wait for one client; a client over
        it is disconnected like one with a full queue (an empty queue always
        takes one frame, however large).
    :param clock: returns the core's ``now``; :func:`wall_clock_ms` by default.
    :param id_source: returns a new unique id per call; UUID4 strings by default.
    :param handshake_timeout: seconds a connection may take to complete its
        HTTP request.
    :param close_timeout: seconds the closing handshake may take before the
        socket is closed regardless.
    :param max_connections: WebSocket connections at once; one more upgrade
        request is answered HTTP 503.
    :param max_connections_per_ip: WebSocket connections at once from one
        client address; one more is answered HTTP 429.
    :param max_fragments: frames one incoming message may span; one more
        closes the connection with 1009.
    :param max_control_frames_per_second: pings and pongs one connection may
        send per second; one more closes it with 1008.
    :param ping_interval: seconds of silence from a client after which the
        server pings it (browsers answer pings by themselves).
    :param idle_timeout: seconds of silence (not even a pong) after which a
        client is closed with 1001; the core hears that it left.
    :param token_verifier: turns on authentication (see
        :class:`~opensyncparty_core.SessionServer`); :class:`JwtVerifier` checks
        upstream's JWTs.
    :param allowed_origins: origins (``https://jf.example``) whose pages may
        connect; an upgrade with another or no ``Origin`` gets HTTP 403.
        ``None`` allows every origin (a warning is logged at startup).
    :param ssl_context: serve ``wss://`` (TLS) with this server-side context.
    :param metrics: serve ``GET /metrics`` (Prometheus text format).
    :param metrics_host: with ``metrics_port``, serve ``/metrics`` on that
        separate address only (for example ``127.0.0.1``), not on the public port.
    :param metrics_port: the separate metrics port; ``0`` picks a free one.

    For every limit and timeout but ``queue_size``, ``handshake_timeout`` and
    ``close_timeout``, ``0`` turns it off. The limits table in the docs lists
    them all.

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
        max_queue_bytes: int = 1_048_576,
        clock: Callable[[], int] = wall_clock_ms,
        id_source: Callable[[], str] = _new_id,
        handshake_timeout: float = 10.0,
        close_timeout: float = 2.0,
        max_connections: int = 1000,
        max_connections_per_ip: int = 100,
        max_fragments: int = 128,
        max_control_frames_per_second: int = 20,
        ping_interval: float = 30.0,
        idle_timeout: float = 60.0,
        token_verifier: TokenVerifier | None = None,
        allowed_origins: Iterable[str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        metrics: bool = True,
        metrics_host: str | None = None,
        metrics_port: int | None = None,
    ) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, got {queue_size!r}")
        for name, positive in (
            ("handshake_timeout", handshake_timeout),
            ("close_timeout", close_timeout),
        ):
            if not positive > 0:
                raise ValueError(f"{name} must be > 0, got {positive!r}")
        for name, limit in (
            ("max_queue_bytes", max_queue_bytes),
            ("max_fragments", max_fragments),
            ("max_control_frames_per_second", max_control_frames_per_second),
            ("ping_interval", ping_interval),
            ("idle_timeout", idle_timeout),
        ):
            if not limit >= 0:
                raise ValueError(f"{name} must be >= 0 (0: no limit), got {limit!r}")
        self.host = host
        self.core = SessionServer(id_source=id_source, config=config, token_verifier=token_verifier)
        """The protocol state machine. Read its views (``client_ids``, ``room(...)``)
        freely; its event methods belong to this server."""
        self.queue_size = queue_size
        self.max_queue_bytes = max_queue_bytes
        self.handshake_timeout = handshake_timeout
        self.close_timeout = close_timeout
        self.max_fragments = max_fragments
        self.max_control_frames_per_second = max_control_frames_per_second
        self.ping_interval = ping_interval
        self.idle_timeout = idle_timeout
        self._admission = Admission(max_connections, max_connections_per_ip)
        self._clock = clock
        self._port: int | None = None
        self._requested_port = port
        self._connections: dict[str, _Connection] = {}
        # Handshakes in progress and when they began, oldest first.
        self._handshakes: dict[anyio.CancelScope, float] = {}
        warn = logging.WARNING
        self._log_refused = ThrottledLog(logger, warn, LOG_INTERVAL)
        self._log_bad_handshake = ThrottledLog(logger, warn, LOG_INTERVAL)
        self._log_eviction = ThrottledLog(logger, warn, LOG_INTERVAL)
        self._log_frame_limit = ThrottledLog(logger, warn, LOG_INTERVAL)
        self._log_idle = ThrottledLog(logger, logging.INFO, LOG_INTERVAL)
        self._log_core_failure = ThrottledLog(logger, logging.ERROR, LOG_INTERVAL)
        self._log_handler_failure = ThrottledLog(logger, logging.ERROR, LOG_INTERVAL)
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
        self.allowed_origins = (
            None
            if allowed_origins is None
            else frozenset(normalize_origin(o) for o in allowed_origins)
        )
        self.ssl_context = ssl_context
        self.metrics = metrics
        if (metrics_host is None) != (metrics_port is None):
            raise ValueError("metrics_host and metrics_port go together")
        self._metrics_address = None if metrics_port is None else (metrics_host, metrics_port)
        self._metrics_port: int | None = None
        self.stats = ServerStats()
        """What the server counted so far (what ``/metrics`` reports)."""
        self._registry = registry_for(self)
        self._log_origin = ThrottledLog(logger, logging.WARNING, LOG_INTERVAL)
        self.peak_queue_bytes = 0
        """Most bytes any client's outbound queue has held."""

    @property
    def handshake_failures(self) -> int:
        """Upgrade requests refused as malformed (HTTP 400) or cut at the handshake timeout."""
        return self._log_bad_handshake.total

    @property
    def refused_connections(self) -> int:
        """Connections refused for a cap (HTTP 503 or 429) or shed for lack of descriptors."""
        return self._log_refused.total

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
        """``ws://host:port/ws`` (``wss://`` with TLS) for the bound port."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "ws" if self.ssl_context is None else "wss"
        return f"{scheme}://{host}:{self.port}{WEBSOCKET_PATH}"

    @property
    def metrics_port(self) -> int | None:
        """The bound port of the separate metrics listener, if there is one."""
        return self._metrics_port

    @property
    def metrics_view(self) -> tuple[int, int, int, Mapping[str, int]]:
        """Clients, rooms, bytes in outbound queues, messages received by type: for a scrape."""
        # The byte counters, not the queues: reading a queue would create it.
        queued = sum(c.queue_bytes for c in self._connections.values())
        core = self.core
        return len(core.client_ids), len(core.room_ids), queued, core.received_by_type

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
        metrics_listener = await self._metrics_listener()
        acceptor = AcceptLoop(
            handle=self._handle_stream,
            shed_response=self._shed_response,
            handshakes=self._handshakes,
            log_error=ThrottledLog(logger, logging.ERROR, LOG_INTERVAL),
            log_refused=self._log_refused,
            read_timeout=min(self.handshake_timeout, 1.0),
            # TLS keeps anyio's stream; plain TCP is read from the socket itself.
            raw=self.ssl_context is None,
        )
        acceptor.take_reserve()
        async with anyio.create_task_group() as tg:
            self._task_group = tg
            timer_scope = anyio.CancelScope()
            tg.start_soon(self._run_timer, timer_scope)
            keepalive_scope = anyio.CancelScope()
            tg.start_soon(self._run_keepalive, keepalive_scope)
            metrics_scope = anyio.CancelScope()
            if metrics_listener is not None:
                tg.start_soon(self._serve_metrics, metrics_listener, metrics_scope)
            logger.info("opensyncparty listening on %s", self.url)
            self._log_access_policy()
            task_status.started(self._port)
            async with listener:
                with anyio.CancelScope() as accept_scope:
                    self._accept_scope = accept_scope
                    if self._stopping:
                        accept_scope.cancel()
                    async with anyio.create_task_group() as accept_group:
                        for one in listener.listeners:
                            accept_group.start_soon(acceptor.run, one, tg)
            logger.info("shutting down: closing %d client(s)", len(self._connections))
            for scope in self._handshakes:
                scope.cancel()
            for conn in list(self._connections.values()):
                conn.request_close(CloseReason.GOING_AWAY, "server shutting down")
            timer_scope.cancel()
            keepalive_scope.cancel()
            metrics_scope.cancel()
        self._task_group = None
        acceptor.release_reserve()
        logger.info("stopped")

    def stop(self) -> None:
        """Stop accepting and close every client with 1001; :meth:`serve` then returns.

        Call it from the event loop's thread (a task or a signal handler task).
        """
        self._stopping = True
        if self._accept_scope is not None:
            self._accept_scope.cancel()

    def _shed_response(self, head: bytes) -> bytes:
        """The answer to a client refused for lack of descriptors: /health, or 503."""
        if _request_line(head) == ("GET", HEALTH_PATH):
            status, body, _, content_type = self._health()
        else:
            status, body, content_type = 503, "server at capacity\n", b"text/plain"
        payload = body.encode()
        return (
            f"HTTP/1.1 {status} {'OK' if status == 200 else 'Service Unavailable'}\r\n"
            f"content-type: {content_type.decode()}\r\n"
            f"content-length: {len(payload)}\r\nconnection: close\r\n\r\n"
        ).encode() + payload

    # ------------------------------------------------------------------
    # Access policy and metrics listener
    # ------------------------------------------------------------------

    def _log_access_policy(self) -> None:
        if self.allowed_origins is None:
            logger.warning("no Origin allow-list: web pages from any origin may connect")
        else:
            logger.info("allowed origins: %s", ", ".join(sorted(self.allowed_origins)))
        logger.info("authentication %s", "required" if self.core.auth_required else "off")
        if self.metrics and self._metrics_port is not None:
            logger.info("metrics on port %d%s", self._metrics_port, METRICS_PATH)

    async def _metrics_listener(self) -> anyio.abc.Listener[anyio.abc.SocketStream] | None:
        if not self.metrics or self._metrics_address is None:
            return None
        host, port = self._metrics_address
        listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
        self._metrics_port = int(listener.extra(anyio.abc.SocketAttribute.local_port))
        return listener

    async def _serve_metrics(
        self, listener: anyio.abc.Listener[anyio.abc.SocketStream], scope: anyio.CancelScope
    ) -> None:
        async def handle(stream: anyio.abc.SocketStream) -> None:
            await serve_metrics_connection(stream, self._metrics_body, self.handshake_timeout)

        with scope:
            async with listener:
                await listener.serve(handle)

    def _metrics_body(self) -> tuple[bytes, bytes]:
        return render(self._registry)

    def _origin_refused(self, request: Request, stream: anyio.abc.ByteStream) -> bool:
        allowed, origin = origin_allowed(request.extra_headers, self.allowed_origins)
        if allowed:
            return False
        self.stats.rejected("origin")
        self._log_origin(
            "refused a WebSocket from %s: Origin %r not allowed", _peer(stream), origin
        )
        return True

    async def _start_tls(self, stream: anyio.abc.SocketStream) -> anyio.abc.ByteStream | None:
        """The TLS handshake, within the handshake timeout; ``None`` if it fails."""
        assert self.ssl_context is not None
        with anyio.move_on_after(self.handshake_timeout):
            try:
                return await TLSStream.wrap(
                    stream,
                    server_side=True,
                    ssl_context=self.ssl_context,
                    standard_compatible=False,
                )
            except (ssl.SSLError, anyio.BrokenResourceError, anyio.EndOfStream, OSError) as exc:
                logger.debug("TLS handshake with %s failed: %r", _peer(stream), exc)
        self.stats.rejected("tls")
        await anyio.aclose_forcefully(stream)
        return None

    # ------------------------------------------------------------------
    # Connections
    # ------------------------------------------------------------------

    async def _handle_stream(self, stream: anyio.abc.SocketStream) -> None:
        # One coroutine, not a guard around a second one: every idle connection
        # holds the frames of its task's coroutines (about 250 bytes each).
        try:
            byte_stream: anyio.abc.ByteStream = stream
            if self.ssl_context is not None:
                tls_stream = await self._start_tls(stream)
                if tls_stream is None:
                    return
                byte_stream = tls_stream
            async with byte_stream:
                address = _peer_address(byte_stream)
                ws = await self._timed_handshake(byte_stream, address)
                if ws is None:
                    return
                try:
                    if not self._stopping:
                        await self._run_websocket(byte_stream, ws)
                finally:
                    self._admission.release(address)
        # One connection's failure must never end the task group that serves the others.
        except (anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            logger.debug("connection lost: %r", exc)
        except Exception:
            self._log_handler_failure("connection handler failed", exc_info=True)

    async def _timed_handshake(
        self, stream: anyio.abc.ByteStream, address: str
    ) -> Connection | None:
        """:meth:`_handshake` within the handshake timeout, cut short by :meth:`stop`.

        A separate call so that its two cancel scopes (about 600 bytes each)
        are freed once the upgrade is done, not held by every idle connection.
        """
        ws: Connection | None = None
        with anyio.CancelScope() as scope:
            self._handshakes[scope] = anyio.current_time()
            if self._stopping:  # accepted just before stop(): do not start
                scope.cancel()
            try:
                with anyio.move_on_after(self.handshake_timeout) as timeout:
                    ws = await self._handshake(stream, address)
                if timeout.cancelled_caught:
                    self.stats.rejected("timeout")
                    self._log_bad_handshake(
                        "handshake from %s timed out after %g s",
                        _peer(stream),
                        self.handshake_timeout,
                    )
            finally:
                self._handshakes.pop(scope, None)
        if ws is not None and scope.cancelled_caught:
            # Upgraded, then cut short by stop(): the slot it holds is given back.
            self._admission.release(address)
            return None
        return ws

    async def _handshake(self, stream: anyio.abc.ByteStream, address: str) -> Connection | None:
        """Read the HTTP request; upgrade it, or answer it and return None.

        Only the WebSocket connection outlives this: the HTTP parser is dropped.
        An upgraded connection holds an admission slot for ``address``.
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
                        if self._origin_refused(event, stream):
                            await self._send_response(stream, handshake, 403, "Forbidden\n")
                            return None
                        return await self._upgrade(stream, handshake, head, address)
                    resource = self._resource(path)
                    if resource is not None:
                        await self._send_response(stream, handshake, *resource())
                    else:
                        await self._send_response(stream, handshake, 404, "Not Found\n")
                    return None

    async def _upgrade(
        self, stream: anyio.abc.ByteStream, handshake: H11Handshake, head: bytes, address: str
    ) -> Connection | None:
        """Admit the upgrade request (101, holding a slot) or refuse it with its status."""
        refusal = self._admission.admit(_http_version(head), address)
        if refusal is not None:
            self.stats.rejected(_REFUSAL_REASONS.get(refusal.status, f"http_{refusal.status}"))
            log = self._log_bad_handshake if refusal.status == 400 else self._log_refused
            log("refused %s with HTTP %d: %s", _peer(stream), refusal.status, refusal.reason)
            await self._send_response(stream, handshake, refusal.status, f"{refusal.reason}\n")
            return None
        try:
            await stream.send(handshake.send(AcceptConnection()))
        except BaseException:
            self._admission.release(address)
            raise
        return handshake.connection

    async def _answer_http(
        self,
        stream: anyio.abc.ByteStream,
        ws: H11Handshake,
        head: bytes,
        exc: RemoteProtocolError,
    ) -> None:
        method, path = _request_line(head)
        hint = exc.event_hint
        resource = self._resource(path)
        if resource is not None and method == "GET":
            await self._send_response(stream, ws, *resource())
        elif resource is not None:
            allow = [(b"allow", b"GET")]
            await self._send_response(stream, ws, 405, "Method Not Allowed\n", allow)
        elif path == WEBSOCKET_PATH or path is None or not isinstance(hint, RejectConnection):
            status = hint.status_code if isinstance(hint, RejectConnection) else 400
            headers = list(hint.headers) if isinstance(hint, RejectConnection) else []
            self.stats.rejected("bad_request")
            self._log_bad_handshake("refused a bad upgrade request from %s: %s", _peer(stream), exc)
            await self._send_response(stream, ws, status, f"{exc}\n", headers)
        else:
            await self._send_response(stream, ws, 404, "Not Found\n")

    def _resource(
        self, path: str | None
    ) -> Callable[[], tuple[int, str | bytes, list[tuple[bytes, bytes]], bytes]] | None:
        """The plain-HTTP resource at ``path`` on the public port, if any."""
        if path == HEALTH_PATH:
            return self._health
        if path == METRICS_PATH and self.metrics and self._metrics_address is None:
            return self._metrics
        return None

    def _metrics(self) -> tuple[int, bytes, list[tuple[bytes, bytes]], bytes]:
        body, content_type = self._metrics_body()
        return 200, body, [], content_type

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
        stream: anyio.abc.ByteStream,
        ws: H11Handshake,
        status: int,
        body: str | bytes,
        headers: list[tuple[bytes, bytes]] | None = None,
        content_type: bytes = b"text/plain; charset=utf-8",
    ) -> None:
        """Answer with an HTTP response through wsproto's rejection events, then close."""
        payload = body.encode() if isinstance(body, str) else body
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

    async def _run_websocket(self, stream: anyio.abc.ByteStream, ws: Connection) -> None:
        client_id, out = self.core.connect(self._clock())
        conn = _Connection(
            client_id, ws, stream, self.queue_size, self.max_queue_bytes, anyio.current_time()
        )
        self._connections[client_id] = conn
        logger.info("client %s connected from %s", client_id, _peer(stream))
        self._deliver(out)
        # This frame lives as long as the connection: not the hello's text with it.
        del out
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
            if conn.close_code is not None or conn.lost:
                # Closed (e.g. evicted by another client's broadcast) while
                # this read was completing: the core has forgotten this client.
                return
            conn.heard = True
            ws.receive_data(data)
            # Not held while the next read waits, perhaps for minutes.
            del data
            # Everything one read brings (a host behind by several seeks) is
            # written once per recipient, not once per message.
            self._holding = True
            try:
                for event in ws.events():
                    if isinstance(event, (TextMessage, BytesMessage)):
                        if event.frame_finished and self._too_many_fragments(conn, event):
                            return
                        self._on_message_data(conn, event)
                    elif isinstance(event, (Ping, Pong)):
                        if self._too_many_control_frames(conn):
                            return
                        if isinstance(event, Ping):
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
                        return
                    if conn.close_code is not None or conn.lost:
                        return
            finally:
                self._holding = False
                self._flush()

    def _too_many_fragments(self, conn: _Connection, event: TextMessage | BytesMessage) -> bool:
        """Count a finished frame of the incoming message; close on one over the limit."""
        if event.message_finished:
            conn.fragments = 0
            return False
        conn.fragments += 1
        limit = self.max_fragments
        if not limit or conn.fragments < limit:
            return False
        # Even the final frame would be one too many.
        self._log_frame_limit(
            "client %s sent a message in over %d fragments", conn.client_id, limit
        )
        conn.request_close(CloseReason.MESSAGE_TOO_BIG, f"message in over {limit} fragments")
        return True

    def _too_many_control_frames(self, conn: _Connection) -> bool:
        """Count a ping or pong in this second; close on one over the limit."""
        limit = self.max_control_frames_per_second
        if not limit:
            return False
        now = anyio.current_time()
        if now - conn.control_window >= 1.0:
            conn.control_window = now
            conn.control_frames = 0
        conn.control_frames += 1
        if conn.control_frames <= limit:
            return False
        self._log_frame_limit(
            "client %s sent over %d control frames in a second", conn.client_id, limit
        )
        conn.request_close(CloseReason.POLICY_VIOLATION, f"over {limit} control frames per second")
        return True

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
        try:
            if isinstance(event, TextMessage):
                out = self.core.receive(conn.client_id, text, now)
            else:
                out = self.core.receive_binary(conn.client_id, now)
        except Exception:
            # The core promises an answer to anything a client sends; if a bug
            # breaks that promise, only this message is lost, not the client.
            self._log_core_failure(
                "the core failed on a message from client %s", conn.client_id, exc_info=True
            )
            error = Error(message=INTERNAL_ERROR, ts=now, server_ts=now)
            out = [Outgoing(recipients=(conn.client_id,), text=encode(error))]
        self._deliver(out)

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
                    data = conn.pop_chunk()
                    conn.writing = True
                    # Both backends write any bytes-like object (a memoryview
                    # tail included), though anyio annotates ``bytes``.
                    await conn.stream.send(cast(bytes, data))
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
            conn.drop_empty_queue()
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
        conn.queue_bytes = len(queue[0]) if queue else 0
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
            # A peer that floods frames instead is not parsed past the limits
            # below; its bytes are drained unread until the close timeout, so
            # that closing does not reset the connection before it reads our close.
            budget_bytes, budget_frames = _RECEIVE_SIZE, _CLOSE_WAIT_FRAMES
            while ws.state is ConnectionState.LOCAL_CLOSING:
                for _ in ws.events():
                    budget_frames -= 1
                    if budget_frames < 0:
                        break
                if ws.state is not ConnectionState.LOCAL_CLOSING:
                    return
                if budget_bytes <= 0 or budget_frames < 0:
                    await _drain(stream)
                    return
                try:
                    data: bytes | None = await stream.receive(budget_bytes)
                except anyio.EndOfStream:
                    data = None
                budget_bytes -= len(data) if data else budget_bytes
                ws.receive_data(data)
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
            self._log_eviction(
                "client %s evicted: outbound queue full (%d messages, %d bytes)",
                conn.client_id,
                conn.queued,
                conn.queue_bytes,
            )
            conn.request_close(
                CloseReason.POLICY_VIOLATION, "outbound queue full", abort_write=True
            )
            return self._forget(conn)
        queued = conn.queued
        if queued:
            if queued > self.peak_queue_length:
                self.peak_queue_length = queued
            if conn.queue_bytes > self.peak_queue_bytes:
                self.peak_queue_bytes = conn.queue_bytes
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
        stats = self.stats
        for outgoing in out:
            stats.sent(outgoing.text, len(outgoing.recipients))
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
        if self._batches:
            started = time.perf_counter()
            while self._batches:
                batches, self._batches = self._batches, {}
                for conn, frames in batches.items():
                    # An eviction earlier in this loop may have ended this connection.
                    if self._connections.get(conn.client_id) is conn:
                        self._collect(self._enqueue(conn, frames))
            self.stats.fanout(time.perf_counter() - started)
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

    async def _run_keepalive(self, scope: anyio.CancelScope) -> None:
        """Ping quiet clients; close the ones silent past the idle timeout."""
        enabled = [t for t in (self.ping_interval, self.idle_timeout) if t]
        if not enabled:
            return
        # A sweep costs one comparison per client; a quarter of the shortest
        # period keeps the timeouts within 25 % of their values.
        tick = min(1.0, min(enabled) / 4)
        with scope:
            while True:
                await anyio.sleep(tick)
                now = anyio.current_time()
                for conn in list(self._connections.values()):
                    if conn.close_code is not None:
                        continue
                    if conn.heard:
                        conn.heard = False
                        conn.quiet_since = now
                    quiet = now - conn.quiet_since
                    if self.idle_timeout and quiet >= self.idle_timeout:
                        self._log_idle("client %s closed: silent for %.0f s", conn.client_id, quiet)
                        conn.request_close(CloseReason.GOING_AWAY, "idle timeout", abort_write=True)
                    elif (
                        self.ping_interval
                        and quiet >= self.ping_interval
                        and now - conn.pinged_at >= self.ping_interval
                        and conn.ws.state is ConnectionState.OPEN
                    ):
                        conn.pinged_at = now
                        self._deliver(self._enqueue(conn, [conn.ws.send(Ping())]))


async def _drain(stream: anyio.abc.ByteStream) -> None:
    """Half-close, then read and drop everything until the peer ends (the caller bounds it)."""
    with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError):
        await stream.send_eof()
        while True:
            await stream.receive(_RECEIVE_SIZE)


def _http_version(head: bytes) -> bytes | None:
    """The HTTP version of a request head (``b"HTTP/1.1"``), or ``None`` if unreadable."""
    line = head.lstrip(b"\r\n").split(b"\r\n", 1)[0]
    parts = line.split(b" ")
    return parts[2] if len(parts) == 3 else None


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


def _peer_address(stream: anyio.abc.ByteStream) -> str:
    """The client's IP address: the key of the per-address connection cap."""
    address = stream.extra(anyio.abc.SocketAttribute.remote_address, "?")
    return str(address[0]) if isinstance(address, tuple) else str(address)


def _peer(stream: anyio.abc.ByteStream) -> str:
    address = stream.extra(anyio.abc.SocketAttribute.remote_address, "?")
    if isinstance(address, tuple):
        return f"{address[0]}:{address[1]}"
    return str(address)
