"""What the simulated world is made of: links, clocks and players.

Everything random draws from a :class:`random.Random` passed in, so a run is
a pure function of its seed. Times are true (simulation) milliseconds unless
a name says otherwise; positions are media seconds.
"""

from __future__ import annotations

import random

import attrs

from opensyncparty_core import Pause, Play, PlayerAction, PlayerCommand, PlayerStatus, Seek, SetRate

__all__ = ["LinkModel", "PlayerModel", "SimPlayer"]


@attrs.frozen(kw_only=True)
class LinkModel:
    """One client's network path to the server.

    Each client draws a base round trip from ``rtt_ms``; the uplink carries
    ``(1 + asymmetry / 2)`` of half of it and the downlink the rest. Every
    message then takes its direction's base delay times ``U(1 - jitter, 1 +
    jitter)`` plus an exponential queueing tail of mean ``tail_ms``. Messages
    on one direction of a link never overtake each other (TCP).
    """

    rtt_ms: tuple[float, float]
    jitter: float = 0.1
    asymmetry: float = 0.0
    tail_ms: float = 0.0

    def draw_bases(self, rng: random.Random) -> tuple[float, float]:
        """Uplink and downlink base delays (ms) for one client."""
        half = rng.uniform(*self.rtt_ms) / 2.0
        return half * (1.0 + self.asymmetry / 2.0), half * (1.0 - self.asymmetry / 2.0)

    def delay(self, base: float, rng: random.Random) -> float:
        """One message's one-way delay (ms) on a direction with base delay ``base``."""
        tail = rng.expovariate(1.0 / self.tail_ms) if self.tail_ms > 0 else 0.0
        return base * rng.uniform(1.0 - self.jitter, 1.0 + self.jitter) + tail


@attrs.frozen(kw_only=True)
class PlayerModel:
    """How a simulated media player behaves."""

    start_latency_ms: tuple[float, float] = (40.0, 160.0)
    """A play starts this long after it is asked for (decoder and buffer start)."""
    seek_latency_ms: tuple[float, float] = (100.0, 300.0)
    """A seek shows no progress for this long."""
    stalls_per_minute: float = 0.0
    """Buffering stalls while playing (Poisson)."""
    stall_ms: tuple[float, float] = (300.0, 1500.0)
    noise_s: float = 0.010
    """Standard deviation of the reported position around the true one (HLS timing)."""
    glitch_probability: float = 0.02
    """Chance that one report is off by ``glitch_s`` (a segment-boundary blip)."""
    glitch_s: float = 0.25
    report_interval_ms: float = 250.0
    """How often the player reports its status (``timeupdate``)."""


@attrs.define
class SimPlayer:
    """A media player whose media clock runs on its device's (skewed) clock.

    The true position is ``anchor_position`` plus the media time played since
    ``anchor_t``; while ``blocked_until`` is in the future it does not move.
    """

    model: PlayerModel
    skew_ppm: float
    anchor_t: float = 0.0
    anchor_position: float = 0.0
    playing: bool = False
    rate: float = 1.0
    blocked_until: float = 0.0

    def position(self, t: float) -> float:
        """True media position at true time ``t``."""
        if not self.playing:
            return self.anchor_position
        start = max(self.anchor_t, self.blocked_until)
        if t <= start:
            return self.anchor_position
        return self.anchor_position + (t - start) / 1000.0 * self.rate * (
            1.0 + self.skew_ppm * 1e-6
        )

    def buffering(self, t: float) -> bool:
        return self.playing and t < self.blocked_until

    def _rebase(self, t: float) -> None:
        self.anchor_position = self.position(t)
        self.anchor_t = max(t, self.blocked_until) if self.playing else t

    def status(self, t: float, rng: random.Random) -> PlayerStatus:
        """What the player reports at ``t``: the true position plus reporting noise."""
        reported = self.position(t) + rng.gauss(0.0, self.model.noise_s)
        if rng.random() < self.model.glitch_probability:
            reported -= self.model.glitch_s
        return PlayerStatus(
            position=max(0.0, reported),
            paused=not self.playing,
            rate=self.rate,
            buffering=self.buffering(t),
        )

    def stall(self, t: float, duration: float) -> None:
        """A buffering stall of ``duration`` ms starting at ``t`` (if playing)."""
        if self.playing and not self.buffering(t):
            self._rebase(t)
            self.blocked_until = t + duration

    def apply(self, command: PlayerCommand, t: float, rng: random.Random) -> list[PlayerAction]:
        """Carry out ``command`` at ``t``; returns the player events it causes, in order."""
        events: list[PlayerAction] = []
        before = self.position(t)
        if isinstance(command, SetRate):
            self._rebase(t)
            self.rate = command.rate
            return events
        if isinstance(command, Play):
            self.anchor_position, self.anchor_t = command.position, t
            self.blocked_until = t + rng.uniform(*self.model.start_latency_ms)
            if abs(command.position - before) > 0.1:
                events.append("seek")
            if not self.playing:
                events.append("play")
            self.playing = True
        elif isinstance(command, Pause):
            self.anchor_position, self.anchor_t = command.position, t
            self.blocked_until = t
            if self.playing:
                events.append("pause")
            if abs(command.position - before) > 0.1:
                events.append("seek")
            self.playing = False
        elif isinstance(command, Seek):
            self.anchor_position, self.anchor_t = command.position, t
            self.blocked_until = t + rng.uniform(*self.model.seek_latency_ms)
            events.append("seek")
        return events
