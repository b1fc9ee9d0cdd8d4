"""Spec section 6 (bad input and limits), section 8 points 3 and 9, and API misuse."""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opensyncparty_core import (
    Config,
    LocalProtocolError,
    RemoteProtocolError,
    SessionServer,
    check_position,
    seeded_uuid4s,
)
from tests.core.harness import (
    Party,
    create_room,
    errors,
    join_room,
    party,
    player_event,
    ready_msg,
    state_update,
    types,
    wire,
)

RATE_LIMITED = "Rate limit exceeded"


def _state(p: Party) -> tuple[object, ...]:
    """Everything a refused message must leave alone."""
    rooms = tuple(p.server.room(r) for r in p.server.room_ids)
    return rooms, tuple((c, p.server.room_of(c)) for c in p.server.client_ids)


def _refused(p: Party, sender: str, message: dict[str, Any] | str) -> str:
    """Send ``message``; check it was refused with one error to the sender only."""
    before = _state(p)
    out = p.send(sender, message)
    assert [o.recipients for o in out] == [(sender,)], out
    assert wire(out[0])["type"] == "error"
    assert _state(p) == before
    (text,) = errors(out, sender)
    return text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "{",
        "[1, 2]",
        '"create_room"',
        "42",
        "null",
        "{}",
        '{"type": 5}',
        '{"type": null}',
        '{"type": ["ping"]}',
        '{"room": "r"}',
        '{"type": "ping"} trailing',
        "[NaN]",
        '{"payload": NaN}',
        '{"type": "ping", "payload": NaN',
    ],
)
def test_malformed_text_is_an_invalid_message_format_error(text: str) -> None:
    p = party()
    _room, host, _ = p.room_with(1)
    assert _refused(p, host, text) == "Invalid message format"


@pytest.mark.parametrize("kind", ["foo", "PING", "room_state", "pong", ""])
def test_unknown_type_is_an_error_naming_the_type(kind: str) -> None:
    p = party()
    client = p.connect()
    assert f"'{kind}'" in _refused(p, client, {"type": kind})


def test_binary_frame_is_an_error() -> None:
    p = party()
    _room, host, _ = p.room_with(1)
    before = _state(p)
    out = p.server.receive_binary(host, p.now)
    assert [o.recipients for o in out] == [(host,)]
    assert errors(out, host) == ["Binary messages are not supported"]
    assert _state(p) == before


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (create_room(name=5), "payload.name"),
        (create_room(name=["a"]), "payload.name"),
        (create_room(start_pos="3"), "payload.start_pos"),
        (create_room(start_pos=True), "payload.start_pos"),
        (create_room(media_id=7), "payload.media_id"),
        ({"type": "create_room", "payload": "x"}, "payload"),
        (join_room(5), "room"),
        ({"type": "join_room"}, "room"),
        ({"type": "ready", "room": ["r"]}, "room"),
        ({"type": "player_event", "room": "R"}, "payload"),
        ({"type": "player_event", "room": "R", "payload": []}, "payload"),
        (player_event("R", 1, 3), "payload.action"),
        (player_event("R", None, 3), "payload.action"),
        (player_event("R", "pause", "3"), "payload.position"),
        (player_event("R", "seek", [3]), "payload.position"),
        (player_event("R", "play", False), "payload.position"),
        (state_update("R", "3"), "payload.position"),
        (state_update("R", None), "payload.position"),
        (state_update("R", 3, "stopped"), "payload.play_state"),
        (state_update("R", 3, None), "payload.play_state"),
        (state_update("R", 3, []), "payload.play_state"),
        (state_update("R", 3, {}), "payload.play_state"),
        (state_update("R", 3, ["playing"]), "payload.play_state"),
        (player_event("R", [], 3), "payload.action"),
        (player_event("R", {"play": 1}, 3), "payload.action"),
        ({"type": "state_update", "room": "R"}, "payload"),
    ],
)
def test_wrong_field_type_is_an_error_naming_the_field(message: dict[str, Any], field: str) -> None:
    p = party()
    room, host, _ = p.room_with(1)
    if message.get("room") == "R":
        message = {**message, "room": room}
    assert f"'{field}'" in _refused(p, host, message)


def _position_messages(room: str, position: Any) -> list[tuple[dict[str, Any], str]]:
    return [
        (create_room(start_pos=position), "payload.start_pos"),
        (player_event(room, "play", position), "payload.position"),
        (player_event(room, "pause", position), "payload.position"),
        (player_event(room, "seek", position), "payload.position"),
        (state_update(room, position, "playing"), "payload.position"),
    ]


