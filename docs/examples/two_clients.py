"""Two clients of a running server play together: one hosts, one joins."""

from __future__ import annotations

import sys
from typing import TypeVar

import anyio

from opensyncparty_core import (
    CreateRoom,
    JoinRoom,
    PlayerEvent,
    Ready,
    RoomState,
    ServerMessage,
)
from opensyncparty_transports import ClientConnection, connect

M = TypeVar("M", bound=ServerMessage)


async def next_of(conn: ClientConnection, kind: type[M]) -> M:
    """Read messages until one of type ``kind`` (skipping room lists and the like)."""
    while True:
        message = await conn.receive()
        if isinstance(message, kind):
            return message


async def main(url: str) -> PlayerEvent:
    async with connect(url) as host, connect(url) as guest:
        await host.send(CreateRoom(name="Quickstart", media_id="demo"))
        room = await next_of(host, RoomState)
        print(f"host created room {room.room}")

        await guest.send(JoinRoom(room=room.room))
        await next_of(guest, RoomState)
        await guest.send(Ready(room=room.room, media_id="demo"))  # media loaded

        await host.send(PlayerEvent(room=room.room, action="play", position=0.0))
        for name, conn in (("host", host), ("guest", guest)):
            play = await next_of(conn, PlayerEvent)
            when = play.target_server_ts
            print(f"{name}: play from {play.position} s at server time {when}")
        return play


if __name__ == "__main__":
    anyio.run(main, sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:3000/ws")
