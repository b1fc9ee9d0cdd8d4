"""A host's seek while playing, started together at the instant it announces.

One rule per test, on the fake clock of ``test_sync_client`` (server = local + OFFSET).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opensyncparty_core._config import Config
from opensyncparty_core._ids import seeded_uuid4s
from opensyncparty_core._messages import (
    CreateRoom,
    JoinRoom,
    PlayerEvent,
    StateUpdate,
    decode_server_message,
    encode,
)
from opensyncparty_core._schedule import Timeline
from opensyncparty_core._seek_start import announced_start, starts_together
from opensyncparty_core._server import SessionServer
from opensyncparty_core._sync_client import (
    Pause,
    Play,
    PlayerStatus,
    SyncClient,
    SyncConfig,
    SyncOutput,
)
from tests.sync.test_sync_client import (
    OFFSET,
    ROOM,
    advance,
    command,
    feed_playing,
    player_commands,
    server,
    synced,
)

START_MS = SyncConfig().seek_start_ms


def local(server_ms: float) -> float:
    return server_ms - OFFSET


def playing_host() -> tuple[SyncClient, float]:
    client, now = synced(host=True)
    client.receive(command("play", 0.0, server(now)), now)
    now, _ = feed_playing(client, now, position=0.0, seconds=3)
    return client, now


def announced(position: float, start: float, target: int) -> PlayerEvent:
    """The host's seek as the server relays it: play_state playing, start in at_server_ts."""
    return command("seek", position, target, play_state="playing", at_server_ts=round(start))


def playing_viewer() -> tuple[SyncClient, float]:
    client, now = synced()
    client.receive(command("play", 0.0, server(now)), now)
    now, _ = feed_playing(client, now, position=0.0, seconds=3)
    return client, now


def holding_viewer(start_ms: int) -> tuple[SyncClient, float, int]:
    """A playing viewer that has just heard a seek to 90 s starting ``start_ms`` from now."""
    client, now = playing_viewer()
    start = server(now) + start_ms
    client.receive(announced(90.0, start, target=server(now) + 250), now)
    return client, now, start


# --------------------------------------------------------------------------
# The host
# --------------------------------------------------------------------------


def test_host_seek_while_playing_announces_the_instant_the_room_plays_it() -> None:
    client, now = playing_host()
    event, *hold = client.player_event("seek", 90.0, now)
    assert isinstance(event, PlayerEvent)
    assert (event.action, event.position, event.payload["play_state"]) == ("seek", 90.0, "playing")
    assert event.payload["at_server_ts"] == pytest.approx(server(now) + START_MS, abs=2)
    # The host holds at the target too; the hold's pause is an echo, not a command.
    assert hold == [Pause(90.0, now)]
    assert client.player_event("pause", 90.0, now + 5.0) == []


def test_host_plays_at_the_announced_instant_once_its_seek_has_landed() -> None:
    client, now = playing_host()
    event, *_ = client.player_event("seek", 90.0, now)
    assert isinstance(event, PlayerEvent)
    start = local(event.payload["at_server_ts"])
    client.observe(PlayerStatus(position=90.0, paused=True, buffering=True), now + 20.0)
    assert client.observe(PlayerStatus(position=90.0, paused=True), now + 60.0) == []
    at, played = advance(client, now + 60.0, now + 2000.0)
    assert played == [Play(90.0, at)]
    assert at == pytest.approx(start, abs=2.0)


def test_host_sends_no_play_after_a_seek_that_starts_together() -> None:
    client, now = playing_host()
    client.player_event("seek", 90.0, now)
    client.observe(PlayerStatus(position=90.0, paused=True), now + 60.0)
    sent: list[SyncOutput] = []
    at, _ = advance(client, now + 60.0, now + 2000.0)
    sent += client.observe(PlayerStatus(position=90.0, paused=False), at + 100.0)
    assert not [o for o in sent if isinstance(o, PlayerEvent)]


