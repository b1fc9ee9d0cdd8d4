"""Connection limits of the server, each at its edge: one under is served, one over is refused."""

from __future__ import annotations

import argparse
import errno
import inspect
import logging
import socket

import anyio
import anyio.abc
import pytest
from wsproto import WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Ping, Pong, TextMessage

from opensyncparty_core import (
    ClientHello,
    ClientLeft,
    CreateRoom,
    Error,
    JoinRoom,
    RoomState,
    encode,
)
from opensyncparty_core import Pong as PongMessage
from opensyncparty_transports import (
    ConnectionClosed,
    HandshakeError,
    WebSocketServer,
    _accept,
    add_limit_arguments,
    connect,
    limit_options,
)
from opensyncparty_transports._admission import Admission, Refusal, ThrottledLog
from opensyncparty_transports._cli import build_parser
from opensyncparty_transports._rawsocket import accept_raw

from .support import SEED, TIMEOUT, raw_websocket, read_close_code, receive_until, running_server
from .test_client import answer_close, with_scripted_server

pytestmark = pytest.mark.anyio

UPGRADE = (
    "GET /ws {version}\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


async def http_status(port: int, request: str) -> int:
    """Send a raw HTTP request; return the response's status code."""
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(request.encode())
        response = b""
        while b"\r\n" not in response:
            response += await stream.receive()
        return int(response.split(b" ", 2)[1])


async def hello(url: str) -> None:
    """Connect, get the greeting, leave."""
    async with connect(url) as client:
        await receive_until(client, ClientHello)


# ---------------------------------------------------------------- handshake


async def test_http_1_0_upgrade_is_refused_with_400_and_1_1_is_accepted() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server() as server:
            assert await http_status(server.port, UPGRADE.format(version="HTTP/1.0")) == 400
            assert await http_status(server.port, UPGRADE.format(version="HTTP/1.1")) == 101
            assert server.handshake_failures == 1


async def test_global_cap_refuses_one_more_with_503_and_frees_the_slot_on_leave() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(max_connections=2) as server:
            async with connect(server.url), connect(server.url) as second:
                with pytest.raises(HandshakeError) as refused:
                    await hello(server.url)
                assert refused.value.status_code == 503
                await receive_until(second, ClientHello)
            await hello(server.url)
            assert server.refused_connections == 1


async def test_per_address_cap_refuses_that_address_with_429_only() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(max_connections_per_ip=1) as server:
            # Linux routes all of 127/8 to loopback: a second client address.
            other = await anyio.connect_tcp("127.0.0.1", server.port, local_host="127.0.0.2")
            async with other, connect(server.url):
                with pytest.raises(HandshakeError) as refused:
                    await hello(server.url)
                assert refused.value.status_code == 429
                await other.send(UPGRADE.format(version="HTTP/1.1").encode())
                assert (await other.receive()).startswith(b"HTTP/1.1 101 ")
            await hello(server.url)


async def test_zero_means_no_cap() -> None:
    with anyio.fail_after(TIMEOUT):
        async with (
            running_server(max_connections=0, max_connections_per_ip=0) as server,
            connect(server.url),
            connect(server.url),
            connect(server.url),
        ):
            await hello(server.url)


async def test_refused_handshakes_are_logged_once_per_interval_with_their_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="opensyncparty_transports")
    with anyio.fail_after(TIMEOUT):
        async with running_server() as server:
            for _ in range(5):
                assert await http_status(server.port, UPGRADE.format(version="HTTP/1.0")) == 400
            assert server.handshake_failures == 5
    lines = [r for r in caplog.records if "HTTP 400" in r.getMessage()]
    assert len(lines) == 1


def test_throttled_log_reports_the_count_of_what_it_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    log = ThrottledLog(logging.getLogger("test.throttled"), logging.WARNING, 10.0, lambda: now[0])
    caplog.set_level(logging.WARNING, logger="test.throttled")
    for t in (0.0, 1.0, 2.0, 9.9, 10.0, 12.0):
        now[0] = t
        log("refused %s", "x")
    assert [r.getMessage() for r in caplog.records] == [
        "refused x",
        "refused x (and 3 more like it in the last 10 s)",
    ]
    assert log.total == 6


# ---------------------------------------------------------------- frames


async def send_fragments(port: int, count: int) -> int | None:
    """Send one ping message split into ``count`` frames; the close code, or None if served."""
    stream, ws = await raw_websocket(port)
    async with stream:
        for i in range(count):
            last = i == count - 1
            data = '{"type":"ping"}' if last else ""
            await stream.send(ws.send(TextMessage(data=data, message_finished=last)))
        while True:
            ws.receive_data(await stream.receive())
            for event in ws.events():
                if isinstance(event, TextMessage) and '"pong"' in event.data:
                    return None
                if isinstance(event, CloseConnection):
                    return event.code


