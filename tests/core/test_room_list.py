"""Coalesced ``room_list`` broadcasts (``Config.room_list_interval_ms``).

A change to the room list is broadcast at once if no list went out during
the last interval, else once at the end of the interval with the state of
that moment. The list on connect and the answer to ``list_rooms`` are never
delayed. The rules first, then a state machine for the properties.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import attrs
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from opensyncparty_core import Config, Outgoing, SessionServer, seeded_uuid4s
from opensyncparty_core._room_list import RoomListCoalescer
from tests.core.harness import T0, Party, create_room, join_room, leave_room, party, types

INTERVAL = Config().room_list_interval_ms


def lists(outs: list[Outgoing]) -> list[Outgoing]:
    return [o for o in outs if json.loads(o.text)["type"] == "room_list"]


def counts(out: Outgoing) -> list[int]:
    return [r["count"] for r in json.loads(out.text)["payload"]]


def default_party() -> Party:
    return party(Config())


def test_default_interval_is_at_most_250_ms() -> None:
    assert 0 < INTERVAL <= 250


def test_a_lone_change_is_broadcast_at_once() -> None:
    p = default_party()
    host, other = p.connect(), p.connect()
    out = p.send(host, create_room())
    assert types(out) == ["room_state", "room_list"]
    assert out[-1].recipients == (host, other)
    assert p.server.next_deadline() is None


def test_changes_within_the_interval_go_out_once_at_its_end_with_the_final_state() -> None:
    p = default_party()
    host, a, b = p.connect(), p.connect(), p.connect()
    room = p.create(host)
    p.advance(10)
    assert types(p.send(a, join_room(room))) == ["room_state", "participants_update"]
    p.advance(10)
    assert "room_list" not in types(p.send(b, join_room(room)))
    assert p.server.next_deadline() == T0 + INTERVAL
    p.advance(INTERVAL - 21)
    assert p.timer() == []  # one millisecond early: nothing yet
    p.advance(1)
    (fresh,) = p.timer()
    assert fresh.recipients == (host, a, b)  # one text for everyone
    assert counts(fresh) == [3]
    assert json.loads(fresh.text)["ts"] == p.now
    assert p.server.next_deadline() is None


def test_a_change_after_a_quiet_interval_is_broadcast_at_once_again() -> None:
    p = default_party()
    host, guest = p.connect(), p.connect()
    room = p.create(host)
    p.advance(INTERVAL)
    assert lists(p.send(guest, join_room(room)))


def test_the_last_list_shows_a_room_that_appeared_and_vanished_within_the_interval() -> None:
    p = default_party()
    host, guest = p.connect(), p.connect()
    p.create(host)
    p.advance(5)
    room = p.create(guest)  # a second room: owed
    p.send(guest, leave_room(room))  # and gone again
    p.advance(INTERVAL)
    (fresh,) = p.timer()
    assert [r["id"] for r in json.loads(fresh.text)["payload"]] == list(p.server.room_ids)


def test_a_disconnect_is_a_change_and_is_coalesced_too() -> None:
    p = default_party()
    host, guest, bystander = p.connect(), p.connect(), p.connect()
    room = p.create(host)
    p.send(guest, join_room(room))
    assert p.disconnect(guest) == [o for o in p.last if json.loads(o.text)["type"] == "client_left"]
    p.advance(INTERVAL)
    (fresh,) = p.timer()
    assert fresh.recipients == (host, bystander)  # never to the one who left
    assert counts(fresh) == [1]


def test_a_new_client_gets_the_current_list_at_once_while_a_broadcast_is_owed() -> None:
    p = default_party()
    host, guest = p.connect(), p.connect()
    room = p.create(host)
    p.send(guest, join_room(room))
    newcomer = p.connect()
    (_, initial) = p.last
    assert initial.recipients == (newcomer,)
    assert counts(initial) == [2]


def test_list_rooms_is_answered_at_once_while_a_broadcast_is_owed() -> None:
    p = default_party()
    host, guest = p.connect(), p.connect()
    room = p.create(host)
    p.send(guest, join_room(room))
    (answer,) = p.send(guest, {"type": "list_rooms"})
    assert answer.recipients == (guest,)
    assert counts(answer) == [2]
    assert p.server.next_deadline() == T0 + INTERVAL  # the broadcast is still owed


def test_interval_zero_broadcasts_every_change() -> None:
    p = party(attrs.evolve(Config(), room_list_interval_ms=0))
    host, guest = p.connect(), p.connect()
    room = p.create(host)
    assert lists(p.send(guest, join_room(room)))
    assert p.server.next_deadline() is None


def test_next_deadline_is_the_earlier_of_a_pending_play_and_the_room_list() -> None:
    p = party(attrs.evolve(Config(), max_ready_wait_ms=100))
    host, guest = p.connect(), p.connect()
    room = p.create(host)
    p.send(guest, join_room(room))  # not ready; room_list owed at T0 + INTERVAL
    p.send(host, {"type": "player_event", "room": room, "payload": {"action": "play"}})
    assert p.server.next_deadline() == T0 + 100
    p.advance(100)
    assert types(p.timer()) == ["player_event"]
    assert p.server.next_deadline() == T0 + INTERVAL
    p.advance(INTERVAL - 100)
    assert types(p.timer()) == ["room_list"]


def test_a_clock_stepping_back_does_not_hold_the_list() -> None:
    p = default_party()
    host, guest = p.connect(), p.connect()
    room = p.create(host)
    p.send(guest, join_room(room))
    p.now -= 60_000
    assert types(p.timer()) == ["room_list"]


def test_seating_a_party_sends_lists_per_interval_not_per_joiner() -> None:
    p = default_party()
    clients = [p.connect() for _ in range(200)]
    room = p.create(clients[0])
    sent = 0
    for guest in clients[1:20]:
        p.advance(1)
        sent += sum(len(o.recipients) for o in lists(p.send(guest, join_room(room))))
        sent += sum(len(o.recipients) for o in lists(p.timer()))
    p.advance(INTERVAL)
    (last,) = p.timer()
    assert sent == 0  # 19 joins within one interval: no list until its end
    assert counts(last) == [20]
    assert len(last.recipients) == 200


# ----------------------------------------------------------------------
# The schedule on its own
# ----------------------------------------------------------------------


def test_coalescer_sends_a_first_change_at_once() -> None:
    schedule = RoomListCoalescer(interval_ms=250)
    assert schedule.deadline() is None
    assert schedule.changed(1_000)


def test_coalescer_defers_a_change_within_the_interval_to_its_end() -> None:
    schedule = RoomListCoalescer(interval_ms=250)
    schedule.sent(1_000)
    assert not schedule.changed(1_100)
    assert schedule.deadline() == 1_250
    assert not schedule.due(1_249)
    assert schedule.due(1_250)
    schedule.sent(1_250)
    assert schedule.deadline() is None
    assert not schedule.due(2_000)  # nothing changed since


# ----------------------------------------------------------------------
# Properties
# ----------------------------------------------------------------------


class RoomListMachine(RuleBasedStateMachine):
    """Clients seat, leave and vanish while time passes; a transport fires the timer.

    Properties: each client's last list, once the timer has fired, equals the
    true room set; a client whose last list is stale has a broadcast owed
    within one interval; no client gets two broadcasts within one interval;
    a new client's first list is the true set, at once.
    """

    def __init__(self) -> None:
        super().__init__()
        config = attrs.evolve(Config(), rate_limit_burst=10**9, rate_limit_per_second=1e9)
        self.server = SessionServer(id_source=seeded_uuid4s(1), config=config)
        self.now = T0
        self.last_list: dict[str, Any] = {}
        self.broadcast_at: dict[str, list[int]] = {}

    def truth(self) -> list[tuple[str, int]]:
        server = self.server
        return [(r, len(server.room(r).clients)) for r in server.room_ids]

    def deliver(self, out: list[Outgoing], *, reply_to: str | None = None) -> None:
        for o in out:
            m = json.loads(o.text)
            if m["type"] != "room_list":
                continue
            listed = [(r["id"], r["count"]) for r in m["payload"]]
            assert listed == self.truth(), "a list is the state at the time it is sent"
            for client in o.recipients:
                self.last_list[client] = listed
                if client != reply_to:
                    self.broadcast_at[client].append(self.now)

    @rule()
    def connect(self) -> None:
        client, out = self.server.connect(self.now)
        self.broadcast_at[client] = []
        self.deliver(out, reply_to=client)
        assert self.last_list[client] == self.truth()

    @precondition(lambda self: self.server.client_ids)
    @rule(data=st.data(), action=st.sampled_from(["create", "join", "leave", "list"]))
    def act(self, data: st.DataObject, action: str) -> None:
        client = data.draw(st.sampled_from(self.server.client_ids))
        if action == "create":
            message: dict[str, Any] = create_room()
        elif action == "join" and self.server.room_ids:
            message = join_room(data.draw(st.sampled_from(self.server.room_ids)))
        elif action == "list":
            message = {"type": "list_rooms"}
        else:
            message = leave_room()
        out = self.server.receive(client, json.dumps(message), self.now)
        self.deliver(out, reply_to=client if action == "list" else None)

    @precondition(lambda self: self.server.client_ids)
    @rule(data=st.data())
    def disconnect(self, data: st.DataObject) -> None:
        client = data.draw(st.sampled_from(self.server.client_ids))
        out = self.server.disconnect(client, self.now)
        del self.last_list[client], self.broadcast_at[client]
        self.deliver(out)

    @rule(ms=st.integers(0, 400))
    def time_passes(self, ms: int) -> None:
        """A transport sleeps until the deadline or the next event, whichever comes first."""
        end = self.now + ms
        while (deadline := self.server.next_deadline()) is not None and deadline <= end:
            self.now = max(self.now, deadline)
            self.deliver(self.server.handle_timer(self.now))
            after = self.server.next_deadline()
            assert after is None or after > self.now, "handle_timer left its deadline due"
        self.now = end

    @invariant()
    def a_stale_list_is_replaced_within_one_interval(self) -> None:
        truth = self.truth()
        stale = [c for c, listed in self.last_list.items() if listed != truth]
        if stale:
            deadline = self.server.next_deadline()
            assert deadline is not None, "a client is left with a stale list"
            assert self.now <= deadline <= self.now + INTERVAL

    @invariant()
    def no_client_gets_two_broadcasts_within_one_interval(self) -> None:
        for times in self.broadcast_at.values():
            assert all(b - a >= INTERVAL for a, b in itertools.pairwise(times))

    def teardown(self) -> None:
        self.time_passes(INTERVAL)
        truth = self.truth()
        assert all(listed == truth for listed in self.last_list.values())


RoomListMachine.TestCase.settings = settings(
    RoomListMachine.TestCase.settings, stateful_step_count=30, max_examples=100
)
test_room_list_properties = RoomListMachine.TestCase
