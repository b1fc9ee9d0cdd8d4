"""The discrete-event simulation and its accuracy statistics.

One heap of events on a true clock (ms, float). The server reads
``floor(true + server_base)`` as its clock, as a real server reading
``time.time()`` would; each client reads its own clock, with an offset and a
skew. Client 0 is the host; it runs the scenario's script of user actions.
Viewers join once the room exists (when a ``room_list`` shows it), so no
round trip is too long.

What is measured is what a viewer sees: the *perceived* position of each
viewer's player (decoded position minus output latency) minus the host's,
every 50 ms from the host's first user action to the end, nothing excluded.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import math
import random
from collections.abc import Callable
from typing import Literal, Protocol

import attrs

from opensyncparty_core import (
    CreateRoom,
    JoinRoom,
    Message,
    Outgoing,
    Pause,
    Play,
    PlayerAction,
    PlayerStatus,
    RoomList,
    RoomState,
    Seek,
    ServerMessage,
    SessionServer,
    SetRate,
    SyncOutput,
    decode_server_message,
    encode,
    seeded_uuid4s,
)

from .models import REALISTIC_PLAYER, LinkModel, PlayerModel, SimPlayer

__all__ = ["Scenario", "ScriptStep", "SimClient", "SimResult", "run"]

SAMPLE_MS = 50.0


class SimClient(Protocol):
    """What the simulator drives: :class:`~opensyncparty_core.SyncClient`'s calls."""

    def receive(self, message: ServerMessage, now: float) -> list[SyncOutput]: ...
    def ready(self, now: float) -> list[SyncOutput]: ...
    def observe(self, status: PlayerStatus, now: float) -> list[SyncOutput]: ...
    def player_event(
        self, action: PlayerAction, position: float, now: float
    ) -> list[SyncOutput]: ...
    def next_deadline(self) -> float | None: ...
    def handle_timer(self, now: float) -> list[SyncOutput]: ...


@attrs.frozen
class ScriptStep:
    """At ``t_s`` seconds the host's user plays, pauses or seeks (to ``position``)."""

    t_s: float
    action: Literal["play", "pause", "seek"]
    position: float | None = None


DEFAULT_SCRIPT = (
    ScriptStep(8.0, "play"),
    ScriptStep(65.0, "seek", 600.0),
    ScriptStep(110.0, "pause"),
    ScriptStep(116.0, "play"),
    ScriptStep(140.0, "seek", 300.0),
)


@attrs.frozen(kw_only=True)
class Scenario:
    """A party: the host plus ``viewers``, their links, clocks and players, and a script."""

    name: str
    viewers: int = 3
    link: LinkModel
    player: PlayerModel = REALISTIC_PLAYER
    skews_ppm: tuple[float, ...] = ()
    """Clock skew per client, host first; missing entries are drawn from ±20 ppm."""
    duration_s: float = 170.0
    script: tuple[ScriptStep, ...] = DEFAULT_SCRIPT
    converged_s: float = 0.040
    """A viewer has converged once within this of the host and stays so for ``hold_ms``."""
    hold_ms: float = 1_000.0


@attrs.frozen
class SimResult:
    """What a run produced."""

    scenario: Scenario
    seed: int
    samples: tuple[tuple[float, int, float], ...]
    """(true ms, viewer index, viewer minus host perceived position in s), from the first action."""
    user_actions: tuple[tuple[float, str], ...]
    """True ms and action of each host user action."""
    start_errors: tuple[float, ...]
    """|viewer - host| (s) when the later of the two starts, for each viewer at each play."""
    seeks: tuple[int, ...]
    """Seeks each player made (host first)."""
    asymmetry_ms: tuple[float, ...]
    """Per viewer, the part of its clock error against the host's that no ping can see:
    half the difference of (uplink - downlink) base delays of the two paths."""
    messages_sent: int


