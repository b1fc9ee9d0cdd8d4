"""Spec sections 2, 3, 5 (connect, rooms, leave, ping) and 8 (points 7, 8, 10, 11, 13-16)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from opensyncparty_core import LocalProtocolError, seeded_uuid4s
from tests.core.harness import (
    SEED,
    T0,
    create_room,
    errors,
    join_room,
    leave_room,
    party,
    player_event,
    ready_msg,
    received,
    state_update,
    types,
    wire,
)

# --------------------------------------------------------------------------
# connect, list_rooms
# --------------------------------------------------------------------------


def test_connect_sends_client_hello_then_room_list_to_the_new_client() -> None:
    p = party(SEED, seed=7)
    first = p.connect()
    room = p.create(first, name="A", media_id="m")
    p.advance(10)
    client = p.connect()
    ids = seeded_uuid4s(7)
    assert [first, room, client] == [ids(), ids(), ids()]
    hello, listing = p.last
    assert hello.recipients == listing.recipients == (client,)
    assert wire(hello) == {
        "type": "client_hello",
        "client": client,
        "payload": {"client_id": client},
        "ts": p.now,
        "server_ts": p.now,
    }
    assert wire(listing) == {
        "type": "room_list",
        "payload": [{"id": room, "name": "A", "count": 1, "media_id": "m"}],
        "ts": p.now,
        "server_ts": p.now,
    }


def test_ids_of_clients_and_rooms_come_from_the_id_source() -> None:
    p = party(SEED, seed=11)
    ids = seeded_uuid4s(11)
    client = p.connect()
    room = p.create(client)
    assert [client, room] == [ids(), ids()]
    for made in (client, room):
        assert str(uuid.UUID(made)) == made
        assert uuid.UUID(made).version == 4


def test_list_rooms_answers_every_room_in_creation_order_with_counts() -> None:
    p = party()
    a_host, b_host, guest = p.connect(), p.connect(), p.connect()
    a = p.create(a_host, name="A", media_id="movie-1")
    b = p.create(b_host, name="B")
    p.send(guest, join_room(b))
    (out,) = p.send(guest, {"type": "list_rooms"})
    assert out.recipients == (guest,)
    assert wire(out)["payload"] == [
        {"id": a, "name": "A", "count": 1, "media_id": "movie-1"},
        {"id": b, "name": "B", "count": 2, "media_id": None},
    ]


# --------------------------------------------------------------------------
# create_room
# --------------------------------------------------------------------------


def test_create_room_makes_the_sender_host_member_and_ready() -> None:
    p = party()
    host = p.connect()
    p.advance(123)
    room = p.create(host, name="Film", start_pos=42.5, media_id="abc")
    snap = p.server.room(room)
    assert (snap.id, snap.name, snap.host_id, snap.media_id) == (room, "Film", host, "abc")
    assert snap.clients == (host,)
    assert snap.ready_clients == {host}
    assert (snap.position, snap.play_state) == (42.5, "paused")
    assert snap.last_state_ts == p.now
    assert snap.last_command_ts is None
    assert snap.pending_play is None
    assert p.server.room_of(host) == room


def test_create_room_sends_room_state_to_creator_then_room_list_to_every_client() -> None:
    p = party()
    bystander = p.connect()
    host = p.connect()
    out = p.send(host, create_room(name="Film", start_pos=3, media_id="abc"))
    room = p.server.room_of(host)
    assert [o.recipients for o in out] == [(host,), (bystander, host)]
    assert wire(out[0]) == {
        "type": "room_state",
        "room": room,
        "client": host,
        "payload": {
            "name": "Film",
            "host_id": host,
            "state": {"position": 3, "play_state": "paused", "server_ts": p.now},
            "participant_count": 1,
            "media_id": "abc",
        },
        "ts": p.now,
        "server_ts": p.now,
    }
    assert wire(out[1])["type"] == "room_list"
    assert wire(out[1])["payload"] == [{"id": room, "name": "Film", "count": 1, "media_id": "abc"}]


@pytest.mark.parametrize("msg", [{"type": "create_room"}, {"type": "create_room", "payload": {}}])
def test_create_room_defaults_to_new_room_at_zero(msg: dict[str, Any]) -> None:
    p = party()
    host = p.connect()
    p.send(host, msg)
    room = p.server.room_of(host)
    assert room is not None
    snap = p.server.room(room)
    assert (snap.name, snap.position, snap.media_id) == ("New Room", 0, None)


@pytest.mark.parametrize(
    ("name", "cleaned"),
    [
        ("  Movie night  ", "Movie night"),
        ("a\x00b\x1fc\x7fd\x9f", "abcd"),
        ("\u0085\tTabbed\n", "Tabbed"),
        ("", "New Room"),
        ("   ", "New Room"),
        ("\x00\x01\x02", "New Room"),
        (None, "New Room"),
        ("x" * 100, "x" * 100),
        ("x" * 101, "x" * 100),
        ("\U0001f37f" * 150, "\U0001f37f" * 100),
        ("y" * 99 + " z", "y" * 99),
        ("\x00" * 5 + "z" * 100 + "tail", "z" * 100),
        ("caf\u00e9 \u2014 \u5f71\u753b", "caf\u00e9 \u2014 \u5f71\u753b"),
    ],
)
def test_room_name_is_cleaned(name: str | None, cleaned: str) -> None:
    p = party()
    host = p.connect()
    out = p.send(host, create_room(name=name))
    assert wire(out[0])["payload"]["name"] == cleaned
    assert wire(out[1])["payload"][0]["name"] == cleaned
    room = p.server.room_of(host)
    assert room is not None
    assert p.server.room(room).name == cleaned


def test_create_room_while_host_of_a_room_closes_it_first_then_sends_one_room_list() -> None:
    p = party()
    old, host, (guest,) = p.room_with(1)
    out = p.send(host, create_room(name="Second"))
    new = p.server.room_of(host)
    assert types(out) == ["room_closed", "room_state", "room_list"]
    assert out[0].recipients == (guest,)
    assert wire(out[0])["room"] == old
    assert out[2].recipients == tuple(p.server.client_ids)
    assert [r["id"] for r in wire(out[2])["payload"]] == [new]
    assert p.server.room_ids == (new,)
    assert p.server.room_of(guest) is None


def test_create_room_while_a_guest_leaves_first_then_sends_one_room_list() -> None:
    p = party()
    old, host, (guest, other) = p.room_with(2)
    out = p.send(guest, create_room(name="Mine"))
    new = p.server.room_of(guest)
    assert types(out) == ["client_left", "room_state", "room_list"]
    assert out[0].recipients == (host, other)
    assert wire(out[0])["client"] == guest
    assert wire(out[0])["payload"] == {"participant_count": 2}
    assert [(r["id"], r["count"]) for r in wire(out[2])["payload"]] == [(old, 2), (new, 1)]


# --------------------------------------------------------------------------
# join_room
# --------------------------------------------------------------------------


def test_join_room_adds_the_member_once_in_join_order() -> None:
    p = party()
    room, host, guests = p.room_with(3)
    assert p.server.room(room).clients == (host, *guests)
    p.send(guests[0], join_room(room))
    assert p.server.room(room).clients == (host, *guests)


def test_join_room_sends_room_state_participants_update_and_room_list() -> None:
    p = party()
    room, host, (guest,) = p.room_with(1)
    bystander = p.connect()
    joiner = p.connect()
    out = p.send(joiner, join_room(room))
    assert types(out) == ["room_state", "participants_update", "room_list"]
    assert out[0].recipients == (joiner,)
    state = wire(out[0])
    assert (state["room"], state["client"]) == (room, joiner)
    assert state["payload"]["participant_count"] == 3
    assert state["payload"]["host_id"] == host
    assert out[1].recipients == (host, guest)
    assert wire(out[1]) == {
        "type": "participants_update",
        "room": room,
        "payload": {"participant_count": 3},
        "ts": p.now,
        "server_ts": p.now,
    }
    assert set(out[2].recipients) == {host, guest, bystander, joiner}
    assert wire(out[2])["payload"][0]["count"] == 3


def test_join_room_removes_joiner_from_ready_clients() -> None:
    p = party()
    room, host, (guest,) = p.room_with(1)
    assert guest in p.server.room(room).ready_clients
    p.send(guest, leave_room(room))
    p.send(guest, join_room(room))
    assert p.server.room(room).ready_clients == {host}


def test_join_room_shows_the_current_state_to_the_joiner() -> None:
    p = party()
    room, host, _ = p.room_with(1)
    p.send(host, player_event(room, "pause", 61.5))
    joiner = p.connect()
    out = p.send(joiner, join_room(room))
    assert wire(out[0])["payload"]["state"] == {
        "position": 61.5,
        "play_state": "paused",
        "server_ts": p.now,
    }


def test_join_room_state_carries_the_server_time_its_position_refers_to() -> None:
    # A late joiner starts at position + (now - state.server_ts) while playing.
    p = party()
    room, host, _ = p.room_with(1)
    p.send(host, player_event(room, "play", 10))
    target = p.now + 1500
    p.advance(5_000)
    joiner = p.connect()
    state = wire(p.send(joiner, join_room(room))[0])["payload"]["state"]
    assert state == {"position": 10, "play_state": "playing", "server_ts": target}
    p.advance(1_000)
    p.send(host, state_update(room, 14.6, "playing"))
    other = p.connect()
    state = wire(p.send(other, join_room(room))[0])["payload"]["state"]
    assert state == {"position": 14.6, "play_state": "playing", "server_ts": p.now}


def test_join_room_state_of_a_dropped_state_update_keeps_the_last_accepted_time() -> None:
    p = party()
    room, host, _ = p.room_with(0)
    p.send(host, state_update(room, 20, "playing"))
    accepted_at = p.now
    p.advance(100)  # within the minimum interval: dropped
    p.send(host, state_update(room, 20.05, "playing"))
    joiner = p.connect()
    state = wire(p.send(joiner, join_room(room))[0])["payload"]["state"]
    assert (state["position"], state["server_ts"]) == (20, accepted_at)


def test_join_unknown_room_is_an_error() -> None:
    p = party()
    client = p.connect()
    out = p.send(client, join_room("no-such-room"))
    assert [o.recipients for o in out] == [(client,)]
    assert errors(out, client) == ["Room 'no-such-room' not found"]
    assert p.server.room_of(client) is None


def test_join_room_of_20_members_is_an_error_and_changes_nothing() -> None:
    p = party()
    room, _, _guests = p.room_with(18)
    twentieth = p.connect()
    p.send(twentieth, join_room(room))
    assert len(p.server.room(room).clients) == 20
    # The refused joiner stays where it was.
    elsewhere = p.create(p.connect())
    late = p.connect()
    p.send(late, join_room(elsewhere))
    before = (p.server.room(room), p.server.room(elsewhere))
    out = p.send(late, join_room(room))
    assert [o.recipients for o in out] == [(late,)]
    assert errors(out, late) == ["Room is full (20 members)"]
    assert (p.server.room(room), p.server.room(elsewhere)) == before
    assert p.server.room_of(late) == elsewhere


def test_join_room_while_in_another_leaves_first_then_sends_one_room_list() -> None:
    p = party()
    old, old_host, (mover,) = p.room_with(1)
    new_host = p.connect()
    new = p.create(new_host)
    out = p.send(mover, join_room(new))
    assert types(out) == ["client_left", "room_state", "participants_update", "room_list"]
    assert out[0].recipients == (old_host,)
    assert wire(out[0])["room"] == old
    assert [(r["id"], r["count"]) for r in wire(out[-1])["payload"]] == [(old, 1), (new, 2)]
    assert p.server.room(old).clients == (old_host,)
    assert p.server.room_of(mover) == new


def test_join_room_by_the_host_of_another_room_closes_that_room() -> None:
    p = party()
    old, host, (guest,) = p.room_with(1)
    other = p.create(p.connect())
    out = p.send(host, join_room(other))
    assert types(out) == ["room_closed", "room_state", "participants_update", "room_list"]
    assert out[0].recipients == (guest,)
    assert old not in p.server.room_ids
    assert p.server.room_of(guest) is None


def test_join_room_of_own_room_only_resends_room_state() -> None:
    p = party()
    room, _, (guest, _) = p.room_with(2)
    before = p.server.room(room)
    out = p.send(guest, join_room(room))
    assert types(out) == ["room_state"]
    assert out[0].recipients == (guest,)
    assert p.server.room(room) == before  # still ready


def test_join_room_of_own_full_room_is_not_refused() -> None:
    p = party()
    room, _, guests = p.room_with(19)
    out = p.send(guests[-1], join_room(room))
    assert types(out) == ["room_state"]


# --------------------------------------------------------------------------
# leave_room, disconnect
# --------------------------------------------------------------------------


def test_leave_room_removes_the_member_and_sends_client_left_then_room_list() -> None:
    p = party()
    room, host, (leaver, other) = p.room_with(2)
    bystander = p.connect()
    out = p.send(leaver, leave_room(room))
    assert types(out) == ["client_left", "room_list"]
    assert out[0].recipients == (host, other)
    assert wire(out[0]) == {
        "type": "client_left",
        "room": room,
        "client": leaver,
        "payload": {"participant_count": 2},
        "ts": p.now,
        "server_ts": p.now,
    }
    assert set(out[1].recipients) == {host, leaver, other, bystander}
    snap = p.server.room(room)
    assert snap.clients == (host, other)
    assert leaver not in snap.ready_clients
    assert p.server.room_of(leaver) is None


def test_host_leave_closes_the_room() -> None:
    p = party()
    room, host, guests = p.room_with(2)
    out = p.send(host, leave_room(room))
    assert types(out) == ["room_closed", "room_list"]
    assert out[0].recipients == tuple(guests)
    assert wire(out[0]) == {"type": "room_closed", "room": room, "ts": p.now, "server_ts": p.now}
    assert wire(out[1])["payload"] == []
    assert p.server.room_ids == ()
    with pytest.raises(KeyError):
        p.server.room(room)
    assert [p.server.room_of(c) for c in (host, *guests)] == [None, None, None]


def test_last_member_leaving_deletes_the_room_without_room_closed() -> None:
    p = party()
    host = p.connect()
    room = p.create(host)
    out = p.send(host, leave_room(room))
    assert types(out) == ["room_list"]
    assert p.server.room_ids == ()


def test_leave_room_outside_a_room_is_a_no_op() -> None:
    p = party()
    client = p.connect()
    p.create(p.connect())
    assert p.send(client, leave_room()) == []
    assert p.send(client, {"type": "leave_room"}) == []


def test_leave_room_ignores_its_room_field() -> None:
    p = party()
    room, _host, (guest,) = p.room_with(1)
    other = p.create(p.connect())
    out = p.send(guest, leave_room(other))
    assert types(out) == ["client_left", "room_list"]
    assert wire(out[0])["room"] == room
    assert p.server.room_of(guest) is None
    assert len(p.server.room(other).clients) == 1


def test_disconnect_is_a_leave_that_sends_nothing_to_the_disconnected_client() -> None:
    p = party(SEED)
    room, host, (gone, other) = p.room_with(2)
    out = p.disconnect(gone)
    assert types(out) == ["client_left", "room_list"]
    assert all(gone not in o.recipients for o in out)
    assert wire(out[0])["client"] == gone
    assert set(out[1].recipients) == {host, other}
    assert p.server.room(room).clients == (host, other)
    assert gone not in p.server.client_ids


def test_host_disconnect_closes_the_room() -> None:
    p = party(SEED)
    room, host, (guest,) = p.room_with(1)
    out = p.disconnect(host)
    assert types(out) == ["room_closed", "room_list"]
    assert [o.recipients for o in out] == [(guest,), (guest,)]
    assert room not in p.server.room_ids


def test_disconnect_outside_a_room_sends_nothing() -> None:
    p = party()
    p.create(p.connect())
    client = p.connect()
    assert p.disconnect(client) == []
    assert client not in p.server.client_ids


def test_disconnected_client_is_forgotten() -> None:
    p = party()
    client = p.connect()
    p.disconnect(client)
    with pytest.raises(LocalProtocolError):
        p.server.room_of(client)
    with pytest.raises(LocalProtocolError):
        p.send(client, {"type": "ping"})


# --------------------------------------------------------------------------
# ping
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload", [{"client_ts": T0 - 40}, {"client_ts": 1.5, "seq": [1, {"a": None}]}, 3, "x", []]
)
def test_ping_is_answered_with_pong_echoing_the_payload(payload: Any) -> None:
    p = party()
    room, host, _ = p.room_with(1)
    p.advance(17)
    (out,) = p.send(host, {"type": "ping", "room": room, "payload": payload, "ts": T0})
    assert out.recipients == (host,)
    assert wire(out) == {"type": "pong", "payload": payload, "ts": p.now, "server_ts": p.now}


def test_ping_without_payload_gets_a_pong_without_payload() -> None:
    p = party()
    client = p.connect()
    (out,) = p.send(client, {"type": "ping"})
    assert wire(out) == {"type": "pong", "ts": p.now, "server_ts": p.now}


# --------------------------------------------------------------------------
# envelope (section 2, points 8, 15, 16)
# --------------------------------------------------------------------------


def _busy_session() -> list[dict[str, Any]]:
    """Every kind of message the server sends, from one short session, as received."""
    p = party()
    seen: list[dict[str, Any]] = []
    room, host, guests = p.room_with(2, ready=False)
    seen += [wire(o) for o in p.last]
    steps = [
        (host, player_event(room, "play", 5)),
        (guests[0], ready_msg(room)),
        (guests[1], ready_msg(room)),
        (host, player_event(room, "pause", 6)),
        (host, state_update(room, 9, "paused")),
        (guests[0], {"type": "ping", "room": room, "payload": {"client_ts": 1}}),
        (guests[0], {"type": "nonsense", "room": room}),
        (guests[0], {"type": "list_rooms", "room": room}),
        (guests[1], leave_room(room)),
        (host, leave_room(room)),
    ]
    for client, msg in steps:
        p.advance(2500)
        seen += [wire(o) for o in p.send(client, msg)]
    p.advance(10)
    newcomer = p.connect()
    seen += [wire(o) for o in p.last]
    seen += received(p.send(newcomer, create_room(name="z")), newcomer)
    return seen


def test_messages_not_about_a_room_carry_no_room_field() -> None:
    seen = _busy_session()
    kinds = {m["type"] for m in seen}
    assert {"client_hello", "room_list", "pong", "error"} <= kinds
    for m in seen:
        if m["type"] in ("client_hello", "room_list", "pong", "error"):
            assert "room" not in m, m


def test_absent_optional_envelope_fields_are_omitted_not_null() -> None:
    for m in _busy_session():
        assert None not in m.values(), m
        assert type(m["ts"]) is int
        assert type(m["server_ts"]) is int


def test_media_id_absent_is_null_in_room_state_and_room_list() -> None:
    p = party()
    host = p.connect()
    out = p.send(host, create_room(name="n"))
    assert wire(out[0])["payload"]["media_id"] is None
    assert wire(out[1])["payload"][0]["media_id"] is None


@pytest.mark.parametrize("media_id", ["f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5", " spaced ", "\u00e9"])
def test_media_id_is_passed_through_unchanged(media_id: str) -> None:
    p = party()
    host, joiner = p.connect(), p.connect()
    room = p.create(host, media_id=media_id)
    out = p.send(joiner, join_room(room))
    assert wire(out[0])["payload"]["media_id"] == media_id
    assert wire(out[-1])["payload"][0]["media_id"] == media_id


def test_unknown_envelope_fields_and_a_claimed_client_are_ignored() -> None:
    p = party()
    host = p.connect()
    other = p.connect()
    msg = {**create_room(name="x"), "client": other, "server_ts": 5, "version": 2, "extra": {}}
    out = p.send(host, msg)
    assert types(out) == ["room_state", "room_list"]
    room = p.server.room_of(host)
    assert room is not None
    assert p.server.room(room).host_id == host
    assert p.server.room_of(other) is None


def test_integer_positions_are_accepted() -> None:
    p = party()
    host, guest = p.connect(), p.connect()
    room = p.create(host, start_pos=38)
    p.send(guest, join_room(room))
    p.send(guest, ready_msg(room))
    assert p.server.room(room).position == 38
    (out,) = p.send(host, player_event(room, "play", 0))
    assert wire(out)["payload"]["position"] == 0
    p.advance(2000)
    (out,) = p.send(host, state_update(room, 7, "playing"))
    assert out.recipients == (guest,)
    assert p.server.room(room).position == 7
