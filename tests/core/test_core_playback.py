"""Spec section 5 (`ready`, `player_event`, `state_update`) and section 8 points 1, 2, 4-6."""

from __future__ import annotations

import attrs
import pytest

from opensyncparty_core import Config, PendingPlay
from tests.core.harness import (
    SEED,
    Party,
    errors,
    join_room,
    leave_room,
    party,
    player_event,
    ready_msg,
    received,
    state_update,
    wire,
)

# --------------------------------------------------------------------------
# ready
# --------------------------------------------------------------------------


def test_ready_adds_the_member_to_ready_clients() -> None:
    p = party()
    room, host, (guest,) = p.room_with(1, ready=False)
    assert guest not in p.server.room(room).ready_clients
    assert p.send(guest, ready_msg(room)) == []
    assert p.server.room(room).ready_clients == {host, guest}


def test_ready_ignores_extra_payload_keys() -> None:
    p = party()
    room, _host, (guest,) = p.room_with(1, ready=False)
    msg = {"type": "ready", "room": room, "client": guest, "payload": {"room": room, "x": [1]}}
    assert p.send(guest, msg) == []
    assert guest in p.server.room(room).ready_clients


def test_ready_from_a_non_member_is_an_error() -> None:
    p = party()
    room, _, _ = p.room_with(1, ready=False)
    stranger = p.connect()
    before = p.server.room(room)
    out = p.send(stranger, ready_msg(room))
    assert [o.recipients for o in out] == [(stranger,)]
    assert errors(out, stranger) == [f"You are not in room '{room}'"]
    assert p.server.room(room) == before


def test_ready_for_another_room_than_ones_own_is_an_error() -> None:
    p = party()
    room, _, (guest,) = p.room_with(1, ready=False)
    other_room = p.create(p.connect())
    out = p.send(guest, ready_msg(other_room))
    assert len(errors(out, guest)) == 1
    assert guest not in p.server.room(room).ready_clients
    assert guest not in p.server.room(other_room).ready_clients


# --------------------------------------------------------------------------
# play: scheduled or pending
# --------------------------------------------------------------------------


def test_play_when_all_ready_is_scheduled_for_every_member_including_host() -> None:
    p = party()
    room, host, guests = p.room_with(2)
    p.advance(5_000)
    out = p.send(host, player_event(room, "play", 12.5))
    assert len(out) == 1
    assert out[0].recipients == (host, *guests)
    target = p.now + 1500
    assert wire(out[0]) == {
        "type": "player_event",
        "room": room,
        "payload": {"action": "play", "position": 12.5, "target_server_ts": target},
        "ts": p.now,
        "server_ts": target,
    }
    snap = p.server.room(room)
    assert (snap.position, snap.play_state, snap.pending_play) == (12.5, "playing", None)
    assert snap.last_state_ts == snap.last_command_ts == p.now


def test_scheduled_play_carries_no_client() -> None:
    p = party()
    room, host, _ = p.room_with(1)
    # Even when the host claims to be someone else, a scheduled play names nobody.
    msg = {**player_event(room, "play", 1), "client": host}
    (out,) = p.send(host, msg)
    assert "client" not in wire(out)


def test_play_when_not_all_ready_becomes_pending_and_sends_nothing() -> None:
    p = party()
    room, host, _ = p.room_with(1, ready=False)
    assert p.send(host, player_event(room, "play", 30)) == []
    snap = p.server.room(room)
    assert snap.pending_play == PendingPlay(position=30, created_at=p.now)
    assert (snap.position, snap.play_state) == (30, "playing")
    assert snap.last_command_ts == snap.last_state_ts == p.now
    assert p.server.next_deadline() == p.now + 2000


def test_pending_play_fires_when_the_last_member_becomes_ready() -> None:
    p = party()
    room, host, (g1, g2) = p.room_with(2, ready=False)
    p.send(host, player_event(room, "play", 30))
    p.advance(700)
    assert p.send(g1, ready_msg(room)) == []
    p.advance(100)
    (out,) = p.send(g2, ready_msg(room))
    assert out.recipients == (host, g1, g2)
    assert wire(out)["payload"] == {
        "action": "play",
        "position": 30,
        "target_server_ts": p.now + 1500,
    }
    assert wire(out)["server_ts"] == p.now + 1500
    assert p.server.room(room).pending_play is None


