"""MpvIpc against a pretend mpv on a Unix socket: replies, events, slowness and death."""

from __future__ import annotations

import json
import pathlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from opensyncparty_transports.mpv import MpvError, MpvIpc

pytestmark = pytest.mark.anyio

Behaviour = Callable[[anyio.abc.SocketStream, BufferedByteReceiveStream], Awaitable[None]]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend


@asynccontextmanager
async def fake_mpv(path: pathlib.Path, behaviour: Behaviour) -> AsyncIterator[MpvIpc]:
    """An IPC connection to a socket served by ``behaviour`` (one connection)."""
    listener = await anyio.create_unix_listener(path)
    ticks = iter(range(1_000, 1_000_000, 10))
    async with anyio.create_task_group() as tg:

        async def serve_one() -> None:
            async with listener, await listener.accept() as stream:
                await behaviour(stream, BufferedByteReceiveStream(stream))

        tg.start_soon(serve_one)
        ipc = await MpvIpc.connect(str(path), clock=lambda: float(next(ticks)), timeout=0.5)
        yield ipc
        await ipc.aclose()
        tg.cancel_scope.cancel()


async def next_request(reader: BufferedByteReceiveStream) -> dict[str, Any]:
    request: dict[str, Any] = json.loads(await reader.receive_until(b"\n", 65_536))
    return request


async def test_reply_is_returned_and_events_arrive_stamped(tmp_path: pathlib.Path) -> None:
    async def behaviour(stream: anyio.abc.SocketStream, reader: BufferedByteReceiveStream) -> None:
        request = await next_request(reader)
        event = {"event": "property-change", "name": "pause", "data": True}
        reply = {"request_id": request["request_id"], "error": "success", "data": 12.5}
        await stream.send((json.dumps(event) + "\n" + json.dumps(reply) + "\n").encode())
        await anyio.sleep_forever()

    seen: list[tuple[dict[str, Any], float]] = []
    async with fake_mpv(tmp_path / "s", behaviour) as ipc, anyio.create_task_group() as tg:
        tg.start_soon(ipc.run, lambda message, at: seen.append((message, at)))
        with anyio.fail_after(5):
            assert await ipc.command("get_property", "time-pos") == 12.5
        tg.cancel_scope.cancel()
    assert seen == [({"event": "property-change", "name": "pause", "data": True}, 1_000.0)]


async def test_refused_command_is_an_mpv_error(tmp_path: pathlib.Path) -> None:
    async def behaviour(stream: anyio.abc.SocketStream, reader: BufferedByteReceiveStream) -> None:
        request = await next_request(reader)
        reply = {"request_id": request["request_id"], "error": "property not found"}
        await stream.send((json.dumps(reply) + "\n").encode())
        await anyio.sleep_forever()

    async with fake_mpv(tmp_path / "s", behaviour) as ipc, anyio.create_task_group() as tg:
        tg.start_soon(ipc.run, lambda message, at: None)
        with anyio.fail_after(5), pytest.raises(MpvError, match="property not found"):
            await ipc.command("get_property", "nonsense")
        tg.cancel_scope.cancel()


async def test_an_mpv_that_does_not_answer_fails_the_request_in_time(
    tmp_path: pathlib.Path,
) -> None:
    async def behaviour(stream: anyio.abc.SocketStream, reader: BufferedByteReceiveStream) -> None:
        await next_request(reader)
        await anyio.sleep_forever()  # hung: reads, never answers

    async with fake_mpv(tmp_path / "s", behaviour) as ipc, anyio.create_task_group() as tg:
        tg.start_soon(ipc.run, lambda message, at: None)
        with anyio.fail_after(5), pytest.raises(MpvError, match="did not answer 'seek' within"):
            await ipc.command("seek", 10, "absolute+exact")
        assert not ipc.closed  # a slow mpv may still answer the next one
        tg.cancel_scope.cancel()


async def test_an_mpv_that_dies_fails_the_request_at_once(tmp_path: pathlib.Path) -> None:
    async def behaviour(stream: anyio.abc.SocketStream, reader: BufferedByteReceiveStream) -> None:
        await next_request(reader)
        await stream.aclose()  # gone mid-request

    async with fake_mpv(tmp_path / "s", behaviour) as ipc, anyio.create_task_group() as tg:
        tg.start_soon(ipc.run, lambda message, at: None)
        with anyio.fail_after(0.4), pytest.raises(MpvError, match="closed"):
            await ipc.command("set_property", "pause", False)
        assert ipc.closed
        with pytest.raises(MpvError, match="closed"):
            await ipc.command("set_property", "pause", True)


async def test_run_returns_when_mpv_goes_away(tmp_path: pathlib.Path) -> None:
    async def behaviour(stream: anyio.abc.SocketStream, reader: BufferedByteReceiveStream) -> None:
        await stream.send(b'{"event": "shutdown"}\n')

    seen: list[str] = []
    async with fake_mpv(tmp_path / "s", behaviour) as ipc:
        with anyio.fail_after(5):
            await ipc.run(lambda message, at: seen.append(message["event"]))
    assert seen == ["shutdown"]


async def test_connecting_to_nothing_is_an_mpv_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(MpvError, match="cannot connect to mpv"):
        await MpvIpc.connect(str(tmp_path / "none"), clock=lambda: 0.0)


async def test_a_line_over_1_mib_ends_the_connection(tmp_path: pathlib.Path) -> None:
    async def behaviour(stream: anyio.abc.SocketStream, reader: BufferedByteReceiveStream) -> None:
        await stream.send(b"x" * (1024 * 1024 + 1))  # and never a newline
        await anyio.sleep_forever()

    async with fake_mpv(tmp_path / "s", behaviour) as ipc:
        with anyio.fail_after(5):
            await ipc.run(lambda message, at: None)
        assert ipc.closed
