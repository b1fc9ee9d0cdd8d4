"""A state machine test of :class:`SessionServer` against a model of who is where.

Random clients connect, create, join, ready, command (hosts and non-hosts),
report, leave, disconnect, send garbage and pings while the clock moves
forward, jumps to the next deadline or jumps anywhere (even backwards). After
every step the server must agree with the model on rooms, members, ready
sets and pending plays, and the invariants of the house style must hold:

- a client is in at most one room; a room's host is a member; ready ⊆ clients;
- nothing is sent to a disconnected or unknown client;
- nothing from a non-host is relayed, and a relay names its real sender;
- a scheduled target is never before the ``now`` of the step that set it;
- bad input (an ``error`` answer) changes nothing;
- every text decodes to its ``Outgoing.message``, with ``ts`` = ``now``;
- after ``handle_timer(now)``, ``next_deadline()`` is not in the past.

Rate limiting is turned off (it is tested on its own), rooms hold 3
members, so that "room full" happens often, and ``room_list`` is not
coalesced (``test_room_list.py`` has the machine for that).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import attrs
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from opensyncparty_core import (
    Config,
    Outgoing,
    SessionServer,
    decode_server_message,
    seeded_uuid4s,
)
from tests.core.harness import T0
from tests.core.strategies import json_values

# room_list on every change: each step's list is checked here; test_room_list.py
# checks the coalesced default.
CONFIG = attrs.evolve(
    Config(),
    max_room_size=3,
    rate_limit_burst=10**9,
    rate_limit_per_second=1e9,
    room_list_interval_ms=0,
)
NOT_A_ROOM = ("00000000-0000-4000-8000-000000000000", "", None)
NOT_ABOUT_A_ROOM = frozenset({"client_hello", "room_list", "pong", "error"})
GARBAGE = (
    "",
    "nonsense",
    "[]",
    '{"type": 3}',
    '{"type": "teleport"}',
    '{"type": "create_room", "payload": {"start_pos": "0"}}',
    '{"type": "create_room", "ts": 1.5}',
    '{"type": "join_room"}',
    '{"type": "state_update", "room": "x", "payload": {"position": 1}}',
    '{"type": "ping", "payload": ' + "[" * 40 + "]" * 40 + "}",
)


def mostly(common: st.SearchStrategy[Any], rare: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``rare`` one time in eight: bad values must not starve the valid paths."""
    return st.integers(0, 7).flatmap(lambda n: rare if n == 0 else common)


positions = mostly(
    st.floats(0, CONFIG.max_position), st.sampled_from([-0.5, CONFIG.max_position + 1])
)


@attrs.define
class ModelRoom:
    host: str
    members: list[str]
    ready: set[str]
    pending: tuple[float, int] | None = None
    """(position, created_at) of the pending play."""

    def all_ready(self) -> bool:
        return self.ready.issuperset(self.members)


def _kinds(out: Sequence[Outgoing]) -> list[str]:
    return [json.loads(o.text)["type"] for o in out]


class SessionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.server = SessionServer(id_source=seeded_uuid4s(0), config=CONFIG)
        self.now = T0
        self.where: dict[str, str | None] = {}
        self.rooms: dict[str, ModelRoom] = {}
        self.gone: list[str] = []

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    def _snapshot(self) -> tuple[object, ...]:
        rooms = tuple(self.server.room(r) for r in self.server.room_ids)
        return rooms, tuple((c, self.server.room_of(c)) for c in self.server.client_ids)

    def _client(self, data: st.DataObject, *, prefer_hosts: bool = False) -> str:
        hosts = sorted(r.host for r in self.rooms.values())
        if prefer_hosts and hosts and data.draw(mostly(st.just(True), st.just(False))):
            return data.draw(st.sampled_from(hosts), label="host")
        return data.draw(st.sampled_from(sorted(self.where)), label="client")

    def _room_for(self, data: st.DataObject, client: str) -> str | None:
        own = self.where[client]
        if own is not None and data.draw(st.integers(0, 3), label="own room?") > 0:
            return own
        return data.draw(st.sampled_from([*self.rooms, *NOT_A_ROOM]), label="room")

    def _send(self, client: str, message: dict[str, Any] | str) -> list[Outgoing]:
        text = message if isinstance(message, str) else json.dumps(message)
        hosts = {r: self.server.room(r).host_id for r in self.server.room_ids}
        before = self._snapshot()
        out = self.server.receive(client, text, self.now)
        self._check_out(out, sender=client, hosts_before=hosts, before=before)
        return out

    def _check_out(
        self,
        out: list[Outgoing],
        *,
        sender: str | None,
        hosts_before: dict[str, str],
        before: tuple[object, ...],
    ) -> None:
        connected = set(self.server.client_ids)
        for o in out:
            assert o.recipients, o
            assert len(set(o.recipients)) == len(o.recipients), o
            assert set(o.recipients) <= connected, "sent to a disconnected or unknown client"
            assert decode_server_message(o.text) == o.message
            m = json.loads(o.text)
            kind = m["type"]
            assert m["ts"] == self.now, m
            if kind in NOT_ABOUT_A_ROOM:
                assert "room" not in m, m
            if kind == "player_event":
                target = m["payload"]["target_server_ts"]
                assert m["server_ts"] == target >= self.now
                if "client" in m:  # a relayed pause or seek
                    assert target == self.now + CONFIG.control_schedule_ms
                else:  # a scheduled play reaches every member
                    assert target == self.now + CONFIG.play_schedule_ms
                    assert o.recipients == self.server.room(m["room"]).clients
            else:
                assert m["server_ts"] == self.now, m
            self._check_room_message(o, m)
            if kind in ("player_event", "state_update") and "client" in m:
                assert m["client"] == sender, "relay names another client than the sender"
                assert hosts_before.get(m["room"]) == sender, "relayed a non-host"
                assert sender not in o.recipients
                assert o.recipients == self.server.room(m["room"]).clients[1:]
        if "error" in _kinds(out):
            assert [o.recipients for o in out] == [(sender,)], out
            assert self._snapshot() == before, "an error answer changed the state"

    def _check_room_message(self, o: Outgoing, m: dict[str, Any]) -> None:
        """Membership notices agree with the rooms as they are after the step."""
        kind = m["type"]
        if kind == "room_closed":
            assert m["room"] not in self.server.room_ids
            for member in o.recipients:
                assert self.server.room_of(member) != m["room"]
            return
        if kind not in ("room_state", "participants_update", "client_left"):
            return
        snap = self.server.room(m["room"])
        assert m["payload"]["participant_count"] == len(snap.clients)
        if kind == "room_state":
            assert o.recipients == (m["client"],)
            assert m["client"] in snap.clients
            assert m["payload"]["host_id"] == snap.host_id
            assert m["payload"]["media_id"] == snap.media_id
        elif kind == "participants_update":
            assert o.recipients == snap.clients[:-1]  # everyone but the joiner
        else:
            assert m["client"] not in snap.clients
            assert o.recipients == snap.clients

    def _check_room_list(self, out: list[Outgoing]) -> None:
        """``out`` ends with the one room_list of the step, showing the model's rooms."""
        assert _kinds(out).count("room_list") == 1
        last = out[-1]
        assert json.loads(last.text)["type"] == "room_list"
        assert last.recipients == self.server.client_ids
        listed = [(r["id"], r["count"]) for r in json.loads(last.text)["payload"]]
        assert listed == [(rid, len(r.members)) for rid, r in self.rooms.items()]

    def _leave(self, client: str) -> list[str]:
        """Take ``client`` out of its model room; returns the notices expected."""
        room_id = self.where[client]
        if room_id is None:
            return []
        self.where[client] = None
        room = self.rooms[room_id]
        room.members.remove(client)
        room.ready.discard(client)
        if room.host == client or not room.members:
            del self.rooms[room_id]
            for member in room.members:
                self.where[member] = None
            return ["room_closed"] if room.members else []
        if room.pending is not None and room.all_ready():
            room.pending = None
            return ["client_left", "player_event"]
        return ["client_left"]

    def _expected_deadline(self) -> int | None:
        deadlines = [
            r.pending[1] + CONFIG.max_ready_wait_ms
            for r in self.rooms.values()
            if r.pending is not None
        ]
        return min(deadlines, default=None)

    # ------------------------------------------------------------------
    # Connections
    # ------------------------------------------------------------------

    @rule()
    def connect(self) -> None:
        client, out = self.server.connect(self.now)
        assert client not in self.where
        assert client not in self.gone
        self.where[client] = None
        assert _kinds(out) == ["client_hello", "room_list"]
        assert [o.recipients for o in out] == [(client,), (client,)]
        self._check_out(out, sender=None, hosts_before={}, before=())
        listed = [(r["id"], r["count"]) for r in json.loads(out[1].text)["payload"]]
        assert listed == [(rid, len(r.members)) for rid, r in self.rooms.items()]

    @precondition(lambda self: self.where)
    @rule(data=st.data())
    def disconnect(self, data: st.DataObject) -> None:
        client = self._client(data)
        was_in_room = self.where[client] is not None
        expected = self._leave(client)
        del self.where[client]
        self.gone.append(client)
        if was_in_room and self.where:
            expected.append("room_list")
        out = self.server.disconnect(client, self.now)
        self._check_out(out, sender=None, hosts_before={}, before=())
        assert _kinds(out) == expected
        if "room_list" in expected:
            self._check_room_list(out)

    # ------------------------------------------------------------------
    # Room messages
    # ------------------------------------------------------------------

    @initialize()
    def a_room_with_a_guest_and_a_bystander(self) -> None:
        for _ in range(3):
            self.connect()
        host, guest, _ = self.where
        self._create(host, {"name": "Movie", "start_pos": 0, "media_id": "m"})
        room = self.where[host]
        assert room is not None
        self._join(guest, room)

    @precondition(lambda self: self.where)
    @rule(
        data=st.data(),
        name=st.none() | st.text(max_size=8),
        start_pos=positions,
        media_id=st.none() | st.text(max_size=4),
    )
    def create_room(
        self, data: st.DataObject, name: str | None, start_pos: float, media_id: str | None
    ) -> None:
        payload = {"name": name, "start_pos": start_pos, "media_id": media_id}
        self._create(self._client(data), payload)

    def _create(self, client: str, payload: dict[str, Any]) -> None:
        if not 0 <= payload["start_pos"] <= CONFIG.max_position:
            out = self._send(client, {"type": "create_room", "payload": payload})
            assert _kinds(out) == ["error"]
            return
        expected = self._leave(client)
        out = self._send(client, {"type": "create_room", "payload": payload})
        assert _kinds(out) == [*expected, "room_state", "room_list"]
        room_id = json.loads(out[len(expected)].text)["room"]
        assert room_id not in self.rooms
        self.rooms[room_id] = ModelRoom(host=client, members=[client], ready={client})
        self.where[client] = room_id
        self._check_room_list(out)

    @precondition(lambda self: self.where)
    @rule(data=st.data())
    def join_room(self, data: st.DataObject) -> None:
        client = self._client(data)
        rooms = st.sampled_from([*self.rooms] or NOT_A_ROOM)
        self._join(client, data.draw(mostly(rooms, st.sampled_from(NOT_A_ROOM)), label="room"))

    def _join(self, client: str, target: str | None) -> None:
        out = self._send(client, {"type": "join_room", "room": target})
        room = self.rooms.get(target) if target else None
        if room is None or (
            len(room.members) >= CONFIG.max_room_size and client not in room.members
        ):
            assert _kinds(out) == ["error"]
            return
        if self.where[client] == target:
            assert _kinds(out) == ["room_state"]
            return
        expected = self._leave(client)
        room.members.append(client)
        self.where[client] = target
        assert _kinds(out) == [*expected, "room_state", "participants_update", "room_list"]
        self._check_room_list(out)

    @precondition(lambda self: self.where)
    @rule(data=st.data())
    def ready(self, data: st.DataObject) -> None:
        client = self._client(data)
        target = self._room_for(data, client)
        out = self._send(client, {"type": "ready", "room": target, "payload": {"room": target}})
        if target is None or self.where[client] != target:
            assert _kinds(out) == ["error"]
            return
        room = self.rooms[target]
        room.ready.add(client)
        if room.pending is not None and room.all_ready():
            assert _kinds(out) == ["player_event"]
            assert json.loads(out[0].text)["payload"]["position"] == room.pending[0]
            room.pending = None
        else:
            assert out == []

    @precondition(lambda self: self.where)
    @rule(data=st.data())
    def leave_room(self, data: st.DataObject) -> None:
        client = self._client(data)
        was_in_room = self.where[client] is not None
        expected = self._leave(client)
        out = self._send(client, {"type": "leave_room", "room": self._room_for(data, client)})
        if was_in_room:
            assert _kinds(out) == [*expected, "room_list"]
            self._check_room_list(out)
        else:
            assert out == []

    # ------------------------------------------------------------------
    # Playback
    # ------------------------------------------------------------------

    @precondition(lambda self: self.where)
    @rule(
        data=st.data(),
        action=mostly(st.sampled_from(["play", "pause", "seek"]), st.just("stop")),
        position=mostly(positions, st.none()),
    )
    def player_event(self, data: st.DataObject, action: str, position: float | None) -> None:
        client = self._client(data, prefer_hosts=True)
        self._player_event(client, self._room_for(data, client), action, position)

    @precondition(lambda self: any(not r.all_ready() for r in self.rooms.values()))
    @rule(data=st.data(), position=st.floats(0, 7200))
    def host_plays_while_a_member_is_not_ready(self, data: st.DataObject, position: float) -> None:
        waiting = [room_id for room_id, r in self.rooms.items() if not r.all_ready()]
        room_id = data.draw(st.sampled_from(waiting), label="room")
        self._player_event(self.rooms[room_id].host, room_id, "play", position)

    def _player_event(
        self, client: str, target: str | None, action: str, position: float | None
    ) -> None:
        payload: dict[str, Any] = {"action": action, "note": [1]}
        if position is not None:
            payload["position"] = position
        own = self.server.room(target) if target is not None and target in self.rooms else None
        out = self._send(client, {"type": "player_event", "room": target, "payload": payload})
        room = self.rooms.get(target) if target else None
        if (
            room is None
            or room.host != client
            or action == "stop"
            or (action == "seek" and position is None)
            or (position is not None and not 0 <= position <= CONFIG.max_position)
        ):
            assert _kinds(out) == ["error"]
            return
        assert own is not None
        assert target is not None
        snap = self.server.room(target)
        assert snap.last_command_ts == snap.last_state_ts == self.now
        if action == "play":
            at = own.position if position is None else position
            if room.all_ready():
                assert _kinds(out) == ["player_event"]
                room.pending = None
            else:
                assert out == []
                room.pending = (at, self.now)
            assert (snap.position, snap.play_state) == (at, "playing")
            return
        room.pending = None
        assert _kinds(out) == (["player_event"] if len(room.members) > 1 else [])

    @precondition(lambda self: self.where)
    @rule(data=st.data(), position=positions, play_state=st.sampled_from(["playing", "paused"]))
    def state_update(self, data: st.DataObject, position: float, play_state: str) -> None:
        client = self._client(data, prefer_hosts=True)
        target = self._room_for(data, client)
        payload = {"position": position, "play_state": play_state, "volume": 0.5}
        out = self._send(client, {"type": "state_update", "room": target, "payload": payload})
        room = self.rooms.get(target) if target else None
        if room is None or room.host != client or not 0 <= position <= CONFIG.max_position:
            assert _kinds(out) == ["error"]
            return
        assert _kinds(out) in ([], ["state_update"])
        if out:
            assert target is not None
            snap = self.server.room(target)
            assert (snap.position, snap.play_state) == (position, play_state)
            assert json.loads(out[0].text)["payload"] == payload

    # ------------------------------------------------------------------
    # Other traffic
    # ------------------------------------------------------------------

    @precondition(lambda self: self.where)
    @rule(data=st.data(), text=st.sampled_from(GARBAGE) | st.none())
    def bad_frame(self, data: st.DataObject, text: str | None) -> None:
        client = self._client(data)
        if text is None:
            before = self._snapshot()
            out = self.server.receive_binary(client, self.now)
            self._check_out(out, sender=client, hosts_before={}, before=before)
        else:
            out = self._send(client, text)
        assert _kinds(out) == ["error"]

    @precondition(lambda self: self.where)
    @rule(data=st.data(), payload=json_values)
    def ping(self, data: st.DataObject, payload: Any) -> None:
        client = self._client(data)
        out = self._send(client, {"type": "ping", "payload": payload})
        assert _kinds(out) == ["pong"]
        # A null payload is an absent one, and absent fields are omitted (spec section 2).
        assert json.loads(out[0].text).get("payload") == payload

    @precondition(lambda self: self.where)
    @rule(data=st.data())
    def list_rooms(self, data: st.DataObject) -> None:
        client = self._client(data)
        out = self._send(client, {"type": "list_rooms"})
        assert _kinds(out) == ["room_list"]
        listed = [(r["id"], r["count"]) for r in json.loads(out[0].text)["payload"]]
        assert listed == [(rid, len(r.members)) for rid, r in self.rooms.items()]

    # ------------------------------------------------------------------
    # Time
    # ------------------------------------------------------------------

    def _fire_timer(self) -> None:
        due = {
            rid: r.pending[0]
            for rid, r in self.rooms.items()
            if r.pending is not None and r.pending[1] + CONFIG.max_ready_wait_ms <= self.now
        }
        out = self.server.handle_timer(self.now)
        self._check_out(out, sender=None, hosts_before={}, before=())
        fired = {json.loads(o.text)["room"]: json.loads(o.text)["payload"] for o in out}
        assert _kinds(out) == ["player_event"] * len(out)
        assert {rid: p["position"] for rid, p in fired.items()} == due
        for rid in due:
            self.rooms[rid].pending = None
        deadline = self.server.next_deadline()
        assert deadline is None or deadline > self.now

    @rule(ms=st.integers(0, 2500), fire=st.booleans())
    def advance_clock(self, ms: int, fire: bool) -> None:
        self.now += ms
        if fire:
            self._fire_timer()

    @precondition(lambda self: self.server.next_deadline() is not None)
    @rule(offset=st.sampled_from([-1, 0, 0, 1, 700]))
    def wake_at_deadline(self, offset: int) -> None:
        deadline = self.server.next_deadline()
        assert deadline is not None
        self.now = deadline + offset
        self._fire_timer()

    @rule(now=st.integers(T0 - 10_000, T0 + 120_000), fire=st.booleans())
    def set_clock_anywhere(self, now: int, fire: bool) -> None:
        self.now = now
        if fire:
            self._fire_timer()

    # ------------------------------------------------------------------
    # Invariants
    # ------------------------------------------------------------------

    @invariant()
    def server_agrees_with_the_model(self) -> None:
        server = self.server
        assert set(server.client_ids) == set(self.where)
        assert not set(server.client_ids) & set(self.gone)
        assert server.room_ids == tuple(self.rooms)
        for client, room_id in self.where.items():
            assert server.room_of(client) == room_id
        for room_id, model in self.rooms.items():
            snap = server.room(room_id)
            assert snap.host_id == model.host
            assert snap.clients == tuple(model.members)
            assert snap.ready_clients == model.ready
            pending = snap.pending_play
            assert model.pending == (
                None if pending is None else (pending.position, pending.created_at)
            )
        assert server.next_deadline() == self._expected_deadline()

    @invariant()
    def rooms_are_well_formed(self) -> None:
        server = self.server
        seen: set[str] = set()
        for room_id in server.room_ids:
            snap = server.room(room_id)
            assert snap.host_id in snap.clients, "host is not a member"
            assert snap.ready_clients <= set(snap.clients), "ready client is not a member"
            assert len(set(snap.clients)) == len(snap.clients)
            assert 0 < len(snap.clients) <= CONFIG.max_room_size
            assert not seen & set(snap.clients), "a client is in two rooms"
            seen |= set(snap.clients)
            for member in snap.clients:
                assert server.room_of(member) == room_id


SessionMachine.TestCase.settings = settings(
    SessionMachine.TestCase.settings, stateful_step_count=40, max_examples=150
)
test_session_server_state_machine = SessionMachine.TestCase
