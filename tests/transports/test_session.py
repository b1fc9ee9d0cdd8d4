"""A whole watch-party session through a real server on 127.0.0.1 (spec section 5)."""

from __future__ import annotations

import logging

import anyio
import attrs
import pytest

from opensyncparty_core import (
    ClientHello,
    ClientLeft,
    Config,
    CreateRoom,
    JoinRoom,
    LeaveRoom,
    ParticipantsUpdate,
    Ping,
    PlayerEvent,
    Pong,
    Ready,
    RoomClosed,
    RoomList,
    RoomState,
    StateUpdate,
)
from opensyncparty_transports import ClientConnection, connect

from .support import TIMEOUT, receive_until, running_server

pytestmark = pytest.mark.anyio

# No cooldown, so the host's state_update right after a command is relayed.
CONFIG = attrs.evolve(Config(), command_cooldown_ms=0, max_ready_wait_ms=200)


async def hello(client: ClientConnection) -> str:
    message = await client.receive()
    assert isinstance(message, ClientHello)
    assert isinstance(await client.receive(), RoomList)
    return message.client_id


async def test_full_session_host_and_two_guests() -> None:
    with anyio.fail_after(TIMEOUT):
        async with (
            running_server(config=CONFIG) as server,
            connect(server.url) as host,
            connect(server.url) as guest1,
            connect(server.url) as guest2,
        ):
            host_id = await hello(host)
            guest1_id = await hello(guest1)
            await hello(guest2)

            await host.send(CreateRoom(name="Movie night", media_id="m1"))
            state = await receive_until(host, RoomState)
            room = state.room
            assert (state.host_id, state.name, state.media_id) == (host_id, "Movie night", "m1")
            listed = await receive_until(guest1, RoomList)
            assert [r.id for r in listed.rooms] == [room]

            await guest1.send(JoinRoom(room=room))
            joined = await receive_until(guest1, RoomState)
            assert (joined.client, joined.participant_count) == (guest1_id, 2)
            assert (await receive_until(host, ParticipantsUpdate)).participant_count == 2
            await guest2.send(JoinRoom(room=room))
            assert (await receive_until(guest2, RoomState)).participant_count == 3

            # guest2 is not ready yet: the play waits for it, then is scheduled for all.
            await guest1.send(Ready(room=room, media_id="m1"))
            await host.send(PlayerEvent(room=room, action="play", position=10.0))
            await guest2.send(Ready(room=room, media_id="m1"))
            plays = [await receive_until(c, PlayerEvent) for c in (host, guest1, guest2)]
            assert {(p.action, p.position, p.client) for p in plays} == {("play", 10.0, None)}
            assert len({p.target_server_ts for p in plays}) == 1
            assert plays[0].target_server_ts == plays[0].server_ts

            await host.send(PlayerEvent(room=room, action="pause", position=12.5))
            for guest in (guest1, guest2):
                pause = await receive_until(guest, PlayerEvent)
                assert (pause.action, pause.position, pause.client) == ("pause", 12.5, host_id)

            await host.send(PlayerEvent(room=room, action="seek", position=60.0))
            for guest in (guest1, guest2):
                seek = await receive_until(guest, PlayerEvent)
                assert (seek.action, seek.position) == ("seek", 60.0)

            await host.send(StateUpdate(room=room, position=61.0, play_state="playing"))
            for guest in (guest1, guest2):
                update = await receive_until(guest, StateUpdate)
                assert (update.position, update.play_state) == (61.0, "playing")
                assert update.client == host_id

            await guest2.send(LeaveRoom())
            for member in (host, guest1):
                left = await receive_until(member, ClientLeft)
                assert left.participant_count == 2

            await host.close()
            closed = await receive_until(guest1, RoomClosed)
            assert closed.room == room
            assert (await receive_until(guest1, RoomList)).rooms == ()
            assert server.core.room_ids == ()


async def test_pending_play_is_forced_by_the_deadline() -> None:
    with anyio.fail_after(TIMEOUT):
        async with (
            running_server(config=CONFIG) as server,
            connect(server.url) as host,
            connect(server.url) as guest,
        ):
            await hello(host)
            await hello(guest)
            await host.send(CreateRoom())
            room = (await receive_until(host, RoomState)).room
            await guest.send(JoinRoom(room=room))
            await receive_until(guest, RoomState)
            # The guest never sends ready: the server's timer forces the play.
            await host.send(PlayerEvent(room=room, action="play", position=3.0))
            play = await receive_until(guest, PlayerEvent)
            assert (play.action, play.position) == ("play", 3.0)
            assert (await receive_until(host, PlayerEvent)).action == "play"
            assert server.core.room(room).pending_play is None
            # The join's room_list, coalesced, is sent by the timer too; then nothing is due.
            while (await receive_until(host, RoomList)).rooms[0].count != 2:
                pass
            assert server.core.next_deadline() is None


async def test_traffic_is_not_logged_at_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="opensyncparty_transports")
    with anyio.fail_after(TIMEOUT):
        async with running_server() as server, connect(server.url) as client:
            await hello(client)
            caplog.clear()
            for i in range(20):
                await client.send(Ping(payload=i))
                assert (await receive_until(client, Pong)).payload == i
            assert [r for r in caplog.records if r.levelno >= logging.INFO] == []