def test_host_whose_seek_lands_too_late_for_its_start_plays_from_where_it_landed() -> None:
    client, now = playing_host()
    event, *_ = client.player_event("seek", 90.0, now)
    assert isinstance(event, PlayerEvent)
    late = local(event.payload["at_server_ts"]) + 100.0
    assert advance(client, now, late - 1.0)[1] == []  # it waits for the landing meanwhile
    out = client.observe(PlayerStatus(position=90.0, paused=True), late)
    # No seek to chase its own start: the room plays from here, as after any play.
    assert out == [PlayerEvent(room=ROOM, action="play", position=90.0, ts=round(late))]
    assert advance(client, late, late + 5000.0)[1] == []  # it holds for the room's play


def test_a_host_whose_seeks_land_on_keyframes_holds_the_room_until_it_has_landed() -> None:
    client, now = playing_host()
    client.player_event("seek", 90.0, now)
    # Its seek lands 1.5 s before the target (a keyframe): too early to start on time.
    out = client.observe(PlayerStatus(position=88.5, paused=True), now + 60.0)
    assert out == [PlayerEvent(room=ROOM, action="play", position=88.5, ts=round(now + 60.0))]
    client.receive(command("play", 88.5, server(now) + 1560), now + 60.0)
    now, _ = advance(client, now + 60.0, now + 5000.0)
    now, _ = feed_playing(client, now + 500.0, position=95.0, seconds=3)
    event, *_ = client.player_event("seek", 30.0, now)
    assert isinstance(event, PlayerEvent)
    # The room holds (play_state paused) and plays from where this host lands.
    assert event.payload["play_state"] == "paused"


def test_seek_start_off_holds_the_room_until_the_host_has_landed() -> None:
    config = SyncConfig(seek_start_ms=0.0)
    assert not starts_together(config, host_snap=0.0)
    assert not starts_together(SyncConfig(stamp_positions=False), host_snap=0.0)
    assert starts_together(SyncConfig(), host_snap=0.0)


# --------------------------------------------------------------------------
# A viewer
# --------------------------------------------------------------------------


def test_viewer_seeks_and_holds_on_receipt_not_at_the_relay_target() -> None:
    client, now = playing_viewer()
    start = server(now) + 400
    out = client.receive(announced(90.0, start, target=server(now) + 250), now)
    assert player_commands(out) == [Pause(90.0, now)]


def test_viewer_plays_at_the_announced_instant_once_landed() -> None:
    client, now, start = holding_viewer(start_ms=400)
    client.observe(PlayerStatus(position=90.0, paused=True), now + 50.0)
    at, played = advance(client, now + 50.0, now + 2000.0)
    assert played == [Play(90.0, at)]
    assert at == pytest.approx(local(start), abs=2.0)


def test_viewer_landing_a_frame_past_the_target_starts_when_the_timeline_gets_there() -> None:
    client, now, start = holding_viewer(start_ms=400)
    client.observe(PlayerStatus(position=90.03, paused=True), now + 50.0)
    at, played = advance(client, now + 50.0, now + 2000.0)
    assert played == [Play(90.03, at)]
    assert at == pytest.approx(local(start) + 30.0, abs=2.0)


def test_viewer_whose_seek_lands_after_the_start_rejoins_the_timeline_ahead() -> None:
    client, now, start = holding_viewer(start_ms=400)
    late = local(start) + 300.0  # the seek took 700 ms: the room plays since 300 ms
    assert advance(client, now, late - 1.0)[1] == []  # it waits for the landing meanwhile
    out = client.observe(PlayerStatus(position=90.0, paused=True), late)
    [rejoin] = player_commands(out)
    assert isinstance(rejoin, Pause)
    assert rejoin.position > 90.3  # ahead of the timeline, which is at 90.3 s
    client.observe(PlayerStatus(position=rejoin.position, paused=True), late + 100.0)
    at, played = advance(client, late + 100.0, late + 3000.0)
    assert played == [Play(rejoin.position, at)]
    # It starts on the room's line: position 90 s at the announced instant.
    assert rejoin.position == pytest.approx(90.0 + (at - local(start)) / 1000.0, abs=0.002)