@pytest.mark.parametrize("position", [-0.001, -1, -1e-300, 604_800.000_001, 604_801, 10**30])
def test_position_outside_zero_to_one_week_is_an_error(position: float) -> None:
    p = party()
    room, host, _ = p.room_with(1)
    for message, field in _position_messages(room, position):
        assert f"'{field}'" in _refused(p, host, message)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
def test_non_finite_position_is_an_error_naming_the_field(literal: str) -> None:
    p = party()
    room, host, _ = p.room_with(1)
    for message, field in _position_messages(room, 0):
        text = json.dumps(message).replace(": 0", ": " + literal)
        assert literal in text
        assert _refused(p, host, text) == f"Field '{field}' must be a finite number"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"type": "ping", "payload": NaN}', "payload"),
        ('{"type": "ping", "payload": {"client_ts": Infinity}}', "payload.client_ts"),
        ('{"type": "ping", "payload": [1, [2, -1e400]]}', "payload[1][1]"),
        ('{"type": "create_room", "ts": NaN}', "ts"),
        ('{"type": "dance", "payload": {"x": NaN, "y": Infinity}}', "payload.x"),
    ],
)
def test_non_finite_number_anywhere_is_an_error_naming_its_field(text: str, field: str) -> None:
    p = party()
    client = p.connect()
    assert _refused(p, client, text) == f"Field '{field}' must be a finite number"


@pytest.mark.parametrize("position", [math.nan, math.inf, -math.inf])
def test_check_position_refuses_non_finite_numbers(position: float) -> None:
    with pytest.raises(RemoteProtocolError, match=r"'payload\.position'"):
        check_position(position, "payload.position", Config())


@pytest.mark.parametrize("position", [0, 0.0, 1e-300, 604_800])
def test_check_position_returns_a_position_in_range(position: float) -> None:
    assert check_position(position, "payload.position", Config()) == position


@pytest.mark.parametrize("position", [0, 0.0, 604_800, 604_800.0, 1e-300])
def test_position_at_the_range_ends_is_accepted(position: float) -> None:
    p = party()
    host, guest = p.connect(), p.connect()
    room = p.create(host, start_pos=position)
    assert p.server.room(room).position == position
    p.send(guest, join_room(room))
    p.send(guest, ready_msg(room))
    for action in ("play", "pause", "seek"):
        (out,) = p.send(host, player_event(room, action, position))
        assert wire(out)["payload"]["position"] == position


@pytest.mark.parametrize("ts", ["1700000000000", 1.5, 1.0, True, None, [], {}])
def test_ts_from_a_client_must_be_an_integer(ts: Any) -> None:
    p = party()
    client = p.connect()
    assert "'ts'" in _refused(p, client, {"type": "create_room", "ts": ts})


@pytest.mark.parametrize("ts", [0, -5, 1_700_000_000_000, 2**70])
def test_integer_ts_or_none_at_all_is_accepted(ts: int) -> None:
    p = party()
    client = p.connect()
    assert types(p.send(client, {"type": "ping", "ts": ts})) == ["pong"]
    assert types(p.send(client, {"type": "ping"})) == ["pong"]


@pytest.mark.parametrize("room", ["", None])
def test_empty_or_null_room_is_the_same_as_no_room(room: str | None) -> None:
    p = party()
    client = p.connect()
    absent = {"type": "join_room"}
    assert _refused(p, client, {**absent, "room": room}) == _refused(p, client, absent)
    assert _refused(p, client, {"type": "ready", "room": room}) == _refused(
        p, client, {"type": "ready"}
    )
    assert types(p.send(client, {"type": "list_rooms", "room": room})) == ["room_list"]
    out = p.send(client, {**create_room(name="web"), "room": room})
    assert types(out) == ["room_state", "room_list"]
    assert types(p.send(client, {"type": "leave_room", "room": room})) == ["room_list"]


def test_bad_input_in_a_room_reaches_no_other_member() -> None:
    p = party()
    room, host, guests = p.room_with(3, ready=False)
    p.send(host, player_event(room, "play", 5))
    bad: list[dict[str, Any] | str] = [
        "garbage",
        {"type": "player_event", "room": room, "payload": {"action": "rewind"}},
        player_event(room, "seek", -1),
        state_update(room, 10**9, "playing"),
        join_room("missing"),
        {"type": "ready", "room": "another"},
        create_room(start_pos=-3),
    ]
    for message in bad:
        for sender in (host, *guests):
            _refused(p, sender, message)
    assert p.server.room(room).pending_play is not None