async def test_message_of_max_fragments_is_served_and_one_more_closes_1009() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(max_fragments=10) as server:
            assert await send_fragments(server.port, 10) is None
            assert await send_fragments(server.port, 11) == 1009


async def test_control_frames_over_the_rate_close_with_1008() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(max_control_frames_per_second=5) as server:
            stream, ws = await raw_websocket(server.port)
            async with stream:
                await stream.send(b"".join(ws.send(Ping(payload=b"%d" % i)) for i in range(5)))
                pongs = 0
                while pongs < 5:
                    ws.receive_data(await stream.receive())
                    pongs += sum(isinstance(e, Pong) for e in ws.events())
                await stream.send(ws.send(Ping(payload=b"one too many")))
                assert await read_close_code(stream, ws) == 1008
            assert server.core.client_ids == ()


# ---------------------------------------------------------------- message size


def ping_of_size(size: int) -> str:
    """A ping message of exactly ``size`` UTF-8 bytes."""
    envelope = '{"type": "ping", "payload": ""}'
    text = envelope[:-2] + "x" * (size - len(envelope)) + '"}'
    assert len(text.encode()) == size
    return text


async def test_message_of_exactly_max_message_bytes_is_served_and_one_more_closes_1009() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server() as server, connect(server.url) as client:
            limit = server.core.config.max_message_bytes
            assert limit == 65_536
            await client.send_text(ping_of_size(limit))
            assert len((await receive_until(client, PongMessage)).payload) == limit - 31
            await client.send_text(ping_of_size(limit + 1))
            with pytest.raises(ConnectionClosed) as closed:
                await receive_until(client, PongMessage)
            assert closed.value.code == 1009


@pytest.mark.parametrize(("size", "close_code"), [(65_536, None), (65_537, 1009)])
async def test_client_helper_takes_exactly_its_limit_and_closes_1009_over_it(
    size: int, close_code: int | None
) -> None:
    async def script(stream: anyio.abc.SocketStream, ws: WSConnection) -> None:
        await stream.send(ws.send(AcceptConnection()) + ws.send(TextMessage(data="x" * size)))
        await answer_close(stream, ws)

    async def client(url: str) -> None:
        async with connect(url, max_message_bytes=65_536) as connection:
            if close_code is None:
                assert len(await connection.receive_text()) == size
            else:
                with pytest.raises(ConnectionClosed) as closed:
                    await connection.receive_text()
                assert closed.value.code == close_code

    with anyio.fail_after(TIMEOUT):
        await with_scripted_server(script, client)


# ---------------------------------------------------------------- keepalive


async def test_quiet_client_is_pinged_and_stays_while_it_answers() -> None:
    with anyio.fail_after(TIMEOUT):
        async with (
            running_server(ping_interval=0.1, idle_timeout=0.4) as server,
            connect(server.url) as client,
        ):
            await receive_until(client, ClientHello)
            # The client helper answers pings while it waits: 1 s of silence is fine.
            with anyio.move_on_after(1.0):
                await client.receive_text()
                await client.receive_text()
            assert len(server.core.client_ids) == 1


async def test_server_pings_a_client_quiet_for_the_ping_interval() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(ping_interval=0.2, idle_timeout=0) as server:
            stream, ws = await raw_websocket(server.port)
            async with stream:
                start = anyio.current_time()
                while True:
                    ws.receive_data(await stream.receive())
                    if any(isinstance(e, Ping) for e in ws.events()):
                        break
                assert anyio.current_time() - start >= 0.2 * 0.75


async def test_silent_connection_is_closed_after_idle_timeout_and_the_core_told() -> None:
    with anyio.fail_after(TIMEOUT):
        async with (
            # Grace 0: the core's leave shows at once (no resume wait).
            running_server(ping_interval=0.1, idle_timeout=0.4, config=SEED) as server,
            connect(server.url) as host,
        ):
            await host.send(CreateRoom())
            room = (await receive_until(host, RoomState)).room
            stream, ws = await raw_websocket(server.port)
            async with stream:
                await stream.send(ws.send(TextMessage(data=encode(JoinRoom(room=room)))))
                # Then silence: pings are never answered (a half-open peer).
                left = await receive_until(host, ClientLeft)
                assert left.participant_count == 1
            assert len(server.core.client_ids) == 1


# ---------------------------------------------------------------- core failures


