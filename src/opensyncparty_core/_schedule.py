"""The room's timeline, the command waiting to run, and the echoes to expect.

Theory of operation. The room's playback is a :class:`Timeline`: position
``p`` at server time ``T``, playing or paused. A command from the server (or
a held start of this client's) becomes a :class:`Scheduled` entry: what to do,
at which server instant, and the timeline from then on. :func:`due` says
when, in local time, to run it; :func:`plan_start` decides how a play starts
from where the player holds. :class:`Echoes` recognises the player events
that our own commands cause, so they are never mistaken for the user's.

Rules of this module: pure values and functions (plus the small echo list);
no clock is read and no command is issued here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import attrs

from ._messages import PlayerAction
from ._sync_values import Pause, Play, PlayerCommand, Seek

__all__ = ["Echoes", "Scheduled", "StartPlan", "Timeline", "due", "plan_start", "start_instant"]

HELD_EXACT = 0.002
"""Seconds: a held player this close to its start position is there."""


@attrs.frozen
class Timeline:
    """The room's playback as a line: ``position`` at server time ``server_ts``."""

    position: float
    server_ts: float
    playing: bool

    def at(self, server_now: float) -> float:
        """The position at server time ``server_now`` (never before ``server_ts``)."""
        if not self.playing or server_now <= self.server_ts:
            return self.position
        return self.position + (server_now - self.server_ts) / 1000.0

    def reaches(self, position: float) -> float:
        """The server instant at which a playing timeline reaches ``position``."""
        return self.server_ts + (position - self.position) * 1000.0

    def line(self, server_now: float) -> float:
        """The position at ``server_now`` on the timeline's line, before ``server_ts`` too:
        where a player must be to be on it once it runs."""
        if not self.playing:
            return self.position
        return self.position + (server_now - self.server_ts) / 1000.0


@attrs.frozen
class Scheduled:
    """A command waiting for its server instant."""

    action: PlayerAction
    target: float
    """Server ms at which the command takes effect (a play: its picture starts)."""
    timeline: Timeline
    """The timeline from then on."""
    held: bool = False
    """A start that waits for the player's seek to land (it re-plans once it has)."""


def start_instant(pending: Scheduled, held: float | None, max_shift: float) -> float:
    """The server instant a play's picture should start.

    A player held paused at ``held``, up to ``max_shift`` seconds off the position
    the play has at its target, starts when the timeline reaches ``held``: a little
    later if it holds ahead, a little earlier if behind, and no seek either way.
    """
    if held is None or pending.action != "play" or not pending.timeline.playing:
        return pending.target
    shift = held - pending.timeline.line(pending.target)
    if abs(shift) > max_shift:
        return pending.target
    return pending.target + shift * 1000.0


def due(
    pending: Scheduled,
    to_local: Callable[[float], float | None],
    lead_s: float,
    hold_since: float | None,
    hold_timeout_ms: float,
    start: float | None = None,
) -> float | None:
    """Local time to run ``pending``.

    A play runs early by the player's start lag ``lead_s``, so that its picture
    starts at ``start`` (see :func:`start_instant`; the target by default)
    without a seek. A held start whose player is still landing a seek (sent at
    local ``hold_since``) waits for the landing, or for ``hold_timeout_ms`` at most.
    """
    if pending.action != "play":
        return to_local(pending.target)
    local = to_local(pending.target if start is None else start)
    if local is None:
        return None
    local -= lead_s * 1000.0
    if pending.held and hold_since is not None:
        local = max(local, hold_since + hold_timeout_ms)
    return local


@attrs.frozen
class StartPlan:
    """How to start: ``play`` from ``position``, ``wait`` ``seconds`` for the
    timeline to reach a player held ahead, or ``rejoin`` (a held start further on)."""

    kind: Literal["play", "wait", "rejoin"]
    position: float = 0.0
    seconds: float = 0.0


def plan_start(
    position: float, held: float | None, tolerance: float, max_wait: float, playing: bool
) -> StartPlan:
    """How to start a play that should show ``position`` now.

    ``held`` is where the paused player holds (``None``: unknown or not paused).
    A seek is a visible hitch and may land on a keyframe elsewhere, so a player
    held a little ahead (up to ``max_wait``) waits for the timeline, and one a
    little behind (up to ``tolerance``) plays from where it is; one further
    behind rejoins with a held start rather than start late.
    """
    if held is None:
        return StartPlan("play", position)
    ahead = held - position
    if HELD_EXACT < ahead <= max_wait and playing:
        return StartPlan("wait", held, ahead)
    if -tolerance <= ahead <= HELD_EXACT:
        return StartPlan("play", held)
    if playing and ahead < 0.0:
        return StartPlan("rejoin", position)
    return StartPlan("play", position)


@attrs.frozen
class _Echo:
    action: str
    position: float
    until: float


class Echoes:
    """The player events our commands will cause, for ``window_ms`` after each."""

    def __init__(self, window_ms: float, tolerance: float, max_snap: float) -> None:
        self.window_ms = window_ms
        self.tolerance = tolerance
        self.max_snap = max_snap
        self._expected: list[_Echo] = []

    def expect(self, command: PlayerCommand, now: float) -> None:
        """``command`` was sent to the player at ``now``."""
        until = now + self.window_ms
        self._expected = [e for e in self._expected if e.until >= now]  # unreported ones expire
        actions: tuple[str, ...]
        if isinstance(command, Play):
            actions = ("play", "seek")
        elif isinstance(command, Pause):
            actions = ("pause", "seek")
        elif isinstance(command, Seek):
            actions = ("seek",)
        else:
            return
        self._expected += [_Echo(action, command.position, until) for action in actions]

    def take(self, action: str, position: float, now: float) -> bool:
        """Whether the player's ``action`` at ``position`` is an expected echo (consumed)."""
        self._expected = [e for e in self._expected if e.until >= now]
        for i, echo in enumerate(self._expected):
            # A seek may land on a keyframe before its target: the echo is reported there.
            low = echo.position - self.max_snap - self.tolerance
            if echo.action == action and low <= position <= echo.position + self.tolerance:
                del self._expected[i]
                return True
        return False
