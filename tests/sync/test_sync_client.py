"""SyncClient behaviour, one rule per test, on a fake clock.

The server clock here is ``local + OFFSET`` exactly and pings take ``RTT`` ms,
split evenly, so the client's estimate is good to the server's 1 ms rounding.
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from opensyncparty_core._config import Config
from opensyncparty_core._ids import seeded_uuid4s
from opensyncparty_core._messages import (
    ClientHello,
    CreateRoom,
    Ping,
    PlayerEvent,
    Pong,
    Ready,
    RoomClosed,
    RoomState,
    StateUpdate,
    decode_server_message,
    encode,
)
from opensyncparty_core._server import SessionServer
from opensyncparty_core._sync_client import (
    Pause,
    Play,
    PlayerStatus,
    Seek,
    SetRate,
    SyncClient,
    SyncConfig,
    SyncOutput,
)

OFFSET = 1_700_000_000_000.0 - 50_000.0
RTT = 10.0
ROOM = "room-1"
ME = "me"
HOST = "host"


def server(local: float) -> int:
    return math.floor(local + OFFSET)


def synced(
    *,
    host: bool = False,
    position: float = 0.0,
    playing: bool = False,
    config: SyncConfig | None = None,
    state_age_ms: int | None = None,
) -> tuple[SyncClient, float]:
    """A client in ROOM whose clock estimate is settled; returns it and the local time.

    ``state_age_ms``: the room_state says its position held that long ago
    (``state.server_ts``, negative: in the future); ``None``: an old server's room_state.
    """
    client = SyncClient(config)
    now = 1_000.0
    client.receive(ClientHello(client_id=ME, ts=server(now), server_ts=server(now)), now)
    for _ in range(6):
        deadline = client.next_deadline()
        assert deadline is not None
        now = max(now, deadline)
        pings = [o for o in client.handle_timer(now) if isinstance(o, Ping)]
        for ping in pings:
            pong = Pong(
                payload=ping.payload, ts=server(now + RTT / 2), server_ts=server(now + RTT / 2)
            )
            client.receive(pong, now + RTT)
        now += RTT
    state = RoomState(
        room=ROOM,
        client=ME,
        name="n",
        host_id=ME if host else HOST,
        position=position,
        play_state="playing" if playing else "paused",
        participant_count=2,
        media_id="m",
        ts=server(now),
        server_ts=server(now),
        state_server_ts=None if state_age_ms is None else server(now) - state_age_ms,
    )
    client.receive(state, now)
    return client, now


def command(
    action: Literal["play", "pause", "seek"], position: float, target: int, **payload: object
) -> PlayerEvent:
    return PlayerEvent(
        room=ROOM,
        action=action,
        position=position,
        target_server_ts=target,
        payload=payload,
        ts=target - 300,
        server_ts=target,
    )


def player_commands(outputs: list[SyncOutput]) -> list[SyncOutput]:
    return [o for o in outputs if isinstance(o, (Play, Pause, Seek, SetRate))]


def feed_playing(
    client: SyncClient, start: float, position: float, seconds: float, rate: float = 1.0
) -> tuple[float, list[SyncOutput]]:
    """Report a player that plays from ``position`` at ``rate`` for ``seconds`` (4 Hz)."""
    out: list[SyncOutput] = []
    now = start
    while now < start + seconds * 1000.0:
        pos = position + (now - start) / 1000.0 * rate
        out += client.observe(PlayerStatus(position=pos, paused=False, rate=rate), now)
        now += 250.0
    return now, out


@attrs.define
class IdealPlayer:
    """A player that does exactly what it is told, at once, at exactly the rate set."""

    position_at: float = 0.0
    since: float = 0.0
    playing: bool = False
    rate: float = 1.0

    def position(self, now: float) -> float:
        if not self.playing:
            return self.position_at
        return self.position_at + (now - self.since) / 1000.0 * self.rate

    def apply(self, outputs: list[SyncOutput], now: float) -> None:
        for o in outputs:
            if isinstance(o, (Play, Pause, Seek)):
                self.position_at, self.since = o.position, now
                self.playing = isinstance(o, Play) or (self.playing and isinstance(o, Seek))
            elif isinstance(o, SetRate):
                self.position_at, self.since = self.position(now), now
                self.rate = o.rate

    def status(self, now: float) -> PlayerStatus:
        return PlayerStatus(position=self.position(now), paused=not self.playing, rate=self.rate)


def advance(client: SyncClient, now: float, until: float) -> tuple[float, list[SyncOutput]]:
    """Run the client's timers up to local time ``until``, answering its pings.

    Returns the time of the first timer that produced a player command (or
    ``until``) and the player commands it produced.
    """
    while True:
        deadline = client.next_deadline()
        if deadline is None or deadline > until:
            return until, []
        now = max(now, deadline)
        out = client.handle_timer(now)
        for ping in (o for o in out if isinstance(o, Ping)):
            mid = server(now + RTT / 2)
            client.receive(Pong(payload=ping.payload, ts=mid, server_ts=mid), now + RTT)
        commands = player_commands(out)
        if commands:
            return now, commands


# --------------------------------------------------------------------------
# Clock sync
# --------------------------------------------------------------------------


def test_client_hello_starts_pinging_at_once() -> None:
    client = SyncClient()
    assert client.next_deadline() is None
    client.receive(ClientHello(client_id=ME, ts=5, server_ts=5), 100.0)
    assert client.client_id == ME
    assert client.next_deadline() == 100.0
    out = client.handle_timer(100.0)
    assert out == [Ping(payload={"client_ts": 100}, ts=100)]


def test_pong_sample_settles_server_time() -> None:
    client, now = synced()
    estimate = client.server_time(now)
    assert estimate is not None
    assert abs(estimate - (now + OFFSET)) <= 1.0


def test_command_before_the_first_pong_runs_at_its_local_target() -> None:
    # Until a pong arrives the offset is the first message's ``ts`` minus its arrival:
    # late by one one-way delay, never of the wrong sign.
    client = SyncClient()
    now = 2_000.0
    one_way = 5.0
    hello = ClientHello(client_id=ME, ts=server(now - one_way), server_ts=server(now - one_way))
    client.receive(hello, now)
    estimate = client.server_time(now)
    assert estimate is not None
    assert now + OFFSET - one_way - 1.0 <= estimate <= now + OFFSET
    state = RoomState(
        room=ROOM,
        client=ME,
        name="n",
        host_id=HOST,
        position=0.0,
        play_state="paused",
        participant_count=2,
        media_id="m",
        ts=server(now),
        server_ts=server(now),
    )
    client.receive(state, now + 1.0)
    target = server(now) + 1500
    out = client.receive(command("play", 12.0, target), now + 20.0)
    assert player_commands(out) == []
    # Timers run (pings go unanswered) until the play comes out.
    t = now + 20.0
    while not (commands := player_commands(client.handle_timer(t))):
        deadline = client.next_deadline()
        assert deadline is not None
        t = max(t, deadline)
    assert now + 1500.0 <= t <= now + 1500.0 + one_way + 1.0
    assert commands == [Play(12.0, t)]


def test_pong_for_an_unknown_ping_is_ignored() -> None:
    client = SyncClient()
    client.receive(ClientHello(client_id=ME, ts=5, server_ts=5), 0.0)
    client.receive(Pong(payload={"client_ts": 12345}, ts=9, server_ts=9), 10.0)
    client.receive(Pong(payload="junk", ts=9, server_ts=9), 10.0)
    assert client.clock.offset(10.0) is None


# --------------------------------------------------------------------------
# Scheduled commands
# --------------------------------------------------------------------------


def test_scheduled_play_runs_at_its_local_target_not_before() -> None:
    client, now = synced()
    target = server(now) + 1500
    assert player_commands(client.receive(command("play", 12.0, target), now)) == []
    local_target = target - OFFSET
    _, early = advance(client, now, local_target - 1.0)
    assert early == []
    at, out = advance(client, now, local_target + 1.0)
    assert abs(at - local_target) <= 1.0
    assert out == [Play(position=12.0, at=at)]


def test_late_play_runs_at_once_at_position_plus_elapsed() -> None:
    client, now = synced()
    target = server(now) - 400  # already 400 ms past
    out = player_commands(client.receive(command("play", 12.0, target), now))
    assert len(out) == 1
    assert isinstance(out[0], Play)
    assert out[0].position == pytest.approx(12.4, abs=0.002)


@pytest.mark.parametrize("action", ["pause", "seek"])
def test_late_pause_or_paused_seek_runs_at_once_at_its_position(
    action: Literal["pause", "seek"],
) -> None:
    client, now = synced()
    out = player_commands(client.receive(command(action, 30.0, server(now) - 400), now))
    expected = Pause(30.0, now) if action == "pause" else Seek(30.0, now)
    assert out == [expected]


def test_host_runs_the_scheduled_play_too() -> None:
    client, now = synced(host=True)
    out = client.receive(command("play", 5.0, server(now) + 1500), now)
    assert out == []
    at, played = advance(client, now, now + 2000.0)
    assert played == [Play(5.0, at)]


def test_seek_while_playing_waits_ahead_and_starts_when_the_timeline_arrives() -> None:
    config = SyncConfig(seek_margin=0.5)
    client, now = synced(position=10.0, playing=True, config=config)
    client.receive(command("play", 10.0, server(now)), now)
    target = server(now) + 300
    # The seek runs on receipt, not at its target: the host seeked at its user's click.
    deadline = now
    seek = command("seek", 100.0, target, play_state="playing")
    hold = player_commands(client.receive(seek, now))
    assert hold == [Pause(position=pytest.approx(100.5, abs=0.002), at=deadline)]  # type: ignore[arg-type]
    assert isinstance(hold[0], Pause)
    held = hold[0].position
    # The player reports that its seek has landed, paused where it was told.
    client.observe(PlayerStatus(position=held, paused=True), deadline + 100.0)
    start, played = advance(client, deadline + 100.0, deadline + 1500.0)
    assert start - (now + 300.0) == pytest.approx(500.0, abs=2.0)  # the timeline's 100.5 s
    assert played == [Play(held, start)]


def test_held_start_that_lands_on_an_earlier_keyframe_starts_when_the_timeline_gets_there() -> None:
    client, now = synced(position=10.0, playing=True, config=SyncConfig(seek_margin=0.5))
    client.receive(command("play", 10.0, server(now)), now)
    client.receive(command("seek", 100.0, server(now) + 300, play_state="playing"), now)
    deadline = now  # the seek runs on receipt; the timeline is at 100 s at its target
    # Asked for 100.5 s, the player lands on the keyframe at 100.2 s: no second seek.
    client.observe(PlayerStatus(position=100.2, paused=True), deadline + 100.0)
    start, played = advance(client, deadline + 100.0, deadline + 1500.0)
    assert start - (deadline + 300.0) == pytest.approx(200.0, abs=2.0)
    assert played == [Play(100.2, start)]


def test_held_start_goes_ahead_if_the_player_never_reports_its_landing() -> None:
    client, now = synced(position=10.0, playing=True, config=SyncConfig(seek_margin=0.5))
    client.receive(command("play", 10.0, server(now)), now)
    client.receive(command("seek", 100.0, server(now) + 300, play_state="playing"), now)
    deadline = now  # the seek runs on receipt
    start, played = advance(client, deadline, deadline + 5000.0)
    assert start - deadline == pytest.approx(client.config.seek_announce_timeout_ms, abs=2.0)
    assert len(played) == 1
    assert isinstance(played[0], Play)


def test_stamped_seek_counts_from_the_hosts_instant() -> None:
    client, now = synced(config=SyncConfig(seek_margin=0.0))
    target = server(now) - 100
    stamped = command("seek", 50.0, target, play_state="playing", at_server_ts=target - 1000)
    out = player_commands(client.receive(stamped, now))
    assert len(out) == 1
    assert isinstance(out[0], Seek)
    assert out[0].position == pytest.approx(51.1, abs=0.003)


def test_a_pause_runs_on_receipt_when_the_player_is_past_the_pause_position() -> None:
    # The host paused at its user's click; the server's target is 300 ms on. Waiting for
    # it would let this viewer play 300 ms further past the host's picture.
    client, now = synced(position=50.0, playing=True)
    client.receive(command("play", 50.0, server(now)), now)
    now, _ = feed_playing(client, now, position=50.0, seconds=3)
    out = player_commands(client.receive(command("pause", 52.9, server(now) + 300), now))
    assert out == [Pause(52.9, now)]


def _snapping_viewer_playing() -> tuple[SyncClient, float]:
    """A viewer whose player has shown that it seeks to keyframes (2 s before the target),
    playing from 48 s on the room's timeline for 3 s."""
    client, now = synced(position=10.0)
    assert player_commands(client.receive(command("seek", 50.0, server(now) - 100), now)) == [
        Seek(50.0, now)
    ]
    # Landed on the keyframe at 48 s. A seek's landing is where the host lands too: stay.
    assert client.observe(PlayerStatus(position=48.0, paused=True), now + 500.0) == []
    now += 500.0
    client.receive(command("play", 48.0, server(now)), now)
    feed_playing(client, now, position=48.0, seconds=3)
    return client, now