async def test_core_failure_costs_one_message_not_the_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server() as server, connect(server.url) as client:
            await receive_until(client, ClientHello)
            receive = server.core.receive

            def broken(client_id: str, text: str, now: int) -> list[object]:
                if "boom" in text:
                    raise TypeError("a bug in the core")
                return receive(client_id, text, now)  # type: ignore[return-value]

            server.core.receive = broken  # type: ignore[method-assign,assignment]
            await client.send_text('{"type": "boom"}')
            error = await receive_until(client, Error)
            assert error.message.startswith("Internal server error")
            await client.send(CreateRoom())
            await receive_until(client, RoomState)
    failures = [r for r in caplog.records if r.exc_info and "core failed" in r.getMessage()]
    assert len(failures) == 1


# ---------------------------------------------------------------- configuration


def test_every_limit_of_the_server_has_a_flag_with_the_same_default() -> None:
    not_limits = {"host", "port", "config", "clock", "id_source"}
    # Access control and metrics come from the settings (test_settings checks them).
    not_limits |= {"token_verifier", "allowed_origins", "ssl_context"}
    not_limits |= {"metrics", "metrics_host", "metrics_port"}
    keywords = set(inspect.signature(WebSocketServer).parameters) - not_limits
    parser = argparse.ArgumentParser()
    add_limit_arguments(parser)
    options = limit_options(parser.parse_args([]))
    assert set(options) == keywords
    defaults = inspect.signature(WebSocketServer).parameters
    assert all(options[name] == defaults[name].default for name in keywords)


def test_cli_flags_reach_the_server() -> None:
    args = build_parser().parse_args(
        ["--max-connections", "0", "--idle-timeout", "5", "--max-queue-bytes", "4096"]
    )
    server = WebSocketServer(**limit_options(args))
    assert server.idle_timeout == 5.0
    assert server.max_queue_bytes == 4096


@pytest.mark.parametrize(
    "flag", ["--max-connections=-1", "--idle-timeout=-1", "--queue-size=0", "--close-timeout=0"]
)
def test_cli_refuses_a_bad_limit(flag: str) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args([flag])


# ---------------------------------------------------------------- accept errors


async def test_accept_errors_are_logged_once_and_the_server_accepts_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    failures = [errno.ECONNABORTED, errno.EPROTO, errno.ENOBUFS]

    # Plain TCP is accepted on the listening socket itself (_rawsocket).
    async def flaky_accept(listener: socket.socket) -> anyio.abc.SocketStream:
        if failures:
            await anyio.sleep(0)
            raise OSError(failures.pop(0), "injected")
        return await accept_raw(listener)

    monkeypatch.setattr(_accept, "accept_raw", flaky_accept)
    with anyio.fail_after(TIMEOUT):
        async with running_server() as server:
            await hello(server.url)
            assert failures == []
    accept_lines = [r for r in caplog.records if "accept failed" in r.getMessage()]
    assert len(accept_lines) == 1


def test_admission_counts_slots_per_address_and_in_total() -> None:
    admission = Admission(max_connections=2, max_connections_per_ip=1)
    assert admission.admit(b"HTTP/1.1", "10.0.0.1") is None
    assert admission.admit(b"HTTP/1.1", "10.0.0.1") == Refusal(
        429, "too many connections from one address (1)"
    )
    assert admission.admit(b"HTTP/1.1", "10.0.0.2") is None
    assert admission.admit(b"HTTP/1.1", "10.0.0.3") == Refusal(503, "server full (2 connections)")
    admission.release("10.0.0.1")
    assert admission.admit(b"HTTP/1.1", "10.0.0.3") is None
    assert admission.admitted == 2


@pytest.mark.parametrize("version", [b"HTTP/1.0", b"HTTP/0.9", None])
def test_admission_refuses_anything_but_http_1_1_with_400(version: bytes | None) -> None:
    refusal = Admission(0, 0).admit(version, "10.0.0.1")
    assert refusal is not None
    assert refusal.status == 400


def test_admission_refuses_a_negative_cap() -> None:
    with pytest.raises(ValueError, match="max_connections_per_ip"):
        Admission(10, -1)


async def test_silent_tcp_connection_is_cut_at_the_handshake_timeout_and_counted() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(handshake_timeout=0.2) as server:
            async with await anyio.connect_tcp("127.0.0.1", server.port) as stream:
                await stream.send(b"GET /ws HTTP/1.1\r\n")  # and never the rest
                with pytest.raises(anyio.EndOfStream):
                    await stream.receive()
            assert server.handshake_failures == 1
