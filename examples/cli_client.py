"""A command-line watch-party client: a short demo of ``opensyncparty_transports.connect``.

    python examples/cli_client.py --url ws://127.0.0.1:3000/ws          # interactive
    python examples/cli_client.py "create Movie night" "play 10" pause   # scripted

Commands (one per line on stdin, or one per argument):
  create [name]   make a room and host it     join [room id]  join a room (default: the first)
  ready           tell the room you are ready  list            ask for the room list
  play [pos]      host: start playing          pause [pos]     host: pause
  seek <pos>      host: jump to pos seconds    leave           leave your room
  ping            measure the round trip       quit            disconnect
  auth <token>    authenticate (JWT)          name <name>     set your display name
Every message from the server is printed as it arrives, prefixed with "<-".
"""

from __future__ import annotations

import argparse
import sys
import time

import anyio

from opensyncparty_core import (
    Auth,
    ClientMessage,
    CreateRoom,
    JoinRoom,
    LeaveRoom,
    ListRooms,
    Ping,
    PlayerAction,
    PlayerEvent,
    Ready,
    RoomClosed,
    RoomList,
    RoomState,
    decode_server_message,
)
from opensyncparty_transports import ClientConnection, ConnectionClosed, HandshakeError, connect

ACTIONS: dict[str, PlayerAction] = {"play": "play", "pause": "pause", "seek": "seek"}


class Session:
    """What this client knows of its room; enough to fill in commands."""

    def __init__(self) -> None:
        self.room: str | None = None
        self.rooms: list[str] = []
        # The server greets with a room_list; "join" needs it before it can pick a room.
        self.greeted = anyio.Event()

    def command(self, line: str) -> ClientMessage:
        """The message for one command line (ValueError if it makes no sense)."""
        word, _, rest = line.strip().partition(" ")
        rest = rest.strip()
        now = time.time_ns() // 1_000_000
        if word == "create":
            return CreateRoom(name=rest or None, ts=now)
        if word == "join":
            room = rest or (self.rooms[0] if self.rooms else "")
            if not room:
                raise ValueError("no room to join; try 'list'")
            return JoinRoom(room=room, ts=now)
        if word == "list":
            return ListRooms(ts=now)
        if word == "leave":
            return LeaveRoom(ts=now)
        if word == "ping":
            return Ping(payload={"client_ts": now}, ts=now)
        if word == "auth" and rest:
            return Auth(token=rest, ts=now)
        if word == "name" and rest:
            return Auth(user_name=rest, ts=now)
        if self.room is None:
            raise ValueError(f"'{word}' needs a room: create or join one first")
        if word == "ready":
            return Ready(room=self.room, ts=now)
        if word in ACTIONS:
            position = float(rest) if rest else None
            return PlayerEvent(room=self.room, action=ACTIONS[word], position=position, ts=now)
        raise ValueError(f"unknown command '{word}'")

    def observe(self, text: str) -> None:
        message = decode_server_message(text)
        if isinstance(message, RoomState):
            self.room = message.room
        elif isinstance(message, RoomClosed) and message.room == self.room:
            self.room = None
        elif isinstance(message, RoomList):
            self.rooms = [room.id for room in message.rooms]
            self.greeted.set()


async def print_incoming(client: ClientConnection, session: Session) -> None:
    try:
        while True:
            text = await client.receive_text()
            session.observe(text)
            print(f"<- {text}", flush=True)
    except ConnectionClosed as closed:
        print(f"connection closed ({closed.code})", flush=True)


async def run(url: str, commands: list[str], pause: float, origin: str | None) -> None:
    session = Session()
    headers = [("Origin", origin)] if origin else []
    async with connect(url, headers=headers) as client, anyio.create_task_group() as tg:
        tg.start_soon(print_incoming, client, session)
        with anyio.fail_after(10):
            await session.greeted.wait()
        scripted = bool(commands)
        while True:
            if scripted:
                if not commands:
                    break
                line = commands.pop(0)
            else:
                line = await anyio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
                if not line:  # end of input
                    break
            if not line.strip():
                continue
            if line.strip() == "quit":
                break
            try:
                message = session.command(line)
            except ValueError as exc:
                print(f"!! {exc}", flush=True)
                continue
            print(f"-> {line.strip()}", flush=True)
            await client.send(message)
            # Let the answers arrive before the next command, for readable output.
            await anyio.sleep(pause)
        tg.cancel_scope.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", default="ws://127.0.0.1:3000/ws")
    parser.add_argument("--pause", type=float, default=0.3, help="seconds between commands")
    parser.add_argument("--origin", help="Origin header, for a server with an allow-list")
    parser.add_argument(
        "commands", nargs="*", help='commands to run instead of reading stdin, e.g. "seek 42"'
    )
    args = parser.parse_args()
    try:
        anyio.run(run, args.url, args.commands, args.pause, args.origin)
    except (OSError, HandshakeError) as exc:
        sys.exit(f"cannot connect to {args.url}: {exc}")


if __name__ == "__main__":
    main()
