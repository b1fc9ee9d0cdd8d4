"""The discrete-event simulation and its accuracy statistics.

One heap of events on a true clock (ms, float). The server reads
``floor(true + server_base)`` as its clock, as a real server reading
``time.time()`` would; each client reads its own clock, with an offset and a
skew. Client 0 is the host; it runs the scenario's script of user actions.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import math
import random
import statistics
from bisect import bisect_right
from collections.abc import Callable, Sequence
from typing import Literal

import attrs

from opensyncparty_core import (
    CreateRoom,
    JoinRoom,
    Message,
    Outgoing,
    Pause,
    Play,
    PlayerAction,
    PlayerEvent,
    RoomState,
    Seek,
    SessionServer,
    SetRate,
    SyncClient,
    SyncOutput,
    decode_server_message,
    encode,
    seeded_uuid4s,
)

from .models import LinkModel, PlayerModel, SimPlayer

__all__ = ["Scenario", "ScriptStep", "SimResult", "Stats", "run", "summarize"]


@attrs.frozen
class ScriptStep:
    """At ``t_s`` seconds the host's user plays, pauses or seeks (to ``position``)."""

    t_s: float
    action: Literal["play", "pause", "seek"]
    position: float | None = None


DEFAULT_SCRIPT = (
    ScriptStep(5.0, "play"),
    ScriptStep(65.0, "seek", 600.0),
    ScriptStep(110.0, "pause"),
    ScriptStep(116.0, "play"),
)


@attrs.frozen(kw_only=True)
class Scenario:
    """A party: the host plus ``viewers``, their links, clocks and players, and a script."""

    name: str
    viewers: int = 3
    link: LinkModel
    player: PlayerModel = attrs.field(factory=PlayerModel)
    skews_ppm: tuple[float, ...] = ()
    """Clock skew per client, host first; missing entries are drawn from ±20 ppm."""
    duration_s: float = 170.0
    script: tuple[ScriptStep, ...] = DEFAULT_SCRIPT
    settle_s: float = 3.0
    """Samples this soon after a play or seek target count as convergence, not accuracy."""
    converged_s: float = 0.030
    """A viewer has converged once within this of the host (and stays so for 2 s)."""


@attrs.frozen
class SimResult:
    """What a run produced: offset samples and the instants of scheduled commands."""

    scenario: Scenario
    samples: tuple[tuple[float, int, float, bool], ...]
    """(true ms, viewer index, viewer minus host position in s, host playing)."""
    command_times: tuple[tuple[float, str], ...]
    """(true ms of the target, action) of each scheduled play and relayed seek."""
    user_times: tuple[float, ...]
    """True ms of each host user action (the room is in transition from then on)."""
    messages_sent: int


@attrs.frozen
class Stats:
    """Accuracy of one run: absolute offsets (ms) while the host plays, and convergence (s)."""

    p50_ms: float
    p95_ms: float
    max_ms: float
    converge_median_s: float
    converge_max_s: float
    """``inf`` if some viewer never converged after some command."""
    samples: int


@attrs.define(eq=False)
class _Node:
    index: int
    client: SyncClient
    player: SimPlayer
    skew_ppm: float
    local_base: float
    up_base: float
    down_base: float
    cid: str = ""
    last_up: float = 0.0
    last_down: float = 0.0
    timer_generation: int = 0

    def local(self, t: float) -> float:
        return self.local_base + t * (1.0 + self.skew_ppm * 1e-6)

    def true_of_local(self, local: float) -> float:
        return (local - self.local_base) / (1.0 + self.skew_ppm * 1e-6)


