"""Estimating the server clock from ping/pong exchanges.

Theory of operation. A client sends ``ping {client_ts}`` at local time ``t1``
and gets ``pong {server_ts}`` at local time ``t4``. The server read its clock
somewhere between the two, so with ``rtt = t4 - t1`` the sample

    offset = server_ts + 0.5 - (t1 + t4) / 2      (server clock minus local clock)

is wrong by at most ``rtt / 2 + 0.5`` ms: ``rtt / 2`` because the server's
reading may have been taken anywhere in the round trip (asymmetric paths put
it off the midpoint), and ``0.5`` because ``server_ts`` is an integer read by
truncation (the ``+ 0.5`` centres it). This is the sample's *error bound*.

Estimator (the NTP clock filter, simplified). The last ``window`` samples are
kept. A sample taken at local time ``t_i`` is carried forward to ``now`` with
the estimated skew ``s``: ``offset_i + s * (now - t_i)``, and its bound grows
with the age of the sample at the rate the skew is uncertain. The estimate is
the carried-forward offset of the sample whose bound is now smallest: the
fastest round trips carry the least delay asymmetry, so one good sample beats
an average of many poor ones (an average, like the original client's EMA,
keeps a share of every bad sample's error).

Skew. The local clock runs fast or slow against the server's by a roughly
constant ``s`` (a few to a few hundred ppm). Once the kept history spans
``min_skew_span_ms``, ``s`` is the least-squares slope of offset against local
time over the fastest sample of each eighth of the history (fast, so with
little asymmetry, yet spread over the whole span). With each of those
offsets wrong by at most its bound ``e_i``, the slope is wrong by at most
``sum(|t_i - mean(t)| * e_i) / sum((t_i - mean(t))**2)``; that is the skew
bound (capped at ``max_skew_ppm``, the assumed worst clock, which is also the
bound before there is a fit).

Error bound of the estimate. If the chosen sample ``b`` has bound ``e_b`` and
is ``age`` ms old, the true offset differs from the estimate by at most

    e_b + |s_true - s| * age  <=  e_b + skew_bound * age,

(:meth:`ClockEstimator.error_bound`), provided the true skew is within
``max_skew_ppm``. Samples are ranked by ``e_i + max(skew_bound, dispersion) *
age``, where ``dispersion`` (NTP's PHI) stands for the wander of real clocks.

Schedule. A burst of pings at start gets a first estimate quickly; after
that the interval grows by ``interval_growth`` each time a new sample moves
the estimate by less than ``stable_ms`` and falls back to the minimum when it
moves more (a path change or a clock step), so a stable link is pinged rarely
and a troubled one often.

Times here are local milliseconds as floats; nothing reads a clock.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Sequence
from typing import Any, Protocol

import attrs

__all__ = ["ClockConfig", "ClockEstimator", "ClockModel", "ClockSample"]


@attrs.frozen
class ClockSample:
    """One ping/pong exchange: local send and receive times, and the server's reading."""

    sent: float
    received: float
    server_ts: int

    @property
    def rtt(self) -> float:
        """Round-trip time in ms (local clock)."""
        return self.received - self.sent

    @property
    def local(self) -> float:
        """The local instant the sample describes: the middle of the round trip."""
        return (self.sent + self.received) / 2.0

    @property
    def offset(self) -> float:
        """Server clock minus local clock, in ms, as this sample measures it."""
        return self.server_ts + 0.5 - self.local

    @property
    def error(self) -> float:
        """Largest possible error of :attr:`offset`: half the RTT plus the server's rounding."""
        return self.rtt / 2.0 + 0.5


def _positive(_inst: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name} must be positive, got {value!r}")


@attrs.frozen(kw_only=True)
class ClockConfig:
    """Parameters of :class:`ClockEstimator` (times in ms, skews in ppm)."""

    window: int = attrs.field(default=32, validator=_positive)
    """Samples kept, for both the offset choice and the skew fit."""
    max_age_ms: float = attrs.field(default=600_000.0, validator=_positive)
    """Samples older than this are forgotten."""
    max_skew_ppm: float = attrs.field(default=500.0, validator=_positive)
    """Worst skew assumed of any clock; the skew bound before a fit exists."""
    dispersion_ppm: float = attrs.field(default=15.0, validator=_positive)
    """Least rate at which a sample's bound grows with age when ranking samples."""
    min_skew_span_ms: float = attrs.field(default=20_000.0, validator=_positive)
    """The skew is fitted once the kept samples span this long."""
    burst_count: int = attrs.field(default=4, validator=_positive)
    """Pings sent at ``burst_interval_ms`` before the adaptive schedule starts."""
    burst_interval_ms: float = attrs.field(default=250.0, validator=_positive)
    min_interval_ms: float = attrs.field(default=1_000.0, validator=_positive)
    max_interval_ms: float = attrs.field(default=8_000.0, validator=_positive)
    interval_growth: float = attrs.field(default=1.5, validator=_positive)
    stable_ms: float = attrs.field(default=2.0, validator=_positive)
    """A new sample that moves the estimate less than this counts as "stable"."""