def test_joiner_is_not_ready_so_play_waits_for_it() -> None:
    p = party()
    room, host, _ = p.room_with(1)
    late = p.connect()
    p.send(late, join_room(room))
    assert p.send(host, player_event(room, "play", 3)) == []
    assert p.server.room(room).pending_play is not None


def test_forced_play_fires_at_max_ready_wait() -> None:
    p = party()
    room, host, (guest,) = p.room_with(1, ready=False)
    p.send(host, player_event(room, "play", 30))
    created = p.now
    assert p.server.next_deadline() == created + 2000
    p.now = created + 1999
    assert p.timer() == []
    assert p.server.room(room).pending_play is not None
    p.now = created + 2000
    (out,) = p.timer()
    assert out.recipients == (host, guest)
    target = created + 2000 + 1500
    assert wire(out) == {
        "type": "player_event",
        "room": room,
        "payload": {"action": "play", "position": 30, "target_server_ts": target},
        "ts": p.now,
        "server_ts": target,
    }
    assert p.server.room(room).pending_play is None
    assert p.server.next_deadline() is None


def test_forced_play_target_is_computed_from_the_firing_time() -> None:
    p = party()
    room, host, _ = p.room_with(1, ready=False)
    p.send(host, player_event(room, "play", 30))
    p.advance(2750)
    (out,) = p.timer()
    assert wire(out)["payload"]["target_server_ts"] == p.now + 1500


def test_a_newer_play_replaces_the_pending_play_and_its_deadline() -> None:
    p = party()
    room, host, _ = p.room_with(1, ready=False)
    p.send(host, player_event(room, "play", 10))
    first = p.now
    p.advance(1000)
    p.send(host, player_event(room, "play", 20))
    assert p.server.room(room).pending_play == PendingPlay(position=20, created_at=p.now)
    p.now = first + 2000
    assert p.timer() == []
    assert p.server.next_deadline() == first + 3000
    p.now = first + 3000
    (out,) = p.timer()
    assert wire(out)["payload"]["position"] == 20


def test_play_on_last_ready_clears_pending_play_so_its_deadline_never_fires() -> None:
    p = party()
    room, host, (guest,) = p.room_with(1, ready=False)
    p.send(host, player_event(room, "play", 10))
    p.send(guest, ready_msg(room))
    p.advance(5000)
    assert p.server.next_deadline() is None
    assert p.timer() == []


def test_forced_play_clears_pending_play_so_it_fires_once() -> None:
    p = party()
    room, host, _ = p.room_with(1, ready=False)
    p.send(host, player_event(room, "play", 10))
    p.advance(2000)
    assert len(p.timer()) == 1
    assert p.timer() == []
    p.advance(10_000)
    assert p.timer() == []


def test_later_ready_does_not_replay_a_forced_play() -> None:
    p = party()
    room, host, (guest,) = p.room_with(1, ready=False)
    p.send(host, player_event(room, "play", 10))
    p.advance(2000)
    p.timer()
    assert p.send(guest, ready_msg(room)) == []


@pytest.mark.parametrize("action", ["pause", "seek"])
def test_a_pause_or_seek_cancels_a_pending_play(action: str) -> None:
    p = party()
    room, host, (guest,) = p.room_with(1, ready=False)
    p.send(host, player_event(room, "play", 10))
    p.send(host, player_event(room, action, 11))
    assert p.server.room(room).pending_play is None
    assert p.server.next_deadline() is None
    p.advance(3000)
    assert p.timer() == []
    assert p.send(guest, ready_msg(room)) == []


@pytest.mark.parametrize("how", ["leave", "disconnect"])
def test_losing_the_last_unready_member_fires_pending_play_at_once(how: str) -> None:
    p = party(SEED)
    room, host, (ready_guest,) = p.room_with(1)
    slow = p.connect()
    p.send(slow, join_room(room))
    p.send(host, player_event(room, "play", 42))
    p.advance(300)
    out = p.send(slow, leave_room(room)) if how == "leave" else p.disconnect(slow)
    plays = [o for o in out if wire(o)["type"] == "player_event"]
    assert len(plays) == 1
    assert plays[0].recipients == (host, ready_guest)
    assert wire(plays[0])["payload"]["target_server_ts"] == p.now + 1500
    assert p.server.room(room).pending_play is None
    # The leave is reported before the play it caused; the room list comes last.
    assert [wire(o)["type"] for o in out] == ["client_left", "player_event", "room_list"]