def test_a_pause_pauses_a_snapping_player_in_place_at_once_when_it_is_past_the_position() -> None:
    client, started = _snapping_viewer_playing()
    now = started + 3_000.0
    here = 48.0 + 3.0
    # The host paused 80 ms ago; the server's pause is due 300 ms from now. Waiting for it,
    # or seeking back (to the keyframe at 48 s), would leave this player far ahead.
    out = player_commands(client.receive(command("pause", here - 0.08, server(now) + 300), now))
    assert out == [Pause(pytest.approx(here, abs=0.01), now)]  # type: ignore[arg-type]


def test_a_pause_pauses_a_snapping_player_when_it_reaches_the_position() -> None:
    client, started = _snapping_viewer_playing()
    now = started + 3_000.0
    here = 48.0 + 3.0
    out = player_commands(client.receive(command("pause", here + 0.1, server(now) + 300), now))
    assert out == []
    at, paused = advance(client, now, now + 1_000.0)
    assert at - now == pytest.approx(100.0, abs=2.0)
    assert paused == [Pause(pytest.approx(here + 0.1, abs=0.01), at)]  # type: ignore[arg-type]


def test_a_pause_that_seeks_back_onto_a_keyframe_plays_on_to_the_pause_position() -> None:
    client, now = synced(position=50.0, playing=True)
    client.receive(command("play", 50.0, server(now)), now)
    now, _ = feed_playing(client, now, position=50.0, seconds=3)
    # The pause is due at once, 0.3 s behind the player: a seek back.
    out = player_commands(client.receive(command("pause", 52.7, server(now)), now))
    assert out == [Pause(52.7, now)]
    # The seek landed on the keyframe at 50 s: the host shows 52.7 s, a seek would land
    # here again, so the player plays the 2.7 s and pauses there.
    landed = now + 800.0
    out = client.observe(PlayerStatus(position=50.0, paused=True), landed)
    assert out == [Play(50.0, landed)]
    at, paused = advance(client, landed, landed + 5_000.0)
    assert at - landed == pytest.approx(2_700.0 + client.start_lead * 1000.0, abs=2.0)
    assert len(paused) == 1
    assert isinstance(paused[0], Pause)