def test_viewer_that_lands_on_a_keyframe_well_before_the_target_waits_for_the_host() -> None:
    client, now, _ = holding_viewer(start_ms=800)
    # Landed 1.5 s before the target: the timeline passed 88.5 s long ago. No seek.
    assert player_commands(client.observe(PlayerStatus(88.5, paused=True), now + 100.0)) == []
    assert advance(client, now + 100.0, now + 1500.0)[1] == []
    # The host snapped to the same keyframe and says so: a play from there.
    target = server(now + 1500.0) + 1500
    client.receive(command("play", 88.5, target), now + 1500.0)
    at, played = advance(client, now + 1500.0, now + 5000.0)
    assert played == [Play(88.5, at)]
    assert at == pytest.approx(local(target), abs=2.0)


def test_snapped_viewer_rejoins_on_the_line_of_the_hosts_report_if_no_play_comes() -> None:
    client, now, start = holding_viewer(start_ms=800)
    client.observe(PlayerStatus(88.5, paused=True), now + 100.0)
    # The host landed exactly and played, a little late: its report says where the room is.
    report = StateUpdate(
        room=ROOM,
        position=90.9,
        play_state="playing",
        payload={"at_server_ts": start + 1000},
        ts=start + 1000,
        server_ts=start + 1000,
    )
    heard = local(start + 1100)
    client.receive(report, heard)
    at, [rejoin] = advance(client, heard, heard + 5000.0)
    assert isinstance(rejoin, Pause)
    client.observe(PlayerStatus(rejoin.position, paused=True), at + 100.0)
    played_at, [play] = advance(client, at + 100.0, at + 5000.0)
    assert play == Play(rejoin.position, played_at)
    on_report_line = 90.9 + (played_at - local(start + 1000)) / 1000.0
    assert play.position == pytest.approx(on_report_line, abs=0.003)


def test_snapped_viewer_rejoins_the_announced_timeline_if_the_host_says_nothing() -> None:
    client, now, start = holding_viewer(start_ms=800)
    client.observe(PlayerStatus(88.5, paused=True), now + 100.0)
    at, [rejoin] = advance(client, now + 100.0, now + 10_000.0)
    assert at == pytest.approx(now + 100.0 + client.config.seek_announce_timeout_ms, abs=2.0)
    assert isinstance(rejoin, Pause)
    assert rejoin.position > 90.0 + (at - local(start)) / 1000.0


def test_viewer_that_never_reports_its_landing_starts_on_the_timeline_after_the_timeout() -> None:
    client, now, start = holding_viewer(start_ms=400)
    at, played = advance(client, now, now + 10_000.0)
    assert at == pytest.approx(now + client.config.seek_announce_timeout_ms, abs=2.0)
    [play] = played
    assert isinstance(play, Play)
    assert play.position == pytest.approx(90.0 + (at - local(start)) / 1000.0, abs=0.002)


def test_seek_whose_start_has_passed_runs_on_receipt() -> None:
    # An announced start already past is an ordinary seek, and seeks run on
    # receipt (the host's player moved at its user's click), not at the relay's target.
    client, now = playing_viewer()
    target = server(now) + 250
    out = client.receive(announced(90.0, server(now) - 100, target=target), now)
    commands = player_commands(out)
    assert commands, "the seek must run at once"
    timed = [getattr(command, "at", None) for command in commands]
    assert all(at is None or at <= local(target) for at in timed)


def test_only_a_playing_seek_with_a_future_stamp_announces_a_start() -> None:
    now = 1_000_000.0
    good = announced(90.0, now + 400, target=round(now) + 300)
    assert announced_start(good, now) == Timeline(90.0, now + 400, True)
    paused = command("seek", 90.0, round(now) + 300, play_state="paused", at_server_ts=now + 400)
    unstamped = command("seek", 90.0, round(now) + 300, play_state="playing")
    pause = command("pause", 90.0, round(now) + 300, play_state="playing", at_server_ts=now + 400)
    for message in (paused, unstamped, pause, announced(90.0, now, target=round(now) + 300)):
        assert announced_start(message, now) is None
    assert announced_start(good, None) is None  # no clock estimate yet


