"""What the simulated world is made of: links, clocks and players.

Everything random draws from a :class:`random.Random` passed in, so a run is
a pure function of its seed. Times are true (simulation) milliseconds unless
a name says otherwise; positions are media seconds.

The player model is parameterised per scenario. :data:`IDEAL_PLAYER` is the
player of the first version of this benchmark (exact seeks, fresh positions,
instant exact rates); :data:`REALISTIC_PLAYER` adds what real players do:
positions latched at ``timeupdate`` (every 250 ms), rate changes applied late
and rounded, audio output latency, a media clock that drifts from the device
clock, a buffering flag that lags the stall, and (with ``keyframe_s``) seeks
that land on the keyframe before the target.
"""

from __future__ import annotations

import math
import random

import attrs

from opensyncparty_core import Pause, Play, PlayerAction, PlayerCommand, Seek

__all__ = ["IDEAL_PLAYER", "REALISTIC_PLAYER", "LinkModel", "PlayerModel", "SimPlayer"]

# A commanded position this close to the player's is not worth a seek (a frame at 25 fps):
# what an embedder does before it asks its player to seek.
SEEK_EPSILON_S = 0.040


@attrs.frozen(kw_only=True)
class LinkModel:
    """One client's network path to the server.

    Each client draws a base round trip from ``rtt_ms`` and an asymmetry ``a``:
    ``asymmetry`` itself, or with ``mixed_sign`` a value drawn from
    ``[-asymmetry, asymmetry]`` (so clients differ in sign). The uplink
    carries ``(1 + a)`` of half the round trip and the downlink ``(1 - a)``.
    Every message then takes its direction's base delay times ``U(1 - jitter,
    1 + jitter)``, plus an exponential queueing tail of mean ``tail_ms``, plus,
    with probability ``spike_probability``, a spike drawn from ``spike_ms``.
    Messages on one direction of a link never overtake each other (TCP).
    """

    rtt_ms: tuple[float, float]
    jitter: float = 0.1
    asymmetry: float = 0.0
    mixed_sign: bool = False
    tail_ms: float = 0.0
    spike_probability: float = 0.0
    spike_ms: tuple[float, float] = (100.0, 500.0)

    def draw_bases(self, rng: random.Random) -> tuple[float, float]:
        """Uplink and downlink base delays (ms) for one client."""
        half = rng.uniform(*self.rtt_ms) / 2.0
        a = rng.uniform(-self.asymmetry, self.asymmetry) if self.mixed_sign else self.asymmetry
        return half * (1.0 + a), half * (1.0 - a)

    def delay(self, base: float, rng: random.Random) -> float:
        """One message's one-way delay (ms) on a direction with base delay ``base``."""
        tail = rng.expovariate(1.0 / self.tail_ms) if self.tail_ms > 0 else 0.0
        spike = 0.0
        if self.spike_probability > 0 and rng.random() < self.spike_probability:
            spike = rng.uniform(*self.spike_ms)
        return base * rng.uniform(1.0 - self.jitter, 1.0 + self.jitter) + tail + spike


@attrs.frozen(kw_only=True)
class PlayerModel:
    """How a simulated media player behaves (ranges are drawn per event or per player)."""

    start_latency_ms: tuple[float, float] = (40.0, 160.0)
    """A play starts this long after it is asked for (decoder and buffer start)."""
    seek_latency_ms: tuple[float, float] = (100.0, 300.0)
    """A seek shows no progress for this long."""
    keyframe_s: tuple[float, float] | None = None
    """Keyframe interval of the media (drawn once per run); a seek lands on the keyframe
    at or before its target. ``None``: exact seeks."""
    stalls_per_minute: float = 0.0
    """Buffering stalls while playing (Poisson)."""
    stall_ms: tuple[float, float] = (300.0, 1500.0)
    buffering_flag_lag_ms: tuple[float, float] = (0.0, 0.0)
    """The buffering flag rises and falls this late after a stall starts and ends."""
    noise_s: float = 0.010
    """Standard deviation of the reported position around the true one (HLS timing)."""
    glitch_probability: float = 0.02
    """Chance that one report is off by ``glitch_s`` (a segment-boundary blip)."""
    glitch_s: float = 0.25
    report_interval_ms: float = 250.0
    """How often the embedder reads the player's status and calls ``observe``."""
    timeupdate_ms: float | None = None
    """The position is latched this often (HTML5 ``timeupdate``); a read returns the latched
    value. ``None``: every read is fresh."""
    reports_sample_time: bool = True
    """The embedder passes the instant the position was latched (``PlayerStatus.sampled_at``)."""
    rate_delay_ms: tuple[float, float] = (0.0, 0.0)
    """A rate change takes effect this long after it is set."""
    rate_quantum: float = 0.0
    """Rates are rounded to a multiple of this (0: exact)."""
    output_latency_ms: tuple[float, float] = (0.0, 0.0)
    """Audio/video output latency of each player (drawn once): what the viewer sees lags
    the decoded position by this much."""
    reports_output_latency: bool = True
    """The embedder passes the output latency (``PlayerStatus.output_latency``)."""
    media_drift_ppm: float = 0.0
    """The media clock runs off the device clock by up to this much (drawn per player)."""


IDEAL_PLAYER = PlayerModel()
"""The first version's player: exact seeks, fresh positions, instant exact rates."""

