"""Every ``error`` payload carries a stable ``code`` beside its ``message``.

The codec's codes are checked against the protocol page's error table
(tests/docs); these are the session rules' codes, one test per reason.
"""

from __future__ import annotations

import attrs

from opensyncparty_core import decode_server_message
from tests.core.harness import (
    EVERY_CHANGE,
    Party,
    join_room,
    party,
    player_event,
    ready_msg,
    received,
)


def codes(p: Party, client_id: str) -> list[tuple[str, str]]:
    """(message, code) of each ``error`` that ``client_id`` got from the last call."""
    return [
        (m["payload"]["message"], m["payload"]["code"])
        for m in received(p.last, client_id)
        if m["type"] == "error"
    ]


def test_join_of_an_unknown_room_is_room_not_found() -> None:
    p = party()
    c = p.connect()
    p.send(c, join_room("nope"))
    assert codes(p, c) == [("Room 'nope' not found", "ROOM_NOT_FOUND")]


def test_join_of_a_full_room_is_room_full() -> None:
    p = party(attrs.evolve(EVERY_CHANGE, max_room_size=1))
    host = p.connect()
    room = p.create(host)
    c = p.connect()
    p.send(c, join_room(room))
    assert codes(p, c) == [("Room is full (1 members)", "ROOM_FULL")]


def test_room_message_for_another_room_is_not_room_member() -> None:
    p = party()
    room, _host, _ = p.room_with(0)
    c = p.connect()
    p.send(c, ready_msg(room))
    assert codes(p, c) == [(f"You are not in room '{room}'", "NOT_ROOM_MEMBER")]


def test_command_from_a_guest_is_not_host() -> None:
    p = party()
    room, _host, (guest,) = p.room_with(1)
    p.send(guest, player_event(room, "pause", 3))
    assert codes(p, guest) == [("Only the host can control playback", "NOT_HOST")]


def test_binary_frame_is_binary_not_supported() -> None:
    p = party()
    c = p.connect()
    p.last = p.server.receive_binary(c, p.now)
    assert codes(p, c) == [("Binary messages are not supported", "BINARY_NOT_SUPPORTED")]


def test_message_over_the_rate_limit_is_rate_limited() -> None:
    p = party(attrs.evolve(EVERY_CHANGE, rate_limit_burst=1))
    c = p.connect()
    p.send(c, {"type": "list_rooms"})
    p.send(c, {"type": "list_rooms"})
    assert codes(p, c) == [("Rate limit exceeded", "RATE_LIMITED")]


def test_decoded_error_keeps_its_code_and_an_old_servers_error_has_none() -> None:
    p = party()
    c = p.connect()
    p.send(c, join_room("nope"))
    assert p.last[0].message == decode_server_message(p.last[0].text)
    assert getattr(p.last[0].message, "code", None) == "ROOM_NOT_FOUND"
    old = decode_server_message('{"type":"error","payload":{"message":"x"},"ts":1,"server_ts":1}')
    assert getattr(old, "code", "missing") is None