# --------------------------------------------------------------------------
# Drift correction (viewer)
# --------------------------------------------------------------------------


def playing_viewer(config: SyncConfig | None = None) -> tuple[SyncClient, float]:
    client, now = synced(config=config)
    out = client.receive(command("play", 0.0, server(now)), now)
    assert [type(o) for o in player_commands(out)] == [Play]
    return client, now


def test_drift_inside_the_dead_zone_changes_nothing() -> None:
    client, now = playing_viewer(SyncConfig(learn_start_lead=False))
    _, out = feed_playing(client, now, position=0.010, seconds=5)
    assert player_commands(out) == []


def test_viewer_behind_speeds_up_within_bounds() -> None:
    config = SyncConfig(learn_start_lead=False)
    client, now = playing_viewer(config)
    _, out = feed_playing(client, now, position=-0.080, seconds=1)
    rates = [o.rate for o in out if isinstance(o, SetRate)]
    assert rates
    assert rates[0] == config.max_rate  # 80 ms behind with a 1 s time constant: clamped


def test_viewer_ahead_slows_down_proportionally() -> None:
    client, now = playing_viewer(SyncConfig(learn_start_lead=False))
    _, out = feed_playing(client, now, position=0.030, seconds=1)
    rates = [o.rate for o in out if isinstance(o, SetRate)]
    assert rates
    assert rates[0] == pytest.approx(0.97, abs=0.002)


