"""No input text escapes ``receive`` as an exception, and an ``error`` answer changes nothing.

Every ``error`` carries a known :data:`ErrorCode`.

The server under test has a room with a pending play, a ready guest, an
unready guest and a client in no room, so that well-formed messages reach
every handler and its checks.
"""

from __future__ import annotations

import json
import typing
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from opensyncparty_core import ErrorCode, Outgoing, decode_server_message
from tests.core.harness import Party, join_room, party, player_event, ready_msg
from tests.core.strategies import KNOWN_TYPES, json_values, numbers

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
    errors = [json.loads(o.text) for o in out if json.loads(o.text)["type"] == "error"]
    for error in errors:
        assert error["payload"]["code"] in typing.get_args(ErrorCode), error
    if errors:
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
