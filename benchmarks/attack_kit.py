"""Hostile clients against a real server process: shared by ``benchmarks/attacks.py``
and the attack suite (``tests/attacks/``).

Each attack is a coroutine that takes the server's port, does what an
attacker would over real sockets on 127.0.0.1, and returns what the server
answered (close codes, HTTP statuses, how many connections it cut). The
probe is what a user relies on meanwhile: a fresh client gets its greeting,
creates a room, and a second fresh client joins it.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import pathlib
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import anyio
import anyio.abc
import attrs
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Ping,
    Request,
    TextMessage,
)

from benchmarks.e2e_load import free_port
from opensyncparty_core import ClientHello, CreateRoom, Error, JoinRoom, RoomState, StateUpdate
from opensyncparty_transports import ClientConnection, ConnectionClosed, HandshakeError, connect

HOST = "127.0.0.1"
# A second loopback address (Linux routes all of 127/8 to lo): the attacker's
# own address when a per-address cap must not hit the probe.
OTHER_HOST = "127.0.0.2"
SERVER_SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "examples" / "reference_server.py"
PROBE_TIMEOUT = 1.0
MEDIA_ID_BYTES = 60_000


# ----------------------------------------------------------------------
# The server process


class ServerProcess:
    """``examples/reference_server.py`` in a child process; its log goes to ``log_path``."""

    def __init__(
        self,
        log_path: pathlib.Path,
        *,
        backend: str = "asyncio",
        nofile: int | None = None,
        flags: Sequence[str] = (),
    ) -> None:
        self.port = free_port()
        self.url = f"ws://{HOST}:{self.port}/ws"
        self.log_path = log_path
        command = [sys.executable, str(SERVER_SCRIPT), "--host", HOST, "--port", str(self.port)]
        command += ["--backend", backend, *flags]
        self._log = log_path.open("wb")
        self.popen = subprocess.Popen(
            command,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=None if nofile is None else _limit_nofile(nofile),
        )

    async def wait_ready(self, timeout: float = 10.0) -> None:
        """Wait until the server accepts connections (it is polled: it is another process)."""
        with anyio.fail_after(timeout):
            while True:
                if self.popen.poll() is not None:
                    raise RuntimeError(f"server exited; see {self.log_path}")
                try:
                    stream = await anyio.connect_tcp(HOST, self.port)
                except OSError:
                    await anyio.sleep(0.05)
                    continue
                await stream.aclose()
                return

    def alive(self) -> bool:
        return self.popen.poll() is None

    def _status_kib(self, field: str) -> int:
        for line in pathlib.Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise RuntimeError(f"no {field} in /proc/{self.popen.pid}/status")

    def rss_mb(self) -> float:
        """Resident memory now, in MB (from /proc)."""
        return self._status_kib("VmRSS") / 1024

    def peak_rss_mb(self) -> float:
        """Highest resident memory so far, in MB (the kernel's high-water mark, VmHWM)."""
        return self._status_kib("VmHWM") / 1024

    def log_text(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM, then the exit status (killed after 10 s)."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            status = self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            status = self.popen.wait()
        self._log.close()
        return status


def _limit_nofile(limit: int) -> Callable[[], None]:
    def preexec() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    return preexec


@contextlib.asynccontextmanager
async def server_process(
    log_path: pathlib.Path,
    *,
    backend: str = "asyncio",
    nofile: int | None = None,
    flags: Sequence[str] = (),
) -> AsyncIterator[ServerProcess]:
    server = ServerProcess(log_path, backend=backend, nofile=nofile, flags=flags)
    try:
        await server.wait_ready()
        yield server
    finally:
        server.stop()


# ----------------------------------------------------------------------
# The probe


async def _receive_until(client: ClientConnection, kind: type[Any]) -> Any:
    while True:
        message = await client.receive()
        if isinstance(message, kind):
            return message


async def probe(url: str, timeout: float = PROBE_TIMEOUT) -> float:
    """Seconds for hello + create + join by two fresh clients; TimeoutError past ``timeout``."""
    start = time.perf_counter()
    with anyio.fail_after(timeout):
        async with connect(url) as host:
            await _receive_until(host, ClientHello)
            await host.send(CreateRoom(name="probe"))
            room = (await _receive_until(host, RoomState)).room
            async with connect(url) as guest:
                await _receive_until(guest, ClientHello)
                await guest.send(JoinRoom(room=room))
                await _receive_until(guest, RoomState)
    return time.perf_counter() - start


@attrs.define
class Probes:
    """What the probes met: latencies in seconds (``inf``: failed or over 1 s) and
    the HTTP statuses of upgrades the server refused (a full server's ``503``)."""

    latencies: list[float] = attrs.Factory(list)
    refused: list[int] = attrs.Factory(list)


async def probe_while(url: str, running: anyio.Event, probes: Probes) -> None:
    """Probe every 0.1 s until ``running`` is set."""
    while not running.is_set():
        try:
            probes.latencies.append(await probe(url))
        except HandshakeError as refused:
            probes.refused.append(refused.status_code)
        except (TimeoutError, OSError, ConnectionClosed):
            probes.latencies.append(float("inf"))
        with anyio.move_on_after(0.1):
            await running.wait()


# ----------------------------------------------------------------------
# Raw connections


async def raw_socket(
    port: int, *, local_host: str | None = None, receive_buffer: int | None = None
) -> anyio.abc.SocketStream:
    """A TCP connection to the server; a small ``receive_buffer`` fills up fast."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    if local_host is not None:
        sock.bind((local_host, 0))
    sock.setblocking(False)
    try:
        sock.connect((HOST, port))
    except BlockingIOError:
        await anyio.wait_writable(sock)
    error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if error:
        sock.close()
        raise OSError(error, os.strerror(error))
    return await anyio.abc.SocketStream.from_socket(sock)


async def upgrade(stream: anyio.abc.SocketStream, port: int) -> WSConnection:
    """Upgrade a raw connection to a WebSocket; frames after the 101 stay in the result."""
    ws = WSConnection(ConnectionType.CLIENT)
    await stream.send(ws.send(Request(host=f"{HOST}:{port}", target="/ws")))
    while ws.state is not ConnectionState.OPEN:
        ws.receive_data(await stream.receive())
        for event in ws.events():
            if not isinstance(event, AcceptConnection):
                raise HandshakeError(getattr(event, "status_code", 0), b"")
            break
    return ws


async def read_close_code(stream: anyio.abc.SocketStream, ws: WSConnection) -> int | None:
    """Read until the server's close frame; its code, or ``None`` if TCP ended without one."""
    while True:
        try:
            data: bytes | None = await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            return None
        ws.receive_data(data)
        for event in ws.events():
            if isinstance(event, CloseConnection):
                return event.code


async def _closed_by_peer(stream: anyio.abc.SocketStream) -> bool:
    try:
        return await stream.receive() == b""
    except (anyio.EndOfStream, anyio.BrokenResourceError):
        return True


# ----------------------------------------------------------------------
# The attacks


async def fd_exhaustion(port: int, *, connections: int, hold: float) -> dict[str, Any]:
    """Open plain TCP connections that never send a byte; hold them ``hold`` seconds."""
    streams: list[anyio.abc.SocketStream] = []
    cut = 0

    async def watch(stream: anyio.abc.SocketStream) -> None:
        nonlocal cut
        with contextlib.suppress(anyio.ClosedResourceError):
            if await _closed_by_peer(stream):
                cut += 1

    async with anyio.create_task_group() as tg:
        for _ in range(connections):
            stream = await raw_socket(port)
            streams.append(stream)
            tg.start_soon(watch, stream)
        await anyio.sleep(hold)
        tg.cancel_scope.cancel()
    for stream in streams:
        await anyio.aclose_forcefully(stream)
    return {"connections": connections, "cut_by_server": cut}


async def websocket_exhaustion(port: int, *, connections: int) -> dict[str, Any]:
    """Open WebSocket connections until the server refuses one; ``/health`` then."""
    streams: list[anyio.abc.SocketStream] = []
    status = None
    try:
        for _ in range(connections):
            stream = await raw_socket(port)
            streams.append(stream)
            try:
                await upgrade(stream, port)
            except (HandshakeError, anyio.EndOfStream, anyio.BrokenResourceError) as exc:
                status = getattr(exc, "status_code", None)
                break
        health = await http_get(port, "/health")
    finally:
        for stream in streams:
            await anyio.aclose_forcefully(stream)
    return {"upgraded": len(streams) - 1, "refused_with": status, "health": health}


async def http_get(port: int, path: str, *, body: bool = False) -> Any:
    """Status code of ``GET path`` (0 if the connection ended without an answer), or its body."""
    async with await anyio.connect_tcp(HOST, port) as stream:
        await stream.send(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        response = b""
        with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError):
            while True:
                response += await stream.receive()
        if body:
            return response.partition(b"\r\n\r\n")[2]
        return int(response.split(b" ", 2)[1]) if response else 0


async def amplification(
    port: int, *, sinks: int, attackers: int, duration: float
) -> dict[str, Any]:
    """``sinks`` clients that never read; ``attackers`` create rooms with a 60 KB media id."""
    url = f"ws://{HOST}:{port}/ws"
    sink_streams = []
    for _ in range(sinks):
        stream = await raw_socket(port, receive_buffer=4096)
        await upgrade(stream, port)
        sink_streams.append(stream)
    errors: list[str] = []
    closes: list[int] = []

    async def attack_once(index: int, client: ClientConnection) -> None:
        async def read() -> None:
            try:
                while True:
                    message = await client.receive()
                    if isinstance(message, Error):
                        errors.append(message.message)
            except ConnectionClosed as closed:
                closes.append(closed.code)
            tg.cancel_scope.cancel()

        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            with contextlib.suppress(ConnectionClosed):
                for i in range(1_000_000):
                    media = f"{index}-{i}-" + "m" * MEDIA_ID_BYTES
                    await client.send(CreateRoom(name="attack", media_id=media))
                    await anyio.sleep(0.05)  # just under the 30 messages/s rate limit
            await anyio.sleep(1)  # the reader cancels this once the server has closed

    async def attacker(index: int) -> None:
        # An attacker the server drops comes straight back.
        with anyio.move_on_after(duration):
            while True:
                with contextlib.suppress(OSError, HandshakeError, ConnectionClosed):
                    async with connect(url) as client:
                        await attack_once(index, client)

    try:
        async with anyio.create_task_group() as tg:
            for index in range(attackers):
                tg.start_soon(attacker, index)
    except BaseException:
        for stream in sink_streams:
            await anyio.aclose_forcefully(stream)
        raise
    # The server's own count: the sinks it evicted are no longer its clients.
    health = json.loads(await http_get(port, "/health", body=True))
    for stream in sink_streams:
        await anyio.aclose_forcefully(stream)
    return {
        "sinks": sinks,
        # Sinks the server has not evicted (and up to two probe clients).
        "clients_after": health["clients"],
        "attackers": attackers,
        "errors": sorted(set(errors))[:3],
        "attacker_closes": dict(collections.Counter(closes)),
    }


async def _flood(port: int, each: Callable[[WSConnection], bytes], count: int) -> dict[str, Any]:
    """Send ``count`` frames made by ``each``; the server's close code ends it."""
    stream = await raw_socket(port)
    async with stream:
        ws = await upgrade(stream, port)
        sent = 0
        close_code: int | None = None

        async def send() -> None:
            nonlocal sent
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                chunk = b"".join(each(ws) for _ in range(1_000))
                while sent < count:
                    await stream.send(chunk)
                    sent += 1_000

        async def read() -> None:
            nonlocal close_code
            close_code = await read_close_code(stream, ws)
            tg.cancel_scope.cancel()

        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            await send()
            await anyio.sleep(5)  # the reader ends this wait when the close is in
        return {"frames_sent": sent, "close_code": close_code}


async def fragment_flood(port: int, *, frames: int) -> dict[str, Any]:
    """One text message that never ends: empty continuation frames, ``frames`` of them."""
    return await _flood(
        port, lambda ws: ws.send(TextMessage(data="", message_finished=False)), frames
    )


async def control_flood(port: int, *, pings: int) -> dict[str, Any]:
    """Pings as fast as the socket takes them."""
    return await _flood(port, lambda ws: ws.send(Ping(payload=b"flood")), pings)


async def idle_connections(port: int, *, connections: int, timeout: float) -> dict[str, Any]:
    """Upgrade, then silence: no pong, no byte. Seconds until the server closes each.

    They come from :data:`OTHER_HOST`, so that the per-address cap leaves the probe alone.
    """
    streams = []
    for _ in range(connections):
        stream = await raw_socket(port, local_host=OTHER_HOST)
        streams.append((stream, await upgrade(stream, port)))
    start = time.perf_counter()
    codes: list[int | None] = []
    with anyio.move_on_after(timeout):
        for stream, ws in streams:
            codes.append(await read_close_code(stream, ws))
    for stream, _ in streams:
        await anyio.aclose_forcefully(stream)
    return {
        "connections": connections,
        "closed": len(codes),
        "close_codes": sorted({int(c) for c in codes if c is not None}),
        "seconds": round(time.perf_counter() - start, 2),
    }


async def connection_flood(port: int, *, connections: int, local_host: str) -> dict[str, Any]:
    """WebSocket upgrades from one address, held; the statuses of the refused ones."""
    streams = []
    refused: dict[int, int] = {}
    try:
        for _ in range(connections):
            stream = await raw_socket(port, local_host=local_host)
            streams.append(stream)
            try:
                await upgrade(stream, port)
            except HandshakeError as exc:
                refused[exc.status_code] = refused.get(exc.status_code, 0) + 1
    finally:
        for stream in streams:
            await anyio.aclose_forcefully(stream)
    return {"connections": connections, "refused": refused}


async def malformed_messages(port: int, *, rounds: int) -> dict[str, Any]:
    """A host sends near-valid ``state_update`` messages; does its guest lose the room?"""
    url = f"ws://{HOST}:{port}/ws"
    bad_values = ["[]", "{}", "null", "1e999", '"' + "x" * 1000 + '"', "[[[[[[]]]]]]"]
    errors = 0
    async with connect(url) as host, connect(url) as guest:
        await host.send(CreateRoom())
        room = (await _receive_until(host, RoomState)).room
        await guest.send(JoinRoom(room=room))
        await _receive_until(guest, RoomState)
        created = time.monotonic()
        for i in range(rounds):
            value = bad_values[i % len(bad_values)]
            field = ("play_state", "position", "room")[i % 3]
            message = {"room": f'"{room}"', "position": "1.0", "play_state": '"playing"'}
            message[field] = value
            body = ",".join(f'"{k}":{v}' for k, v in message.items())
            await host.send_text(f'{{"type":"state_update","payload":{{{body}}}}}')
            await _receive_until(host, Error)
            errors += 1
            await anyio.sleep(0.04)  # under the rate limit: each message reaches the parser
        # Both are still in the room: a valid update still reaches the guest. It must come
        # after the spacing filter's interval (500 ms since the room began), or it is dropped.
        await anyio.sleep(max(0.0, 0.6 - (time.monotonic() - created)))
        await host.send(StateUpdate(room=room, position=2.0, play_state="paused"))
        relayed = await _receive_until(guest, StateUpdate)
    return {"sent": rounds, "errors": errors, "relayed_after": relayed.position == 2.0}


async def handshake_junk(port: int, *, requests: int) -> dict[str, Any]:
    """HTTP/1.0 upgrades and malformed requests, one connection each."""
    statuses: dict[int, int] = {}
    http_1_0_upgrade = (
        b"GET /ws HTTP/1.0\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    # An HTTP/1.0 upgrade, bytes that are not HTTP, an upgrade without its headers.
    junk = [http_1_0_upgrade, b"\x16\x03\x01 not http\r\n\r\n", b"GET /ws HTTP/1.1\r\n\r\n"]
    for i in range(requests):
        async with await anyio.connect_tcp(HOST, port) as stream:
            request = junk[i % len(junk)]
            await stream.send(request)
            response = b""
            with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError):
                while b"\r\n" not in response:
                    response += await stream.receive()
            status = int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/") else 0
            statuses[status] = statuses.get(status, 0) + 1
    return {"requests": requests, "statuses": statuses}
