"""Over real sockets: a host whose TCP connection dies resumes within grace.

The party goes on: the guest sees the host go and come back
(``participants_update``), keeps getting the host's commands afterwards, and
never sees ``room_closed``.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any, TypeVar

import anyio
import anyio.abc
import pytest
from wsproto import WSConnection
from wsproto.events import TextMessage

from opensyncparty_core import (
    ClientHello,
    CreateRoom,
    JoinRoom,
    ParticipantsUpdate,
    PlayerEvent,
    Ready,
    Resume,
    RoomState,
    ServerMessage,
    encode,
)
from opensyncparty_transports import ClientConnection, connect

from .support import TIMEOUT, raw_websocket, receive_until, running_server

pytestmark = pytest.mark.anyio

M = TypeVar("M", bound=ServerMessage)


async def raw_receive(stream: anyio.abc.SocketStream, ws: WSConnection, kind: str) -> Any:
    """The next message of type ``kind`` on a bare wsproto connection."""
    while True:
        for event in ws.events():
            if isinstance(event, TextMessage):
                message = json.loads(event.data)
                if message["type"] == kind:
                    return message
        ws.receive_data(await stream.receive())


async def reset(stream: anyio.abc.SocketStream) -> None:
    """Kill the TCP connection with a reset: no close frame, no FIN."""
    sock = stream.extra(anyio.abc.SocketAttribute.raw_socket)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await stream.aclose()


class Recorder:
    """Reads one client's messages, keeping every one it read."""

    def __init__(self, client: ClientConnection) -> None:
        self.client = client
        self.seen: list[ServerMessage] = []

    async def until(self, kind: type[M]) -> M:
        while True:
            message = await self.client.receive()
            self.seen.append(message)
            if isinstance(message, kind):
                return message


async def test_host_killed_tcp_connection_resumes_and_viewers_never_see_room_closed() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server() as server, connect(server.url) as guest_conn:
            guest = Recorder(guest_conn)
            stream, ws = await raw_websocket(server.port)
            hello = await raw_receive(stream, ws, "client_hello")
            host_id, token = hello["payload"]["client_id"], hello["payload"]["resume_token"]
            await stream.send(ws.send(TextMessage(data=encode(CreateRoom(name="Blip")))))
            room = (await raw_receive(stream, ws, "room_state"))["room"]

            await guest_conn.send(JoinRoom(room=room))
            await guest.until(RoomState)
            await guest_conn.send(Ready(room=room))

            await reset(stream)
            assert (await guest.until(ParticipantsUpdate)).participant_count == 1
            assert server.core.room(room).host_id == host_id

            async with connect(server.url) as host:
                await receive_until(host, ClientHello)
                await host.send(Resume(token=token))
                restored = await receive_until(host, ClientHello)
                assert restored.client_id == host_id
                assert restored.resume_token not in (None, token)
                state = await receive_until(host, RoomState)
                assert (state.room, state.client, state.host_id) == (room, host_id, host_id)
                assert (await guest.until(ParticipantsUpdate)).participant_count == 2

                await host.send(PlayerEvent(room=room, action="play", position=30.0))
                play = await guest.until(PlayerEvent)
                assert (play.action, play.position) == ("play", 30.0)
                assert play == await receive_until(host, PlayerEvent)

            kinds = {type(m).__name__ for m in guest.seen}
            assert "RoomClosed" not in kinds
            assert server.core.room_ids == (room,)