def test_correction_ends_near_zero_and_restores_normal_rate() -> None:
    client, now = playing_viewer(SyncConfig(learn_start_lead=False))
    player = IdealPlayer(position_at=0.030, since=now, playing=True)  # 30 ms ahead
    rates: list[float] = []
    for _ in range(40):
        out = client.observe(player.status(now), now)
        player.apply(out, now)
        rates += [o.rate for o in out if isinstance(o, SetRate)]
        now += 250.0
    assert rates[0] < 1.0
    assert rates[-1] == 1.0
    drift = client.drift(now)
    assert drift is not None
    assert abs(drift) <= client.config.dead_zone_exit + 0.001


def test_drift_beyond_the_seek_threshold_rejoins_by_a_held_start() -> None:
    client, now = playing_viewer(SyncConfig(learn_start_lead=False))
    _, out = feed_playing(client, now, position=-2.0, seconds=1)
    holds = [o for o in out if isinstance(o, Pause)]
    assert len(holds) == 1
    assert client.next_deadline() is not None


def test_a_single_glitchy_report_does_not_trigger_a_correction() -> None:
    client, now = playing_viewer(SyncConfig(learn_start_lead=False))
    out: list[SyncOutput] = []
    for i in range(20):
        glitch = -0.25 if i == 10 else 0.0
        t = now + 250.0 * i
        out += client.observe(PlayerStatus(position=0.25 * i + glitch, paused=False), t)
    assert player_commands(out) == []


def test_start_lag_is_learned_and_aimed_ahead_next_time() -> None:
    client, now = playing_viewer()
    _, _ = feed_playing(client, now + 120.0, position=0.0, seconds=2)  # started 120 ms late
    assert client.start_lead == pytest.approx(0.120, abs=0.01)


def test_buffering_viewer_is_not_steered() -> None:
    client, now = playing_viewer()
    out: list[SyncOutput] = []
    for i in range(12):
        status = PlayerStatus(position=0.0, paused=False, buffering=True)
        out += client.observe(status, now + 250.0 * i)
    assert player_commands(out) == []


# --------------------------------------------------------------------------
# Echo suppression and host commands
# --------------------------------------------------------------------------


def test_host_user_play_is_sent_and_the_player_held_until_the_scheduled_start() -> None:
    client, now = synced(host=True, position=3.0)
    out = client.player_event("play", 3.0, now)
    assert out[0] == PlayerEvent(room=ROOM, action="play", position=3.0, ts=round(now))
    assert out[1:] == [Pause(3.0, now)]
    # The player reports the hold's pause: an echo, not a command.
    assert client.player_event("pause", 3.0, now + 20.0) == []


def test_echo_of_an_applied_command_is_not_sent_back() -> None:
    client, now = synced(host=True)
    client.receive(command("play", 5.0, server(now)), now)
    assert client.player_event("play", 5.0, now + 30.0) == []


def test_user_pause_during_a_stall_is_sent() -> None:
    # A stall never fires a pause of its own (HTML5 ``waiting``, mpv ``paused-for-cache``):
    # a pause that is not the echo of a command is the user's, and must reach the room.
    client, now = synced(host=True, playing=True)
    client.observe(PlayerStatus(position=1.0, paused=False, buffering=True), now)
    out = client.player_event("pause", 1.0, now + 10.0)
    assert out == [PlayerEvent(room=ROOM, action="pause", position=1.0, ts=round(now + 10.0))]


def test_host_user_pause_is_sent() -> None:
    client, now = synced(host=True, playing=True)
    out = client.player_event("pause", 42.0, now)
    assert out == [PlayerEvent(room=ROOM, action="pause", position=42.0, ts=round(now))]


# A host seek while playing that does not start together (see test_sync_seek_start.py):
# the room holds until this host's seek lands, then a play from there.
HELD_SEEK = SyncConfig(seek_start_ms=0.0)


def test_host_seek_while_playing_is_announced_at_the_click_and_the_host_holds() -> None:
    client, now = synced(host=True, config=HELD_SEEK)
    client.receive(command("play", 0.0, server(now)), now)
    now, _ = feed_playing(client, now, position=0.0, seconds=3)
    out = client.player_event("seek", 90.0, now)
    event, hold = out
    # Viewers seek at once, in parallel with this host, and hold there: the room waits.
    assert isinstance(event, PlayerEvent)
    assert (event.action, event.position, event.payload["play_state"]) == ("seek", 90.0, "paused")
    assert hold == Pause(90.0, now)
    # The player reports the hold's pause: an echo, not a command.
    assert client.player_event("pause", 90.0, now + 5.0) == []


def test_host_seek_is_followed_by_a_play_from_where_it_landed() -> None:
    client, now = synced(host=True, config=HELD_SEEK)
    client.receive(command("play", 0.0, server(now)), now)
    now, _ = feed_playing(client, now, position=0.0, seconds=3)
    client.player_event("seek", 90.0, now)
    seeking = PlayerStatus(position=88.0, paused=True, buffering=True)
    assert client.observe(seeking, now + 100.0) == []
    # Landed on the keyframe at 88 s, before the target: everyone plays from there.
    out = client.observe(PlayerStatus(position=88.0, paused=True), now + 900.0)
    assert out == [PlayerEvent(room=ROOM, action="play", position=88.0, ts=round(now + 900.0))]


def test_a_jump_in_reports_resets_the_position_filter() -> None:
    client, now = synced(host=True)  # a host: nothing steers the player meanwhile
    client.receive(command("play", 0.0, server(now)), now)
    now, _ = feed_playing(client, now, position=0.0, seconds=2)
    jump = now
    client.observe(PlayerStatus(position=50.0, paused=False), jump)
    assert client.player_position(jump) is None  # too few reports since the jump to judge
    now, _ = feed_playing(client, jump + 250.0, position=50.25, seconds=0.5)
    assert client.player_position(now) == pytest.approx(50.0 + (now - jump) / 1000.0)


