"""The reference server and the CLI client as a user runs them, in subprocesses."""

from __future__ import annotations

import signal
import socket
import sys
from pathlib import Path

import anyio
import anyio.abc
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from opensyncparty_core import ClientHello, CreateRoom, JoinRoom, PlayerEvent, RoomState
from opensyncparty_transports import connect

from .support import TIMEOUT, receive_until, running_server, until_closed

pytestmark = pytest.mark.anyio

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CONSOLE_SCRIPT = Path(sys.executable).parent / "opensyncparty-server"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_for_line(output: BufferedByteReceiveStream, needle: str) -> None:
    """Read the process's log until a line contains ``needle``."""
    while True:
        line = await output.receive_until(b"\n", 65_536)
        if needle in line.decode(errors="replace"):
            return


async def serve_a_session(url: str) -> None:
    async with connect(url) as host, connect(url) as guest:
        await host.send(CreateRoom(name="Subprocess"))
        room = (await receive_until(host, RoomState)).room
        await guest.send(JoinRoom(room=room))
        await receive_until(guest, RoomState)
        await host.send(PlayerEvent(room=room, action="pause", position=5.0))
        assert (await receive_until(guest, PlayerEvent)).position == 5.0


async def run_server_until_signal(command: list[str], signum: signal.Signals) -> None:
    port = free_port()
    url = f"ws://127.0.0.1:{port}/ws"
    process = await anyio.open_process([*command, "--host", "127.0.0.1", "--port", str(port)])
    try:
        assert process.stderr is not None
        log = BufferedByteReceiveStream(process.stderr)
        await wait_for_line(log, f"listening on {url}")
        await serve_a_session(url)
        async with connect(url) as client:
            await receive_until(client, ClientHello)
            process.send_signal(signum)
            assert (await until_closed(client)).code == 1001
        assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await process.aclose()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_reference_server_serves_and_exits_0_on_signal(
    signum: signal.Signals, anyio_backend: str
) -> None:
    command = [sys.executable, str(EXAMPLES / "reference_server.py"), "--backend", anyio_backend]
    with anyio.fail_after(TIMEOUT):
        await run_server_until_signal(command, signum)


@pytest.mark.skipif(not CONSOLE_SCRIPT.exists(), reason="package not installed with scripts")
async def test_console_script_serves_and_exits_0_on_sigterm(anyio_backend: str) -> None:
    command = [str(CONSOLE_SCRIPT), "--backend", anyio_backend, "--log-level", "info"]
    with anyio.fail_after(TIMEOUT):
        await run_server_until_signal(command, signal.SIGTERM)


async def test_cli_client_runs_scripted_commands() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server() as server:
            command = [
                sys.executable,
                str(EXAMPLES / "cli_client.py"),
                "--url",
                server.url,
                "--pause",
                "0.05",
                "create Movie night",
                "ready",
                "play 12",
                "nonsense",
                "leave",
            ]
            result = await anyio.run_process(command)
            output = result.stdout.decode()
            assert '"type":"room_state"' in output
            assert '"name":"Movie night"' in output
            assert '"action":"play","position":12.0' in output
            assert "!! unknown command 'nonsense'" in output
            assert server.core.room_ids == ()


async def test_cli_client_reads_commands_from_stdin() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server() as server:
            cli_client = str(EXAMPLES / "cli_client.py")
            command = [sys.executable, cli_client, "--url", server.url, "--pause", "0.05"]
            result = await anyio.run_process(command, input=b"create Lobby\nlist\nquit\n")
            output = result.stdout.decode()
            assert '"name":"Lobby"' in output
            assert output.count('"type":"room_list"') >= 3


async def test_console_script_reports_a_busy_port_and_exits_1() -> None:
    if not CONSOLE_SCRIPT.exists():
        pytest.skip("package not installed with scripts")
    with anyio.fail_after(TIMEOUT):
        async with running_server() as server:
            command = [str(CONSOLE_SCRIPT), "--host", "127.0.0.1", "--port", str(server.port)]
            result = await anyio.run_process(command, check=False)
            assert result.returncode == 1
            assert b"server failed" in result.stderr
            assert b"Traceback" not in result.stderr


@pytest.mark.parametrize("backend", ["uvloop", "auto"])
async def test_console_script_serves_on_uvloop(backend: str) -> None:
    if not CONSOLE_SCRIPT.exists():
        pytest.skip("package not installed with scripts")
    command = [str(CONSOLE_SCRIPT), "--backend", backend, "--log-level", "debug"]
    with anyio.fail_after(TIMEOUT):
        await run_server_until_signal(command, signal.SIGTERM)


async def test_reference_server_serves_on_uvloop() -> None:
    command = [sys.executable, str(EXAMPLES / "reference_server.py"), "--backend", "uvloop"]
    with anyio.fail_after(TIMEOUT):
        await run_server_until_signal(command, signal.SIGINT)
