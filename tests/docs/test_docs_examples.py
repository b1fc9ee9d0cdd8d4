"""The example programs of the documentation (docs/examples/) do what the docs say."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import attrs
import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Request, TextMessage

from opensyncparty_core import Config

EXAMPLES = Path(__file__).parents[2] / "docs" / "examples"


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"docs_example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # attrs and dataclasses look classes up here
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the embedding example is plain asyncio


class Client:
    """A minimal WebSocket client on asyncio streams and wsproto."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.inbox: list[dict[str, Any]] = []
        self.closed_with: int | None = None

    @classmethod
    async def connect(cls, port: int) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer)
        writer.write(client.ws.send(Request(host="127.0.0.1", target="/ws")))
        while not await client._pump(AcceptConnection):
            pass
        return client

    async def _pump(self, wanted: type[Any] | None = None) -> bool:
        data = await self.reader.read(65_536)
        if not data:
            raise ConnectionError("server closed the connection")
        self.ws.receive_data(data)
        found = False
        for event in self.ws.events():
            if isinstance(event, TextMessage):
                self.inbox.append(json.loads(event.data))
            elif isinstance(event, CloseConnection):
                self.closed_with = event.code
            found = found or (wanted is not None and isinstance(event, wanted))
        return found

    async def send(self, message: dict[str, Any] | str) -> None:
        text = message if isinstance(message, str) else json.dumps(message)
        self.writer.write(self.ws.send(TextMessage(data=text)))
        await self.writer.drain()

    async def expect(self, type_: str) -> dict[str, Any]:
        """The next message of type ``type_``, skipping others (room_list, for example)."""
        while True:
            while self.inbox:
                message = self.inbox.pop(0)
                if message["type"] == type_:
                    return message
            await self._pump()

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


@pytest.fixture
async def embed_port() -> AsyncIterator[int]:
    example = load_example("embed_asyncio")
    # A short ready wait and resume grace keep the forced-play and closing tests quick.
    server = example.Server(attrs.evolve(Config(), max_ready_wait_ms=200, resume_grace_ms=200))
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    async with listener:
        yield listener.sockets[0].getsockname()[1]


@pytest.mark.anyio
async def test_embed_asyncio_two_clients_play_together(embed_port: int) -> None:
    with anyio.fail_after(5):
        host = await Client.connect(embed_port)
        hello = await host.expect("client_hello")
        await host.send({"type": "create_room", "payload": {"name": "Docs"}})
        state = await host.expect("room_state")
        room = state["room"]
        assert state["payload"]["host_id"] == hello["payload"]["client_id"]

        guest = await Client.connect(embed_port)
        await guest.send({"type": "join_room", "room": room})
        assert (await guest.expect("room_state"))["payload"]["participant_count"] == 2
        await guest.send({"type": "ready", "room": room})
        play = {"type": "player_event", "room": room, "payload": {"action": "play", "position": 7}}
        await host.send(play)
        for client in (host, guest):
            event = await client.expect("player_event")
            assert event["payload"]["action"] == "play"
            assert event["payload"]["position"] == 7
            assert event["server_ts"] == event["payload"]["target_server_ts"]

        await host.close()
        assert (await guest.expect("room_closed"))["room"] == room
        await guest.close()


@pytest.mark.anyio
async def test_embed_asyncio_forces_a_pending_play_at_its_deadline(embed_port: int) -> None:
    with anyio.fail_after(5):
        host = await Client.connect(embed_port)
        await host.send({"type": "create_room"})
        room = (await host.expect("room_state"))["room"]
        guest = await Client.connect(embed_port)
        await guest.send({"type": "join_room", "room": room})
        await guest.expect("room_state")
        # The guest never sends ready: only the server's timer can start the play.
        await host.send({"type": "player_event", "room": room, "payload": {"action": "play"}})
        event = await guest.expect("player_event")
        assert event["payload"]["action"] == "play"
        assert "client" not in event
        await host.close()
        await guest.close()


