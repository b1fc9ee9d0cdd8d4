"""The host's rebuffering as room state.

Theory of operation. While the host's player stalls (buffering while it
should play), its picture stands still and every viewer that plays on gets
ahead of it by the stall's length, until the host's next ``state_update``
a second after it resumes. So the host announces the stall as room state:
a ``state_update`` saying ``paused`` where its picture froze, and on resuming
one saying ``playing`` from where it resumed, both stamped with
``at_server_ts``. The server relays any change of ``play_state`` (outside
its cooldown after a command) and keeps it as the room's state; our viewers
hold while the host rebuffers.

A stall is only a stall once the player has played since the last command:
the buffering of a start or a seek is the command's, not a stall.

Rules of this module: pure state, no clock read, no message built.
"""

from __future__ import annotations

import attrs

from ._sync_values import PlayerStatus

__all__ = ["HostStall", "StallChange"]


@attrs.frozen
class StallChange:
    """What to announce: the host's ``position`` held at local ``sampled_at``; ``playing``
    is ``False`` as a stall begins and ``True`` as it ends."""

    position: float
    playing: bool
    sampled_at: float


@attrs.define
class HostStall:
    """Whether the host's player is stalled, from its reports."""

    armed: bool = False
    """The player has played since the last command: buffering now is a stall."""
    stalled: bool = False
    """A stall was announced and its end was not."""

    def reset(self) -> None:
        """A command moved the player: its buffering is the command's, not a stall."""
        self.armed = self.stalled = False

    def observe(self, status: PlayerStatus, now: float) -> StallChange | None:
        """The host player's report at ``now``: the stall that begins or ends with it."""
        sampled = now if status.sampled_at is None else min(status.sampled_at, now)
        if status.paused:
            self.armed = False
            return None
        if not status.buffering:
            self.armed = True
            if not self.stalled:
                return None
            self.stalled = False
            # What the user sees: the decoded position minus the output latency.
            presented = status.position - status.output_latency * status.rate
            return StallChange(presented, True, sampled)
        if not self.armed or self.stalled:
            return None
        self.stalled = True
        # Standing still, the picture shows the decoded position.
        return StallChange(status.position, False, sampled)
