"""Resume after a blip: a disconnected client's place is kept for a grace period.

One test per rule of the protocol page's "Resume after a blip" section.
"""

from __future__ import annotations

import attrs

from opensyncparty_core import Config, seeded_uuid4s
from tests.core.harness import (
    EVERY_CHANGE,
    SEED,
    Party,
    chat,
    codes,
    hello_token,
    join_room,
    leave_room,
    party,
    player_event,
    received,
    resume,
    types,
    wire,
)

GRACE = Config().resume_grace_ms


def host_away(p: Party, guests: int = 0) -> tuple[str, str, str, list[str]]:
    """A room whose host just lost its connection: (room, host, host's token, guests)."""
    host = p.connect()
    token = hello_token(p.last)
    room = p.create(host)
    others = [p.connect() for _ in range(guests)]
    for guest in others:
        p.send(guest, join_room(room))
    p.disconnect(host)
    return room, host, token, others


def test_client_hello_carries_a_resume_token_drawn_from_the_id_source() -> None:
    p = party(seed=3)
    ids = seeded_uuid4s(3)
    client = p.connect()
    assert client == ids()
    assert wire(p.last[0])["payload"] == {"client_id": client, "resume_token": ids()}


def test_grace_zero_offers_no_token_and_refuses_resume() -> None:
    p = party(SEED)
    client = p.connect()
    assert wire(p.last[0])["payload"] == {"client_id": client}
    p.send(client, resume(client))
    assert codes(p.last, client) == ["RESUME_TOKEN_INVALID"]


def test_host_disconnect_within_grace_keeps_the_room_and_others_see_participants_update() -> None:
    p = party()
    room, host, (guest,) = p.room_with(1)
    out = p.disconnect(host)
    assert types(out) == ["participants_update", "room_list"]
    assert [o.recipients for o in out] == [(guest,), (guest,)]
    assert wire(out[0])["payload"] == {"participant_count": 1}
    assert wire(out[1])["payload"][0]["count"] == 1
    snap = p.server.room(room)
    assert (snap.host_id, snap.clients) == (host, (host, guest))
    assert host not in p.server.client_ids


def test_resume_within_grace_restores_id_room_and_host_role() -> None:
    p = party()
    room, host, token, (guest,) = host_away(p, guests=1)
    p.advance(GRACE - 1)
    conn = p.connect()
    out = p.send(conn, resume(token))
    mine = received(out, conn)
    assert [m["type"] for m in mine] == ["client_hello", "room_state", "room_list"]
    assert mine[0]["client"] == mine[0]["payload"]["client_id"] == host
    assert mine[0]["payload"]["resume_token"] not in (token, None)
    assert (mine[1]["client"], mine[1]["payload"]["host_id"]) == (host, host)
    assert mine[1]["payload"]["participant_count"] == 2
    assert [m["type"] for m in received(out, guest)] == ["participants_update", "room_list"]
    assert received(out, guest)[0]["payload"] == {"participant_count": 2}
    assert p.server.room_of(conn) == room
    assert p.server.room(room).host_id == host
    assert p.server.client_ids == (guest, conn)


def test_resumed_host_commands_under_its_former_id() -> None:
    p = party()
    room, host, token, (guest,) = host_away(p, guests=1)
    conn = p.connect()
    p.send(conn, resume(token))
    out = p.send(conn, player_event(room, "pause", 12))
    assert [o.recipients for o in out] == [(guest,)]
    assert wire(out[0])["client"] == host


def test_a_token_works_once() -> None:
    p = party()
    _room, _host, token, _ = host_away(p)
    first, second = p.connect(), p.connect()
    p.send(first, resume(token))
    assert codes(p.last, first) == []
    p.send(second, resume(token))
    assert codes(p.last, second) == ["RESUME_TOKEN_INVALID"]
    assert p.server.room_of(second) is None


def test_the_token_of_a_connected_client_is_refused() -> None:
    p = party()
    host = p.connect()
    token = hello_token(p.last)
    room = p.create(host)
    thief = p.connect()
    p.send(thief, resume(token))
    assert codes(p.last, thief) == ["RESUME_TOKEN_INVALID"]
    assert p.server.room(room).host_id == host
    assert p.server.room_of(thief) is None