def test_host_and_viewer_start_together_through_the_server() -> None:
    """The host's seek through the real server: the viewer starts when the host does, and the
    relayed seek still tells an old client to seek to the target at ``target_server_ts``."""
    srv = SessionServer(id_source=seeded_uuid4s(7))
    host, now = playing_host()
    t = server(now)
    host_id, _ = srv.connect(t)
    viewer_id, _ = srv.connect(t)
    created = srv.receive(host_id, encode(CreateRoom(name="r")), t)
    room = created[0].message.room  # type: ignore[union-attr]
    srv.receive(viewer_id, encode(JoinRoom(room=room)), t)
    host.room_id = room
    event, *_ = host.player_event("seek", 90.0, now)
    assert isinstance(event, PlayerEvent)
    arrival = server(now) + 20
    [relay] = srv.receive(host_id, encode(event), arrival)
    assert relay.recipients == (viewer_id,)
    relayed = decode_server_message(relay.text)
    assert isinstance(relayed, PlayerEvent)
    assert relayed.target_server_ts == arrival + Config().control_schedule_ms
    assert (relayed.position, relayed.payload["play_state"]) == (90.0, "playing")
    viewer, _ = playing_viewer()
    viewer.room_id = room
    heard = local(arrival + 50)
    assert player_commands(viewer.receive(relayed, heard)) == [Pause(90.0, heard)]
    host.observe(PlayerStatus(position=90.0, paused=True), now + 80.0)
    viewer.observe(PlayerStatus(position=90.0, paused=True), heard + 100.0)
    host_at, host_play = advance(host, now + 80.0, now + 3000.0)
    viewer_at, viewer_play = advance(viewer, heard + 100.0, now + 3000.0)
    assert host_play == [Play(90.0, host_at)]
    assert viewer_play == [Play(90.0, viewer_at)]
    assert viewer_at == pytest.approx(host_at, abs=2.0)


# --------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------


@given(
    seeks=st.lists(
        st.tuples(
            st.floats(min_value=0.0, max_value=1000.0),  # target position
            st.integers(min_value=-500, max_value=2000),  # start, relative to server now
            st.floats(min_value=0.0, max_value=4000.0),  # each seek lands this much later
            st.floats(min_value=-2.0, max_value=0.04),  # this far from where it was sent
            st.floats(min_value=0.0, max_value=4000.0),  # wait before the next seek
        ),
        min_size=1,
        max_size=5,
    )
)
def test_a_held_start_plays_on_the_announced_line_never_before_it_reaches_the_target(
    seeks: list[tuple[float, int, float, float, float]],
) -> None:
    """However late (or never) its seeks land, a viewer starts on the line the seek
    announced (position at ``at_server_ts``), and no earlier than the line reaches the
    target (less a landing before it)."""
    client, now = playing_viewer()
    for position, relative, landing, off, wait in seeks:
        start = server(now) + relative
        line = Timeline(position, float(start), True)
        outs = client.receive(announced(position, start, target=server(now) + 300), now)
        end = now + wait
        lands: tuple[float, float] | None = None
        while True:
            for o in player_commands(outs):
                if isinstance(o, Pause):
                    lands = (o.at + landing, o.position + off)
                if isinstance(o, Play):
                    estimate = client.server_time(o.at)
                    assert estimate is not None
                    shown = estimate + client.start_lead * 1000.0
                    assert o.position == pytest.approx(line.line(shown), abs=0.003)
                    assert o.position >= position + min(off, 0.0) - 0.003
            deadline = client.next_deadline()
            if lands is not None and lands[0] <= end and (deadline is None or lands[0] <= deadline):
                now = max(now, lands[0])
                outs = client.observe(PlayerStatus(position=lands[1], paused=True), now)
                lands = None
                continue
            if deadline is None or deadline > end:
                break
            now = max(now, deadline)
            outs = client.handle_timer(now)
        now = end