def test_losing_one_of_two_unready_members_keeps_the_play_pending() -> None:
    p = party()
    room, host, (g1, _) = p.room_with(2, ready=False)
    p.send(host, player_event(room, "play", 42))
    out = p.send(g1, leave_room(room))
    assert "player_event" not in [wire(o)["type"] for o in out]
    assert p.server.room(room).pending_play is not None


def test_host_leave_drops_pending_play() -> None:
    p = party()
    room, host, _ = p.room_with(1, ready=False)
    p.send(host, player_event(room, "play", 42))
    p.send(host, leave_room(room))
    assert room not in p.server.room_ids
    assert p.server.next_deadline() is None
    p.advance(5000)
    assert p.timer() == []


# --------------------------------------------------------------------------
# pause / seek
# --------------------------------------------------------------------------


@pytest.mark.parametrize(("action", "play_state"), [("pause", "paused"), ("seek", "playing")])
def test_pause_and_seek_go_to_the_other_members_with_control_lead(
    action: str, play_state: str
) -> None:
    p = party()
    room, host, guests = p.room_with(2)
    p.send(host, player_event(room, "play", 5))
    p.advance(4000)
    (out,) = p.send(host, player_event(room, action, 60))
    assert out.recipients == tuple(guests)
    target = p.now + 300
    assert wire(out) == {
        "type": "player_event",
        "room": room,
        "client": host,
        "payload": {"action": action, "position": 60, "target_server_ts": target},
        "ts": p.now,
        "server_ts": target,
    }
    snap = p.server.room(room)
    assert (snap.position, snap.play_state) == (60, play_state)
    assert snap.last_state_ts == snap.last_command_ts == p.now


def test_pause_with_the_host_alone_sends_nothing_but_changes_state() -> None:
    p = party()
    host = p.connect()
    room = p.create(host)
    assert p.send(host, player_event(room, "pause", 9)) == []
    assert p.server.room(room).position == 9


def test_relayed_player_event_keeps_every_key_of_the_hosts_payload() -> None:
    p = party()
    room, host, (_guest,) = p.room_with(1)
    extra = {"play_state": "playing", "room": room, "nested": {"a": [1, None]}}
    msg = player_event(room, "seek", 3)
    msg["payload"].update(extra)
    (out,) = p.send(host, msg)
    assert wire(out)["payload"] == {
        **extra,
        "action": "seek",
        "position": 3,
        "target_server_ts": p.now + 300,
    }


def test_relayed_player_event_target_overrides_one_sent_by_the_host() -> None:
    p = party()
    room, host, _ = p.room_with(1)
    (out,) = p.send(host, player_event(room, "pause", 3, target_server_ts=1))
    assert wire(out)["payload"]["target_server_ts"] == p.now + 300


def test_relayed_envelope_client_is_the_real_sender() -> None:
    p = party()
    room, host, (guest,) = p.room_with(1)
    msg = {**player_event(room, "pause", 3), "client": guest, "server_ts": 7, "ts": 8}
    (out,) = p.send(host, msg)
    assert wire(out)["client"] == host
    assert wire(out)["ts"] == p.now
    assert wire(out)["server_ts"] == p.now + 300


def test_seek_without_position_is_an_error() -> None:
    p = party()
    room, host, _ = p.room_with(1)
    before = p.server.room(room)
    out = p.send(host, player_event(room, "seek"))
    assert errors(out, host) == ["Field 'payload.position' is required"]
    assert len(out) == 1
    assert p.server.room(room) == before


