"""When and where a viewer pauses, and how a seek back that snapped is undone.

Theory of operation. The host's player pauses or seeks at its user's click,
a trip before the server relays the command with a target 300 ms later:
waiting for that target would let a viewer play on past the host's picture.
So a seek runs on receipt, and a pause when the player reaches the pause
position (at once if it is past it). A player that seeks to keyframes (HLS)
cannot seek back to that position, it would land up to a segment before:
it pauses where it is; and one whose seek back did land before the position
plays on to it and pauses there.

Rules of this module: pure functions of what the client knows; no clock is
read and no command is issued here.
"""

from __future__ import annotations

from ._messages import PlayerAction

__all__ = ["SNAPPING", "command_instant", "pause_instant", "pause_position", "walk_instant"]

SNAPPING = 0.05
"""Seconds: seeks that land this far before their target mean a player that snaps to keyframes."""


def pause_instant(
    target: float, server_now: float, decoded: float, position: float, rate: float, max_wait: float
) -> float:
    """The server instant a playing player should pause for a room that pauses at
    ``position`` from ``target`` on.

    Every millisecond it plays on after ``position`` is a millisecond ahead of
    the host's picture, so it pauses when its ``decoded`` position reaches
    ``position`` (at once if past it), not at ``target``. One more than
    ``max_wait`` seconds behind pauses at ``target`` (and seeks).
    """
    behind = position - decoded
    if behind > max_wait:
        return target
    return server_now + max(0.0, behind) / max(rate, 0.01) * 1000.0


def command_instant(
    action: PlayerAction,
    target: float,
    server_now: float | None,
    decoded: float | None,
    position: float | None,
    rate: float,
    max_wait: float,
) -> float:
    """The server instant to run a command with server target ``target``.

    A play runs at its target; a seek on receipt (``server_now``); a pause on a
    playing player whose ``decoded`` position is known at :func:`pause_instant`,
    on a paused or unknown one on receipt. Never after the target but for a
    pause whose player is a little behind ``position``.
    """
    if action == "play" or server_now is None:
        return target
    if action == "seek" or decoded is None or position is None:
        return min(target, server_now)
    return pause_instant(target, server_now, decoded, position, rate, max_wait)


def pause_position(
    position: float, here: float | None, snap: float, tolerance: float, max_ahead: float
) -> float:
    """Where a playing player at ``here`` pauses for a room paused at ``position``.

    A player that snaps its seeks by ``snap`` seconds (keyframes) pauses where it
    is if that is up to ``tolerance`` behind or ``max_ahead`` ahead (the next start
    waits for the timeline to get there); any other seeks to ``position``.
    """
    if here is None or snap < SNAPPING:
        return position
    if -tolerance <= here - position < max_ahead:
        return here
    return position


def walk_instant(
    landed: float, position: float, server_now: float, lead: float, max_snap: float
) -> float | None:
    """A seek back to the pause ``position`` landed at ``landed``, before it (a keyframe):
    the server instant the player, played from there now, reaches it and pauses
    (``lead``: its start lag); ``None`` if it landed close enough or not before it."""
    behind = position - landed
    if not SNAPPING <= behind <= max_snap:
        return None
    return server_now + (lead + behind) * 1000.0
