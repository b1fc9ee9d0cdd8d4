"""Plain HTTP on the WebSocket port: /health, unknown paths, refused upgrades."""

from __future__ import annotations

import json

import anyio
import pytest

from opensyncparty_core import CreateRoom, RoomState
from opensyncparty_transports import HandshakeError, connect

from .support import TIMEOUT, receive_until, running_server

pytestmark = pytest.mark.anyio


async def http_exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send a raw request; return the status, headers and body of the response."""
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(request)
        response = b""
        while True:
            try:
                response += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                break
    head, _, body = response.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def get(path: str, *extra: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", *extra, "", ""]
    return "\r\n".join(lines).encode()


async def test_health_reports_clients_and_rooms_as_json() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server() as server:
            status, headers, body = await http_exchange(server.port, get("/health"))
            assert status == 200
            assert headers["content-type"] == "application/json"
            assert json.loads(body) == {"status": "ok", "clients": 0, "rooms": 0}

            async with connect(server.url) as host, connect(server.url):
                await host.send(CreateRoom())
                await receive_until(host, RoomState)
                _, _, body = await http_exchange(server.port, get("/health?verbose=1"))
                assert json.loads(body) == {"status": "ok", "clients": 2, "rooms": 1}


@pytest.mark.parametrize("path", ["/", "/index.html", "/ws/extra", "/healthz"])
async def test_other_paths_are_404(path: str) -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server() as server:
            status, _, _ = await http_exchange(server.port, get(path))
            assert status == 404


async def test_websocket_upgrade_on_another_path_is_404() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server() as server:
            with pytest.raises(HandshakeError) as info:
                async with connect(f"ws://127.0.0.1:{server.port}/socket"):
                    pass
            assert info.value.status_code == 404


async def test_plain_get_on_ws_is_an_http_error() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server() as server:
            status, _, body = await http_exchange(server.port, get("/ws"))
            assert status in (400, 426)
            assert b"Upgrade" in body


async def test_upgrade_with_wrong_version_is_426() -> None:
    request = get(
        "/ws",
        "Connection: Upgrade",
        "Upgrade: websocket",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 8",
    )
    with anyio.fail_after(TIMEOUT):
        async with running_server() as server:
            status, headers, _ = await http_exchange(server.port, request)
            assert status == 426
            assert headers["sec-websocket-version"] == "13"


async def test_post_to_health_is_405() -> None:
    request = b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    with anyio.fail_after(TIMEOUT):
        async with running_server() as server:
            status, headers, _ = await http_exchange(server.port, request)
            assert status == 405
            assert headers["allow"] == "GET"


async def test_garbage_is_400_and_the_server_goes_on() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server() as server:
            status, _, _ = await http_exchange(server.port, b"\x16\x03\x01 not http\r\n\r\n")
            assert status == 400
            status, _, _ = await http_exchange(server.port, get("/health"))
            assert status == 200


async def test_connection_that_sends_no_request_is_dropped_after_the_timeout() -> None:
    with anyio.fail_after(TIMEOUT):
        async with (
            running_server(handshake_timeout=0.2) as server,
            await anyio.connect_tcp("127.0.0.1", server.port) as idle,
        ):
            with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                await idle.receive()


async def test_shutdown_does_not_wait_for_unfinished_handshakes() -> None:
    # The handshake timeout is far beyond the test's time limit: stop() must cut it short.
    with anyio.fail_after(TIMEOUT / 2):
        async with running_server(handshake_timeout=60.0) as server:
            idle = await anyio.connect_tcp("127.0.0.1", server.port)
            await idle.send(b"GET /ws HTTP/1.1\r\n")
        async with idle:
            with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                await idle.receive()