@pytest.mark.parametrize("action", ["play", "pause"])
def test_play_or_pause_without_position_uses_the_room_position(action: str) -> None:
    p = party(seed=3)
    host = p.connect()
    guest = p.connect()
    room = p.create(host, start_pos=77.25)
    p.send(guest, join_room(room))
    p.send(guest, ready_msg(room))
    (out,) = p.send(host, player_event(room, action))
    assert p.server.room(room).position == 77.25
    if action == "play":
        assert wire(out)["payload"]["position"] == 77.25


def test_player_event_from_a_non_host_is_not_relayed_and_errors() -> None:
    p = party()
    room, _host, (g1, _) = p.room_with(2)
    before = p.server.room(room)
    for action in ("play", "pause", "seek"):
        out = p.send(g1, player_event(room, action, 5))
        assert [o.recipients for o in out] == [(g1,)]
        assert errors(out, g1) == ["Only the host can control playback"]
    assert p.server.room(room) == before


def test_player_event_for_a_room_the_sender_is_not_in_is_an_error() -> None:
    p = party()
    room, _, _ = p.room_with(1)
    other_host = p.connect()
    p.create(other_host)
    out = p.send(other_host, player_event(room, "pause", 5))
    assert [o.recipients for o in out] == [(other_host,)]
    assert errors(out, other_host) == [f"You are not in room '{room}'"]


@pytest.mark.parametrize("action", ["stop", "PLAY", ""])
def test_unknown_player_action_is_an_error(action: str) -> None:
    p = party()
    room, host, _ = p.room_with(1)
    before = p.server.room(room)
    out = p.send(host, player_event(room, action, 5))
    assert [o.recipients for o in out] == [(host,)]
    assert f"'{action}'" in errors(out, host)[0]
    assert p.server.room(room) == before


def test_timings_come_from_the_config() -> None:
    config = attrs.evolve(Config(), play_schedule_ms=100, control_schedule_ms=7)
    p = party(config)
    room, host, _ = p.room_with(1)
    (play,) = p.send(host, player_event(room, "play", 1))
    (pause,) = p.send(host, player_event(room, "pause", 1))
    assert wire(play)["server_ts"] == p.now + 100
    assert wire(pause)["server_ts"] == p.now + 7


def test_ready_wait_and_state_update_filters_come_from_the_config() -> None:
    config = attrs.evolve(
        Config(),
        max_ready_wait_ms=50,
        command_cooldown_ms=10,
        min_state_update_interval_ms=5,
        position_jitter_threshold=0.1,
    )
    p = party(config)
    room, host, (guest,) = p.room_with(1, ready=False)
    p.send(host, player_event(room, "play", 1))
    assert p.server.next_deadline() == p.now + 50
    p.advance(50)
    assert len(p.timer()) == 1
    p.advance(10)
    p.send(host, state_update(room, 1.1, "playing"))
    assert _relayed(p, guest)
    p.advance(4)
    assert p.send(host, state_update(room, 5, "playing")) == []


# --------------------------------------------------------------------------
# state_update
# --------------------------------------------------------------------------

BASE = 100.0


def _room_at_base(play_state: str = "paused") -> tuple[Party, str, str, str]:
    """A room whose state is (BASE, play_state), 1 s after its last state change."""
    p = party()
    host = p.connect()
    guest = p.connect()
    room = p.create(host, start_pos=BASE)
    p.send(guest, join_room(room))
    if play_state == "playing":
        p.send(guest, ready_msg(room))
        p.send(host, player_event(room, "play", BASE))
        p.advance(2000)  # out of the cooldown
    p.advance(1000)
    return p, room, host, guest


def _relayed(p: Party, guest: str) -> bool:
    return any(m["type"] == "state_update" for m in received(p.last, guest))


@pytest.mark.parametrize("diff", [-1.999, -1.0, -0.75, -0.501])
def test_state_update_small_backward_move_is_dropped_as_hls_jitter(diff: float) -> None:
    p, room, host, _guest = _room_at_base()
    assert p.send(host, state_update(room, BASE + diff)) == []
    assert p.server.room(room).position == BASE


@pytest.mark.parametrize("diff", [0.0, 0.001, 0.25, 0.499])
def test_state_update_forward_move_under_threshold_is_dropped_as_no_change(diff: float) -> None:
    p, room, host, _guest = _room_at_base()
    assert p.send(host, state_update(room, BASE + diff)) == []
    assert p.server.room(room).position == BASE