def test_host_seek_is_followed_by_a_play_anyway_if_the_player_never_settles() -> None:
    client, now = synced(host=True, config=HELD_SEEK)
    client.receive(command("play", 0.0, server(now)), now)
    client.observe(PlayerStatus(position=0.0, paused=False), now)
    client.player_event("seek", 90.0, now)
    seeking = PlayerStatus(position=90.0, paused=True, buffering=True)
    timeout = client.config.seek_announce_timeout_ms
    assert client.observe(seeking, now + timeout - 1.0) == []
    out = client.observe(seeking, now + timeout)
    assert [(o.action, o.position) for o in out if isinstance(o, PlayerEvent)] == [("play", 90.0)]


def test_viewer_user_actions_are_never_sent() -> None:
    client, now = synced()
    for action in ("play", "pause", "seek"):
        assert client.player_event(action, 7.0, now) == []


# --------------------------------------------------------------------------
# Host state updates, checked against the real server's filters
# --------------------------------------------------------------------------


def test_host_state_updates_are_spaced_and_stamped() -> None:
    client, now = synced(host=True)
    client.receive(command("play", 0.0, server(now)), now)
    _, out = feed_playing(client, now, position=0.0, seconds=10)
    updates = [o for o in out if isinstance(o, StateUpdate)]
    # The server received the play at target - 1500 and ignores updates for 2000 ms after.
    cooldown_end = server(now) - 1500 + 2000
    assert updates
    assert all(u.payload["at_server_ts"] >= cooldown_end for u in updates)
    for a, b in itertools.pairwise(updates):
        assert b.payload["at_server_ts"] - a.payload["at_server_ts"] >= 1000
        assert b.position - a.position >= 0.5
    assert all(u.play_state == "playing" for u in updates)


def _host_playing() -> tuple[SyncClient, float]:
    """A host playing from 0 s for 3 s, past the server's cooldown after its play."""
    client, now = synced(host=True)
    client.receive(command("play", 0.0, server(now)), now)
    # The play's own start: buffering before it plays is the start's, not a stall.
    starting = PlayerStatus(position=0.0, paused=False, buffering=True)
    assert not [o for o in client.observe(starting, now + 50.0) if isinstance(o, StateUpdate)]
    return client, feed_playing(client, now + 100.0, position=0.0, seconds=3)[0]


def test_host_stall_is_announced_as_room_state_where_the_picture_froze() -> None:
    client, now = _host_playing()
    stalled = PlayerStatus(position=3.0, paused=False, buffering=True, sampled_at=now - 100.0)
    out = client.observe(stalled, now)
    assert [(o.position, o.play_state) for o in out if isinstance(o, StateUpdate)] == [
        (3.0, "paused")
    ]
    assert isinstance(out[0], StateUpdate)
    # Stamped when the position was read, so viewers hold where the host's picture froze.
    assert out[0].payload["at_server_ts"] == pytest.approx(now - 100.0 + OFFSET, abs=1.0)
    assert client.observe(stalled, now + 250.0) == []  # announced once
    resumed = PlayerStatus(position=3.1, paused=False, sampled_at=now + 1_400.0)
    out = client.observe(resumed, now + 1_500.0)
    assert [(o.position, o.play_state) for o in out if isinstance(o, StateUpdate)] == [
        (3.1, "playing")
    ]
    assert isinstance(out[0], StateUpdate)
    assert out[0].payload["at_server_ts"] == pytest.approx(now + 1_400.0 + OFFSET, abs=1.0)


def test_host_stall_is_not_announced_when_disabled() -> None:
    client, now = synced(host=True, config=SyncConfig(announce_stalls=False))
    client.receive(command("play", 0.0, server(now)), now)
    now, _ = feed_playing(client, now + 100.0, position=0.0, seconds=3)
    assert client.observe(PlayerStatus(position=3.0, paused=False, buffering=True), now) == []


@pytest.mark.parametrize("stall_ms", [0.0, 1_500.0])
def test_every_host_state_update_passes_the_server_filters(stall_ms: float) -> None:
    """A real SessionServer, clocks in step: each update the host sends is relayed,
    a stall's (``stall_ms`` of rebuffering 12 s in) and its end's too."""
    srv = SessionServer(id_source=seeded_uuid4s(3))
    t = 10_000
    host_id, _ = srv.connect(t)
    viewer_id, _ = srv.connect(t)
    created = srv.receive(host_id, encode(CreateRoom(name="r")), t)
    room = created[0].message.room  # type: ignore[union-attr]
    srv.receive(viewer_id, f'{{"type":"join_room","room":"{room}"}}', t)
    srv.receive(viewer_id, encode(Ready(room=room)), t)

    client = SyncClient()
    local = float(t)
    client.receive(ClientHello(client_id=host_id, ts=t, server_ts=t), local)
    for _ in range(4):
        for o in client.handle_timer(local):
            if isinstance(o, Ping):
                client.receive(Pong(payload=o.payload, ts=t, server_ts=round(local)), local)
        local += 300.0
    client.receive(
        RoomState(
            room=room,
            client=host_id,
            name="r",
            host_id=host_id,
            position=0.0,
            play_state="paused",
            participant_count=2,
            media_id=None,
            ts=round(local),
            server_ts=round(local),
        ),
        local,
    )
    sent = relayed = 0
    states: list[str] = []
    player = IdealPlayer()
    now = local
    stall = (local + 12_000.0, local + 12_000.0 + stall_ms)
    pending = client.player_event("play", 0.0, now)
    while now < local + 25_000.0:
        player.apply(pending, now)
        for o in pending:
            if isinstance(o, Ping):
                reply = srv.receive(host_id, encode(o), round(now))
                client.receive(decode_server_message(reply[0].text), now)
            elif isinstance(o, (PlayerEvent, StateUpdate)):
                relays = srv.receive(host_id, encode(o), round(now))
                for r in relays:
                    if host_id in r.recipients:
                        player.apply(client.receive(decode_server_message(r.text), now), now)
                if isinstance(o, StateUpdate):
                    sent += 1
                    states.append(o.play_state)
                    relayed += sum(1 for r in relays if viewer_id in r.recipients)
        now += 50.0
        pending = client.handle_timer(now)
        if stall[0] <= now < stall[1]:
            player.since += 50.0  # rebuffering: the picture stands still
        if int(now) % 250 == 0:
            status = player.status(now)
            buffering = stall[0] <= now < stall[1]
            pending += client.observe(attrs.evolve(status, buffering=buffering), now)
    assert sent >= 15
    assert relayed == sent
    assert states.count("paused") == (1 if stall_ms else 0)


