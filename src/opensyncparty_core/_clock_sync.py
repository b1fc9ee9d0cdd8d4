"""Estimating the server clock from ping/pong exchanges.

Theory of operation. A client sends ``ping {client_ts}`` at local time ``t1``
and gets ``pong {server_ts}`` at local time ``t4``. The server read its clock
somewhere between the two, so with ``rtt = t4 - t1`` the sample

    offset = server_ts + 0.5 - (t1 + t4) / 2      (server clock minus local clock)

is wrong by at most ``rtt / 2 + 0.5`` ms: ``rtt / 2`` because the server's
reading may have been taken anywhere in the round trip (asymmetric paths put
it off the midpoint), and ``0.5`` because ``server_ts`` is an integer read by
truncation (the ``+ 0.5`` centres it). This is the sample's *error bound*.

Estimator (the NTP clock filter, with a small average). The last ``window``
samples are kept. A sample taken at local time ``t_i`` is carried forward to
``now`` with the estimated skew ``s``: ``offset_i + s * (now - t_i)``. Samples
are ranked by their bound grown with age, ``e_i + dispersion * |now - t_i|``
(``dispersion`` covers skew left uncorrected and clock wander), and the
estimate is the mean of the carried-forward offsets of the ``combine`` best
(of those that score at most ``combine_ratio`` times the best's).
The fastest round trips carry the least delay asymmetry, so a few good
samples beat an average of all of them (the original client's EMA keeps a
share of every slow sample's error); averaging a few rather than trusting one
halves the noise the best one happens to carry. ``combine = 1`` is the plain
NTP filter.

Skew. The local clock runs fast or slow against the server's by a roughly
constant ``s`` (a few to a few hundred ppm). Once the fastest half of the kept
samples spans ``min_skew_span_ms``, their least-squares slope of offset
against local time is the skew, if it stands out of the fit's noise (more
than ``skew_significance`` standard errors); otherwise the skew is taken as 0,
since extrapolating a noisy slope adds more error than it removes. With each
of those offsets wrong by at most its bound ``e_i``, the slope is wrong by at
most ``sum(|t_i - mean(t)| * e_i) / sum((t_i - mean(t))**2)``: the *skew
bound* (plus the slope itself when it was set to 0; never above what
``max_skew_ppm``, the assumed worst clock, allows).

Error bound of the estimate. If the samples used have bounds ``e_i`` and ages
``a_i``, the true offset differs from the estimate by at most

    max_i(e_i + |s_true| * rtt_i / 2 + |s_true - s| * a_i)
        <=  max_i(e_i + max_skew * rtt_i / 2) + skew_bound * max_i(a_i)

(:meth:`ClockEstimator.error_bound`), provided the true skew is within
``max_skew_ppm``; with ``combine = 1`` that is the best sample's half round
trip plus the skew accumulated since it. (The ``|s_true| * rtt_i / 2`` term is
the offset's own movement between the server's reading and the round trip's
midpoint: tiny, but a bound must hold exactly.)

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
    dispersion_ppm: float = attrs.field(default=50.0, validator=_positive)
    """Rate at which a sample's bound grows with age when ranking samples."""
    combine: int = attrs.field(default=4, validator=_positive)
    """The estimate averages this many best-ranked samples (1: the best one alone)."""
    combine_ratio: float = attrs.field(default=1.5, validator=_positive)
    """...of those whose ranking score is at most this many times the best one's."""
    skew_significance: float = attrs.field(default=3.0, validator=_positive)
    """A fitted skew is used only if this many standard errors away from 0."""
    min_skew_span_ms: float = attrs.field(default=20_000.0, validator=_positive)
    """The skew is fitted once the fastest half of the kept samples spans this long."""
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
        """The estimator's parameters."""
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
        """Take one ping/pong exchange into account, and set the next ping interval.

        A sample with a negative round trip (the local clock stepped back) is ignored.
        """
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
        """Milliseconds to wait before the next ping (short during the first burst,
        growing while new samples agree with the estimate)."""
        return self._interval

    def best_rtt(self) -> float | None:
        """The smallest round trip among the kept samples, or ``None``."""
        return min((s.rtt for s in self._samples), default=None)

    def used(self, now: float) -> list[ClockSample]:
        """The samples the estimate at ``now`` rests on, best first."""
        rate = self.config.dispersion_ppm * 1e-6

        def score(s: ClockSample) -> float:
            return s.error + rate * abs(now - s.local)

        ranked = sorted(self._samples, key=score)[: self.config.combine]
        if not ranked:
            return []
        # Only samples nearly as good as the best: one slow sample would spoil the mean.
        limit = score(ranked[0]) * self.config.combine_ratio
        return [s for s in ranked if score(s) <= limit]

    def offset(self, now: float) -> float | None:
        """Estimated server clock minus local clock (ms) at ``now``: the mean of the
        :meth:`used` samples carried forward with the skew; ``None`` without samples."""
        used = self.used(now)
        if not used:
            return None
        skew = self.skew_ppm * 1e-6
        return math.fsum(s.offset + skew * (now - s.local) for s in used) / len(used)

    def error_bound(self, now: float) -> float | None:
        """Largest possible error (ms) of :meth:`offset` at ``now``; ``None`` without samples."""
        used = self.used(now)
        if not used:
            return None
        skew_bound = self.skew_bound_ppm * 1e-6
        # The offset moves with the true skew while the server's reading is up to
        # half a round trip from the midpoint: that much is added to each sample's bound.
        worst_skew = self.config.max_skew_ppm * 1e-6
        errors = max(s.error + s.rtt / 2.0 * worst_skew for s in used)
        return errors + skew_bound * max(abs(now - s.local) for s in used)

    def _fit_skew(self) -> None:
        config = self.config
        limit = config.max_skew_ppm
        self.skew_ppm, self.skew_bound_ppm = 0.0, limit
        samples = sorted(self._samples, key=lambda s: s.rtt)
        fastest = samples[: max(3, len(samples) // 2)]
        if len(fastest) < 3:
            return
        times = [s.local for s in fastest]
        if max(times) - min(times) < config.min_skew_span_ms:
            return
        mean_t = math.fsum(times) / len(fastest)
        mean_o = math.fsum(s.offset for s in fastest) / len(fastest)
        sxx = math.fsum((t - mean_t) ** 2 for t in times)
        slope = math.fsum((s.local - mean_t) * (s.offset - mean_o) for s in fastest) / sxx
        residuals = math.fsum(
            (s.offset - mean_o - slope * (s.local - mean_t)) ** 2 for s in fastest
        )
        standard_error = math.sqrt(residuals / max(1, len(fastest) - 2) / sxx)
        worst = math.fsum(abs(s.local - mean_t) * s.error for s in fastest) / sxx * 1e6
        slope *= 1e6
        if abs(slope) <= config.skew_significance * standard_error * 1e6:
            # Not distinguishable from noise: no correction, and the truth is near.
            self.skew_bound_ppm = min(worst + abs(slope), limit)
            return
        # Clamping to the assumed worst clock can only move the estimate towards the truth.
        self.skew_ppm = max(-limit, min(limit, slope))
        self.skew_bound_ppm = min(worst, 2 * limit)
