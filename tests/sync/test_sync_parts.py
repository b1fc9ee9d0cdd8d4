"""SyncClient's parts on their own: the server clock, the drift controller, the schedule."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opensyncparty_core._clock_sync import ClockEstimator
from opensyncparty_core._drift import MAX_SNAP, DriftController
from opensyncparty_core._host_stall import HostStall, StallChange
from opensyncparty_core._messages import Pong
from opensyncparty_core._pausing import pause_instant, pause_position, walk_instant
from opensyncparty_core._schedule import HELD_EXACT, Echoes, Scheduled, Timeline, due, plan_start
from opensyncparty_core._sync_clock import ServerClock
from opensyncparty_core._sync_values import Pause, Play, PlayerStatus, Seek, SyncConfig

OFFSET = 1_700_000_000_000.0 - 77_000.0

# --------------------------------------------------------------------------
# Server clock
# --------------------------------------------------------------------------


def test_server_time_before_any_pong_is_the_first_message_minus_its_arrival() -> None:
    clock = ServerClock(ClockEstimator())
    assert clock.server_time(1_000.0) is None
    clock.seen(round(1_000.0 + OFFSET - 20.0), 1_000.0)  # sent 20 ms before it arrived
    clock.seen(round(5_000.0 + OFFSET), 1_100.0)  # only the first message counts
    estimate = clock.server_time(1_500.0)
    assert estimate == pytest.approx(1_500.0 + OFFSET - 20.0, abs=1.0)
    assert clock.to_local(round(2_000.0 + OFFSET - 20.0)) == pytest.approx(2_000.0, abs=1.0)


def test_a_pong_for_our_ping_feeds_the_model() -> None:
    clock = ServerClock(ClockEstimator())
    clock.start(0.0)
    ping = clock.poll(0.0)
    assert ping is not None
    mid = round(5.0 + OFFSET)
    clock.on_pong(Pong(payload=ping.payload, ts=mid, server_ts=mid), 10.0)
    estimate = clock.server_time(10.0)
    assert estimate == pytest.approx(10.0 + OFFSET, abs=1.0)


@given(st.lists(st.floats(min_value=0.0, max_value=5_000.0), min_size=1, max_size=30))
def test_pings_are_due_on_schedule_with_distinct_ids(gaps: list[float]) -> None:
    clock = ServerClock(ClockEstimator())
    clock.start(0.0)
    now = 0.0
    outstanding: set[object] = set()
    for gap in gaps:
        now += gap
        due_at = clock.next_ping
        ping = clock.poll(now)
        assert due_at is not None
        assert (ping is not None) == (now >= due_at)
        if ping is not None:
            client_ts = ping.payload["client_ts"]
            assert client_ts not in outstanding
            outstanding.add(client_ts)
            assert clock.next_ping is not None
            assert clock.next_ping > now


# --------------------------------------------------------------------------
# Drift controller
# --------------------------------------------------------------------------


def playing(position: float, **fields: float) -> PlayerStatus:
    return PlayerStatus(position=position, paused=False, **fields)  # type: ignore[arg-type]


def test_a_latched_position_is_carried_forward_from_when_it_was_sampled() -> None:
    drift = DriftController(SyncConfig(position_filter=1, min_observations=1))
    drift.observe(playing(10.0), 0.0)
    drift.observe(playing(10.0, sampled_at=0.0), 200.0)  # latched 200 ms ago
    assert drift.position(200.0) == pytest.approx(10.2)


def test_the_presented_position_is_the_decoded_one_minus_output_latency() -> None:
    drift = DriftController(SyncConfig(position_filter=1, min_observations=1))
    drift.observe(playing(10.0, output_latency=0.12), 0.0)
    assert drift.position(0.0) == pytest.approx(9.88)
    assert drift.decoded(0.0) == pytest.approx(10.0)
    # Before any start was measured, plays lead by at least the output latency.
    assert drift.lead == pytest.approx(0.12)


def test_a_landing_before_the_target_teaches_the_keyframe_snap() -> None:
    drift = DriftController(SyncConfig())
    drift.commanded(Pause(100.0, 0.0), 0.0)
    # A report sampled before the command says nothing about its landing.
    stale = PlayerStatus(position=40.0, paused=True, sampled_at=-5.0)
    assert not drift.learn_landing(stale, 10.0)
    assert drift.learn_landing(PlayerStatus(position=97.5, paused=True), 900.0)
    assert drift.snap == pytest.approx(2.5)
    assert drift.seek_time == pytest.approx(900.0)
    assert drift.hold is None


@given(
    drifts=st.lists(st.floats(min_value=-5.0, max_value=5.0), min_size=1, max_size=50),
    min_rate=st.floats(min_value=0.5, max_value=1.0),
    max_rate=st.floats(min_value=1.0, max_value=2.0),
)
def test_corrections_stay_within_the_rate_bounds_and_seek_only_past_the_threshold(
    drifts: list[float], min_rate: float, max_rate: float
) -> None:
    config = SyncConfig(min_rate=min_rate, max_rate=max_rate)
    drift = DriftController(config)
    for i, d in enumerate(drifts):
        change = drift.correction(d, float(i))
        if abs(d) >= config.seek_threshold:
            assert change is None
            continue
        assert change is not None
        assert min_rate <= drift.rate <= max_rate
        if change and d != 0.0:
            # Never steers the wrong way: ahead slows down, behind speeds up.
            assert (change[0].rate <= 1.0) == (d > 0) or change[0].rate == 1.0


@given(st.lists(st.floats(min_value=-0.02, max_value=0.02), min_size=1, max_size=50))
def test_drift_inside_the_dead_zone_never_changes_the_rate(drifts: list[float]) -> None:
    drift = DriftController(SyncConfig())
    for i, d in enumerate(drifts):
        assert drift.correction(d, float(i)) == []
    assert drift.rate == 1.0


# --------------------------------------------------------------------------
# Schedule
# --------------------------------------------------------------------------


@given(
    position=st.floats(min_value=0.0, max_value=10_000.0),
    offset=st.floats(min_value=-10.0, max_value=10.0),
    tolerance=st.floats(min_value=0.0, max_value=1.0),
    max_wait=st.floats(min_value=0.0, max_value=5.0),
    is_playing=st.booleans(),
)
def test_a_start_never_seeks_a_player_held_within_tolerance(
    position: float, offset: float, tolerance: float, max_wait: float, is_playing: bool
) -> None:
    held = position + offset
    # The offset plan_start sees after rounding: 1.0 + 0.002 - 1.0 > 0.002.
    offset = held - position
    plan = plan_start(position, held, tolerance, max_wait, is_playing)
    if -tolerance <= offset <= HELD_EXACT:
        assert plan.kind == "play"
        assert plan.position == held
    if plan.kind == "wait":
        # Only a player held ahead waits, and exactly until the timeline gets there.
        assert is_playing
        assert HELD_EXACT < offset <= max_wait
        assert plan.seconds == pytest.approx(offset)
    if plan.kind == "rejoin":
        assert offset < -tolerance


def test_a_start_with_no_held_player_plays_at_the_timeline() -> None:
    assert plan_start(42.0, None, 0.1, 0.5, True).position == 42.0


@given(
    target=st.floats(min_value=0.0, max_value=1e7),
    lead=st.floats(min_value=0.0, max_value=1.0),
    action=st.sampled_from(["play", "pause", "seek"]),
    hold_since=st.one_of(st.none(), st.floats(min_value=0.0, max_value=1e7)),
    held=st.booleans(),
)
def test_only_a_play_runs_before_its_target_and_by_no_more_than_the_lead(
    target: float, lead: float, action: str, hold_since: float | None, held: bool
) -> None:
    def to_local(server_ts: float) -> float:
        return server_ts - 1_000.0

    pending = Scheduled(action, target, Timeline(0.0, target, True), held=held)  # type: ignore[arg-type]
    local = due(pending, to_local, lead, hold_since, 3_000.0)
    assert local is not None
    if action == "play":
        assert local >= to_local(target) - lead * 1000.0 - 1e-6
        if held and hold_since is not None:
            assert local >= hold_since + 3_000.0
    else:
        assert local == to_local(target)


@given(
    st.floats(min_value=-1_000.0, max_value=1_000.0),
    st.floats(min_value=-0.5, max_value=0.5),
    st.floats(min_value=0.9, max_value=1.1),
)
def test_a_snapping_player_pauses_when_it_reaches_the_pause_position(
    target_in: float, behind: float, rate: float
) -> None:
    server_now = 1_000_000.0
    at = pause_instant(server_now + target_in, server_now, 60.0 - behind, 60.0, rate, 0.5)
    assert at >= server_now  # never in the past
    # It reaches the position then (at once if already past it), target or not.
    assert (60.0 - behind) + (at - server_now) / 1000.0 * rate == pytest.approx(
        max(60.0, 60.0 - behind), abs=1e-6
    )


def test_a_player_far_behind_the_pause_position_pauses_at_the_target() -> None:
    assert pause_instant(2_000.0, 1_000.0, 58.0, 60.0, 1.0, 0.5) == 2_000.0


@given(st.floats(min_value=-1.0, max_value=1.0), st.floats(min_value=0.0, max_value=8.0))
def test_a_player_pauses_in_place_only_if_it_snaps_and_is_close(off: float, snap: float) -> None:
    at = pause_position(60.0, 60.0 + off, snap, 0.1, 0.5)
    in_place = snap >= 0.05 and -0.1 <= off < 0.5
    assert at == (60.0 + off if in_place else 60.0)


def test_a_seek_back_that_snapped_walks_on_to_the_pause_position() -> None:
    # Landed 2.5 s before the pause position: it plays 2.5 s (plus its start lag).
    assert walk_instant(57.5, 60.0, 1_000.0, 0.1, MAX_SNAP) == pytest.approx(3_600.0)
    assert walk_instant(59.99, 60.0, 1_000.0, 0.1, MAX_SNAP) is None  # close enough
    assert walk_instant(61.0, 60.0, 1_000.0, 0.1, MAX_SNAP) is None  # not before it


def test_an_echo_is_recognised_once_even_where_a_seek_snapped() -> None:
    echoes = Echoes(window_ms=2_000.0, tolerance=1.0, max_snap=MAX_SNAP)
    echoes.expect(Pause(600.0, 0.0), 0.0)
    assert echoes.take("seek", 598.3, 10.0)  # landed on the keyframe before 600 s
    assert echoes.take("pause", 600.0, 20.0)
    assert not echoes.take("pause", 600.0, 30.0)  # the second pause is the user's


def test_echoes_expire_after_their_window() -> None:
    echoes = Echoes(window_ms=2_000.0, tolerance=1.0, max_snap=MAX_SNAP)
    echoes.expect(Play(5.0, 0.0), 0.0)
    echoes.expect(Seek(9.0, 0.0), 0.0)
    assert not echoes.take("play", 5.0, 2_001.0)
    assert not echoes.take("seek", 9.0, 2_001.0)


# --------------------------------------------------------------------------
# The host's stall as room state
# --------------------------------------------------------------------------


def test_buffering_before_the_player_has_played_is_not_a_stall() -> None:
    stall = HostStall()
    assert stall.observe(PlayerStatus(position=5.0, paused=False, buffering=True), 0.0) is None


def test_a_stall_is_announced_where_it_froze_and_its_end_where_it_resumed() -> None:
    stall = HostStall()
    assert stall.observe(PlayerStatus(position=5.0, paused=False), 0.0) is None
    frozen = PlayerStatus(position=5.2, paused=False, buffering=True, output_latency=0.1)
    assert stall.observe(frozen, 250.0) == StallChange(5.2, False, 250.0)
    assert stall.observe(frozen, 500.0) is None
    resumed = PlayerStatus(position=5.4, paused=False, output_latency=0.1, sampled_at=700.0)
    assert stall.observe(resumed, 750.0) == StallChange(pytest.approx(5.3), True, 700.0)  # type: ignore[arg-type]


@given(st.lists(st.tuples(st.booleans(), st.booleans(), st.booleans()), min_size=1, max_size=40))
def test_stall_announcements_alternate_and_never_come_from_a_paused_player(
    reports: list[tuple[bool, bool, bool]],
) -> None:
    stall = HostStall()
    announced: list[bool] = []
    for i, (paused, buffering, command) in enumerate(reports):
        if command:
            stall.reset()
            announced = []
        change = stall.observe(
            PlayerStatus(position=float(i), paused=paused, buffering=buffering), i
        )
        if change is not None:
            assert not paused
            assert change.playing == (not buffering)
            announced.append(change.playing)
        # Since the last command: a stall first, then its end, then the next stall...
        assert announced == [k % 2 == 1 for k in range(len(announced))]
