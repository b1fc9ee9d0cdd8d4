"""Every timing and limit of the protocol, in one frozen object."""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["Config"]


def _positive(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ValueError(f"Config.{attribute.name} must be a positive number, got {value!r}")


def _non_negative(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
        raise ValueError(f"Config.{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen(kw_only=True)
class Config:
    """Timings (milliseconds, except where the name says seconds) and limits.

    Every default is the value of the protocol specification; existing web
    clients assume them, so change them only for servers whose clients you control.
    ``Config()`` is the specification; ``attrs.evolve(Config(), ...)`` tunes it.
    """

    play_schedule_ms: int = attrs.field(default=1500, validator=_non_negative)
    """Lead time of a scheduled play: members start at ``now + play_schedule_ms``."""

    control_schedule_ms: int = attrs.field(default=300, validator=_non_negative)
    """Lead time of a relayed pause or seek."""

    max_ready_wait_ms: int = attrs.field(default=2000, validator=_non_negative)
    """Longest wait for every member's ``ready`` before a pending play is forced."""

    room_list_interval_ms: int = attrs.field(default=250, validator=_non_negative)
    """Least spacing of ``room_list`` broadcasts. Changes within it are coalesced
    into one list of the final state, sent at the end of the interval; ``0``
    broadcasts on every change. Replies (on connect, to ``list_rooms``) are never delayed."""

    min_state_update_interval_ms: int = attrs.field(default=500, validator=_non_negative)
    """Minimum spacing of relayed ``state_update`` messages that keep the play state."""

    position_jitter_threshold: float = attrs.field(default=0.5, validator=_non_negative)
    """Seconds. A forward move smaller than this is not a real change; a backward move
    between ``hls_jitter_floor`` and minus this is HLS jitter."""

    hls_jitter_floor: float = attrs.field(default=2.0, validator=_non_negative)
    """Seconds. Backward moves of this size or more are real seeks, never jitter."""

    command_cooldown_ms: int = attrs.field(default=2000, validator=_non_negative)
    """After a host command, the host's ``state_update`` messages are ignored this long."""

    max_position: float = attrs.field(default=86_400.0 * 7, validator=_positive)
    """Seconds. Largest accepted media position (one week)."""

    max_room_name_length: int = attrs.field(default=100, validator=_positive)
    """Room names are cut to this many code points."""

    max_id_length: int = attrs.field(default=64, validator=_positive)
    """Longest ``room`` id a client may send, in code points (the server's ids are
    36-character UUID4 strings). A longer one gets an ``error`` naming the field."""

    max_media_id_length: int = attrs.field(default=128, validator=_positive)
    """Longest ``payload.media_id`` a client may send, in code points (a Jellyfin item
    id is 32 hex digits). A longer one gets an ``error`` naming the field and is not stored."""

    default_room_name: str = "New Room"
    """Name given to a room whose requested name is missing or empty."""

    max_room_size: int = attrs.field(default=20, validator=_positive)
    """Members a room may hold; one more ``join_room`` gets an error."""

    rate_limit_per_second: float = attrs.field(default=30.0, validator=_positive)
    """Sustained messages per second accepted from one client (token bucket refill)."""

    rate_limit_burst: int = attrs.field(default=30, validator=_positive)
    """Token bucket size: messages a quiet client may send at once."""

    rate_limit_error_interval_ms: int = attrs.field(default=1000, validator=_non_negative)
    """At most one "Rate limit exceeded" error per client per this interval."""

    max_message_bytes: int = attrs.field(default=65_536, validator=_positive)
    """Largest text frame (bytes, after reassembly). Enforced by the transport,
    which closes the connection with code 1009 and reports a disconnect."""

    max_user_name_length: int = attrs.field(default=100, validator=_positive)
    """Display names (from ``auth``: a token's ``name`` claim or ``user_name``) are
    cut to this many code points."""

    max_protocol_version: int = attrs.field(default=1, validator=_positive)
    """Newest ``protocol_version`` an ``auth`` message may name (versions start at 1);
    any other gets an ``error``. A client that names none speaks the original protocol."""
