"""The CLI client shows chat and host changes, and resumes after a drop."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import anyio
import pytest

from opensyncparty_core import (
    ChatMessage,
    ClientHello,
    Error,
    HostChanged,
    JoinRoom,
    RoomList,
    RoomState,
)
from opensyncparty_transports import connect

from .support import TIMEOUT, receive_until, running_server

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
T = 1_700_000_000_000


def cli() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cli_client_example", EXAMPLES / "cli_client.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_chat_host_change_and_resume_get_readable_lines() -> None:
    session = cli().Session()
    assert session.observe(ClientHello(client_id="me", ts=T, server_ts=T)) is None
    state = RoomState("r", "me", "Film", "other", 0.0, "paused", 2, None, T, T)
    assert session.observe(state) is None
    chat = ChatMessage(room="r", text="hi", client="other", username="Bob", ts=T, server_ts=T)
    assert session.observe(chat) == "[Bob] hi"
    changed = HostChanged(room="r", host_id="me", ts=T, server_ts=T)
    assert session.observe(changed) == "== you are now the host"
    resumed = ClientHello(client_id="me", ts=T, server_ts=T, resume_token="t")
    assert session.observe(resumed) == "== resumed: same id, same room"
    late = Error(message="too late", ts=T, server_ts=T, code="RESUME_TOKEN_INVALID")
    assert "new client" in session.observe(late)


def test_say_and_host_commands_need_their_argument() -> None:
    session = cli().Session()
    session.room = "r"
    said = session.command("say popcorn?")
    assert (type(said), said.room, said.text) == (ChatMessage, "r", "popcorn?")
    with pytest.raises(ValueError, match="host needs"):
        session.command("host")


@pytest.mark.anyio
async def test_cli_client_chats_and_hands_over_to_a_guest() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server() as server, connect(server.url) as guest:
            guest_id = (await receive_until(guest, ClientHello)).client_id
            script = ["create Film", "say hello there", f"host {guest_id}"]
            command = [sys.executable, str(EXAMPLES / "cli_client.py"), "--url", server.url]
            async with anyio.create_task_group() as tg:
                result: list[bytes] = []

                async def run_cli() -> None:
                    done = await anyio.run_process([*command, "--pause", "0.5", *script])
                    result.append(done.stdout)

                tg.start_soon(run_cli)
                rooms = (await receive_until(guest, RoomList)).rooms
                while not rooms:
                    rooms = (await receive_until(guest, RoomList)).rooms
                await guest.send(JoinRoom(room=rooms[0].id))
                chat = await receive_until(guest, ChatMessage)
                assert chat.text == "hello there"
                assert (await receive_until(guest, HostChanged)).host_id == guest_id
            output = result[0].decode()
            assert f"[{chat.username}] hello there" in output
            assert f"== {guest_id} is now the host" in output
