"""The opensyncparty-mpv command: one clear line and status 2 on errors, a clean leave on Ctrl-C."""

from __future__ import annotations

import pathlib
import re
import signal
import socket
import sys

import anyio
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from opensyncparty_core import JoinRoom, RoomClosed, RoomState
from opensyncparty_transports import WebSocketServer, connect
from opensyncparty_transports.mpv import main

from ..transports.support import receive_until

COMMAND = pathlib.Path(sys.executable).parent / "opensyncparty-mpv"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("opensyncparty-mpv: error: ")
    return lines[0]


def test_missing_mpv_is_one_line_and_status_2(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.mp4").write_bytes(b"")
    argv = ["ws://127.0.0.1:9/ws", str(tmp_path / "a.mp4"), "--create", "x"]
    assert main([*argv, "--mpv", str(tmp_path / "no-mpv")]) == 2
    assert "mpv not found" in one_error_line(capsys)


def test_missing_file_is_one_line_and_status_2(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["ws://127.0.0.1:9/ws", str(tmp_path / "none.mp4"), "--join", "r"]
    assert main([*argv, "--mpv", sys.executable]) == 2
    assert "no such file" in one_error_line(capsys)


def test_unreachable_server_is_one_line_and_status_2(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.mp4").write_bytes(b"")
    url = f"ws://127.0.0.1:{free_port()}/ws"
    assert main([url, str(tmp_path / "a.mp4"), "--create", "x", "--mpv", sys.executable]) == 2
    assert f"cannot reach the server at {url}" in one_error_line(capsys)


@pytest.mark.mpv
@pytest.mark.anyio
async def test_unknown_room_is_one_line_and_status_2(clip: pathlib.Path) -> None:
    server = WebSocketServer(host="127.0.0.1", port=0)
    async with anyio.create_task_group() as tg:
        await tg.start(server.serve)
        command = [str(COMMAND), server.url, str(clip), "--join", "nope", "--headless"]
        with anyio.fail_after(15):
            result = await anyio.run_process(command, check=False)
        server.stop()
    assert result.returncode == 2
    assert result.stderr.decode().splitlines() == [
        "opensyncparty-mpv: error: Room 'nope' not found"
    ]


@pytest.mark.mpv
@pytest.mark.anyio
async def test_ctrl_c_leaves_the_room_closes_mpv_and_exits_0(clip: pathlib.Path) -> None:
    server = WebSocketServer(host="127.0.0.1", port=0)
    async with anyio.create_task_group() as tg:
        await tg.start(server.serve)
        command = [str(COMMAND), server.url, str(clip), "--create", "Movie", "--headless"]
        process = await anyio.open_process(command)
        try:
            with anyio.fail_after(15):
                assert process.stderr is not None
                log = BufferedByteReceiveStream(process.stderr)
                line = (await log.receive_until(b"\n", 65_536)).decode()
                match = re.search(r"hosting room (\S+)", line)
                assert match, line
                async with connect(server.url) as guest:
                    await guest.send(JoinRoom(room=match[1]))
                    await receive_until(guest, RoomState)
                    process.send_signal(signal.SIGINT)
                    assert (await receive_until(guest, RoomClosed)).room == match[1]
                assert await process.wait() == 0
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            await process.aclose()
        server.stop()
