"""Host handover: the room's policy when the host leaves for good, and ``transfer_host``."""

from __future__ import annotations

import attrs
import pytest

from opensyncparty_core import (
    CloseOnHostLeave,
    Config,
    TransferToLongestPresent,
)
from tests.core.harness import (
    EVERY_CHANGE,
    codes,
    create_room,
    join_room,
    leave_room,
    party,
    player_event,
    received,
    state_update,
    transfer_host,
    types,
    wire,
)

TRANSFER = attrs.evolve(EVERY_CHANGE, handover_policy=TransferToLongestPresent())
GRACE = Config().resume_grace_ms


def test_policies_pick_no_one_or_the_first_candidate() -> None:
    assert CloseOnHostLeave().successor(["a", "b"]) is None
    assert TransferToLongestPresent().successor(["a", "b"]) == "a"


def test_transfer_policy_hands_the_room_to_the_longest_present_member_on_leave() -> None:
    p = party(TRANSFER)
    room, host, (first, second) = p.room_with(2)
    out = p.send(host, leave_room())
    assert types(out) == ["client_left", "host_changed", "room_list"]
    assert [o.recipients for o in out[:2]] == [(first, second), (first, second)]
    assert wire(out[1]) == {
        "type": "host_changed",
        "room": room,
        "payload": {"host_id": first},
        "ts": p.now,
        "server_ts": p.now,
    }
    assert p.server.room(room).host_id == first


def test_transfer_policy_applies_when_the_grace_period_ends() -> None:
    p = party(TRANSFER)
    room, host, (guest,) = p.room_with(1)
    p.disconnect(host)
    assert p.server.room(room).host_id == host
    p.advance(GRACE)
    out = p.timer()
    assert types(out) == ["client_left", "host_changed", "room_list"]
    assert p.server.room(room).host_id == guest


def test_transfer_prefers_a_connected_member_to_an_away_one() -> None:
    p = party(TRANSFER)
    room, host, (away, present) = p.room_with(2)
    p.disconnect(away)
    p.send(host, leave_room())
    assert p.server.room(room).host_id == present


def test_close_policy_is_the_default_and_closes_the_room() -> None:
    assert Config().handover_policy == CloseOnHostLeave()
    p = party()
    room, host, (guest,) = p.room_with(1)
    out = p.send(host, leave_room())
    assert types(out) == ["room_closed", "room_list"]
    assert room not in p.server.room_ids
    assert p.server.room_of(guest) is None


@pytest.mark.parametrize(
    ("default", "asked", "closes"),
    [(Config(), "transfer", False), (TRANSFER, "close", True)],
)
def test_create_room_may_choose_the_policy_of_its_room(
    default: Config, asked: str, closes: bool
) -> None:
    p = party(default)
    host = p.connect()
    room = p.create(host, handover=asked)
    guest = p.connect()
    p.send(guest, join_room(room))
    p.send(host, leave_room())
    assert (room not in p.server.room_ids) is closes


def test_an_unknown_policy_name_is_an_invalid_field() -> None:
    p = party()
    host = p.connect()
    p.send(host, create_room(handover="vote"))
    assert codes(p.last, host) == ["INVALID_FIELD"]
    assert p.server.room_ids == ()


def test_host_transfers_explicitly_and_the_new_host_controls_playback() -> None:
    p = party()
    room, host, (guest, other) = p.room_with(2)
    out = p.send(host, transfer_host(room, other))
    assert types(out) == ["host_changed"]
    assert out[0].recipients == (host, guest, other)
    assert wire(out[0])["payload"] == {"host_id": other}
    p.send(host, player_event(room, "pause", 5))
    assert codes(p.last, host) == ["NOT_HOST"]
    out = p.send(other, player_event(room, "pause", 5))
    assert [o.recipients for o in out] == [(host, guest)]
    p.advance(3_000)
    out = p.send(other, state_update(room, 9, "playing"))
    assert [o.recipients for o in out] == [(host, guest)]


def test_transfer_host_from_a_guest_is_not_host() -> None:
    p = party()
    room, host, (guest,) = p.room_with(1)
    p.send(guest, transfer_host(room, guest))
    assert codes(p.last, guest) == ["NOT_HOST"]
    assert p.server.room(room).host_id == host


@pytest.mark.parametrize("target", ["stranger", "away", "nobody"])
def test_transfer_host_to_a_non_member_or_away_member_is_refused(target: str) -> None:
    p = party()
    room, host, (guest,) = p.room_with(1)
    targets = {"stranger": p.connect(), "away": guest, "nobody": "no-such-client"}
    p.disconnect(guest)
    p.send(host, transfer_host(room, targets[target]))
    assert codes(p.last, host) == ["TRANSFER_TARGET_INVALID"]
    assert p.server.room(room).host_id == host


def test_transfer_host_to_oneself_changes_nothing() -> None:
    p = party()
    room, host, _ = p.room_with(1)
    assert p.send(host, transfer_host(room, host)) == []
    assert p.server.room(room).host_id == host


def test_joiner_after_a_handover_sees_the_new_host() -> None:
    p = party()
    room, host, (guest,) = p.room_with(1)
    p.send(host, transfer_host(room, guest))
    joiner = p.connect()
    (state,) = [
        m for m in received(p.send(joiner, join_room(room)), joiner) if m["type"] == "room_state"
    ]
    assert state["payload"]["host_id"] == guest
