"""No input text escapes ``receive`` as an exception, and an ``error`` answer changes nothing.

The server under test has a room with a pending play, a ready guest, an
unready guest and a client in no room, so that well-formed messages reach
every handler and its checks. Near-valid messages (one valid message of each
type with fields replaced by hostile values, removed, or cut short) are also
sent in random sessions by :class:`HostileSessionMachine`, which keeps the
invariants of ``test_stateful.py``.

The long run (>= 100,000 inputs per test that uses ``examples()``)::

    HYPOTHESIS_PROFILE=fuzz .venv/bin/pytest tests/core/test_core_fuzz.py \
        --timeout=0 --hypothesis-show-statistics
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from opensyncparty_core import (
    Outgoing,
    RemoteProtocolError,
    RoomList,
    RoomState,
    decode_client_message,
    decode_server_message,
)
from tests.core.harness import Party, join_room, party, player_event, ready_msg
from tests.core.strategies import (
    KNOWN_TYPES,
    Raw,
    examples,
    field_paths,
    hostile_values,
    json_values,
    near_valid_messages,
    near_valid_server_messages,
    numbers,
    server_templates,
    to_text,
)
from tests.core.test_stateful import NOT_A_ROOM, ModelRoom, SessionMachine

ROLES = ("host", "ready guest", "unready guest", "roomless", "other host")


def _session() -> tuple[Party, dict[str, str], str, str]:
    p = party()
    room, host, (ready_guest,) = p.room_with(1)
    unready = p.connect()
    p.send(unready, join_room(room))
    roomless = p.connect()
    other_host = p.connect()
    other_room = p.create(other_host)
    p.send(host, player_event(room, "play", 10))
    assert p.server.room(room).pending_play is not None
    p.advance(700)
    clients = dict(zip(ROLES, (host, ready_guest, unready, roomless, other_host), strict=True))
    return p, clients, room, other_room


def _everything(p: Party) -> tuple[object, ...]:
    rooms = tuple(p.server.room(r) for r in p.server.room_ids)
    return rooms, tuple((c, p.server.room_of(c)) for c in p.server.client_ids)


payload_values = st.one_of(
    json_values,
    numbers,
    st.sampled_from(["play", "pause", "seek", "stop", "playing", "paused", ""]),
)
payload_keys = st.sampled_from(
    ["action", "position", "play_state", "name", "start_pos", "media_id", "client_ts", "room"]
)
payloads = st.one_of(
    json_values, st.dictionaries(payload_keys | st.text(max_size=5), payload_values, max_size=5)
)


@st.composite
def protocol_shaped(draw: st.DrawFn, room: str, other_room: str) -> str:
    """JSON text shaped like a client message, with random fields and values."""
    obj: dict[str, Any] = {"type": draw(st.sampled_from(KNOWN_TYPES) | st.text(max_size=8))}
    if draw(st.booleans()):
        obj["room"] = draw(st.sampled_from([room, other_room, "", None, "nope"]) | json_values)
    if draw(st.booleans()):
        obj["payload"] = draw(payloads)
    if draw(st.booleans()):
        obj["ts"] = draw(json_values)
    if draw(st.booleans()):
        obj["client"] = draw(json_values)
    return json.dumps(obj)


def _check(p: Party, sender: str, text: str) -> None:
    before = _everything(p)
    out: list[Outgoing] = p.send(sender, text)
    for o in out:
        assert decode_server_message(o.text) == o.message
        assert set(o.recipients) <= set(p.server.client_ids)
    if any(json.loads(o.text)["type"] == "error" for o in out):
        assert [o.recipients for o in out] == [(sender,)]
        assert _everything(p) == before


@settings(max_examples=300)
@given(st.sampled_from(ROLES), st.text())
def test_any_text_is_answered_not_raised_and_an_error_changes_nothing(role: str, text: str) -> None:
    p, clients, _, _ = _session()
    _check(p, clients[role], text)


@settings(max_examples=500)
@given(st.data(), st.sampled_from(ROLES))
def test_protocol_shaped_json_is_answered_not_raised_and_an_error_changes_nothing(
    data: st.DataObject, role: str
) -> None:
    p, clients, room, other_room = _session()
    _check(p, clients[role], data.draw(protocol_shaped(room, other_room)))


@settings(max_examples=200)
@given(st.sampled_from(ROLES), json_values)
def test_any_json_value_is_answered_not_raised_and_an_error_changes_nothing(
    role: str, value: Any
) -> None:
    p, clients, _, _ = _session()
    _check(p, clients[role], json.dumps(value))


def test_the_fuzzed_session_reaches_the_deep_handlers() -> None:
    # Guards the properties above against testing only the decoder.
    p, clients, room, _ = _session()
    out = p.send(clients["unready guest"], ready_msg(room))
    assert [json.loads(o.text)["type"] for o in out] == ["player_event"]


# --------------------------------------------------------------------------
# Near-valid messages
# --------------------------------------------------------------------------

AUDIT_VALUES: tuple[Any, ...] = (
    None,
    True,
    0,
    -1,
    1.5,
    10**30,
    "",
    "x",
    "x" * 70_000,
    [],
    ["playing"],
    {},
    {"a": {}},
    Raw("NaN"),
    Raw("-Infinity"),
    Raw("1e400"),
    Raw("[" * 40 + "]" * 40),
)
AUDIT_FIELDS = (
    ("list_rooms", ()),
    ("create_room", ("payload", "payload.name", "payload.start_pos", "payload.media_id")),
    ("join_room", ("room",)),
    ("ready", ("room", "payload", "payload.media_id")),
    ("leave_room", ("room",)),
    ("ping", ("payload", "payload.client_ts")),
    ("player_event", ("room", "payload", "payload.action", "payload.position")),
    ("state_update", ("room", "payload", "payload.position", "payload.play_state")),
)


def _valid(kind: str, room: str) -> dict[str, Any]:
    payloads: dict[str, dict[str, Any]] = {
        "create_room": {"name": "n", "start_pos": 0, "media_id": "m"},
        "ready": {"media_id": "m"},
        "ping": {"client_ts": 1},
        "player_event": {"action": "seek", "position": 1.5},
        "state_update": {"position": 1.5, "play_state": "playing"},
    }
    message: dict[str, Any] = {"type": kind, "room": room, "ts": 1}
    if kind in payloads:
        message["payload"] = payloads[kind]
    return message


@pytest.mark.parametrize(
    ("kind", "field"),
    [(kind, field) for kind, fields in AUDIT_FIELDS for field in ("type", "ts", *fields)],
)
def test_every_field_of_every_message_with_every_json_type_is_answered_not_raised(
    kind: str, field: str
) -> None:
    for value, role in itertools.product(AUDIT_VALUES, ("host", "unready guest", "roomless")):
        p, clients, room, _ = _session()
        message = _valid(kind, room)
        *parents, key = field.split(".")
        target = message
        for parent in parents:
            target = target[parent]
        target[key] = value
        _check(p, clients[role], to_text(message))


@settings(max_examples=examples(300))
@given(st.data(), st.sampled_from(ROLES))
def test_near_valid_messages_are_answered_not_raised_and_an_error_changes_nothing(
    data: st.DataObject, role: str
) -> None:
    p, clients, room, other_room = _session()
    rooms = st.sampled_from([room, other_room, "", "nope"]) | hostile_values
    _check(p, clients[role], data.draw(near_valid_messages(rooms)))


def _decodes_typed_or_raises(text: str) -> None:
    # The client side (SyncClient) takes what decode_server_message returns:
    # a broken or hostile server must not crash it, nor hand it a mistyped field.
    try:
        message = decode_server_message(text)
    except RemoteProtocolError:
        return
    if isinstance(message, RoomState):
        assert type(message.position) in (int, float)
        assert message.play_state in ("playing", "paused")
        assert message.media_id is None or type(message.media_id) is str
    if isinstance(message, RoomList):
        assert all(r.media_id is None or type(r.media_id) is str for r in message.rooms)


@pytest.mark.parametrize(
    ("kind", "path"),
    [(kind, path) for kind, message in server_templates().items() for path in field_paths(message)],
)
def test_every_field_of_every_server_message_with_every_json_type_is_typed_or_refused(
    kind: str, path: tuple[str, ...]
) -> None:
    for value in AUDIT_VALUES:
        message = server_templates()[kind] | {"ts": 1, "server_ts": 1}
        parent = message
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = value
        _decodes_typed_or_raises(to_text(message))


@pytest.mark.parametrize("key", ["id", "name", "count", "media_id"])
def test_every_field_of_a_room_list_entry_with_every_json_type_is_typed_or_refused(
    key: str,
) -> None:
    for value in AUDIT_VALUES:
        message = server_templates()["room_list"] | {"ts": 1, "server_ts": 1}
        message["payload"][0][key] = value
        _decodes_typed_or_raises(to_text(message))


@settings(max_examples=examples(200))
@given(near_valid_server_messages())
def test_near_valid_server_messages_are_typed_or_refused(text: str) -> None:
    _decodes_typed_or_raises(text)


@pytest.mark.parametrize("kind", KNOWN_TYPES)
def test_the_unchanged_messages_of_the_fuzz_are_valid(kind: str) -> None:
    # Guards the fuzz against testing only the JSON parser.
    p, clients, room, _ = _session()
    text = to_text(_valid(kind, room))
    assert decode_client_message(text).type == kind
    assert "error" not in [json.loads(o.text)["type"] for o in p.send(clients["host"], text)]


class HostileSessionMachine(SessionMachine):
    """The session state machine, with near-valid messages among the valid ones.

    Every check of :class:`SessionMachine` applies to every step. A hostile
    message the server accepts (a mutation can leave a valid message) may
    change rooms in ways the model does not predict, so the model is then
    read back from the server; the invariants still hold on it.
    """

    @precondition(lambda self: self.where)
    @rule(data=st.data())
    def near_valid_message(self, data: st.DataObject) -> None:
        client = self._client(data, prefer_hosts=True)
        rooms = st.sampled_from([*self.rooms, *NOT_A_ROOM]) | hostile_values
        out = self._send(client, data.draw(near_valid_messages(rooms), label="message"))
        if "error" not in [json.loads(o.text)["type"] for o in out]:
            self._read_model_from_server()

    def _read_model_from_server(self) -> None:
        server = self.server
        self.where = {c: server.room_of(c) for c in server.client_ids}
        self.rooms = {}
        for room_id in server.room_ids:
            snap = server.room(room_id)
            pending = snap.pending_play
            self.rooms[room_id] = ModelRoom(
                host=snap.host_id,
                members=list(snap.clients),
                ready=set(snap.ready_clients),
                pending=None if pending is None else (pending.position, pending.created_at),
            )


HostileSessionMachine.TestCase.settings = settings(
    HostileSessionMachine.TestCase.settings,
    stateful_step_count=40,
    max_examples=max(100, examples(0) // 50),
)
test_hostile_session_state_machine = HostileSessionMachine.TestCase
