"""Host handover: what a room does when its host leaves for good.

A policy is a small frozen object with one method, :meth:`HandoverPolicy.successor`:
given the members who remain, it names the new host, or ``None`` to close the
room. :class:`CloseOnHostLeave` is the original design (and the default);
:class:`TransferToLongestPresent` keeps the party going. The server picks one
per room: ``create_room`` may ask by name, else ``Config.handover_policy``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar, Literal, TypeAlias

import attrs

__all__ = [
    "HANDOVER_POLICIES",
    "CloseOnHostLeave",
    "HandoverName",
    "HandoverPolicy",
    "TransferToLongestPresent",
]

HandoverName: TypeAlias = Literal["close", "transfer"]


@attrs.frozen
class HandoverPolicy:
    """Base class of handover policies; subclasses set :attr:`name` and :meth:`successor`."""

    name: ClassVar[HandoverName]
    """How ``create_room``'s ``payload.handover`` names this policy."""

    def successor(self, candidates: Sequence[str]) -> str | None:
        """The member who becomes host, or ``None`` to close the room.

        ``candidates`` are the remaining members, connected ones first, each
        group in join order (longest present first); never empty.
        """
        raise NotImplementedError


@attrs.frozen
class CloseOnHostLeave(HandoverPolicy):
    """The room closes (``room_closed`` to every member), as in the original design."""

    name: ClassVar[HandoverName] = "close"

    def successor(self, candidates: Sequence[str]) -> str | None:
        return None


@attrs.frozen
class TransferToLongestPresent(HandoverPolicy):
    """The longest-present connected member becomes host (``host_changed``)."""

    name: ClassVar[HandoverName] = "transfer"

    def successor(self, candidates: Sequence[str]) -> str | None:
        return candidates[0]


HANDOVER_POLICIES: Mapping[HandoverName, HandoverPolicy] = {
    "close": CloseOnHostLeave(),
    "transfer": TransferToLongestPresent(),
}
"""The policies ``create_room`` may name, by name."""
