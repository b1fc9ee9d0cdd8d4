"""The values :class:`~opensyncparty_core.SyncClient` takes and returns, and its config.

Shared by the client's parts (``_sync_clock``, ``_drift``, ``_schedule``) and the
client itself; the public names are exported from the package.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import attrs

from ._config import Config
from ._messages import Ping, PlayerEvent, Ready, StateUpdate

__all__ = [
    "Pause",
    "Play",
    "PlayerCommand",
    "PlayerStatus",
    "Seek",
    "SetRate",
    "SyncConfig",
    "SyncOutput",
]

# --------------------------------------------------------------------------
# Values in and out
# --------------------------------------------------------------------------


@attrs.frozen
class Play:
    """Start playing from ``position`` (seconds) at local instant ``at``."""

    position: float
    at: float


@attrs.frozen
class Pause:
    """Pause at ``position`` (seconds; seek there if the player is elsewhere) at ``at``."""

    position: float
    at: float


@attrs.frozen
class Seek:
    """Jump to ``position`` (seconds) at ``at``, keeping the play/pause state."""

    position: float
    at: float


@attrs.frozen
class SetRate:
    """Set the playback rate (1.0 is normal speed) at ``at``."""

    rate: float
    at: float


PlayerCommand: TypeAlias = Play | Pause | Seek | SetRate
"""An action for the local player."""

SyncOutput: TypeAlias = PlayerCommand | Ping | Ready | PlayerEvent | StateUpdate
"""What :class:`SyncClient` methods return: player commands and messages to send."""


@attrs.frozen
class PlayerStatus:
    """What the player reports.

    ``buffering`` means "should be playing but not advancing": stalled, seeking
    or starting (HTML5 ``waiting`` / ``seeking``).
    """

    position: float
    paused: bool
    rate: float = 1.0
    buffering: bool = False
    sampled_at: float | None = None
    """Local time (ms, the clock of ``now``) at which ``position`` was read, if not ``now``.

    Players latch their position: HTML5's ``currentTime`` moves at each ``timeupdate``
    (every 250 ms in most browsers), mpv's ``time-pos`` at each property change. Pass the
    instant of that update (the event's time) and the client carries the position forward
    to ``now``; leave it ``None`` when the position is fresh."""
    output_latency: float = 0.0
    """Seconds between the decoded ``position`` and what the user sees and hears (audio
    output latency, e.g. mpv's ``audio-device-latency`` or Web Audio's ``outputLatency``).
    The client keeps the *presented* position on the room's timeline: what the user sees
    is ``position - output_latency`` while playing."""


def _rate_bound(_inst: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0.0:
        raise ValueError(f"SyncConfig.{attribute.name} must be positive, got {value!r}")


@attrs.frozen(kw_only=True)
class SyncConfig:
    """Behaviour of :class:`SyncClient` (seconds for positions, ms for times).

    The drift controller. ``drift`` is the estimated player position minus the
    timeline's, positive when ahead. Outside a correction, nothing happens
    until ``|drift| > dead_zone_enter``; a correction sets the rate to
    ``1 - drift / correction_time`` (clamped to ``[min_rate, max_rate]``), a
    proportional controller that removes drift with time constant
    ``correction_time``, and ends once ``|drift| < dead_zone_exit``. At
    ``|drift| >= seek_threshold`` it seeks instead.

    Why these defaults. The hysteresis (enter at 20 ms, exit at 5 ms) keeps
    the rate at exactly 1.0 most of the time, yet ends each correction near
    zero instead of at the edge of the dead zone as a single 40 ms zone does.
    A 1 s time constant with a 7-sample median position filter (about 1.75 s
    of reports at 4 Hz, carried forward with the commanded rate so the filter
    adds no lag to the loop) corrects in a few seconds without overshoot.
    Rates stay within ±5%, where pitch-preserving playback is not noticed. A
    seek (done as a held start, see ``seek_margin``) freezes the picture for
    about half a second and skips content, so it is kept for drifts that
    nudging would take over 10 s to absorb (0.5 s at 5%): in practice the
    aftermath of a buffering stall. The original's 2.5 s left a viewer off
    by up to 2.5 s for up to 50 s. Measured in ``benchmarks/sync_accuracy.py``.
    """

    dead_zone_enter: float = 0.020
    dead_zone_exit: float = 0.005
    correction_time: float = attrs.field(default=1.0, validator=_rate_bound)
    min_rate: float = attrs.field(default=0.95, validator=_rate_bound)
    max_rate: float = attrs.field(default=1.05, validator=_rate_bound)
    seek_threshold: float = 0.5
    seek_margin: float = 0.5
    """A seek while playing waits paused this far ahead and plays when the timeline
    gets there, so the player's seek time (if shorter) costs no accuracy. 0: plain seek."""
    rate_step: float = 0.002
    """Smaller rate changes are not sent (players round rates anyway)."""
    position_filter: int = attrs.field(default=7, validator=_rate_bound)
    """Observations whose median estimates the player position (1: trust the last one)."""
    min_observations: int = attrs.field(default=3, validator=_rate_bound)
    """Observations needed after a play, seek or stall before the position is trusted."""
    start_tolerance: float = 0.1
    """A held player this little behind its start position plays from where it is (the
    rate catches up) rather than seek: a seek is a visible hitch."""
    learn_start_lead: bool = True
    """Measure how late the player starts and aim that far ahead next time."""
    max_start_lead: float = 1.0
    stamp_positions: bool = True
    """Add ``at_server_ts`` to this host's seeks and state updates (see the module docstring)."""
    announce_stalls: bool = True
    """Host: announce a rebuffering stall as a ``paused`` ``state_update`` where the picture
    froze, and its end as a ``playing`` one, so viewers hold while the host rebuffers."""
    state_update_interval_ms: float = 1_000.0
    """Host: least spacing of ``state_update`` messages while playing."""
    state_update_min_advance: float = 0.6
    """Host: least position advance between updates; the server drops advances under 0.5 s."""
    join_wait_ms: float = 1_500.0
    """A viewer joining a playing room whose ``room_state`` has no ``state.server_ts``
    (an old server) waits this long for the host's next ``state_update`` (fresh and
    stamped) before starting from ``room_state``; with the stamp it starts at once."""
    seek_announce_timeout_ms: float = 3_000.0
    """Host: a seek while playing is announced at once (the room holds at the target) and
    followed by a play from where this host's seek landed, or after this long regardless."""
    seek_start_ms: float = 800.0
    """Host: a seek while playing announces that the room plays its target this long
    (server ms) after the click; every member seeks at once, holds, and starts then
    (see ``_seek_start``). 0: the room holds until this host's seek lands, then plays
    (``play_schedule_ms`` later)."""
    echo_window_ms: float = 2_000.0
    """A player event this soon after a matching command is its echo."""
    echo_tolerance: float = 1.0
    """Seconds between a command's position and its echo's."""
    server: Config = attrs.field(factory=Config)
    """The server's timings (play lead, cooldown) this client plans around."""

    def __attrs_post_init__(self) -> None:
        if not self.min_rate <= 1.0 <= self.max_rate:
            raise ValueError("SyncConfig needs min_rate <= 1.0 <= max_rate")
        if not 0.0 <= self.dead_zone_exit <= self.dead_zone_enter:
            raise ValueError("SyncConfig needs 0 <= dead_zone_exit <= dead_zone_enter")