@pytest.mark.anyio
async def test_embed_asyncio_answers_bad_input_and_closes_oversized(embed_port: int) -> None:
    with anyio.fail_after(5):
        client = await Client.connect(embed_port)
        await client.send("not json")
        error = await client.expect("error")
        assert error["payload"] == {"message": "Invalid message format", "code": "INVALID_FORMAT"}
        await client.send("x" * (Config().max_message_bytes + 1))
        while client.closed_with is None:
            await client._pump()
        assert client.closed_with == 1009
        await client.close()


def test_memory_transport_plays_and_forces_pending_plays() -> None:
    memory = load_example("memory_transport")
    net = memory.MemoryNetwork(now=1_000)
    host, guest = net.connect(), net.connect()
    assert [m["type"] for m in host.receive()] == ["client_hello", "room_list"]
    host.send({"type": "create_room", "payload": {"start_pos": 12}})
    room = host.receive()[0]["room"]
    guest.send({"type": "join_room", "room": room})
    guest.receive()
    host.receive()

    host.send({"type": "player_event", "room": room, "payload": {"action": "play"}})
    assert guest.receive() == []  # the guest is not ready: the play waits
    net.advance(Config().max_ready_wait_ms - 1)
    # The join's room_list, coalesced: it went out at the create's list + the interval.
    (late_list,) = guest.receive()
    assert late_list["type"] == "room_list"
    assert late_list["ts"] == 1_000 + Config().room_list_interval_ms
    net.advance(1)
    (play,) = guest.receive()
    assert play["payload"] == {
        "action": "play",
        "position": 12,
        "target_server_ts": 1_000 + Config().max_ready_wait_ms + Config().play_schedule_ms,
    }
    assert host.receive() == [late_list, play]

    guest.close()
    # The guest's place is kept for a resume; the host sees one member fewer at once.
    assert [m["type"] for m in host.receive()] == ["participants_update", "room_list"]
    net.advance(Config().resume_grace_ms - 1)
    assert host.receive() == []
    net.advance(1)
    assert [m["type"] for m in host.receive()] == ["client_left", "room_list"]


def test_hypothesis_example_properties_hold() -> None:
    rules = load_example("hypothesis_rules")
    rules.test_guests_get_spaced_updates_from_the_host()
    rules.test_a_play_state_change_passes_once_the_cooldown_is_over()


def test_memory_transport_demo_shown_in_the_docs() -> None:
    memory = load_example("memory_transport")
    assert memory.demo() == {"action": "play", "position": 12, "target_server_ts": 4500}


def test_tune_timings_example_schedules_with_its_own_lead_time() -> None:
    example = load_example("tune_timings")
    server = example.server
    host, _ = server.connect(0)
    server.receive(host, json.dumps({"type": "create_room"}), 0)
    room = server.room_of(host)
    play = {"type": "player_event", "room": room, "payload": {"action": "play"}}
    (out,) = server.receive(host, json.dumps(play), 10_000)
    assert json.loads(out.text)["payload"]["target_server_ts"] == 10_800
    assert server.config.max_room_size == 50


def test_config_refuses_bad_values_as_the_timings_page_says() -> None:
    with pytest.raises(ValueError, match="play_schedule_ms"):
        attrs.evolve(Config(), play_schedule_ms=-1)
    with pytest.raises(ValueError, match="max_room_size"):
        Config(max_room_size=0)


def test_jwt_server_example_requires_a_token_from_its_secret() -> None:
    import jwt

    from opensyncparty_core import InvalidToken

    example = load_example("jwt_server")
    assert example.server.core.auth_required
    now_s = 1_700_000_000
    claims = {"sub": "u", "name": "Ann", "aud": "OpenWatchParty", "iss": "Jellyfin"}
    token = jwt.encode({**claims, "exp": now_s + 60}, example.secret, algorithm="HS256")
    assert example.verifier(token, now_s * 1000)["name"] == "Ann"
    with pytest.raises(InvalidToken):
        example.verifier(token, (now_s + 121) * 1000)


