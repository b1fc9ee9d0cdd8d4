"""Watch SyncClient keep simulated players together over a real server, in real time.

    python examples/sync_client.py                      # own server on 127.0.0.1
    python examples/sync_client.py --viewers 3 --delay-ms 60 --seconds 60
    python examples/sync_client.py --url ws://127.0.0.1:3000/ws   # an existing server

A host and some viewers each open a WebSocket (``opensyncparty_transports.connect``),
drive a :class:`SyncClient`, and play a simulated media player: it starts a
little late, reports its position with some noise, and plays at the rate it
is told. Viewers' traffic is delayed (``--delay-ms`` each way, with jitter) and
their clocks are far off the server's, so clock sync has work to do. The host
plays at once, seeks after a third of the run and pauses and plays again
later. Once a second each viewer prints its position, how far it is from the
host's player (the number sync is about), its playback rate and its estimate
of the server clock.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections.abc import Callable, Coroutine
from typing import Any, Literal

import anyio
import anyio.abc

from opensyncparty_core import (
    ClientMessage,
    CreateRoom,
    JoinRoom,
    Pause,
    Play,
    PlayerCommand,
    PlayerStatus,
    RoomState,
    Seek,
    ServerMessage,
    SetRate,
    SyncClient,
    SyncOutput,
    encode,
)
from opensyncparty_transports import ClientConnection, ConnectionClosed, WebSocketServer, connect


class Player:
    """A pretend media player on the local monotonic clock (seconds of media)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.position_at = 0.0
        self.since = time.monotonic()
        self.playing = False
        self.rate = 1.0
        self.blocked_until = 0.0

    def position(self) -> float:
        now = time.monotonic()
        start = max(self.since, self.blocked_until)
        if not self.playing or now <= start:
            return self.position_at
        return self.position_at + (now - start) * self.rate

    def apply(self, command: PlayerCommand) -> list[Literal["play", "pause", "seek"]]:
        """Carry out ``command``; returns the events a browser player would fire."""
        now = time.monotonic()
        if isinstance(command, SetRate):
            self.position_at, self.since = self.position(), max(now, self.blocked_until)
            self.rate = command.rate
            return []
        was_playing = self.playing
        self.position_at, self.since = command.position, now
        if isinstance(command, Play):
            self.playing = True
            self.blocked_until = now + self.rng.uniform(0.04, 0.16)  # decoder start
            return [] if was_playing else ["play"]
        if isinstance(command, Pause):
            self.playing = False
            return ["pause"] if was_playing else []
        self.blocked_until = now + self.rng.uniform(0.1, 0.3)  # Seek: rebuffering
        return ["seek"]

    def status(self) -> PlayerStatus:
        noisy = self.position() + self.rng.gauss(0.0, 0.01)
        buffering = self.playing and time.monotonic() < self.blocked_until
        return PlayerStatus(max(0.0, noisy), not self.playing, self.rate, buffering)


class Member:
    """One participant: connection, SyncClient, player, and an artificial network delay."""

    def __init__(self, name: str, delay_ms: float, jitter_ms: float, seed: int) -> None:
        self.name = name
        self.rng = random.Random(seed)
        self.client = SyncClient()
        self.player = Player(self.rng)
        # A local clock far from the server's: only differences between readings matter.
        self.clock_base = self.rng.uniform(-5e6, 5e6)
        self.delay_ms, self.jitter_ms = delay_ms, jitter_ms
        self.wake = anyio.Event()
        self.conn: ClientConnection | None = None
        self.outbox_in, self.outbox_out = anyio.create_memory_object_stream[tuple[float, str]](100)
        self.inbox_in, self.inbox_out = anyio.create_memory_object_stream[
            tuple[float, ServerMessage]
        ](100)
        self.room_state: RoomState | None = None

    def now(self) -> float:
        return time.monotonic() * 1000.0 + self.clock_base

    def _due(self) -> float:
        delay = self.delay_ms + self.rng.uniform(-self.jitter_ms, self.jitter_ms)
        return time.monotonic() + max(0.0, delay) / 1000.0

    def send(self, message: ClientMessage) -> None:
        """Queue ``message`` for the server, after this member's network delay."""
        self.outbox_in.send_nowait((self._due(), encode(message)))

    def handle(self, outputs: list[SyncOutput]) -> None:
        """Carry out what the client asked for: messages go out, commands go to the player."""
        for output in outputs:
            if isinstance(output, (Play, Pause, Seek, SetRate)):
                for event in self.player.apply(output):
                    # The player's events come back, as a browser's would; they are echoes.
                    self.handle(self.client.player_event(event, self.player.position(), self.now()))
            else:
                self.send(output)
        self.wake.set()

    async def user(self, action: Literal["play", "pause", "seek"], position: float) -> None:
        """The host's user acts on its player, which reports it to the client."""
        command: PlayerCommand
        if action == "play":
            command = Play(position, 0.0)
        elif action == "pause":
            command = Pause(position, 0.0)
        else:
            command = Seek(position, 0.0)
        self.player.apply(command)
        self.handle(self.client.player_event(action, position, self.now()))

    async def run(self, url: str, started: Callable[[], Coroutine[Any, Any, None]]) -> None:
        async with connect(url) as conn, anyio.create_task_group() as tg:
            self.conn = conn
            tg.start_soon(self._send_loop, conn)
            tg.start_soon(self._deliver_loop)
            tg.start_soon(self._timer_loop)
            tg.start_soon(self._observe_loop)
            tg.start_soon(started)
            try:
                while True:
                    message = await conn.receive()
                    await self.inbox_in.send((self._due(), message))
            except ConnectionClosed:
                tg.cancel_scope.cancel()

    async def _send_loop(self, conn: ClientConnection) -> None:
        async for due, text in self.outbox_out:
            await anyio.sleep(max(0.0, due - time.monotonic()))
            await conn.send_text(text)

    async def _deliver_loop(self) -> None:
        async for due, message in self.inbox_out:
            await anyio.sleep(max(0.0, due - time.monotonic()))
            if isinstance(message, RoomState):
                self.room_state = message
            self.handle(self.client.receive(message, self.now()))

    async def _timer_loop(self) -> None:
        while True:
            deadline = self.client.next_deadline()
            wait = math.inf if deadline is None else max(0.0, (deadline - self.now()) / 1000.0)
            self.wake = anyio.Event()
            with anyio.move_on_after(wait):
                await self.wake.wait()
            deadline = self.client.next_deadline()
            if deadline is not None and self.now() >= deadline:
                self.handle(self.client.handle_timer(self.now()))

    async def _observe_loop(self) -> None:
        while True:
            await anyio.sleep(0.25)
            self.handle(self.client.observe(self.player.status(), self.now()))


