"""The local player as the client sees it, and the rule that steers it.

Theory of operation. :class:`DriftController` keeps what the player reported
and what it was told, and answers three questions:

- *Where is the player?* The median of the last few observations, each carried
  forward from the instant it was sampled to ``now`` with the rates this
  client set (HLS players report positions that jitter by tens of ms; HTML5
  latches ``currentTime`` at each ``timeupdate``). Positions are the
  *presented* ones: what the user sees and hears, the decoded position minus
  the output latency the player reports.
- *What rate now?* Given the drift (player minus timeline), a proportional
  controller with hysteresis (see :class:`SyncConfig`), or "seek" when the
  drift is too large for rates to absorb.
- *What did the player teach us?* How late it starts (the start lead: plays
  run that much early), how long its seeks take and how far before their
  target they land (keyframes), learned from each landing it reports.

Rules of this module: it knows nothing of rooms, messages or the server clock;
it issues no command itself (the client does, and tells it with
:meth:`commanded`); it reads no clock.
"""

from __future__ import annotations

import bisect
import collections
import statistics

from ._sync_values import Pause, Play, PlayerCommand, PlayerStatus, Seek, SetRate, SyncConfig

__all__ = ["MAX_SNAP", "DriftController"]

# Seconds: a report this far from the filtered position is a jump, not noise
# (HLS players misreport by tens of ms, a segment boundary by a few hundred).
_JUMP = 1.0
MAX_SNAP = 10.0
"""Seconds: the most a seek is taken to land before its target (an HLS segment is 2-10 s)."""


