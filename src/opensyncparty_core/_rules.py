"""The session rules that are pure functions of their inputs.

Each function here is one rule of the specification, written so a test (or a
hypothesis property) can call it directly without building a server. The
server calls them; they never see a socket, a clock or a room object.
"""

from __future__ import annotations

import unicodedata
from typing import Literal

from ._config import Config
from ._errors import RemoteProtocolError

__all__ = [
    "DropReason",
    "check_position",
    "clean_room_name",
    "state_update_drop_reason",
]

DropReason = Literal["cooldown", "too_soon", "hls_jitter", "no_change"]


def clean_room_name(name: str | None, config: Config) -> str:
    """Room name rule: drop control characters (Unicode Cc), strip, cut, strip again.

    Missing or empty after cleaning gives ``config.default_room_name``.
    """
    if name is None:
        return config.default_room_name
    if not name.isprintable():  # fast path: most names have nothing to remove
        name = "".join(ch for ch in name if unicodedata.category(ch) != "Cc")
    name = name.strip()[: config.max_room_name_length].strip()
    return name or config.default_room_name


def check_position(position: float, field: str, config: Config) -> float:
    """Position rule: ``0 <= position <= config.max_position`` (seconds).

    Returns the position; raises :class:`RemoteProtocolError` naming ``field``,
    also for NaN and ±infinity (which the client decoder refuses before this).
    """
    if not 0 <= position <= config.max_position:
        raise RemoteProtocolError(
            f"Field '{field}' must be between 0 and {config.max_position:g} seconds"
        )
    return position


def state_update_drop_reason(
    *,
    now: int,
    position: float,
    play_state: str,
    room_position: float,
    room_play_state: str,
    last_state_ts: int,
    last_command_ts: int | None,
    config: Config,
) -> DropReason | None:
    """The ``state_update`` filters, in the specification's order.

    Returns why the update is dropped, or ``None`` if it is relayed.
    ``last_command_ts`` is ``None`` when the room never had a command.
    Boundaries: -hls_jitter_floor, -threshold and +threshold are accepted;
    a move in (-threshold, 0) is accepted.
    """
    if last_command_ts is not None and now - last_command_ts < config.command_cooldown_ms:
        return "cooldown"
    if play_state != room_play_state:
        return None
    if now - last_state_ts < config.min_state_update_interval_ms:
        return "too_soon"
    diff = position - room_position
    threshold = config.position_jitter_threshold
    if -config.hls_jitter_floor < diff < -threshold:
        return "hls_jitter"
    if 0 <= diff < threshold:
        return "no_change"
    return None