def test_message_nested_too_deep_is_refused_not_raised() -> None:
    p = party()
    client = p.connect()
    for depth in (40, 500, 990, 995, 1000, 5000):
        _refused(p, client, '{"type":"ping","payload":' + "[" * depth + "]" * depth + "}")
        p.advance(1000)  # stay clear of the rate limit


def test_ordinary_nesting_is_echoed() -> None:
    p = party()
    client = p.connect()
    payload: Any = 1
    for _ in range(10):  # 21 levels with the envelope; web clients use 3
        payload = {"a": [payload]}
    (out,) = p.send(client, {"type": "ping", "payload": payload})
    assert wire(out)["payload"] == payload


# --------------------------------------------------------------------------
# Rate limit (point 9)
# --------------------------------------------------------------------------


def _burst(p: Party, client: str, n: int) -> list[str]:
    """Send ``n`` pings at the current clock; return what came back, in order."""
    got: list[str] = []
    for _ in range(n):
        got += [wire(o)["type"] for o in p.send(client, {"type": "ping"})]
    return got


def test_a_burst_of_30_messages_is_accepted_and_the_31st_refused() -> None:
    p = party()
    client = p.connect()
    assert _burst(p, client, 30) == ["pong"] * 30
    out = p.send(client, {"type": "ping"})
    assert errors(out, client) == [RATE_LIMITED]
    assert len(out) == 1


def test_a_message_over_the_rate_limit_is_dropped() -> None:
    p = party()
    client = p.connect()
    _burst(p, client, 30)
    out = p.send(client, create_room(name="flood"))
    assert errors(out, client) == [RATE_LIMITED]
    assert p.server.room_ids == ()
    assert p.server.room_of(client) is None


def test_binary_frames_count_against_the_rate_limit() -> None:
    p = party()
    client = p.connect()
    for _ in range(30):
        p.server.receive_binary(client, p.now)
    assert errors(p.send(client, {"type": "ping"}), client) == [RATE_LIMITED]


def test_rate_limit_refills_30_per_second() -> None:
    p = party()
    client = p.connect()
    _burst(p, client, 31)
    p.advance(100)  # 3 tokens
    assert _burst(p, client, 4) == ["pong"] * 3
    p.advance(33)  # 0.99 token
    assert _burst(p, client, 1) == []
    p.advance(1)
    assert _burst(p, client, 1) == ["pong"]
    p.advance(5000)  # the bucket holds 30 at most
    assert _burst(p, client, 31) == ["pong"] * 30 + ["error"]


def test_rate_limit_error_is_sent_at_most_once_per_second() -> None:
    p = party()
    client = p.connect()
    start = p.now
    error_times: list[int] = []
    pongs = 0
    for ms in range(2501):
        p.now = start + ms
        for _ in range(31 if ms == 0 else 2):  # a burst, then 2000 messages/s
            for m in (wire(o) for o in p.send(client, {"type": "ping"})):
                if m["type"] == "error":
                    error_times.append(m["server_ts"])
                else:
                    pongs += 1
    assert error_times == [start, start + 1000, start + 2000]
    assert pongs == 30 + 75  # the burst, then 30/s for 2.5 s


def test_rate_limit_is_per_client() -> None:
    p = party()
    flooder, calm = p.connect(), p.connect()
    _burst(p, flooder, 40)
    assert _burst(p, calm, 30) == ["pong"] * 30


def test_a_clock_stepping_back_refills_nothing() -> None:
    p = party()
    client = p.connect()
    _burst(p, client, 30)
    p.advance(-10_000)
    assert _burst(p, client, 1) == ["error"]


@pytest.mark.parametrize("step_back", [1, 999, 10_000, 3_600_000])
def test_rate_limit_errors_stay_a_second_apart_when_the_clock_steps_back(step_back: int) -> None:
    p = party()
    client = p.connect()
    assert _burst(p, client, 31)[-1] == "error"
    p.advance(400)
    assert _burst(p, client, 20) == ["pong"] * 12  # 30/s for 0.4 s, the rest dropped
    p.advance(-step_back)
    assert _burst(p, client, 40) == []  # only 400 ms of clock time since the error
    p.advance(599)
    assert "error" not in _burst(p, client, 40)
    p.advance(1)
    assert _burst(p, client, 40) == ["error"]