REALISTIC_PLAYER = PlayerModel(
    start_latency_ms=(40.0, 160.0),
    seek_latency_ms=(100.0, 600.0),
    buffering_flag_lag_ms=(0.0, 250.0),
    timeupdate_ms=250.0,
    rate_delay_ms=(20.0, 150.0),
    rate_quantum=0.01,
    output_latency_ms=(20.0, 150.0),
    media_drift_ppm=50.0,
)
"""A browser or mpv player: latched positions, late rounded rates, output latency,
media clock drift and a lagging buffering flag. Exact seeks (direct play)."""


@attrs.define
class SimPlayer:
    """A media player whose media clock runs on its device's (skewed) clock.

    The decoded position is ``anchor_position`` plus the media time played since
    ``anchor_t``; while ``blocked_until`` is in the future it does not move
    (seeking, starting or stalled). What the viewer sees (:meth:`perceived`) lags
    the decoded position by the output latency while it advances.
    """

    model: PlayerModel
    skew_ppm: float
    media_ppm: float = 0.0
    keyframe_s: float | None = None
    output_latency_s: float = 0.0
    anchor_t: float = 0.0
    anchor_position: float = 0.0
    playing: bool = False
    rate: float = 1.0
    blocked_until: float = 0.0
    settled_at: float = 0.0
    """End of the current seek or start (the ``seeking`` flag's end); stalls excluded."""
    seek_target: float | None = None
    seeking_until: float = 0.0
    stall_flags: list[tuple[float, float]] = attrs.field(factory=list)
    seeks: int = 0

    @property
    def speed(self) -> float:
        """Media seconds per true second at rate 1 (device skew and media drift)."""
        return (1.0 + self.skew_ppm * 1e-6) * (1.0 + self.media_ppm * 1e-6)

    def position(self, t: float) -> float:
        """Decoded media position at true time ``t``."""
        if not self.playing:
            return self.anchor_position
        start = max(self.anchor_t, self.blocked_until)
        if t <= start:
            return self.anchor_position
        return self.anchor_position + (t - start) / 1000.0 * self.rate * self.speed

    def advancing(self, t: float) -> bool:
        return self.playing and t >= self.blocked_until

    def perceived(self, t: float) -> float:
        """The position on screen and in the ear at ``t``."""
        position = self.position(t)
        if self.advancing(t):
            return position - self.output_latency_s * self.rate
        return position

    def buffering(self, t: float) -> bool:
        """The buffering flag: exact while seeking or starting, lagging for stalls."""
        if t < self.settled_at:
            return True
        return self.playing and any(on <= t < off for on, off in self.stall_flags)

    def _rebase(self, t: float) -> None:
        self.anchor_position = self.position(t)
        self.anchor_t = max(t, self.blocked_until) if self.playing else t

    def stall(self, t: float, duration: float, rng: random.Random) -> None:
        """A buffering stall of ``duration`` ms starting at ``t`` (if playing)."""
        if self.playing and self.advancing(t):
            self._rebase(t)
            self.blocked_until = t + duration
            lag = self.model.buffering_flag_lag_ms
            on, off = t + rng.uniform(*lag), t + duration + rng.uniform(*lag)
            self.stall_flags = [*self.stall_flags[-3:], (on, off)]

    def set_rate(self, t: float, rate: float) -> None:
        """The rate change takes effect at ``t`` (rounded to the model's quantum)."""
        quantum = self.model.rate_quantum
        if quantum > 0:
            rate = round(rate / quantum) * quantum
        self._rebase(t)
        self.rate = rate

    def landing(self, target: float) -> float:
        """Where a seek to ``target`` lands."""
        if self.keyframe_s is None:
            return target
        return math.floor(target / self.keyframe_s + 1e-9) * self.keyframe_s

    def _needs_seek(self, target: float, t: float) -> bool:
        if self.seek_target is not None and t < self.seeking_until:
            return abs(target - self.seek_target) > SEEK_EPSILON_S
        return abs(target - self.position(t)) > SEEK_EPSILON_S

    def _seek(self, target: float, t: float, rng: random.Random) -> None:
        self.seeks += 1
        self.anchor_position, self.anchor_t = self.landing(target), t
        self.seek_target = target
        self.blocked_until = self.settled_at = t + rng.uniform(*self.model.seek_latency_ms)
        self.seeking_until = self.settled_at

    def apply(self, command: PlayerCommand, t: float, rng: random.Random) -> list[PlayerAction]:
        """Carry out ``command`` at ``t``; returns the player events it causes, in order.

        A position that differs from the player's costs a seek (landing on a keyframe
        if the media has them); a play then starts after the start latency.
        """
        events: list[PlayerAction] = []
        start = rng.uniform(*self.model.start_latency_ms)
        if isinstance(command, Play):
            if self._needs_seek(command.position, t):
                self._seek(command.position, t, rng)
                events.append("seek")
            else:
                self._rebase(t)
            if not self.playing:
                events.append("play")
                self.playing = True
                self.anchor_t = t
                self.blocked_until = self.settled_at = max(self.blocked_until, t) + start
        elif isinstance(command, Pause):
            if self.playing:
                events.append("pause")
            self._rebase(t)
            self.playing = False
            if self._needs_seek(command.position, t):
                self._seek(command.position, t, rng)
                events.append("seek")
        elif isinstance(command, Seek) and self._needs_seek(command.position, t):
            self._seek(command.position, t, rng)
            if self.playing:
                self.blocked_until = self.settled_at = self.blocked_until + start
            events.append("seek")
        return events
