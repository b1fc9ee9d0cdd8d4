"""Room chat, wire-compatible with the OpenWatchParty server."""

from __future__ import annotations

import attrs
import pytest

from tests.core.harness import (
    EVERY_CHANGE,
    Wire,
    chat,
    codes,
    join_room,
    party,
    received,
    types,
    wire,
)


def test_chat_goes_to_every_member_sender_included_with_sender_and_username() -> None:
    p = party()
    room, host, (guest,) = p.room_with(1)
    outsider = p.connect()
    out = p.send(guest, chat(room, "hello  there"))
    assert [o.recipients for o in out] == [(host, guest)]
    assert outsider not in out[0].recipients
    assert wire(out[0]) == {
        "type": "chat_message",
        "room": room,
        "client": guest,
        "payload": {"username": f"Guest {guest[:4]}", "text": "hello  there"},
        "ts": p.now,
        "server_ts": p.now,
    }


def test_chat_text_of_exactly_the_limit_is_accepted() -> None:
    p = party(attrs.evolve(EVERY_CHANGE, max_chat_length=5))
    room, host, _ = p.room_with(0)
    assert types(p.send(host, chat(room, "é" * 5))) == ["chat_message"]


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (chat(None, "hi"), "ROOM_REQUIRED"),
        (chat("no-such-room", "hi"), "ROOM_NOT_FOUND"),
        (chat("OTHER", "hi"), "NOT_ROOM_MEMBER"),
        (chat("ROOM", ""), "CHAT_MESSAGE_EMPTY"),
        (chat("ROOM", " \n\t "), "CHAT_MESSAGE_EMPTY"),
        (chat("ROOM", "x" * 501), "CHAT_MESSAGE_TOO_LONG"),
        (chat("ROOM", 7), "INVALID_FIELD"),
        ({"type": "chat_message", "room": "ROOM"}, "INVALID_FIELD"),
    ],
)
def test_refused_chat_gets_its_own_code_and_reaches_nobody(message: Wire, code: str) -> None:
    p = party()
    room, _host, (guest,) = p.room_with(1)
    rooms = {"ROOM": room, "OTHER": p.create(p.connect())}
    message = {**message, "room": rooms.get(str(message["room"]), message["room"])}
    out = p.send(guest, message)
    assert [o.recipients for o in out] == [(guest,)]
    assert codes(out, guest) == [code]
    joiner = p.connect()
    kinds = [m["type"] for m in received(p.send(joiner, join_room(room)), joiner)]
    assert "chat_message" not in kinds  # nothing was kept for the history either


def test_chat_counts_against_the_rate_limit() -> None:
    p = party(attrs.evolve(EVERY_CHANGE, rate_limit_burst=3))
    host = p.connect()
    room = p.create(host)
    p.send(host, chat(room, "one"))
    p.send(host, chat(room, "two"))
    p.send(host, chat(room, "three"))
    assert codes(p.last, host) == ["RATE_LIMITED"]


def test_a_joiner_gets_the_last_messages_after_its_room_state() -> None:
    p = party(attrs.evolve(EVERY_CHANGE, chat_history_size=2))
    room, host, _ = p.room_with(0)
    sent = [p.send(host, chat(room, text))[0].text for text in ("a", "b", "c")]
    joiner = p.connect()
    out = p.send(joiner, join_room(room))
    mine = [o.text for o in out if joiner in o.recipients]
    assert [wire(o)["type"] for o in out if joiner in o.recipients] == [
        "room_state",
        "chat_message",
        "chat_message",
        "room_list",
    ]
    assert mine[1:3] == sent[1:]


def test_no_history_when_the_history_size_is_zero() -> None:
    p = party(attrs.evolve(EVERY_CHANGE, chat_history_size=0))
    room, host, _ = p.room_with(0)
    p.send(host, chat(room, "gone"))
    joiner = p.connect()
    assert types(p.send(joiner, join_room(room))) == [
        "room_state",
        "participants_update",
        "room_list",
    ]
