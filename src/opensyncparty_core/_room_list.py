"""When the room list goes out: a coalescing deadline, sans-IO.

Every create, join, leave and disconnect changes the room list, and every
connected client wants the new list. Sending it on each change costs
O(clients x changes) frames while a party is being seated, and nobody reads
the intermediate lists: clients treat ``room_list`` as a snapshot. So a change
only marks the list dirty, and the list is sent

- at once if no list was broadcast during the last ``interval_ms`` (a lone
  change is not delayed);
- otherwise at the deadline ``last broadcast + interval_ms``, with the state
  of that moment.

Hence at most one broadcast per interval, and the last broadcast after the
last change always carries the final state. This object only decides *when*;
the session server builds and addresses the list. It knows nothing of rooms.
"""

from __future__ import annotations

import attrs

__all__ = ["RoomListCoalescer"]


@attrs.define
class RoomListCoalescer:
    """The broadcast schedule of ``room_list``: dirty flag plus last broadcast time."""

    interval_ms: int
    """Least spacing of two broadcasts; ``0`` sends one per change."""
    dirty: bool = False
    """The room list changed since the last broadcast."""
    sent_at: int | None = None
    """Clock reading of the last broadcast, ``None`` before the first."""

    def changed(self, now: int) -> bool:
        """The room list changed at ``now``; True if it must be broadcast now."""
        self.dirty = True
        return self.due(now)

    def due(self, now: int) -> bool:
        """True if a broadcast is owed and may go out at ``now``."""
        if not self.dirty:
            return False
        sent_at = self.sent_at
        # A clock stepping back would otherwise hold the list until it caught up.
        return sent_at is None or now < sent_at or now - sent_at >= self.interval_ms

    def deadline(self) -> int | None:
        """When the owed broadcast may go out, or ``None`` if none is owed."""
        if not self.dirty or self.sent_at is None:
            return None
        return self.sent_at + self.interval_ms

    def sent(self, now: int) -> None:
        """The current list was broadcast at ``now``."""
        self.dirty = False
        self.sent_at = now
