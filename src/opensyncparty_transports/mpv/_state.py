"""What mpv has said, as a media clock and player events. No I/O: messages in, with times.

Theory of operation. mpv reports ``time-pos`` as the timestamp of the frame it
shows, so while playing the property changes once a frame, at the instant the
frame goes up (``MpvIpc`` stamps each line as it is read). The media clock at
local time ``t`` is then ``pos_i + (t - t_i) * speed`` for the latest frame
``i``; each frame gives one such line and the median over the last few is
the estimate, so one late wake-up of mpv or of this process moves it by
nothing. The reply to a ``get_property`` arrives whenever the reader gets to
it; it would add that delay to every reading, which is why nothing here asks.

Any discontinuity (pause, seek, speed change, a jump nobody announced) starts
the median afresh; until a new frame has come, the player counts as
buffering (SyncClient's "should be playing but not advancing").

Events for SyncClient: a change of ``pause`` (after its first value) is a
``play`` or ``pause`` at the frame shown while paused (an unpause shows the
next frame at once, and says so before it says it unpaused); a ``seek``
event is a ``seek``, reported at ``playback-restart`` with the position mpv
landed on.
"""

from __future__ import annotations

import collections
import statistics
from typing import Any

import attrs

from opensyncparty_core import PlayerAction, PlayerStatus

from ._ipc import finite

__all__ = ["MpvState", "PlayerReport"]

# Seconds: a frame this far from the clock's prediction is a jump (a loop, a
# chapter, a seek we missed), not jitter: mpv's frame timing is good to a few ms.
_JUMP = 0.25

OBSERVED = ("time-pos", "pause", "speed", "seeking", "paused-for-cache", "core-idle")
"""The properties :class:`MpvState` follows (``observe_property`` ids are index + 1)."""


@attrs.frozen
class PlayerReport:
    """The player played, paused or seeked, at ``position`` (seconds), local time ``at`` (ms).

    By the user or because it was told to: :class:`~opensyncparty_core.SyncClient`
    tells the two apart (pass it to ``player_event``).
    """

    action: PlayerAction
    position: float
    at: float


class MpvState:
    """mpv's playback state, fed with its IPC messages and the local time each arrived.

    :param frames: frames whose median sets the media clock.
    """

    def __init__(self, frames: int = 9) -> None:
        self.time_pos: float | None = None
        """The last ``time-pos``: the frame shown (``None`` before a file is loaded)."""
        self.paused = True
        """mpv's ``pause``."""
        self.speed = 1.0
        """mpv's ``speed`` (the playback rate)."""
        self.seeking = False
        self.paused_for_cache = False
        self.core_idle = True
        self.loaded = False
        """The file is loaded and mpv has shown its first frame."""
        self.end_reason: str | None = None
        """Why the file ended (``end-file``'s ``reason``), once it has."""
        self._frames: collections.deque[tuple[float, float]] = collections.deque(maxlen=frames)
        self._seen: set[str] = set()
        self._seek_started = False
        # The frame shown while paused: an unpause shows the next frame at once, and that
        # frame's time-pos arrives before the pause property changes.
        self._held: float | None = None
        self._time_pos_at = 0.0

    # -- reading ---------------------------------------------------------

    def position(self, now: float) -> float | None:
        """The media clock at local time ``now`` (seconds), if a file is loaded."""
        if not self._frames or self.paused:
            return self.time_pos
        speed = self.speed
        return statistics.median(p + (now - t) / 1000.0 * speed for t, p in self._frames)

    @property
    def buffering(self) -> bool:
        """Should be playing but is not advancing (seeking, starting, waiting for data)."""
        if self.paused:
            return False
        return self.seeking or self.paused_for_cache or self.core_idle or not self._frames

    def status(self, now: float) -> PlayerStatus | None:
        """The status to pass to ``SyncClient.observe``, once a file is loaded."""
        position = self.position(now)
        if position is None or not self.loaded:
            return None
        return PlayerStatus(
            position=max(0.0, position),
            paused=self.paused,
            rate=self.speed,
            buffering=self.buffering,
        )

    # -- feeding ---------------------------------------------------------

    def feed(self, message: dict[str, Any], at: float) -> list[PlayerReport]:
        """One message from mpv, read at local time ``at``; returns the events it means."""
        event = message.get("event")
        if event == "property-change":
            return self._property(str(message.get("name")), message.get("data"), at)
        if event == "seek":
            self._seek_started = True
            self._frames.clear()
        elif event == "playback-restart":
            self.loaded = True
            self._frames.clear()
            self._held = self.time_pos
            if self._seek_started and self.time_pos is not None:
                self._seek_started = False
                return [PlayerReport("seek", self.time_pos, at)]
        elif event == "end-file":
            self.end_reason = str(message.get("reason", "unknown"))
        return []

    def _property(self, name: str, value: Any, at: float) -> list[PlayerReport]:
        first = name not in self._seen
        self._seen.add(name)
        if name == "time-pos":
            self._time_pos(finite(value), at)
        elif name == "pause" and isinstance(value, bool):
            was, self.paused = self.paused, value
            self._frames.clear()
            held, self._held = self._held, self.time_pos
            if not value and held is not None and self.time_pos not in (None, held):
                # That frame went up when its time-pos came: the clock has run since.
                self._frames.append((self._time_pos_at, self.time_pos or 0.0))
            if not first and value != was and self.time_pos is not None:
                if value:
                    return [PlayerReport("pause", self.time_pos, at)]
                return [PlayerReport("play", self.time_pos if held is None else held, at)]
        elif name == "speed":
            speed = finite(value)
            if speed is not None and speed > 0 and speed != self.speed:
                # Carry the clock across: frames before the change ran at the old speed.
                now = self.position(at)
                self.speed = speed
                if self._frames and now is not None:
                    self._frames.clear()
                    self._frames.append((at, now))
        elif name == "seeking":
            self.seeking = value is True
        elif name == "paused-for-cache":
            self.paused_for_cache = value is True
        elif name == "core-idle":
            self.core_idle = value is True
        return []

    def _time_pos(self, position: float | None, at: float) -> None:
        self.time_pos = position
        self._time_pos_at = at
        if position is None:
            self._frames.clear()
            self._held = None
            return
        if self._held is None:
            self._held = position
        if self.paused or self.seeking:
            return
        predicted = self.position(at) if self._frames else None
        if predicted is not None and abs(position - predicted) > _JUMP:
            self._frames.clear()
        self._frames.append((at, position))
