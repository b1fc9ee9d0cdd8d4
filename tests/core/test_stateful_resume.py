"""A state machine test of resume, host handover and chat, over random clocks.

Random clients connect, create rooms (with either handover policy), join,
leave, disconnect, resume with good, spent, stolen, expired and made-up
tokens, hand the host role over, chat and command, while the clock moves by
random steps, with or without the embedder's timer being called on time.
A small model tracks only what the invariants need: which connection speaks
for which client id, which clients are away until when, and every token.

Invariants, after every step:

- every room has exactly one host, and it is a current or resuming member;
  every member is connected or away within its grace;
- no message reaches a non-member: a message about a room goes only to its
  connected members (``room_closed`` only to former members), and nothing
  reaches a disconnected client;
- a token works only once, only for an away client, never after grace;
- the room list is the truth: each step's ``room_list`` shows every room
  with its connected members.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from opensyncparty_core import Config, Outgoing, SessionServer, seeded_uuid4s
from tests.core.harness import T0

GRACE = 3_000
CONFIG = attrs.evolve(
    Config(),
    max_room_size=3,
    rate_limit_burst=10**9,
    rate_limit_per_second=1e9,
    resume_grace_ms=GRACE,
    chat_history_size=2,
    room_list_interval_ms=0,  # each step's list is checked; test_room_list.py coalesces
)
MADE_UP = "00000000-0000-4000-8000-000000000000"


class ResumeMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.server = SessionServer(id_source=seeded_uuid4s(1), config=CONFIG)
        self.now = T0
        self.pid: dict[str, str] = {}  # connection id -> client id
        self.token: dict[str, str] = {}  # client id -> its current token
        self.away: dict[str, int] = {}  # client id -> end of its grace
        self.spent: set[str] = set()  # tokens that must never work again
        self.seen: set[str] = set()  # message types sent: to check coverage

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    def _conn(self, data: st.DataObject) -> str:
        # Mostly a member of some room, where the interesting rules are.
        members = sorted(c for c in self.pid if self.server.room_of(c) is not None)
        if members and data.draw(st.integers(0, 3), label="member?") > 0:
            return data.draw(st.sampled_from(members), label="member")
        return data.draw(st.sampled_from(sorted(self.pid)), label="connection")

    def _room(self, data: st.DataObject, conn: str) -> str:
        own = self.server.room_of(conn)
        choices = [*self.server.room_ids, MADE_UP]
        if own is not None and data.draw(st.booleans(), label="own room?"):
            return own
        return data.draw(st.sampled_from(choices), label="room")

    def _is_host(self, conn: str) -> bool:
        room = self.server.room_of(conn)
        return room is not None and self.server.room(room).host_id == self.pid[conn]

    def _snapshot(self) -> tuple[object, ...]:
        rooms = tuple(self.server.room(r) for r in self.server.room_ids)
        return rooms, tuple((c, self.server.room_of(c)) for c in self.server.client_ids)

    def _members(self) -> dict[str, tuple[str, ...]]:
        return {r: self.server.room(r).clients for r in self.server.room_ids}

    def _check(self, out: list[Outgoing], before: dict[str, tuple[str, ...]]) -> None:
        connected = set(self.server.client_ids)
        for o in out:
            assert o.recipients, o
            assert set(o.recipients) <= connected, "sent to a disconnected client"
            m = json.loads(o.text)
            kind, room = m["type"], m.get("room")
            if kind == "client_hello":
                (conn,) = o.recipients
                self.pid[conn] = m["payload"]["client_id"]
                self.token[m["payload"]["client_id"]] = m["payload"]["resume_token"]
            elif kind == "room_closed":
                assert room not in self.server.room_ids
                for conn in o.recipients:
                    assert self.server.room_of(conn) != room
            elif room is not None:
                # Members before or after the step: a step may send a room's
                # play and then close it (two timers due at once).
                after = self.server.room(room).clients if room in self.server.room_ids else ()
                members = {*before.get(room, ()), *after}
                for conn in o.recipients:
                    assert self.pid[conn] in members, "a room message to a non-member"
        lists = [json.loads(o.text) for o in out if json.loads(o.text)["type"] == "room_list"]
        if lists:
            shown = [(r["id"], r["count"]) for r in lists[-1]["payload"]]
            online = set(self.pid.values())
            truth = [
                (r, len(set(self.server.room(r).clients) & online)) for r in self.server.room_ids
            ]
            assert shown == truth, "room_list is not the truth"

    def _send(self, conn: str, message: dict[str, Any]) -> list[Outgoing]:
        before, members = self._snapshot(), self._members()
        out = self.server.receive(conn, json.dumps(message), self.now)
        self._check(out, members)
        if any(json.loads(o.text)["type"] == "error" for o in out):
            assert [o.recipients for o in out] == [(conn,)]
            assert self._snapshot() == before, "a refused message changed the state"
        self.seen.update(json.loads(o.text)["type"] for o in out)
        return out

    # ------------------------------------------------------------------
    # Rules
    # ------------------------------------------------------------------

    @initialize(policy=st.sampled_from(["close", "transfer"]))
    def a_room_with_two_guests(self, policy: str) -> None:
        host, guests = self._connect(), [self._connect(), self._connect()]
        self._send(host, {"type": "create_room", "payload": {"handover": policy}})
        room = self.server.room_of(host)
        for guest in guests:
            self._send(guest, {"type": "join_room", "room": room})

    def _connect(self) -> str:
        conn, out = self.server.connect(self.now)
        self._check(out, {})
        return conn

    @rule()
    def connect(self) -> None:
        _conn, out = self.server.connect(self.now)
        self._check(out, {})

    @precondition(lambda self: self.pid)
    @rule(data=st.data(), policy=st.sampled_from([None, "close", "transfer"]))
    def create(self, data: st.DataObject, policy: str | None) -> None:
        payload = {} if policy is None else {"handover": policy}
        self._send(self._conn(data), {"type": "create_room", "payload": payload})

    @precondition(lambda self: self.pid and self.server.room_ids)
    @rule(data=st.data())
    def join(self, data: st.DataObject) -> None:
        conn = self._conn(data)
        self._send(conn, {"type": "join_room", "room": self._room(data, conn)})

    @precondition(lambda self: self.pid)
    @rule(data=st.data())
    def leave(self, data: st.DataObject) -> None:
        self._send(self._conn(data), {"type": "leave_room"})

    @precondition(lambda self: self.pid)
    @rule(data=st.data())
    def disconnect(self, data: st.DataObject) -> None:
        conn = self._conn(data)
        pid = self.pid.pop(conn)
        self.away[pid] = self.now + GRACE
        members = self._members()
        self._check(self.server.disconnect(conn, self.now), members)

    @precondition(lambda self: self.pid and self.token)
    @rule(data=st.data())
    def resume(self, data: st.DataObject) -> None:
        conn = self._conn(data)
        pool = sorted({*self.token.values(), *self.spent, MADE_UP})
        awaiting = sorted(self.token[p] for p in self.away)
        if awaiting and data.draw(st.integers(0, 3), label="an away client's token?") > 0:
            pool = awaiting
        token = data.draw(st.sampled_from(pool), label="token")
        owner = next((p for p, t in self.token.items() if t == token), None)
        should_work = (
            token not in self.spent
            and owner is not None
            and owner in self.away
            and self.now < self.away[owner]
            and self.server.room_of(conn) is None
        )
        fresh_pid = self.pid[conn]
        out = self._send(conn, {"type": "resume", "payload": {"token": token}})
        kinds = [json.loads(o.text)["type"] for o in out]
        if not should_work:
            assert kinds == ["error"], (token, kinds)
            return
        assert kinds[0] == "client_hello"
        assert owner is not None
        assert self.pid[conn] == owner
        self.spent |= {token, self.token.pop(fresh_pid)}
        del self.away[owner]

    @precondition(lambda self: self.pid)
    @rule(data=st.data())
    def transfer(self, data: st.DataObject) -> None:
        hosts = sorted(
            c
            for c in self.pid
            if (r := self.server.room_of(c)) and self.server.room(r).host_id == self.pid[c]
        )
        conn = data.draw(st.sampled_from(hosts)) if hosts else self._conn(data)
        room = self._room(data, conn)
        everyone = sorted({*self.pid.values(), *self.away})
        if room in self.server.room_ids and data.draw(st.integers(0, 3), label="member?") > 0:
            everyone = sorted(self.server.room(room).clients)
        target = data.draw(st.sampled_from(everyone), label="target")
        out = self._send(
            conn, {"type": "transfer_host", "room": room, "payload": {"client_id": target}}
        )
        if any(json.loads(o.text)["type"] == "host_changed" for o in out):
            assert self.server.room(room).host_id == target
            assert target in self.pid.values()

    @precondition(lambda self: self.pid)
    @rule(data=st.data(), text=st.sampled_from(["hi", " ", "x" * 501, "é"]))
    def chat(self, data: st.DataObject, text: str) -> None:
        conn = self._conn(data)
        room = self._room(data, conn)
        self._send(conn, {"type": "chat_message", "room": room, "payload": {"text": text}})

    @precondition(lambda self: self.pid)
    @rule(data=st.data(), action=st.sampled_from(["play", "pause", "seek"]))
    def command(self, data: st.DataObject, action: str) -> None:
        conn = self._conn(data)
        room = self._room(data, conn)
        payload = {"action": action, "position": 5}
        self._send(conn, {"type": "player_event", "room": room, "payload": payload})

    @rule(ms=st.integers(0, 2 * GRACE), fire=st.booleans())
    def advance(self, ms: int, fire: bool) -> None:
        self.now += ms
        if not fire:  # the embedder's timer may be late: nothing may depend on it
            return
        members = self._members()
        out = self.server.handle_timer(self.now)
        self._check(out, members)
        self.seen.update(json.loads(o.text)["type"] for o in out)
        for pid, until in list(self.away.items()):
            if until <= self.now:
                del self.away[pid]
                self.spent.add(self.token.pop(pid))

    # ------------------------------------------------------------------
    # Invariants
    # ------------------------------------------------------------------

    @invariant()
    def every_room_has_one_host_who_is_a_current_or_resuming_member(self) -> None:
        online = set(self.pid.values())
        for room_id in self.server.room_ids:
            room = self.server.room(room_id)
            assert room.host_id in room.clients
            assert room.host_id in online or room.host_id in self.away
            for member in room.clients:
                assert member in online or member in self.away

    @invariant()
    def connections_are_the_servers(self) -> None:
        assert set(self.pid) == set(self.server.client_ids)


ResumeMachine.TestCase.settings = settings(
    ResumeMachine.TestCase.settings, stateful_step_count=40, max_examples=100
)
test_resume_handover_chat_state_machine = ResumeMachine.TestCase
