"""Hypothesis strategies for JSON values and protocol messages."""

from __future__ import annotations

from typing import Any

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
