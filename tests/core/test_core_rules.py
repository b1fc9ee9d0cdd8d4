"""The public pure rule functions, called directly (no server)."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opensyncparty_core import (
    Config,
    DropReason,
    RemoteProtocolError,
    check_position,
    clean_room_name,
    state_update_drop_reason,
)

CONFIG = Config()


@given(st.none() | st.text())
def test_clean_room_name_gives_a_short_trimmed_name_without_control_characters(
    name: str | None,
) -> None:
    cleaned = clean_room_name(name, CONFIG)
    assert 0 < len(cleaned) <= 100
    assert cleaned == cleaned.strip()
    assert not any(unicodedata.category(ch) == "Cc" for ch in cleaned)
    assert clean_room_name(cleaned, CONFIG) == cleaned


@given(st.text(st.characters(blacklist_categories=["Cc", "Zs", "Zl", "Zp", "Cs"]), min_size=1))
def test_clean_room_name_keeps_a_name_with_nothing_to_clean_up_to_100_code_points(
    name: str,
) -> None:
    assert clean_room_name(name, CONFIG) == name[:100].strip()


def test_clean_room_name_uses_the_configured_default_and_length() -> None:
    config = Config(default_room_name="Salon", max_room_name_length=3)
    assert clean_room_name(" \x07 ", config) == "Salon"
    assert clean_room_name("abcdef", config) == "abc"


@given(st.floats(0, 604_800) | st.integers(0, 604_800))
def test_check_position_accepts_zero_to_one_week(position: float) -> None:
    assert check_position(position, "payload.position", CONFIG) == position


@given(
    st.floats(max_value=0, exclude_max=True)
    | st.floats(min_value=604_800, exclude_min=True)
    | st.integers(max_value=-1)
    | st.integers(min_value=604_801)
)
def test_check_position_refuses_outside_the_range_naming_the_field(position: float) -> None:
    with pytest.raises(RemoteProtocolError, match=r"'payload\.start_pos'"):
        check_position(position, "payload.start_pos", CONFIG)


def _reason(
    *,
    now: int = 10_000,
    position: float = 100.0,
    play_state: str = "paused",
    last_state_ts: int = 0,
    last_command_ts: int | None = None,
) -> DropReason | None:
    return state_update_drop_reason(
        now=now,
        position=position,
        play_state=play_state,
        room_position=100.0,
        room_play_state="paused",
        last_state_ts=last_state_ts,
        last_command_ts=last_command_ts,
        config=CONFIG,
    )


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"last_command_ts": 8_001, "play_state": "playing"}, "cooldown"),
        ({"last_command_ts": 8_000, "position": 200.0}, None),
        # A clock reading of 0 is a time like any other, not "never".
        ({"now": 1_000, "last_command_ts": 0, "position": 200.0}, "cooldown"),
        ({"last_state_ts": 9_501, "position": 200.0}, "too_soon"),
        ({"last_state_ts": 9_501, "play_state": "playing"}, None),
        ({"last_state_ts": 9_500, "position": 200.0}, None),
        ({"position": 98.0}, None),
        ({"position": 98.001}, "hls_jitter"),
        ({"position": 99.5}, None),
        ({"position": 99.499}, "hls_jitter"),
        ({"position": 99.501}, None),
        ({"position": 100.0}, "no_change"),
        ({"position": 100.499}, "no_change"),
        ({"position": 100.5}, None),
    ],
)
def test_state_update_drop_reason_follows_the_spec_order_and_boundaries(
    kwargs: dict[str, Any], reason: DropReason | None
) -> None:
    assert _reason(**kwargs) == reason