async def party(url: str, viewers: int, seconds: float, delay_ms: float, jitter_ms: float) -> None:
    host = Member("host", delay_ms=2.0, jitter_ms=1.0, seed=0)
    guests = [Member(f"viewer-{i}", delay_ms, jitter_ms, seed=i) for i in range(1, viewers + 1)]
    room_known = anyio.Event()

    async def host_started() -> None:
        host.send(CreateRoom(name="sync demo", media_id="demo"))
        while host.room_state is None:
            await anyio.sleep(0.05)
        room_known.set()
        await anyio.sleep(3.0)  # time for the viewers to join and load
        print(f"host: play at 0.0 (room {host.room_state.room})")
        await host.user("play", 0.0)
        await anyio.sleep(seconds / 3)
        print("host: seek to 600.0")
        await host.user("seek", 600.0)
        await anyio.sleep(seconds / 3)
        print(f"host: pause at {host.player.position():.3f}")
        await host.user("pause", host.player.position())
        await anyio.sleep(3.0)
        print(f"host: play at {host.player.position():.3f}")
        await host.user("play", host.player.position())

    def viewer_started(guest: Member) -> Callable[[], Coroutine[Any, Any, None]]:
        async def started() -> None:
            await room_known.wait()
            assert host.room_state is not None
            guest.send(JoinRoom(room=host.room_state.room))
            while guest.room_state is None:
                await anyio.sleep(0.05)
            await anyio.sleep(0.3)  # loading the media
            guest.handle(guest.client.ready(guest.now()))

        return started

    async def report() -> None:
        while True:
            await anyio.sleep(1.0)
            host_position = host.player.position()
            for g in guests:
                offset = (g.player.position() - host_position) * 1000.0
                server = g.client.server_time(g.now())
                clock = "unsynced" if server is None else f"{server - time.time() * 1000:+7.1f}"
                print(
                    f"{g.name}: pos {g.player.position():9.3f}  vs host {offset:+8.1f} ms  "
                    f"rate {g.player.rate:.3f}  clock error ~{clock} ms"
                )

    with anyio.move_on_after(seconds + 8.0):
        async with anyio.create_task_group() as tg:
            tg.start_soon(host.run, url, host_started)
            for guest in guests:
                tg.start_soon(guest.run, url, viewer_started(guest))
            tg.start_soon(report)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="an existing server; default: start one on 127.0.0.1")
    parser.add_argument("--viewers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--delay-ms", type=float, default=40.0, help="viewers' one-way delay")
    parser.add_argument("--jitter-ms", type=float, default=10.0)
    args = parser.parse_args()
    if args.url:
        await party(args.url, args.viewers, args.seconds, args.delay_ms, args.jitter_ms)
        return
    server = WebSocketServer(host="127.0.0.1", port=0)
    async with anyio.create_task_group() as tg:
        await tg.start(server.serve)
        await party(server.url, args.viewers, args.seconds, args.delay_ms, args.jitter_ms)
        server.stop()


if __name__ == "__main__":
    anyio.run(main)
