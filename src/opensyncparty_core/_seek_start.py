"""A host's seek while playing, started together at an instant the seek announces.

Theory of operation. Without this, the room holds at the seek's target until
the host's player has landed there, and then the host sends a ``play``, which
the server schedules ``play_schedule_ms`` (1.5 s) ahead: every member plays
about two seconds after the key press, whatever the players can do.

With it, the host picks the instant ``S`` at the click: its server clock
estimate plus ``SyncConfig.seek_start_ms`` (long enough for the seek to reach
the viewers and a typical seek to land). It sends the seek with
``play_state: "playing"`` and ``at_server_ts: S``: the room's timeline plays
``position`` at ``S``. Every member, the host included, seeks to ``position``
at once, holds there paused, and plays when the timeline reaches where its
player landed: at ``S`` itself for a player that lands exactly. A player that
lands after ``S`` (or before the target, on a keyframe too far back) is past
its start: it rejoins the moving timeline ahead, as any held start does.

What other clients see. The server relays the seek with every payload key and
its own ``target_server_ts`` (``now + control_schedule_ms``). The upstream web
client seeks to ``position`` at that target and plays on (``play_state``
"playing"): it lands about its seek time later, near ``S``, and the host's
next ``state_update`` settles the rest. An earlier version of this client
reads ``at_server_ts`` as the instant ``position`` held on the host (a future
one here) and starts on the same timeline, with its own held start.

Rules of this module: pure functions of their arguments; no clock is read and
no command is issued here (``SyncClient`` does both).
"""

from __future__ import annotations

from ._messages import PlayerEvent
from ._schedule import Timeline
from ._sync_values import SyncConfig

__all__ = ["announced_start", "seek_start", "start_missed", "starts_together"]

# Seconds: a host player whose seeks land this far before their target snaps to
# keyframes; it announces a held seek instead, and a play from where it landed.
SNAPPING = 0.05


def starts_together(config: SyncConfig, host_snap: float) -> bool:
    """Whether the host's seek while playing announces its start instant.

    Not when it is switched off (``seek_start_ms`` 0), when seeks carry no stamp,
    or when the host's own player lands its seeks on keyframes (``host_snap``
    seconds before the target, learned): the room would start where the host does
    not, so it waits for the host's landing and a scheduled play instead.
    """
    return config.seek_start_ms > 0.0 and config.stamp_positions and host_snap < SNAPPING


def seek_start(
    position: float, server_now: float, config: SyncConfig, seek_time_ms: float, lead_s: float
) -> Timeline:
    """The timeline a host's seek to ``position`` at server time ``server_now`` announces.

    It starts ``seek_start_ms`` later, or later still if this host's own player needs
    longer: its seeks took ``seek_time_ms`` to land (learned, with half again for the
    spread, as held starts allow) and its plays run ``lead_s`` early. A host that landed
    after its own start would have to rejoin its own timeline.
    """
    hold = max(config.seek_start_ms, seek_time_ms * 1.5 + 200.0) + lead_s * 1000.0
    return Timeline(position, server_now + hold, True)


def start_missed(timeline: Timeline, landed: float, server_now: float, lead_s: float) -> bool:
    """Whether a player that landed at ``landed`` is too late to start on ``timeline``.

    It would start when the timeline reaches ``landed`` (a play runs ``lead_s`` early):
    that instant is past for a seek that landed late, or on a keyframe well before
    the target. A viewer then rejoins the timeline ahead; the host, whose start is
    the room's reference, plays from where it landed instead (a scheduled play).
    """
    return timeline.reaches(landed) < server_now + lead_s * 1000.0


def announced_start(message: PlayerEvent, server_now: float | None) -> Timeline | None:
    """The timeline a relayed seek announces, if it plays from a start still to come.

    That is a seek with ``play_state`` "playing" and an ``at_server_ts`` later than
    ``server_now``; any other seek (a paused one, an old host's, one that arrived
    after its start) is a plain seek, scheduled at its ``target_server_ts``.
    """
    if message.action != "seek" or message.position is None or server_now is None:
        return None
    stamp = message.payload.get("at_server_ts")
    if message.payload.get("play_state") != "playing":
        return None
    if not isinstance(stamp, (int, float)) or isinstance(stamp, bool) or stamp <= server_now:
        return None
    return Timeline(message.position, float(stamp), True)