def test_every_example_file_is_exercised_here() -> None:
    source = Path(__file__).read_text()
    for path in EXAMPLES.glob("*.py"):
        assert f'load_example("{path.stem}")' in source, path.name


def test_python_in_the_docs_comes_from_tested_files() -> None:
    # Inline Python blocks would escape the tests; include an example file instead.
    docs = EXAMPLES.parent
    for page in docs.rglob("*.rst"):
        assert "code-block:: python" not in page.read_text(), page


@pytest.mark.anyio
async def test_two_clients_example_plays_on_the_reference_server() -> None:
    from opensyncparty_transports import WebSocketServer

    example = load_example("two_clients")
    server = WebSocketServer(host="127.0.0.1", port=0)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            await tg.start(server.serve)
            play = await example.main(server.url)
            server.stop()
    assert play.action == "play"
    assert play.position == 0
    assert play.server_ts == play.target_server_ts


def test_quickstart_commands_work_end_to_end() -> None:
    """``opensyncparty-server`` and the two-clients script, as the quickstart runs them."""
    bin_dir = Path(sys.executable).parent
    command = [str(bin_dir / "opensyncparty-server"), "--host", "127.0.0.1", "--port", "0"]
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True) as server:
        try:
            assert server.stderr is not None
            url = None
            for line in server.stderr:  # the log line that names the bound address
                if match := re.search(r"listening on (ws://\S+)", line):
                    url = match[1]
                    break
            assert url is not None, "the server never said where it listens"
            client = subprocess.run(
                [sys.executable, str(EXAMPLES / "two_clients.py"), url],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            )
        finally:
            server.send_signal(signal.SIGINT)
            assert server.wait(timeout=10) == 0
    lines = client.stdout.splitlines()
    assert lines[0].startswith("host created room ")
    assert re.fullmatch(r"host: play from 0\.0 s at server time \d{13}", lines[1])
    assert re.fullmatch(r"guest: play from 0\.0 s at server time \d{13}", lines[2])
    assert lines[1].split()[-1] == lines[2].split()[-1]  # the same instant for both


def test_core_session_example_runs() -> None:
    example = load_example("core_session")  # its asserts are the documented results
    assert example.server.room(example.room).play_state == "playing"


def test_sync_loop_keeps_a_fast_viewer_on_the_hosts_timeline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES))  # it imports memory_transport
    example = load_example("sync_loop")
    host, viewer = example.run_party(seconds=30)
    assert not host.player.paused
    assert not viewer.player.paused
    # Clocks 5.5 s apart and a player 0.5 % fast, yet within a few frames of the host.
    assert abs(viewer.player.position - host.player.position) < 0.040
    assert host.player.position > 28  # 30 s, less the 1.5 s lead of the scheduled play


@pytest.mark.mpv
@pytest.mark.anyio
async def test_watch_mpv_example_hosts_and_leaves_when_cancelled(tmp_path: Path) -> None:
    from benchmarks.mpv_media import make_clip

    from opensyncparty_transports import WebSocketServer
    from opensyncparty_transports.mpv import HEADLESS

    from ..mpv.support import until

    clip = make_clip(tmp_path / "clip.mp4", seconds=10.0)
    example = load_example("watch_mpv")
    server = WebSocketServer(host="127.0.0.1", port=0)
    async with anyio.create_task_group() as tg:
        await tg.start(server.serve)
        async with anyio.create_task_group() as watching:
            watching.start_soon(example.watch, server.url, str(clip), None, HEADLESS)
            await until(lambda: len(server.core.room_ids) == 1, deadline=10.0)
            watching.cancel_scope.cancel()
        assert server.core.room_ids == ()
        server.stop()
