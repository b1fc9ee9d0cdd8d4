"""Keep a media player in sync: the loop around SyncClient that every client needs.

A host and a viewer share an in-memory network (see memory_transport.py).
Their clocks disagree by seconds and the viewer's player runs fast: the
viewer's SyncClient must find the host's timeline and keep its player on it.
"""

from __future__ import annotations

from memory_transport import MemoryClient, MemoryNetwork

from opensyncparty_core import (
    CreateRoom,
    JoinRoom,
    Message,
    Pause,
    Play,
    PlayerCommand,
    PlayerStatus,
    Seek,
    SetRate,
    SyncClient,
    SyncOutput,
    decode_server_message,
    encode,
)


class Player:
    """A media player that does what it is told; ``speed`` says how true its clock is."""

    def __init__(self, speed: float = 1.0) -> None:
        self.position, self.paused, self.rate, self.updated = 0.0, True, 1.0, 0.0
        self.speed = speed

    def advance(self, now: float) -> None:
        if not self.paused:
            self.position += (now - self.updated) / 1000 * self.rate * self.speed
        self.updated = now

    def run(self, command: PlayerCommand) -> None:
        if isinstance(command, SetRate):
            self.rate = command.rate
        else:
            self.position = command.position
            if isinstance(command, (Play, Pause)):
                self.paused = isinstance(command, Pause)


class Member:
    """One client: a connection, a SyncClient, a player and a clock of its own."""

    def __init__(self, network: MemoryNetwork, clock_offset_ms: float, speed: float) -> None:
        self.conn: MemoryClient = network.connect()
        self.network = network
        self.offset = clock_offset_ms
        self.sync = SyncClient()
        self.player = Player(speed)

    def now(self) -> float:
        return self.network.now + self.offset

    def carry_out(self, outputs: list[SyncOutput]) -> None:
        for output in outputs:
            if isinstance(output, (Play, Pause, Seek, SetRate)):
                self.player.run(output)  # a player command, due now
            else:
                self.send(output)

    def send(self, message: Message) -> None:
        self.conn.send(encode(message))

    def step(self, observe: bool) -> None:
        """What an event loop does on each wake-up."""
        now = self.now()
        self.player.advance(now)
        for text in self.conn.receive_text():
            self.carry_out(self.sync.receive(decode_server_message(text), now))
        deadline = self.sync.next_deadline()
        if deadline is not None and deadline <= now:
            self.carry_out(self.sync.handle_timer(now))
        if observe:  # report the player a few times a second
            p = self.player
            status = PlayerStatus(position=p.position, paused=p.paused, rate=p.rate)
            self.carry_out(self.sync.observe(status, now))


def run_party(seconds: float) -> tuple[Member, Member]:
    network = MemoryNetwork(now=1_700_000_000_000)
    # Clocks seconds apart; the viewer's player runs 0.5% fast.
    host = Member(network, clock_offset_ms=-3_000.0, speed=1.0)
    viewer = Member(network, clock_offset_ms=2_500.0, speed=1.005)
    members = (host, viewer)

    def run_for(ms: int) -> None:
        for tick in range(ms // 50):  # wake up every 50 ms, observe every 250 ms
            network.advance(50)
            for member in members:
                member.step(observe=tick % 5 == 0)

    host.send(CreateRoom(name="Sync demo"))
    run_for(500)
    assert host.sync.room_id is not None
    viewer.send(JoinRoom(room=host.sync.room_id))
    run_for(500)
    viewer.carry_out(viewer.sync.ready(viewer.now()))  # the media is loaded
    run_for(500)
    # The host's user presses play in the player: the player reports it.
    host.player.paused = False
    host.carry_out(host.sync.player_event("play", host.player.position, host.now()))
    run_for(int(seconds * 1000))
    return host, viewer