# --------------------------------------------------------------------------
# Viewer timeline from relayed state updates
# --------------------------------------------------------------------------


def test_relayed_state_update_moves_the_viewer_timeline() -> None:
    client, now = playing_viewer()
    stamp = server(now) - 200
    update = StateUpdate(
        room=ROOM,
        position=33.0,
        play_state="playing",
        client=HOST,
        payload={"at_server_ts": stamp},
        ts=server(now),
        server_ts=server(now),
    )
    client.receive(update, now)
    assert client.expected_position(now) == pytest.approx(33.2, abs=0.002)


def test_state_update_that_pauses_the_room_pauses_the_viewer() -> None:
    client, now = playing_viewer()
    update = StateUpdate(
        room=ROOM,
        position=8.0,
        play_state="paused",
        client=HOST,
        ts=server(now),
        server_ts=server(now),
    )
    assert player_commands(client.receive(update, now)) == [Pause(8.0, now)]


def test_a_viewer_a_little_past_the_hosts_stall_pauses_in_place() -> None:
    # The host froze at 2.9 s; this viewer heard of it at 3.0 s. A seek back would be a
    # hitch now and another at the resume, which it hears of a trip late too.
    client, now = playing_viewer()
    now, _ = feed_playing(client, now, position=0.0, seconds=3)
    stalled = StateUpdate(
        room=ROOM, position=2.9, play_state="paused", client=HOST,
        payload={"at_server_ts": server(now) - 100}, ts=server(now), server_ts=server(now),
    )  # fmt: skip
    out = player_commands(client.receive(stalled, now))
    assert out == [Pause(pytest.approx(3.0, abs=0.01), now)]  # type: ignore[arg-type]


def _host_stall_resumed(ms_ago: int) -> tuple[SyncClient, float, list[SyncOutput]]:
    """A viewer that held at 8 s through the host's stall; the host resumed ``ms_ago``.

    Returns the client, the local time the resume arrived and the commands it caused."""
    client, now = playing_viewer()
    stalled = StateUpdate(
        room=ROOM, position=8.0, play_state="paused", client=HOST,
        payload={"at_server_ts": server(now)}, ts=server(now), server_ts=server(now),
    )  # fmt: skip
    assert player_commands(client.receive(stalled, now)) == [Pause(8.0, now)]
    client.observe(PlayerStatus(position=8.0, paused=True), now + 300.0)
    now += 2_000.0
    resumed = StateUpdate(
        room=ROOM, position=8.0, play_state="playing", client=HOST,
        payload={"at_server_ts": server(now) - ms_ago}, ts=server(now), server_ts=server(now),
    )  # fmt: skip
    return client, now, player_commands(client.receive(resumed, now))


def test_a_viewer_held_behind_a_resumed_room_rejoins_with_a_held_start() -> None:
    # The host's stall ended 600 ms ago (its stamped update says so): a late play from
    # where this player holds would start 0.6 s behind, one at the timeline would seek
    # and land late by the seek's time. It holds ahead and starts when the room gets there.
    client, now, out = _host_stall_resumed(600)
    assert len(out) == 1
    assert isinstance(out[0], Pause)
    ahead = out[0].position - 8.6  # the room's position now
    assert ahead >= client.config.seek_margin
    client.observe(PlayerStatus(position=out[0].position, paused=True), now + 200.0)
    start, played = advance(client, now + 200.0, now + 5_000.0)
    assert start - now == pytest.approx(ahead * 1000.0, abs=2.0)
    assert played == [Play(out[0].position, start)]


def test_a_viewer_held_just_behind_a_resumed_room_plays_from_where_it_holds() -> None:
    _, now, out = _host_stall_resumed(50)
    assert out == [Play(8.0, now)]  # no seek


def test_room_closed_forgets_the_room() -> None:
    client, now = playing_viewer()
    client.receive(RoomClosed(room=ROOM, ts=server(now), server_ts=server(now)), now)
    assert client.room_id is None
    assert client.expected_position(now) is None


def test_ready_reports_and_joins_a_paused_room_at_its_position() -> None:
    client, now = synced(position=12.0)
    assert client.ready(now) == [Ready(room=ROOM, ts=round(now)), Pause(12.0, now)]