def test_after_grace_the_token_is_refused_and_a_close_policy_room_closes() -> None:
    p = party()
    room, _host, token, (guest,) = host_away(p, guests=1)
    assert p.server.next_deadline() == p.now + GRACE
    p.advance(GRACE)
    out = p.timer()
    assert types(out) == ["room_closed", "room_list"]
    assert [o.recipients for o in out] == [(guest,), (guest,)]
    assert room not in p.server.room_ids
    late = p.connect()
    p.send(late, resume(token))
    assert codes(p.last, late) == ["RESUME_TOKEN_INVALID"]


def test_a_guest_whose_grace_ends_leaves_with_client_left() -> None:
    p = party()
    room, host, (guest, other) = p.room_with(2)
    p.disconnect(guest)
    p.advance(GRACE)
    out = p.timer()
    assert types(out) == ["client_left", "room_list"]
    assert wire(out[0])["client"] == guest
    assert wire(out[0])["payload"] == {"participant_count": 2}
    assert p.server.room(room).clients == (host, other)


def test_resume_from_a_connection_already_in_a_room_is_refused() -> None:
    p = party()
    room, host, token, _ = host_away(p)
    busy = p.connect()
    elsewhere = p.create(busy)
    p.send(busy, resume(token))
    assert codes(p.last, busy) == ["RESUME_IN_ROOM"]
    assert p.server.room_of(busy) == elsewhere
    assert p.server.room(room).host_id == host


def test_a_room_closed_while_away_is_told_on_resume() -> None:
    p = party()
    room, host, _ = p.room_with(0)
    guest = p.connect()
    token = hello_token(p.last)
    p.send(guest, join_room(room))
    p.disconnect(guest)
    p.send(host, leave_room())
    conn = p.connect()
    out = p.send(conn, resume(token))
    assert [m["type"] for m in received(out, conn)] == ["client_hello", "room_closed"]
    assert received(out, conn)[1]["room"] == room
    assert p.server.room_of(conn) is None


def test_a_roomless_client_resumes_its_id_only() -> None:
    p = party()
    client = p.connect()
    token = hello_token(p.last)
    p.disconnect(client)
    conn = p.connect()
    out = p.send(conn, resume(token))
    assert types(out) == ["client_hello"]
    assert wire(out[0])["payload"]["client_id"] == client


def test_an_away_member_keeps_its_seat() -> None:
    p = party(attrs.evolve(EVERY_CHANGE, max_room_size=2))
    room, _host, (guest,) = p.room_with(1)
    p.disconnect(guest)
    newcomer = p.connect()
    p.send(newcomer, join_room(room))
    assert codes(p.last, newcomer) == ["ROOM_FULL"]


def test_resume_sends_the_chat_history_after_room_state() -> None:
    p = party()
    room, host, _ = p.room_with(0)
    guest = p.connect()
    token = hello_token(p.last)
    p.send(guest, join_room(room))
    p.disconnect(guest)
    p.send(host, chat(room, "where did you go?"))
    conn = p.connect()
    kinds = [m["type"] for m in received(p.send(conn, resume(token)), conn)]
    assert kinds == ["client_hello", "room_state", "chat_message", "room_list"]


def test_a_token_is_refused_at_the_end_of_grace_even_before_the_timer_fires() -> None:
    p = party()
    _room, _host, token, _ = host_away(p)
    p.advance(GRACE)  # the embedder has not called handle_timer yet
    conn = p.connect()
    p.send(conn, resume(token))
    assert codes(p.last, conn) == ["RESUME_TOKEN_INVALID"]


def test_a_forced_play_while_every_member_is_away_is_sent_to_no_one() -> None:
    p = party()
    room, host, _ = p.room_with(0)
    guest = p.connect()
    p.send(guest, join_room(room))
    p.send(host, player_event(room, "play", 4))
    p.disconnect(host)
    p.disconnect(guest)
    p.advance(Config().max_ready_wait_ms)
    assert p.timer() == []
    assert p.server.room(room).play_state == "playing"
