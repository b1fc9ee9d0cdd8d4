"""Hypothesis strategies for JSON values and protocol messages."""

from __future__ import annotations

import copy
import json
from typing import Any

import attrs
from hypothesis import settings
from hypothesis import strategies as st

KNOWN_TYPES = (
    "list_rooms",
    "create_room",
    "join_room",
    "ready",
    "leave_room",
    "ping",
    "player_event",
    "state_update",
)


def examples(n: int) -> int:
    """``n`` examples, or the loaded profile's count if that is larger (``fuzz``)."""
    profile = settings.default
    return n if profile is None else max(n, profile.max_examples)


finite_floats = st.floats(allow_nan=False, allow_infinity=False)
numbers = st.one_of(st.integers(), finite_floats)
timestamps = st.integers(min_value=-(2**63), max_value=2**63)
ids = st.text(min_size=1, max_size=40)
"""Room and client ids: any non-empty string (an empty room means "no room")."""

json_scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=20))
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
"""Any JSON value Python's json module round-trips (no NaN, no infinities)."""


def payload_extras(reserved: frozenset[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Payload keys a client may add of its own, avoiding the ``reserved`` ones."""
    keys = st.text(max_size=12).filter(lambda k: k not in reserved)
    return st.dictionaries(keys, json_values, max_size=3)


# --------------------------------------------------------------------------
# Hostile input: near-valid client messages for the fuzz
# --------------------------------------------------------------------------


@attrs.frozen
class Raw:
    """JSON text put into a message as is: what ``json.dumps`` cannot or will not write."""

    text: str


def to_text(value: Any) -> str:
    """``value`` as JSON text, with :class:`Raw` parts written verbatim."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        items = (f"{json.dumps(k)}:{to_text(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_text(v) for v in value) + "]"
    return json.dumps(value)


def _nested(depth: int) -> Raw:
    return Raw("[" * depth + "]" * depth)


_HOSTILE_SCALARS: tuple[Any, ...] = (
    Raw("NaN"),
    Raw("Infinity"),
    Raw("-Infinity"),
    Raw("1e400"),
    Raw("-1e400"),
    Raw("1e-400"),
    Raw("-0"),
    Raw("1" + "0" * 5000),  # past Python's 4300-digit int conversion limit
    2**63,
    -(2**63) - 1,
    10**300,
    1e308,
    -1e308,
    5e-324,
    -0.5,
    True,
    False,
    None,
    0,
    "",
    "\ud800",
    "\x00\x1b",
    "play",
    "playing",
    [],
    {},
    [[]],
    {"": {}},
)
_LONG_STRINGS = (
    *(ch * n for n in (63, 64, 65, 127, 128, 129, 1000) for ch in ("x", "é", "🎬")),
    "x" * 70_000,  # over the transport's 64 KiB frame limit: the core must cope alone
)

hostile_values: st.SearchStrategy[Any] = st.one_of(
    # A fresh copy each draw: a message built from it may be changed in place.
    st.sampled_from(_HOSTILE_SCALARS).map(copy.deepcopy),
    st.sampled_from(_LONG_STRINGS),
    st.sampled_from([31, 32, 33, 100, 3000]).map(_nested),
    json_values,
    st.floats(),
    st.integers(),
)
"""Every JSON type, huge and non-finite numbers, deep nesting and oversize strings."""


def _templates(room: Any) -> dict[str, dict[str, Any]]:
    """One valid message of each client type, as a web client sends it."""
    return {
        "list_rooms": {"type": "list_rooms", "ts": 1},
        "create_room": {
            "type": "create_room",
            "payload": {"name": "n", "start_pos": 0, "media_id": "m"},
            "ts": 1,
        },
        "join_room": {"type": "join_room", "room": room, "ts": 1},
        "ready": {"type": "ready", "room": room, "payload": {"media_id": "m"}, "ts": 1},
        "leave_room": {"type": "leave_room", "room": room, "ts": 1},
        "ping": {"type": "ping", "payload": {"client_ts": 1}, "ts": 1},
        "player_event": {
            "type": "player_event",
            "room": room,
            "payload": {"action": "seek", "position": 1.5},
            "ts": 1,
        },
        "state_update": {
            "type": "state_update",
            "room": room,
            "payload": {"position": 1.5, "play_state": "playing"},
            "ts": 1,
        },
    }


def server_templates() -> dict[str, dict[str, Any]]:
    """One valid message of each type a server sends, as the core sends it."""
    room, me = "r" * 36, "c" * 36
    return {
        "client_hello": {"type": "client_hello", "client": me, "payload": {"client_id": me}},
        "room_list": {
            "type": "room_list",
            "payload": [{"id": room, "name": "n", "count": 1, "media_id": "m"}],
        },
        "room_state": {
            "type": "room_state",
            "room": room,
            "client": me,
            "payload": {
                "name": "n",
                "host_id": me,
                "state": {"position": 1.5, "play_state": "paused"},
                "participant_count": 1,
                "media_id": None,
            },
        },
        "participants_update": {
            "type": "participants_update",
            "room": room,
            "payload": {"participant_count": 2},
        },
        "client_left": {
            "type": "client_left",
            "room": room,
            "client": me,
            "payload": {"participant_count": 1},
        },
        "room_closed": {"type": "room_closed", "room": room},
        "pong": {"type": "pong", "payload": {"client_ts": 1}},
        "error": {"type": "error", "payload": {"message": "m"}},
        "player_event": {
            "type": "player_event",
            "room": room,
            "client": me,
            "payload": {"action": "seek", "position": 1.5, "target_server_ts": 1},
        },
        "state_update": {
            "type": "state_update",
            "room": room,
            "client": me,
            "payload": {"position": 1.5, "play_state": "playing"},
        },
    }


def field_paths(obj: dict[str, Any]) -> list[tuple[str, ...]]:
    """Every key of ``obj`` and of the objects inside it (not inside lists)."""
    paths: list[tuple[str, ...]] = []
    for key, value in obj.items():
        paths.append((key,))
        if isinstance(value, dict):
            paths.extend((key, *inner) for inner in field_paths(value))
    return paths


def _rarely(draw: st.DrawFn) -> bool:
    """True about one time in eight (hypothesis favours the ends of an integer range)."""
    return all(draw(st.booleans()) for _ in range(3))


def _mutate(draw: st.DrawFn, message: dict[str, Any], extra_keys: list[str]) -> str:
    """``message`` with a few fields replaced, removed or added, rarely cut short.

    ``type`` is rarely changed: other tests cover unknown types, and a known
    type is what leads the hostile values into a decoder."""
    paths = [p for p in field_paths(message) if p != ("type",) or _rarely(draw)]
    for path in draw(st.lists(st.sampled_from(paths), min_size=1, max_size=3)):
        parent: Any = message
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if not isinstance(parent, dict):
            continue  # an earlier change replaced an enclosing object
        if _rarely(draw):
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = draw(hostile_values)
    if draw(st.booleans()):
        message[draw(st.sampled_from(extra_keys))] = draw(hostile_values)
    text = to_text(message)
    if _rarely(draw):
        text = text[: draw(st.integers(0, len(text) - 1))]
    return text


@st.composite
def near_valid_messages(draw: st.DrawFn, rooms: st.SearchStrategy[Any]) -> str:
    """A valid client message of any type, mutated by :func:`_mutate`.

    ``rooms`` gives the ``room`` of the valid message."""
    kind = draw(st.sampled_from(KNOWN_TYPES))
    return _mutate(draw, _templates(draw(rooms))[kind], ["client", "server_ts", "extra"])


@st.composite
def near_valid_server_messages(draw: st.DrawFn) -> str:
    """A valid server message of any type, mutated by :func:`_mutate`."""
    templates = server_templates()
    message = templates[draw(st.sampled_from(sorted(templates)))]
    return _mutate(draw, message | {"ts": 1, "server_ts": 1}, ["room", "client", "extra"])
