"""Property tests of your own rules on top of the core, with hypothesis.

Rule checked here: however the host's player reports, the guests get at most
one same-state ``state_update`` per ``min_state_update_interval_ms``, and
every relayed position is one the host really reported.
"""

from __future__ import annotations

import itertools
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from opensyncparty_core import Config, SessionServer, seeded_uuid4s, state_update_drop_reason

CONFIG = Config()

reports = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=3_000),  # ms since the previous report
        st.floats(min_value=0, max_value=CONFIG.max_position),
        st.sampled_from(["playing", "paused"]),
    ),
    max_size=40,
)


@settings(max_examples=50)
@given(reports)
def test_guests_get_spaced_updates_from_the_host(
    updates: list[tuple[int, float, str]],
) -> None:
    server = SessionServer(id_source=seeded_uuid4s(), config=CONFIG)
    now = 1_700_000_000_000
    host, _ = server.connect(now)
    guest, _ = server.connect(now)
    server.receive(host, json.dumps({"type": "create_room"}), now)
    room = server.room_of(host)
    server.receive(guest, json.dumps({"type": "join_room", "room": room}), now)

    relayed: list[tuple[int, float, str]] = []
    for delay, position, play_state in updates:
        now += delay
        payload = {"position": position, "play_state": play_state}
        message = {"type": "state_update", "room": room, "payload": payload}
        for out in server.receive(host, json.dumps(message), now):
            assert out.recipients == (guest,)
            sent = json.loads(out.text)
            relayed.append((now, sent["payload"]["position"], sent["payload"]["play_state"]))

    reported = {(position, play_state) for _, position, play_state in updates}
    assert {(p, s) for _, p, s in relayed} <= reported
    for (t1, _, s1), (t2, _, s2) in itertools.pairwise(relayed):
        assert s1 != s2 or t2 - t1 >= CONFIG.min_state_update_interval_ms


@given(
    now=st.integers(min_value=0, max_value=10**13),
    since_command=st.integers(min_value=0, max_value=10_000),
    position=st.floats(min_value=0, max_value=1e5),
    room_position=st.floats(min_value=0, max_value=1e5),
)
def test_a_play_state_change_passes_once_the_cooldown_is_over(
    now: int, since_command: int, position: float, room_position: float
) -> None:
    # The rules are plain functions: no server needed to test one.
    reason = state_update_drop_reason(
        now=now,
        position=position,
        play_state="paused",
        room_position=room_position,
        room_play_state="playing",
        last_state_ts=now,
        last_command_ts=now - since_command,
        config=CONFIG,
    )
    expected = "cooldown" if since_command < CONFIG.command_cooldown_ms else None
    assert reason == expected