@pytest.mark.parametrize(
    "diff", [-50.0, -2.001, -2.0, -0.5, -0.499, -0.25, -0.001, 0.5, 0.501, 30.0]
)
def test_state_update_at_or_beyond_the_jitter_boundaries_is_relayed(diff: float) -> None:
    p, room, host, guest = _room_at_base()
    p.send(host, state_update(room, BASE + diff))
    assert _relayed(p, guest)
    assert p.server.room(room).position == BASE + diff


def test_state_update_in_a_playing_room_uses_the_same_filters() -> None:
    p, room, host, guest = _room_at_base("playing")
    assert p.send(host, state_update(room, BASE + 0.2, "playing")) == []
    p.send(host, state_update(room, BASE + 0.5, "playing"))
    assert _relayed(p, guest)


@pytest.mark.parametrize("diff", [0.0, 0.2, -1.0])
def test_state_update_changing_play_state_skips_spacing_and_position_filters(
    diff: float,
) -> None:
    p, room, host, guest = _room_at_base()
    p.advance(-999)  # 1 ms after the last state change
    p.send(host, state_update(room, BASE + diff, "playing"))
    assert _relayed(p, guest)
    assert p.server.room(room).play_state == "playing"


def test_state_update_within_min_interval_is_dropped() -> None:
    p, room, host, guest = _room_at_base()
    p.send(host, state_update(room, BASE + 5))
    assert _relayed(p, guest)
    p.advance(499)
    assert p.send(host, state_update(room, BASE + 10)) == []
    p.advance(1)
    p.send(host, state_update(room, BASE + 10))
    assert _relayed(p, guest)


def test_state_update_within_cooldown_is_dropped() -> None:
    p, room, host, guest = _room_at_base()
    p.send(host, player_event(room, "seek", 500))
    command_at = p.now
    p.now = command_at + 1999
    # Even a play_state change is an echo of the command during the cooldown.
    assert p.send(host, state_update(room, 600, "playing")) == []
    assert p.server.room(room).position == 500
    p.now = command_at + 2000
    p.send(host, state_update(room, 600, "playing"))
    assert _relayed(p, guest)


def test_state_update_has_no_cooldown_before_the_first_command() -> None:
    p = party()
    room, host, (guest,) = p.room_with(1)
    p.advance(500)
    p.send(host, state_update(room, 3))
    assert _relayed(p, guest)


def test_accepted_state_update_updates_state_and_goes_to_the_others_only() -> None:
    p, room, host, guest = _room_at_base()
    (out,) = p.send(host, state_update(room, 130.5, "playing"))
    assert out.recipients == (guest,)
    assert wire(out) == {
        "type": "state_update",
        "room": room,
        "client": host,
        "payload": {"position": 130.5, "play_state": "playing"},
        "ts": p.now,
        "server_ts": p.now,
    }
    snap = p.server.room(room)
    assert (snap.position, snap.play_state, snap.last_state_ts) == (130.5, "playing", p.now)
    assert snap.last_command_ts is None


def test_relayed_state_update_keeps_extra_payload_keys_and_real_sender() -> None:
    p, room, host, guest = _room_at_base()
    msg = state_update(room, 130, "paused", media_id="m1", rate=1.25)
    msg["client"] = guest
    (out,) = p.send(host, msg)
    assert wire(out)["client"] == host
    assert wire(out)["payload"] == {
        "position": 130,
        "play_state": "paused",
        "media_id": "m1",
        "rate": 1.25,
    }


def test_state_update_from_a_non_host_is_not_relayed_and_errors() -> None:
    p, room, _host, guest = _room_at_base()
    before = p.server.room(room)
    out = p.send(guest, state_update(room, 300, "playing"))
    assert [o.recipients for o in out] == [(guest,)]
    assert errors(out, guest) == ["Only the host can control playback"]
    assert p.server.room(room) == before


def test_dropped_state_update_is_silent_and_changes_nothing() -> None:
    p, room, host, _guest = _room_at_base()
    before = p.server.room(room)
    assert p.send(host, state_update(room, BASE + 0.1)) == []
    assert p.server.room(room) == before