class DriftController:
    """The local player's filtered position, its rate, and what it has taught us."""

    def __init__(self, config: SyncConfig) -> None:
        self.config = config
        self.status: PlayerStatus | None = None
        """The player's last report."""
        self.rate = 1.0
        """The rate last set."""
        self.lead = 0.0
        """Seconds a play runs early to make up for the player's start lag."""
        self.seek_time = 0.0
        """Milliseconds a seek took to land, slowly forgotten."""
        self.snap = 0.0
        """Seconds a seek landed before its target (keyframes), slowly forgotten."""
        self.hold: tuple[float, float] | None = None
        """(target, local time) of the last pause or seek not yet seen to land."""
        self._observations: collections.deque[tuple[float, float]] = collections.deque(
            maxlen=config.position_filter
        )
        self._rate_log: list[tuple[float, float]] = [(float("-inf"), 1.0)]
        self._correcting = False
        self._lead_count = 0
        self.lead_probe = False
        """A start is under way: its lag is measured at the first trusted position."""

    # -- the player's position -------------------------------------------------

    def observe(self, status: PlayerStatus, now: float) -> None:
        """Take the player's report at ``now`` into the position filter."""
        previous = self.status
        self.status = status
        if (
            previous is None
            or status.paused
            or status.buffering
            or previous.paused != status.paused
            or previous.buffering != status.buffering
        ):
            # A discontinuity: positions before it say nothing about positions after.
            self._observations.clear()
        if not status.paused and not status.buffering:
            # What the user sees, when it was sampled: carried forward like any observation.
            sampled = now if status.sampled_at is None else min(status.sampled_at, now)
            presented = status.position - status.output_latency * status.rate
            predicted = self.position(now)
            if (
                predicted is not None
                and abs(presented + self.advance(sampled, now) - predicted) > _JUMP
            ):
                self._observations.clear()  # a seek nobody told us about
            self._observations.append((sampled, presented))
        if self._lead_count == 0 and self.config.learn_start_lead:
            # Before any start was measured, the output latency is the least the lead is.
            self.lead = min(max(status.output_latency, 0.0), self.config.max_start_lead)

    def position(self, now: float) -> float | None:
        """The filtered presented position at ``now``, if there is one."""
        status = self.status
        if status is None or status.paused or status.buffering:
            return None if status is None else status.position
        if len(self._observations) < min(self.config.min_observations, self.config.position_filter):
            return None
        return statistics.median(p + self.advance(t, now) for t, p in self._observations)

    def decoded(self, now: float) -> float | None:
        """The filtered position as the player counts it (output latency added back)."""
        here = self.position(now)
        status = self.status
        if here is None or status is None or status.paused:
            return here
        return here + status.output_latency * status.rate

    def advance(self, since: float, now: float) -> float:
        """Media seconds played from local ``since`` to ``now`` at the rates set."""
        log = self._rate_log
        i = max(0, bisect.bisect_right(log, (since, float("inf"))) - 1)
        total = 0.0
        start = since
        while i < len(log):
            rate = log[i][1]
            end = log[i + 1][0] if i + 1 < len(log) else now
            end = min(end, now)
            if end > start:
                total += (end - start) * rate
                start = end
            i += 1
        return total / 1000.0

    def forget(self) -> None:
        """The user moved the player: reports so far are void."""
        self._observations.clear()

    # -- commands --------------------------------------------------------------

    def commanded(self, command: PlayerCommand, now: float) -> None:
        """The client told the player ``command`` at ``now``."""
        if isinstance(command, (Pause, Seek)):
            self.hold = (command.position, now)
        elif isinstance(command, Play):
            self.hold = None
            self.lead_probe = self.config.learn_start_lead
        self._observations.clear()
        self._correcting = False

    def set_rate(self, rate: float, now: float) -> list[SetRate]:
        """The command to set ``rate``, if it is not the rate already."""
        if rate == self.rate:
            return []
        # Keep the observations' positions comparable: they are carried forward with this log.
        self.rate = rate
        self._rate_log.append((now, rate))
        if len(self._rate_log) > 64:
            del self._rate_log[:-32]
        return [SetRate(rate, now)]

    def stop_correcting(self) -> None:
        self._correcting = False

    def correction(self, drift: float, now: float) -> list[SetRate] | None:
        """The rate change ``drift`` (seconds, positive ahead) calls for; ``None``: seek.

        Outside a correction nothing happens until ``|drift| > dead_zone_enter``;
        a correction sets ``1 - drift / correction_time`` (clamped) and ends once
        ``|drift| < dead_zone_exit``.
        """
        config = self.config
        if abs(drift) >= config.seek_threshold:
            return None
        if not self._correcting:
            if abs(drift) <= config.dead_zone_enter:
                return []
            self._correcting = True
        if abs(drift) < config.dead_zone_exit:
            self._correcting = False
            return self.set_rate(1.0, now)
        # Rounded (players keep a few digits anyway) before clamping, so bounds hold exactly.
        rate = round(1.0 - drift / config.correction_time, 4)
        rate = min(max(rate, config.min_rate), config.max_rate)
        if abs(rate - self.rate) < config.rate_step:
            return []
        return self.set_rate(rate, now)

    # -- learning --------------------------------------------------------------

    def measure_start(self, drift: float) -> None:
        """The start under way landed ``drift`` ahead of the timeline: learn the lead."""
        self.lead_probe = False
        if abs(drift) < self.config.seek_threshold:
            # A running mean of the lags seen, then a slow average that can follow change.
            self._lead_count += 1
            gain = max(1.0 / self._lead_count, 0.2)
            lead = self.lead - gain * drift
            self.lead = min(max(lead, 0.0), self.config.max_start_lead)

    def learn_landing(self, status: PlayerStatus, now: float) -> bool:
        """A paused player reports where the last pause or seek landed: learn how long
        seeks take and how far before their target they land. Whether it had landed."""
        hold = self.hold
        if hold is None or not status.paused or status.buffering:
            return False
        target, since = hold
        sampled = now if status.sampled_at is None else status.sampled_at
        snap = target - status.position
        if sampled <= since or not -self.config.echo_tolerance <= snap <= MAX_SNAP:
            return False  # a report from before the command, or not this command's landing
        self.hold = None
        self.seek_time = max(now - since, 0.8 * self.seek_time)
        self.snap = max(min(snap, MAX_SNAP), 0.8 * self.snap, 0.0)
        return True