@settings(max_examples=100)
@given(st.lists(st.tuples(st.integers(-5000, 1500), st.integers(1, 40)), min_size=1, max_size=25))
def test_rate_limit_errors_are_spaced_by_clock_time_even_when_it_steps_back(
    bursts: list[tuple[int, int]],
) -> None:
    p = party()
    client = p.connect()
    forward = 0  # clock time that passed, counting no backward step
    error_at: list[int] = []
    for gap, count in bursts:
        p.advance(gap)
        forward += max(gap, 0)
        for _ in range(count):
            kinds = _burst(p, client, 1)
            if kinds == ["error"]:
                error_at.append(forward)
            elif kinds == []:  # dropped silently: only within a second of the last error
                assert error_at
                assert forward - error_at[-1] < 1000
    for earlier, later in itertools.pairwise(error_at):
        assert later - earlier >= 1000


# --------------------------------------------------------------------------
# Misuse of the API
# --------------------------------------------------------------------------


def test_unknown_client_id_is_a_local_protocol_error() -> None:
    p = party()
    p.connect()
    server = p.server
    with pytest.raises(LocalProtocolError):
        server.receive("nobody", '{"type": "ping"}', p.now)
    with pytest.raises(LocalProtocolError):
        server.receive_binary("nobody", p.now)
    with pytest.raises(LocalProtocolError):
        server.disconnect("nobody", p.now)
    with pytest.raises(LocalProtocolError):
        server.room_of("nobody")


def test_disconnecting_twice_is_a_local_protocol_error() -> None:
    p = party()
    client = p.connect()
    p.disconnect(client)
    with pytest.raises(LocalProtocolError):
        p.disconnect(client)


def test_id_source_returning_a_client_id_twice_is_a_local_protocol_error() -> None:
    server = SessionServer(id_source=lambda: "same-id")
    server.connect(0)
    with pytest.raises(LocalProtocolError):
        server.connect(0)
    assert server.client_ids == ("same-id",)


def test_id_source_returning_a_client_id_as_room_id_is_a_local_protocol_error() -> None:
    ids = iter(["client-1", "client-1"])
    server = SessionServer(id_source=lambda: next(ids))
    client, _ = server.connect(0)
    with pytest.raises(LocalProtocolError):
        server.receive(client, '{"type": "create_room"}', 0)
    assert server.room_ids == ()


def test_id_source_failure_on_create_leaves_the_creator_in_its_room() -> None:
    source = seeded_uuid4s(0)
    issued: list[str] = []

    def ids() -> str:
        issued.append(source() if len(issued) < 3 else issued[0])
        return issued[-1]

    p = Party(SessionServer(id_source=ids))
    room, _, (guest,) = p.room_with(1)
    before = _state(p)
    with pytest.raises(LocalProtocolError):
        p.send(guest, create_room(name="second"))
    assert _state(p) == before
    assert p.server.room_of(guest) == room


@pytest.mark.parametrize("interval_ms", [34, 50, 1000])
def test_a_client_within_30_per_second_is_never_refused(interval_ms: int) -> None:
    p = party()
    client = p.connect()
    assert _burst(p, client, 30) == ["pong"] * 30
    for _ in range(300):
        p.advance(interval_ms)
        assert _burst(p, client, 1) == ["pong"]


@settings(max_examples=100)
@given(st.lists(st.tuples(st.integers(0, 1500), st.integers(1, 40)), min_size=1, max_size=25))
def test_rate_limit_bounds_accepted_messages_and_spaces_its_errors(
    bursts: list[tuple[int, int]],
) -> None:
    p = party()
    client = p.connect()
    accepted: list[int] = []
    error_times: list[int] = []
    for gap, count in bursts:
        p.advance(gap)
        for _ in range(count):
            kinds = _burst(p, client, 1)
            if kinds == ["pong"]:
                accepted.append(p.now)
            elif kinds == ["error"]:
                error_times.append(p.now)
            else:  # dropped silently: only within a second of the last error
                assert kinds == []
                assert error_times
                assert p.now - error_times[-1] < 1000
    for earlier, later in itertools.pairwise(error_times):
        assert later - earlier >= 1000
    for i, start in enumerate(accepted):
        for j in range(i, len(accepted)):
            assert j - i + 1 <= 30 + 30 * (accepted[j] - start) / 1000 + 1e-9