@attrs.define(eq=False)
class _Node:
    index: int
    client: SimClient
    player: SimPlayer
    skew_ppm: float
    local_base: float
    up_base: float
    down_base: float
    cid: str = ""
    last_up: float = 0.0
    last_down: float = 0.0
    timer_generation: int = 0
    joined: bool = False
    latched: tuple[float, float] = (0.0, 0.0)
    """(true ms, decoded position) of the last ``timeupdate``."""
    started_at: float = math.inf
    rate_due: float = 0.0

    def local(self, t: float) -> float:
        return self.local_base + t * (1.0 + self.skew_ppm * 1e-6)

    def true_of_local(self, local: float) -> float:
        return (local - self.local_base) / (1.0 + self.skew_ppm * 1e-6)


class _Simulation:
    def __init__(self, scenario: Scenario, make_client: Callable[[], SimClient], seed: int) -> None:
        self.scenario = scenario
        self.seed = seed
        self.rng = random.Random(seed)
        rng = self.rng
        self.server = SessionServer(id_source=seeded_uuid4s(seed))
        self.server_base = 1.7e12 + rng.uniform(0.0, 1e6)
        self.heap: list[tuple[float, int, Callable[[], None]]] = []
        self.sequence = itertools.count()
        self.now = 0.0
        self.server_generation = 0
        self.messages_sent = 0
        self.samples: list[tuple[float, int, float]] = []
        self.user_actions: list[tuple[float, str]] = []
        self.start_errors: list[float] = []
        self.awaiting_start: set[int] = set()
        self.nodes: list[_Node] = []
        self.by_cid: dict[str, _Node] = {}
        model = scenario.player
        keyframe = None if model.keyframe_s is None else rng.uniform(*model.keyframe_s)
        for i in range(scenario.viewers + 1):
            skew = (
                scenario.skews_ppm[i] if i < len(scenario.skews_ppm) else rng.uniform(-20.0, 20.0)
            )
            up, down = scenario.link.draw_bases(rng)
            player = SimPlayer(
                model=model,
                skew_ppm=skew,
                media_ppm=rng.uniform(-model.media_drift_ppm, model.media_drift_ppm),
                keyframe_s=keyframe,
                output_latency_s=rng.uniform(*model.output_latency_ms) / 1000.0,
            )
            self.nodes.append(
                _Node(
                    index=i,
                    client=make_client(),
                    player=player,
                    skew_ppm=skew,
                    local_base=rng.uniform(1e6, 1e9),
                    up_base=up,
                    down_base=down,
                )
            )

    # -- plumbing -----------------------------------------------------------

    def at(self, t: float, action: Callable[[], None]) -> None:
        heapq.heappush(self.heap, (t, next(self.sequence), action))

    def server_now(self, t: float) -> int:
        return math.floor(t + self.server_base)

    def send_up(self, node: _Node, message: Message) -> None:
        text = encode(message)
        self.messages_sent += 1
        arrival = max(self.now + self.scenario.link.delay(node.up_base, self.rng), node.last_up)
        node.last_up = arrival
        self.at(arrival, lambda: self.server_receives(node, text))

    def server_receives(self, node: _Node, text: str) -> None:
        self.deliver(self.server.receive(node.cid, text, self.server_now(self.now)))

    def deliver(self, outgoing: list[Outgoing]) -> None:
        for out in outgoing:
            for cid in out.recipients:
                node = self.by_cid[cid]
                delay = self.scenario.link.delay(node.down_base, self.rng)
                arrival = max(self.now + delay, node.last_down)
                node.last_down = arrival
                self.at(arrival, self._receiver(node, out.text))
        self.arm_server_timer()

    def _receiver(self, node: _Node, text: str) -> Callable[[], None]:
        return lambda: self.client_receives(node, text)

    def client_receives(self, node: _Node, text: str) -> None:
        message = decode_server_message(text)
        self.handle(node, node.client.receive(message, node.local(self.now)))
        if isinstance(message, RoomList) and message.rooms and node.index > 0 and not node.joined:
            # A user picks the room from the list a moment after it appears.
            node.joined = True
            room = message.rooms[0].id
            self.at(
                self.now + self.rng.uniform(200.0, 1_000.0),
                lambda: self.send_up(node, JoinRoom(room=room)),
            )
        if isinstance(message, RoomState) and node.index > 0:
            load = self.rng.uniform(300.0, 800.0)
            self.at(
                self.now + load, lambda: self.handle(node, node.client.ready(node.local(self.now)))
            )

    def handle(self, node: _Node, outputs: list[SyncOutput]) -> None:
        for output in outputs:
            if isinstance(output, SetRate):
                # Late, but in the order they were set.
                delay = self.rng.uniform(*self.scenario.player.rate_delay_ms)
                node.rate_due = max(node.rate_due, self.now + delay)
                self.at(node.rate_due, functools.partial(self._set_rate, node, output.rate))
            elif isinstance(output, (Play, Pause, Seek)):
                self.apply(node, output)
            else:
                self.send_up(node, output)
        self.arm_client_timer(node)

    def _set_rate(self, node: _Node, rate: float) -> None:
        node.player.set_rate(self.now, rate)

    def apply(self, node: _Node, command: Play | Pause | Seek) -> None:
        player = node.player
        was_playing = player.playing
        events = player.apply(command, self.now, self.rng)
        if player.playing and not was_playing:
            node.started_at = player.blocked_until
        self.timeupdate(node)  # players fire timeupdate on play, pause and seeking
        if player.settled_at > self.now:
            self.at(player.settled_at, functools.partial(self.timeupdate, node))
        for k, event in enumerate(events):
            self.at(self.now + 5.0 + k, self._player_event(node, event))

    def _player_event(self, node: _Node, event: PlayerAction) -> Callable[[], None]:
        def fire() -> None:
            position = node.player.position(self.now)
            self.handle(node, node.client.player_event(event, position, node.local(self.now)))

        return fire

    def arm_client_timer(self, node: _Node) -> None:
        deadline = node.client.next_deadline()
        node.timer_generation += 1
        if deadline is None:
            return
        generation = node.timer_generation
        # Never in the past, and never twice at one instant (a deadline that handle_timer
        # does not clear would otherwise spin).
        t = max(node.true_of_local(deadline), self.now)

        def fire() -> None:
            if node.timer_generation == generation:
                self.handle(node, node.client.handle_timer(node.local(self.now)))

        self.at(t, fire)

    def arm_server_timer(self) -> None:
        deadline = self.server.next_deadline()
        self.server_generation += 1
        if deadline is None:
            return
        generation = self.server_generation

        def fire() -> None:
            if self.server_generation == generation:
                self.deliver(self.server.handle_timer(self.server_now(self.now)))

        self.at(max(deadline - self.server_base, self.now), fire)

    # -- the world ----------------------------------------------------------

    def connect(self, node: _Node) -> None:
        cid, outgoing = self.server.connect(self.server_now(self.now))
        node.cid = cid
        self.by_cid[cid] = node
        self.deliver(outgoing)

    def timeupdate(self, node: _Node) -> None:
        node.latched = (self.now, node.player.position(self.now))

    def ticks(self, node: _Node, interval: float) -> None:
        self.timeupdate(node)
        self.at(self.now + interval, lambda: self.ticks(node, interval))

    def report(self, node: _Node) -> None:
        model = self.scenario.player
        player = node.player
        if model.timeupdate_ms is None:
            sampled, position = self.now, player.position(self.now)
        else:
            sampled, position = node.latched
        reported = position
        if player.advancing(sampled):
            # Playing positions jitter (HLS timing, segment blips); a paused one is exact.
            reported += self.rng.gauss(0.0, model.noise_s)
            if self.rng.random() < model.glitch_probability:
                reported -= model.glitch_s
        status = PlayerStatus(
            position=max(0.0, reported),
            paused=not player.playing,
            rate=player.rate,
            buffering=player.buffering(self.now),
            sampled_at=node.local(sampled) if model.reports_sample_time else None,
            output_latency=player.output_latency_s if model.reports_output_latency else 0.0,
        )
        self.handle(node, node.client.observe(status, node.local(self.now)))
        self.at(self.now + model.report_interval_ms, lambda: self.report(node))

    def stall(self, node: _Node) -> None:
        model = self.scenario.player
        node.player.stall(self.now, self.rng.uniform(*model.stall_ms), self.rng)
        self.at(
            self.now + self.rng.expovariate(model.stalls_per_minute / 60_000.0),
            lambda: self.stall(node),
        )

    def user(self, step: ScriptStep) -> None:
        """The host's user clicks: the player obeys at once, then reports the event."""
        self.user_actions.append((self.now, step.action))
        host = self.nodes[0]
        player = host.player
        position = player.position(self.now) if step.position is None else step.position
        command: Play | Pause | Seek
        if step.action == "play":
            command = Play(position, 0.0)
            self.awaiting_start = {node.index for node in self.nodes[1:]}
        elif step.action == "pause":
            command = Pause(position, 0.0)
        else:
            command = Seek(position, 0.0)
        was_playing = player.playing
        player.apply(command, self.now, self.rng)  # its events are this click's: sent below
        if player.playing and not was_playing:
            host.started_at = player.blocked_until
        self.timeupdate(host)
        if player.settled_at > self.now:
            self.at(player.settled_at, functools.partial(self.timeupdate, host))
        local = host.local(self.now)
        self.handle(host, host.client.player_event(step.action, position, local))

    def sample(self) -> None:
        host = self.nodes[0]
        t = self.now
        host_seen = host.player.perceived(t)
        for node in self.nodes[1:]:
            self.samples.append((t, node.index, node.player.perceived(t) - host_seen))
        self.check_starts()
        self.at(t + SAMPLE_MS, self.sample)

    def check_starts(self) -> None:
        """At each play: the offset at the instant the later of host and viewer starts."""
        host = self.nodes[0]
        if not self.awaiting_start or not host.player.advancing(self.now):
            return
        for node in self.nodes[1:]:
            if node.index in self.awaiting_start and node.player.advancing(self.now):
                self.awaiting_start.discard(node.index)
                t = min(max(host.started_at, node.started_at), self.now)
                error = node.player.perceived(t) - host.player.perceived(t)
                self.start_errors.append(abs(error))

    def run(self) -> SimResult:
        scenario = self.scenario
        rng = self.rng
        model = scenario.player
        for node in self.nodes:
            self.at(rng.uniform(0.0, 100.0), functools.partial(self.connect, node))
            first = rng.uniform(0.0, model.report_interval_ms)
            self.at(first, functools.partial(self.report, node))
            if model.timeupdate_ms is not None:
                phase = rng.uniform(0.0, model.timeupdate_ms)
                self.at(phase, functools.partial(self.ticks, node, model.timeupdate_ms))
            if model.stalls_per_minute > 0:
                gap = rng.expovariate(model.stalls_per_minute / 60_000.0)
                self.at(gap, functools.partial(self.stall, node))
        host = self.nodes[0]
        self.at(500.0, lambda: self.send_up(host, CreateRoom(name="sim", media_id="m")))
        for step in scenario.script:
            self.at(step.t_s * 1000.0, functools.partial(self.user, step))
        first_action = min((s.t_s for s in scenario.script), default=0.0) * 1000.0
        self.at(first_action, self.sample)
        end = scenario.duration_s * 1000.0
        while self.heap and self.heap[0][0] <= end:
            self.now, _, action = heapq.heappop(self.heap)
            action()
        return SimResult(
            scenario=scenario,
            seed=self.seed,
            samples=tuple(self.samples),
            user_actions=tuple(self.user_actions),
            start_errors=tuple(self.start_errors),
            seeks=tuple(node.player.seeks for node in self.nodes),
            asymmetry_ms=tuple(
                abs((n.up_base - n.down_base) - (host.up_base - host.down_base)) / 2.0
                for n in self.nodes[1:]
            ),
            messages_sent=self.messages_sent,
        )


def run(scenario: Scenario, make_client: Callable[[], SimClient], seed: int = 0) -> SimResult:
    """Simulate ``scenario`` with clients from ``make_client``; the same seed, the same run."""
    return _Simulation(scenario, make_client, seed).run()
