"""MpvState: mpv's messages and their arrival times in, media clock and player events out."""

from __future__ import annotations

from typing import Any

import pytest

from opensyncparty_transports.mpv import MpvState, PlayerReport


def prop(name: str, data: Any) -> dict[str, Any]:
    return {"event": "property-change", "id": 1, "name": name, "data": data}


def loaded(at: float = 0.0, position: float = 10.0) -> MpvState:
    """An mpv that has loaded a file and shows the frame at ``position``, paused."""
    state = MpvState()
    for name, value in (("pause", True), ("speed", 1.0), ("seeking", False), ("core-idle", True)):
        state.feed(prop(name, value), at)
    state.feed(prop("time-pos", position), at)
    state.feed({"event": "playback-restart"}, at)
    return state


def playing(frames: list[tuple[float, float]]) -> MpvState:
    state = loaded(position=frames[0][1])
    state.feed(prop("pause", False), frames[0][0])
    state.feed(prop("core-idle", False), frames[0][0])
    for at, position in frames:
        state.feed(prop("time-pos", position), at)
    return state


def test_no_status_before_the_first_frame() -> None:
    state = MpvState()
    state.feed(prop("pause", True), 0.0)
    assert state.status(0.0) is None


def test_paused_position_is_the_frame_shown() -> None:
    status = loaded(position=12.48).status(5_000.0)
    assert status is not None
    assert (status.position, status.paused, status.buffering) == (12.48, True, False)


def test_playing_clock_runs_on_from_the_frames_arrival_times() -> None:
    state = playing([(1000.0 + 40.0 * i, 10.0 + 0.04 * i) for i in range(5)])
    assert state.position(1_180.0) == pytest.approx(10.18)


def test_one_late_frame_does_not_move_the_clock() -> None:
    frames = [(1000.0 + 40.0 * i, 10.0 + 0.04 * i) for i in range(8)]
    frames[5] = (frames[5][0] + 25.0, frames[5][1])  # mpv (or this process) woke up late
    state = playing(frames)
    assert state.position(1_400.0) == pytest.approx(10.4)


def test_speed_change_carries_the_clock_across() -> None:
    state = playing([(1000.0 + 40.0 * i, 10.0 + 0.04 * i) for i in range(5)])
    state.feed(prop("speed", 1.05), 1_200.0)
    assert state.position(1_200.0) == pytest.approx(10.2)
    assert state.position(2_200.0) == pytest.approx(10.2 + 1.05)


def test_playing_without_a_fresh_frame_is_buffering() -> None:
    state = loaded(position=10.0)
    state.feed(prop("pause", False), 1_000.0)
    state.feed(prop("core-idle", False), 1_000.0)
    status = state.status(1_030.0)
    assert status is not None
    assert (status.position, status.buffering) == (10.0, True)
    state.feed(prop("time-pos", 10.04), 1_040.0)
    status = state.status(1_050.0)
    assert status is not None
    assert not status.buffering
    assert status.position == pytest.approx(10.05)


def test_a_jump_nobody_announced_restarts_the_clock() -> None:
    state = playing([(1000.0 + 40.0 * i, 10.0 + 0.04 * i) for i in range(5)])
    state.feed(prop("time-pos", 50.0), 1_200.0)
    assert state.position(1_200.0) == pytest.approx(50.0)


def test_first_pause_value_is_not_an_event() -> None:
    state = MpvState()
    assert state.feed(prop("pause", True), 0.0) == []


def test_pause_and_unpause_are_reported_at_the_frame_shown() -> None:
    state = loaded(position=10.0)
    assert state.feed(prop("pause", False), 100.0) == [PlayerReport("play", 10.0, 100.0)]
    state.feed(prop("time-pos", 10.04), 140.0)
    assert state.feed(prop("pause", True), 150.0) == [PlayerReport("pause", 10.04, 150.0)]


def test_seek_is_reported_where_it_landed_once_playback_restarts() -> None:
    state = loaded(position=10.0)
    assert state.feed({"event": "seek"}, 100.0) == []
    state.feed(prop("seeking", True), 100.0)
    state.feed(prop("time-pos", 30.0), 101.0)
    assert state.buffering is False  # paused: not waiting for anything
    assert state.feed({"event": "playback-restart"}, 140.0) == [PlayerReport("seek", 30.0, 140.0)]


def test_playback_restart_without_a_seek_is_not_a_seek() -> None:
    state = loaded()
    assert state.feed({"event": "playback-restart"}, 100.0) == []


def test_end_of_file_reason_is_kept() -> None:
    state = MpvState()
    state.feed({"event": "end-file", "reason": "error"}, 0.0)
    assert state.end_reason == "error"


def test_play_is_reported_at_the_frame_held_not_the_next_one() -> None:
    state = loaded(position=10.0)
    state.feed(prop("time-pos", 10.04), 100.0)  # the unpause shows the next frame first
    assert state.feed(prop("pause", False), 100.1) == [PlayerReport("play", 10.0, 100.1)]


def test_the_frame_an_unpause_shows_first_starts_the_clock() -> None:
    state = loaded(position=10.0)
    state.feed(prop("time-pos", 10.04), 100.0)
    state.feed(prop("pause", False), 100.2)
    state.feed(prop("core-idle", False), 100.3)
    status = state.status(120.0)
    assert status is not None
    assert not status.buffering
    assert status.position == pytest.approx(10.06)