def test_viewer_joining_a_playing_room_starts_from_the_hosts_next_update() -> None:
    client, now = synced(position=10.0, playing=True, config=SyncConfig(seek_margin=0.5))
    assert client.ready(now) == [Ready(room=ROOM, ts=round(now))]
    update = StateUpdate(
        room=ROOM,
        position=11.0,  # the room was further on than room_state said
        play_state="playing",
        client=HOST,
        payload={"at_server_ts": server(now)},
        ts=server(now),
        server_ts=server(now),
    )
    out = player_commands(client.receive(update, now + 100.0))
    assert out == [Pause(position=pytest.approx(11.6, abs=0.002), at=now + 100.0)]  # type: ignore[arg-type]
    assert isinstance(out[0], Pause)
    held = out[0].position
    client.observe(PlayerStatus(position=held, paused=True), now + 200.0)  # the seek landed
    start, played = advance(client, now + 200.0, now + 1000.0)
    assert start == pytest.approx(now + 600.0, abs=2.0)
    assert [type(p) for p in played] == [Play]


def test_viewer_joining_a_playing_room_starts_anyway_if_no_update_comes() -> None:
    config = SyncConfig(seek_margin=0.5)
    client, now = synced(position=10.0, playing=True, config=config)
    client.ready(now)
    at, out = advance(client, now, now + config.join_wait_ms + 10.0)
    assert at == pytest.approx(now + config.join_wait_ms, abs=1.0)
    assert [type(o) for o in out] == [Pause]
    assert out[0].position == pytest.approx(10.0 + 1.5 + 0.5, abs=0.003)  # type: ignore[union-attr]


def test_viewer_joining_a_playing_room_with_a_stamped_state_starts_in_place_at_once() -> None:
    # The room has played 2 s since room_state's position held: no update is awaited.
    client, now = synced(
        position=10.0, playing=True, config=SyncConfig(seek_margin=0.5), state_age_ms=2_000
    )
    out = client.ready(now)
    assert out[0] == Ready(room=ROOM, ts=round(now))
    assert [type(o) for o in out[1:]] == [Pause]
    held = out[1].position  # type: ignore[union-attr]
    assert held == pytest.approx(10.0 + 2.0 + 0.5, abs=0.003)  # held start, seek_margin ahead
    client.observe(PlayerStatus(position=held, paused=True), now + 100.0)  # the seek landed
    start, played = advance(client, now + 100.0, now + 2_000.0)
    assert played == [Play(held, start)]
    assert start == pytest.approx(now + 500.0, abs=2.0)  # when the timeline reaches it
    assert client.expected_position(start) == pytest.approx(held, abs=0.003)


def test_stamped_join_plays_early_by_the_learned_start_lead() -> None:
    client, now = synced(position=10.0, playing=True, state_age_ms=0)
    (pause,) = player_commands(client.ready(now))
    assert isinstance(pause, Pause)
    # A 100 ms output latency: before any start is measured, the least the start lead is.
    landed = PlayerStatus(position=pause.position, paused=True, output_latency=0.1)
    client.observe(landed, now + 50.0)
    assert client.start_lead == pytest.approx(0.1)
    start, played = advance(client, now + 50.0, now + 5_000.0)
    assert played == [Play(pause.position, start)]
    assert client.expected_position(start) == pytest.approx(pause.position - 0.1, abs=0.003)


def test_a_fresh_host_update_during_a_held_join_moves_its_start_without_a_seek() -> None:
    client, now = synced(
        position=10.0, playing=True, config=SyncConfig(seek_margin=0.5), state_age_ms=0
    )
    (pause,) = player_commands(client.ready(now))
    assert pause == Pause(pytest.approx(10.5, abs=0.003), now)  # type: ignore[arg-type]
    client.observe(PlayerStatus(position=10.5, paused=True), now + 100.0)
    # room_state was stamped on the server's receipt: the host was really 80 ms further on.
    update = StateUpdate(
        room=ROOM,
        position=10.28,
        play_state="playing",
        client=HOST,
        payload={"at_server_ts": server(now + 200.0)},
        ts=server(now + 200.0),
        server_ts=server(now + 250.0),
    )
    assert player_commands(client.receive(update, now + 300.0)) == []
    start, played = advance(client, now + 300.0, now + 2_000.0)
    assert played == [Play(10.5, start)]
    assert start == pytest.approx(now + 420.0, abs=2.0)  # not 500: the fresher timeline


def test_stamped_join_before_a_scheduled_play_waits_for_its_target() -> None:
    # state.server_ts is a scheduled play's target, 1 s ahead: the room is still at 5.0.
    client, now = synced(
        position=5.0, playing=True, config=SyncConfig(seek_margin=0.5), state_age_ms=-1_000
    )
    (pause,) = player_commands(client.ready(now))
    assert pause == Pause(pytest.approx(5.5, abs=0.003), now)  # type: ignore[arg-type]
    client.observe(PlayerStatus(position=5.5, paused=True), now + 100.0)
    start, played = advance(client, now + 100.0, now + 5_000.0)
    assert [type(p) for p in played] == [Play]
    assert start == pytest.approx(now + 1_500.0, abs=2.0)


def test_viewer_joining_a_paused_room_with_a_stamped_state_pauses_at_its_position() -> None:
    client, now = synced(position=12.0, state_age_ms=30_000)
    assert client.ready(now) == [Ready(room=ROOM, ts=round(now)), Pause(12.0, now)]


def test_viewer_joining_without_a_stamp_still_waits_for_the_hosts_update() -> None:
    client, now = synced(position=10.0, playing=True, state_age_ms=None)
    assert client.ready(now) == [Ready(room=ROOM, ts=round(now))]
    wait = client.config.join_wait_ms
    assert advance(client, now, now + wait - 10.0) == (now + wait - 10.0, [])  # nothing yet
    at, out = advance(client, now + wait - 10.0, now + wait + 10.0)
    assert at == pytest.approx(now + wait, abs=1.0)
    assert [type(o) for o in out] == [Pause]