class _Simulation:
    def __init__(
        self, scenario: Scenario, make_client: Callable[[], SyncClient], seed: int
    ) -> None:
        self.scenario = scenario
        self.rng = random.Random(seed)
        rng = self.rng
        self.server = SessionServer(id_source=seeded_uuid4s(seed))
        self.server_base = 1.7e12 + rng.uniform(0.0, 1e6)
        self.heap: list[tuple[float, int, Callable[[], None]]] = []
        self.sequence = itertools.count()
        self.now = 0.0
        self.server_generation = 0
        self.messages_sent = 0
        self.samples: list[tuple[float, int, float, bool]] = []
        self.command_times: list[tuple[float, str]] = []
        self.user_times: list[float] = []
        self.nodes: list[_Node] = []
        self.by_cid: dict[str, _Node] = {}
        for i in range(scenario.viewers + 1):
            skew = (
                scenario.skews_ppm[i] if i < len(scenario.skews_ppm) else rng.uniform(-20.0, 20.0)
            )
            up, down = scenario.link.draw_bases(rng)
            self.nodes.append(
                _Node(
                    index=i,
                    client=make_client(),
                    player=SimPlayer(model=scenario.player, skew_ppm=skew),
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
            message = out.message
            if (
                isinstance(message, PlayerEvent)
                and message.target_server_ts is not None
                and message.action != "pause"
            ):
                target = message.target_server_ts - self.server_base
                self.command_times.append((target, message.action))
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
        if isinstance(message, RoomState) and node.index > 0:
            load = self.rng.uniform(300.0, 800.0)
            self.at(
                self.now + load, lambda: self.handle(node, node.client.ready(node.local(self.now)))
            )

    def handle(self, node: _Node, outputs: list[SyncOutput]) -> None:
        for output in outputs:
            if isinstance(output, (Play, Pause, Seek, SetRate)):
                events = node.player.apply(output, self.now, self.rng)
                for k, event in enumerate(events):
                    self.at(self.now + 5.0 + k, self._player_event(node, event))
            else:
                self.send_up(node, output)
        self.arm_client_timer(node)

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

    def report(self, node: _Node) -> None:
        status = node.player.status(self.now, self.rng)
        self.handle(node, node.client.observe(status, node.local(self.now)))
        self.at(self.now + self.scenario.player.report_interval_ms, lambda: self.report(node))

    def stall(self, node: _Node) -> None:
        model = self.scenario.player
        node.player.stall(self.now, self.rng.uniform(*model.stall_ms))
        self.at(
            self.now + self.rng.expovariate(model.stalls_per_minute / 60_000.0),
            lambda: self.stall(node),
        )

    def user(self, step: ScriptStep) -> None:
        self.user_times.append(self.now)
        host = self.nodes[0]
        player = host.player
        position = player.position(self.now) if step.position is None else step.position
        command: Play | Pause | Seek
        if step.action == "play":
            command = Play(position, 0.0)
        elif step.action == "pause":
            command = Pause(position, 0.0)
        else:
            command = Seek(position, 0.0)
        player.apply(command, self.now, self.rng)
        local = host.local(self.now)
        self.handle(host, host.client.player_event(step.action, position, local))

    def sample(self) -> None:
        host = self.nodes[0]
        host_position = host.player.position(self.now)
        for node in self.nodes[1:]:
            offset = node.player.position(self.now) - host_position
            self.samples.append((self.now, node.index, offset, host.player.playing))
        self.at(self.now + 100.0, self.sample)

    def run(self) -> SimResult:
        scenario = self.scenario
        rng = self.rng
        for node in self.nodes:
            self.at(rng.uniform(0.0, 100.0), functools.partial(self.connect, node))
            first = rng.uniform(0.0, scenario.player.report_interval_ms)
            self.at(first, functools.partial(self.report, node))
            if scenario.player.stalls_per_minute > 0:
                gap = rng.expovariate(scenario.player.stalls_per_minute / 60_000.0)
                self.at(gap, functools.partial(self.stall, node))
        host = self.nodes[0]
        self.at(500.0, lambda: self.send_up(host, CreateRoom(name="sim", media_id="m")))
        for node in self.nodes[1:]:
            self.at(1_000.0 + 50.0 * node.index, functools.partial(self.join, node))
        for step in scenario.script:
            self.at(step.t_s * 1000.0, functools.partial(self.user, step))
        self.at(0.0, self.sample)
        end = scenario.duration_s * 1000.0
        while self.heap and self.heap[0][0] <= end:
            self.now, _, action = heapq.heappop(self.heap)
            action()
        return SimResult(
            scenario=scenario,
            samples=tuple(self.samples),
            command_times=tuple(self.command_times),
            user_times=tuple(self.user_times),
            messages_sent=self.messages_sent,
        )

    def join(self, node: _Node) -> None:
        self.send_up(node, JoinRoom(room=self.server.room_ids[0]))


def run(scenario: Scenario, make_client: Callable[[], SyncClient], seed: int = 0) -> SimResult:
    """Simulate ``scenario`` with clients from ``make_client``; the same seed, the same run."""
    return _Simulation(scenario, make_client, seed).run()


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return math.nan
    k = (len(sorted_values) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def summarize(results: Sequence[SimResult]) -> Stats:
    """Pooled over ``results``: offsets while the host plays, outside transitions.

    A transition runs from a host user action to its command's target, and
    for ``settle_s`` after each play or seek target; convergence times (how
    long after a target each viewer takes to come within ``converged_s`` of
    the host for 2 s) are reported separately.
    """
    steady: list[float] = []
    converge: list[float] = []
    for result in results:
        _collect(result, steady, converge)
    steady.sort()
    finite = [c for c in converge if math.isfinite(c)]
    return Stats(
        p50_ms=_percentile(steady, 0.50),
        p95_ms=_percentile(steady, 0.95),
        max_ms=steady[-1] if steady else math.nan,
        converge_median_s=statistics.median(converge) if finite else math.inf,
        converge_max_s=max(converge) if converge else math.nan,
        samples=len(steady),
    )


def _collect(result: SimResult, steady: list[float], converge: list[float]) -> None:
    scenario = result.scenario
    settle = scenario.settle_s * 1000.0
    starts = sorted({t for t, _ in result.command_times})
    # From a user action to its command's target the room is in transition by design.
    quiet = sorted({*result.user_times, *(t + settle for t in starts)})
    users = set(result.user_times)
    for t, _viewer, offset, playing in result.samples:
        i = bisect_right(quiet, t) - 1
        if playing and i >= 0 and quiet[i] not in users:
            steady.append(abs(offset) * 1000.0)
    viewers = sorted({v for _, v, _, _ in result.samples})
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else math.inf
        for viewer in viewers:
            series = [
                (t, abs(o)) for t, v, o, _ in result.samples if v == viewer and start <= t < end
            ]
            converge.append(_convergence(series, start, scenario.converged_s, 2_000.0))


def _convergence(
    series: list[tuple[float, float]], start: float, bound: float, hold: float
) -> float:
    """Seconds from ``start`` until the offset is within ``bound`` and stays so for ``hold`` ms."""
    since: float | None = None
    for t, offset in series:
        if offset <= bound:
            if since is None:
                since = t
            if t - since >= hold:
                return (since - start) / 1000.0
        else:
            since = None
    return math.inf
