"""The earlier benchmark's baseline, kept under its own name: ``hybrid``.

It is *not* the upstream client (see :mod:`benchmarks.syncsim.upstream` for
that): it runs :class:`SyncClient`'s scheduling (held starts, scheduled plays
for the host too, seeks announced when the host plays again) with the
upstream's estimator and controller. It keeps one offset estimate, an
exponential moving average of ``server_ts + rtt / 2 - receive_time`` with
weight 0.4 on each new sample, and steers with ``rate = clamp(1 + 0.5 *
(expected - actual), 0.95, 1.05)`` outside a 0.04 s dead zone, seeking at
2.5 s or more. It reads the player's position as reported (no filter), does
not compensate start lag, and its host's state updates carry no timestamp of
their own. Pings every 5 s. Its figures hide most of the upstream client's
error, which is why the benchmark now reports both.
"""

from __future__ import annotations

from opensyncparty_core import ClockSample, SyncClient, SyncConfig

__all__ = ["BASELINE_CONFIG", "EmaClock", "baseline_client"]

BASELINE_CONFIG = SyncConfig(
    dead_zone_enter=0.04,
    dead_zone_exit=0.04,
    correction_time=2.0,  # rate = 1 - 0.5 * drift
    seek_threshold=2.5,
    seek_margin=0.0,
    rate_step=0.0,
    position_filter=1,
    min_observations=1,
    learn_start_lead=False,
    stamp_positions=False,
)


class EmaClock:
    """Offset as an exponential moving average of every sample (the original's estimator)."""

    def __init__(self, weight: float = 0.4, interval_ms: float = 5_000.0) -> None:
        self.weight = weight
        self.interval_ms = interval_ms
        self._offset: float | None = None
        self._rtt: float | None = None

    def add(self, sample: ClockSample) -> None:
        new = sample.server_ts + sample.rtt / 2.0 - sample.received
        old = self._offset
        self._offset = new if old is None else (1.0 - self.weight) * old + self.weight * new
        self._rtt = sample.rtt

    def offset(self, now: float) -> float | None:
        return self._offset

    def ping_interval(self) -> float:
        return self.interval_ms

    def best_rtt(self) -> float | None:
        return self._rtt


def baseline_client() -> SyncClient:
    """A :class:`SyncClient` that behaves like the original web client."""
    return SyncClient(BASELINE_CONFIG, EmaClock())