@given(
    position=st.floats(min_value=0.0, max_value=10_000.0),
    age_ms=st.integers(min_value=-3_000, max_value=600_000),
    landing_ms=st.floats(min_value=1.0, max_value=400.0),
)
def test_stamped_join_starts_on_the_rooms_timeline(
    position: float, age_ms: int, landing_ms: float
) -> None:
    client, now = synced(
        position=position, playing=True, config=SyncConfig(seek_margin=0.5), state_age_ms=age_ms
    )
    (pause,) = player_commands(client.ready(now))
    assert isinstance(pause, Pause)
    assert pause.position >= position + max(age_ms, 0) / 1000.0  # never behind the room
    client.observe(PlayerStatus(position=pause.position, paused=True), now + landing_ms)
    start, played = advance(client, now + landing_ms, now + 10_000.0)
    assert played == [Play(pause.position, start)]
    # Its picture starts where the room is then (the clock estimate rounds to 1 ms).
    assert client.expected_position(start) == pytest.approx(pause.position, abs=0.003)


def test_config_rejects_inconsistent_bounds() -> None:
    with pytest.raises(ValueError, match="min_rate"):
        SyncConfig(min_rate=1.01)
    with pytest.raises(ValueError, match="dead_zone"):
        SyncConfig(dead_zone_enter=0.01, dead_zone_exit=0.02)
    assert SyncConfig().server == Config()


# --------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------


@given(
    offset=st.floats(min_value=-1e9, max_value=1e9),
    rtts=st.lists(st.floats(min_value=0.0, max_value=400.0), min_size=1, max_size=6),
    commands=st.lists(
        st.tuples(
            st.sampled_from(["play", "pause", "seek"]),
            st.floats(min_value=0.0, max_value=1000.0),
            st.integers(min_value=-3000, max_value=3000),  # target relative to server now
            st.floats(min_value=0.0, max_value=2000.0),  # wait before the next event
        ),
        min_size=1,
        max_size=8,
    ),
)
def test_plays_never_run_before_their_target_and_pauses_or_seeks_never_after_it(
    offset: float, rtts: list[float], commands: list[tuple[str, float, int, float]]
) -> None:
    client = SyncClient()
    now = 5_000.0

    def srv(local: float) -> int:
        return math.floor(local + offset)

    client.receive(ClientHello(client_id=ME, ts=srv(now), server_ts=srv(now)), now)
    for rtt in rtts:
        for o in client.handle_timer(now):
            if isinstance(o, Ping):
                mid = srv(now + rtt / 2)
                client.receive(Pong(payload=o.payload, ts=mid, server_ts=mid), now + rtt)
        now += rtt + 1.0
    state = RoomState(
        room=ROOM, client=ME, name="n", host_id=HOST, position=0.0, play_state="paused",
        participant_count=2, media_id="m", ts=srv(now), server_ts=srv(now),
    )  # fmt: skip
    client.receive(state, now)
    targets: list[int] = []
    for action, position, relative, wait in commands:
        target = srv(now) + relative
        targets.append(target)
        outs = client.receive(command(action, position, target), now)  # type: ignore[arg-type]
        received = client.server_time(now)
        assert received is not None
        end = now + wait
        while True:
            for o in outs:
                if isinstance(o, (Play, Pause, Seek)):
                    estimate = client.server_time(o.at)
                    assert estimate is not None
                    # A new command replaces a pending one, so each action serves the
                    # latest target. A play never runs before the local instant of it;
                    # a pause or seek never after it, or after its receipt if later (the
                    # host acted at its click: with no player report to wait for, at once).
                    if isinstance(o, Play):
                        assert estimate >= targets[-1] - 1e-3
                    else:
                        assert estimate <= max(targets[-1], received) + 1e-3
            deadline = client.next_deadline()
            if deadline is None or deadline > end:
                break
            now = max(now, deadline)
            outs = client.handle_timer(now)
        now = end


@given(
    offsets=st.lists(st.floats(min_value=-3.0, max_value=3.0), min_size=1, max_size=60),
    min_rate=st.floats(min_value=0.5, max_value=1.0),
    max_rate=st.floats(min_value=1.0, max_value=2.0),
)
def test_rates_stay_within_bounds(offsets: list[float], min_rate: float, max_rate: float) -> None:
    config = SyncConfig(min_rate=min_rate, max_rate=max_rate)
    client, now = playing_viewer(config)
    for i, off in enumerate(offsets):
        expected = client.expected_position(now)
        assert expected is not None
        status = PlayerStatus(position=max(0.0, expected + off), paused=False, rate=client.rate)
        for o in client.observe(status, now):
            if isinstance(o, SetRate):
                assert min_rate <= o.rate <= max_rate
        now += 100.0 + 50.0 * (i % 5)
        for o in client.handle_timer(now):
            if isinstance(o, SetRate):
                assert min_rate <= o.rate <= max_rate
        assert min_rate <= client.rate <= max_rate


@given(
    reports=st.lists(
        st.tuples(
            st.floats(min_value=0.0, max_value=10_000.0),
            st.booleans(),
            st.booleans(),
            st.floats(min_value=1.0, max_value=5_000.0),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_a_paused_room_never_drifts(reports: list[tuple[float, bool, bool, float]]) -> None:
    """Whatever the player reports, a viewer in a paused room gets no rate change, seek or start."""
    client, now = synced(position=20.0)
    for position, paused, buffering, wait in reports:
        status = PlayerStatus(position=position, paused=paused, buffering=buffering)
        assert player_commands(client.observe(status, now)) == []
        now += wait
        assert player_commands(client.handle_timer(now)) == []
    assert client.expected_position(now) == 20.0