class ClockModel(Protocol):
    """What :class:`~opensyncparty_core.SyncClient` needs of a clock estimator."""

    def add(self, sample: ClockSample) -> None:
        """Take one ping/pong exchange into account."""

    def offset(self, now: float) -> float | None:
        """Estimated server clock minus local clock at local time ``now``, or ``None``."""

    def ping_interval(self) -> float:
        """Milliseconds to wait before the next ping."""

    def best_rtt(self) -> float | None:
        """The smallest round trip among the kept samples, or ``None``."""


class ClockEstimator:
    """Server clock estimate from ping/pong samples (see the module docstring)."""

    def __init__(self, config: ClockConfig | None = None) -> None:
        self.config: ClockConfig = config if config is not None else ClockConfig()
        self._samples: collections.deque[ClockSample] = collections.deque(maxlen=self.config.window)
        self._count = 0
        self._interval = self.config.burst_interval_ms
        self.skew_ppm: float = 0.0
        """Estimated skew: how many ms the offset grows per 1e6 local ms."""
        self.skew_bound_ppm: float = self.config.max_skew_ppm
        """Largest possible error of :attr:`skew_ppm` (see the module docstring)."""

    @property
    def samples(self) -> Sequence[ClockSample]:
        """The kept samples, oldest first."""
        return tuple(self._samples)

    def add(self, sample: ClockSample) -> None:
        if sample.rtt < 0:
            return  # a clock that stepped back between ping and pong: meaningless
        before = self.offset(sample.received)
        samples = self._samples
        samples.append(sample)
        while samples and sample.received - samples[0].received > self.config.max_age_ms:
            samples.popleft()
        self._count += 1
        self._fit_skew()
        after = self.offset(sample.received)
        config = self.config
        if self._count < config.burst_count:
            self._interval = config.burst_interval_ms
        elif before is not None and after is not None and abs(after - before) < config.stable_ms:
            self._interval = min(self._interval * config.interval_growth, config.max_interval_ms)
        else:
            self._interval = config.min_interval_ms

    def ping_interval(self) -> float:
        return self._interval

    def best_rtt(self) -> float | None:
        return min((s.rtt for s in self._samples), default=None)

    def best(self, now: float) -> ClockSample | None:
        """The sample the estimate at ``now`` rests on: the smallest bound once carried to now."""
        rate = max(self.skew_bound_ppm, self.config.dispersion_ppm) * 1e-6
        return min(self._samples, key=lambda s: s.error + rate * abs(now - s.local), default=None)

    def offset(self, now: float) -> float | None:
        best = self.best(now)
        if best is None:
            return None
        return best.offset + self.skew_ppm * 1e-6 * (now - best.local)

    def error_bound(self, now: float) -> float | None:
        """Largest possible error (ms) of :meth:`offset` at ``now``; ``None`` without samples."""
        best = self.best(now)
        if best is None:
            return None
        return best.error + self.skew_bound_ppm * 1e-6 * abs(now - best.local)

    def _fit_skew(self) -> None:
        config = self.config
        samples = self._samples
        if not samples or samples[-1].local - samples[0].local < config.min_skew_span_ms:
            self.skew_ppm, self.skew_bound_ppm = 0.0, config.max_skew_ppm
            return
        # The fastest exchange of each of up to eight stretches of the history: fast
        # samples (little asymmetry) that still span the whole history.
        ordered = list(samples)
        size = max(1, len(ordered) // 8)
        fastest = [
            min(ordered[i : i + size], key=lambda s: s.rtt) for i in range(0, len(ordered), size)
        ]
        mean_t = math.fsum(s.local for s in fastest) / len(fastest)
        mean_o = math.fsum(s.offset for s in fastest) / len(fastest)
        sxx = math.fsum((s.local - mean_t) ** 2 for s in fastest)
        if sxx <= 0.0:
            self.skew_ppm, self.skew_bound_ppm = 0.0, config.max_skew_ppm
            return
        slope = math.fsum((s.local - mean_t) * (s.offset - mean_o) for s in fastest) / sxx
        bound = math.fsum(abs(s.local - mean_t) * s.error for s in fastest) / sxx
        limit = config.max_skew_ppm
        # Clamping to the assumed worst clock can only move the estimate towards the truth.
        self.skew_ppm = max(-limit, min(limit, slope * 1e6))
        self.skew_bound_ppm = min(bound * 1e6, 2 * limit)
