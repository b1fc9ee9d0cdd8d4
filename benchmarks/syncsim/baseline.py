"""The original web client's algorithm, on the same engine, for comparison.

The original client kept one offset estimate, an exponential moving average
of ``server_ts + rtt / 2 - receive_time`` with weight 0.4 on each new sample,
and steered with ``rate = clamp(1 + 0.5 * (expected - actual), 0.95, 1.05)``
outside a 0.04 s dead zone, seeking at 2.5 s or more. It read the player's
position as reported (no filter), did not compensate start lag, and its
host's state updates carried no timestamp of their own. Its ping interval is
not in the design notes; 5 s is assumed.
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
