"""Over real sockets: a host whose TCP connection dies resumes within grace.

The party goes on: the guest sees the host go and come back
(``participants_update``), keeps getting the host's commands afterwards, and
never sees ``room_closed``. Once by hand (a bare socket, reset), once with
:class:`ResumingConnection` behind a proxy that cuts every connection.
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
from opensyncparty_transports import Backoff, ClientConnection, ResumingConnection, connect

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


class CuttingProxy:
    """A TCP forwarder to ``target`` on 127.0.0.1 whose connections can all be cut at once."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = 0
        self._streams: set[anyio.abc.SocketStream] = set()

    async def serve(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        self.port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with listener:
            task_status.started()
            await listener.serve(self._forward)

    async def _forward(self, client: anyio.abc.SocketStream) -> None:
        async with client, await anyio.connect_tcp("127.0.0.1", self.target) as server:
            self._streams |= {client, server}
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._pump, client, server, tg.cancel_scope)
                await self._pump(server, client, tg.cancel_scope)

    @staticmethod
    async def _pump(
        source: anyio.abc.SocketStream, sink: anyio.abc.SocketStream, scope: anyio.CancelScope
    ) -> None:
        try:
            async for data in source:
                await sink.send(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass
        scope.cancel()

    async def cut(self) -> None:
        streams, self._streams = self._streams, set()
        for stream in streams:
            await reset(stream)


async def test_resuming_connection_reconnects_through_a_cut_and_resumes() -> None:
    attempts: list[int] = []
    with anyio.fail_after(TIMEOUT):
        async with (
            running_server() as server,
            anyio.create_task_group() as tg,
            connect(server.url) as guest_conn,
        ):
            proxy = CuttingProxy(server.port)
            await tg.start(proxy.serve)
            url = f"ws://127.0.0.1:{proxy.port}/ws"
            backoff = Backoff(initial=0.05, maximum=0.2)
            async with ResumingConnection(
                url, backoff=backoff, on_reconnect=lambda n, _: attempts.append(n)
            ) as host:
                first = await host.receive()
                assert isinstance(first, ClientHello)
                await host.send(CreateRoom(name="Blip"))
                room = (await _until(host, RoomState)).room
                guest = Recorder(guest_conn)
                await guest_conn.send(JoinRoom(room=room))
                await guest.until(RoomState)

                await proxy.cut()
                assert (await guest.until(ParticipantsUpdate)).participant_count == 1
                restored = await _until(host, ClientHello, client_id=first.client_id)
                assert host.client_id == first.client_id
                assert host.resume_token == restored.resume_token
                state = await _until(host, RoomState)
                assert (state.room, state.host_id) == (room, first.client_id)
                assert (await guest.until(ParticipantsUpdate)).participant_count == 2

                await host.send(PlayerEvent(room=room, action="pause", position=3.0))
                assert (await guest.until(PlayerEvent)).action == "pause"
            assert attempts == [1]
            assert host.reconnects == 1
            assert not any(type(m).__name__ == "RoomClosed" for m in guest.seen)
            tg.cancel_scope.cancel()


async def _until(conn: ResumingConnection, kind: type[M], **fields: Any) -> M:
    """The next message of type ``kind`` (with these field values) from ``conn``."""
    while True:
        message = await conn.receive()
        if isinstance(message, kind) and all(getattr(message, k) == v for k, v in fields.items()):
            return message


def test_backoff_doubles_up_to_its_maximum_with_half_of_it_random() -> None:
    backoff = Backoff(initial=0.2, factor=2.0, maximum=1.0)
    assert [backoff.delay(n, 0.0) for n in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    assert backoff.delay(1, 0.5) == pytest.approx(0.3)
