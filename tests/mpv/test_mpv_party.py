"""Real mpv players kept together through the reference server (127.0.0.1, headless)."""

from __future__ import annotations

import os
import pathlib
import signal
from contextlib import suppress

import anyio
import pytest

from opensyncparty_core import Pause, Play
from opensyncparty_transports.mpv import HEADLESS, MpvError, MpvIpc, monotonic_ms, open_mpv

from .support import agree, mpv_room, until

pytestmark = [pytest.mark.anyio, pytest.mark.mpv]


async def test_host_keys_drive_a_viewer_through_play_pause_seek_and_rate_correction(
    clip: pathlib.Path,
) -> None:
    async with mpv_room(clip, viewers=1) as room:
        user = room.remote
        viewer = room.viewers[0]
        await anyio.sleep(0.5)  # a few pings: the clock estimate settles
        room_id = room.host.party.room_id
        assert room_id is not None
        snapshot = room.server.core.room(room_id)
        assert snapshot.ready_clients == set(snapshot.clients)  # mpv loaded: both ready

        await user.command("set_property", "pause", False)
        await agree(room, playing=True, deadline=8.0)

        await user.command("set_property", "pause", True)
        await agree(room, playing=False, deadline=5.0)

        await user.command("seek", 40.0, "absolute")
        await agree(room, playing=False, deadline=5.0)
        assert room.host.mpv.state.time_pos == pytest.approx(40.0, abs=0.05)

        await user.command("set_property", "pause", False)
        await agree(room, playing=True, deadline=8.0)

        await user.command("seek", 20.0, "absolute")
        await agree(room, playing=True, deadline=8.0)
        assert room.host.mpv.state.time_pos == pytest.approx(22.0, abs=2.0)

        # The viewer slips 120 ms behind (as after a hiccup): nudged back by its rate.
        nudge = await MpvIpc.connect(viewer.mpv.ipc_path, monotonic_ms)
        room.tg.start_soon(nudge.run, lambda message, at: None)
        await nudge.command("seek", -0.12, "relative+exact")
        await until(lambda: viewer.mpv.state.speed > 1.0, deadline=5.0)
        await agree(room, playing=True, deadline=12.0)
        assert viewer.mpv.state.speed <= 1.05
        await nudge.aclose()


async def test_a_viewer_joining_mid_play_starts_in_place(clip: pathlib.Path) -> None:
    async with mpv_room(clip, viewers=0) as room:
        await anyio.sleep(0.5)  # a user takes longer than the client's first positioning
        await room.remote.command("set_property", "pause", False)
        await anyio.sleep(2.0)
        await room.add_viewer()
        await agree(room, playing=True, deadline=8.0)
        assert room.host.mpv.state.time_pos is not None
        assert room.host.mpv.state.time_pos > 2.0


async def test_closing_mpv_leaves_the_room_before_the_connection_closes(
    clip: pathlib.Path,
) -> None:
    async with mpv_room(clip, viewers=1) as room:
        viewer = room.viewers[0]
        client_id = viewer.party.client.client_id
        room_id = room.host.party.room_id
        assert client_id is not None
        assert room_id is not None
        assert client_id in room.server.core.room(room_id).clients
        closer = await MpvIpc.connect(viewer.mpv.ipc_path, monotonic_ms)
        room.tg.start_soon(closer.run, lambda message, at: None)
        with suppress(MpvError):  # mpv may quit before it answers
            await closer.command("quit")
        await until(lambda: room.server.core.room_of(client_id) is None, deadline=5.0)
        assert client_id in room.server.core.client_ids  # left, not merely disconnected
        assert viewer.party.room_id is None


async def test_a_hung_mpv_fails_commands_in_time_and_a_dead_one_at_once(
    clip: pathlib.Path,
) -> None:
    with anyio.fail_after(20):
        async with open_mpv(clip, args=HEADLESS, ipc_timeout=0.5) as player:
            assert player.pid is not None
            os.kill(player.pid, signal.SIGSTOP)
            try:
                started = monotonic_ms()
                with pytest.raises(MpvError, match="did not answer"):
                    await player.apply(Play(5.0, monotonic_ms()))
                assert monotonic_ms() - started < 2_000.0
            finally:
                os.kill(player.pid, signal.SIGCONT)
            os.kill(player.pid, signal.SIGKILL)
            await until(lambda: player.gone.is_set(), deadline=2.0)
            with pytest.raises(MpvError, match="closed"):
                await player.apply(Play(5.0, monotonic_ms()))


async def test_a_start_from_a_pause_between_frames_runs_on_the_timeline(
    clip: pathlib.Path,
) -> None:
    # 6 ms past a frame: mpv's exact seek shows the next frame (25 fps: 10.04), so a
    # start counted from the target rather than that frame ran a frame ahead.
    with anyio.fail_after(20):
        async with open_mpv(clip, args=HEADLESS) as player:
            await player.apply(Pause(10.006, monotonic_ms()))
            at = monotonic_ms()
            await player.apply(Play(10.006, at))
            await anyio.sleep(0.6)  # the clock's median fills with frames
            now = monotonic_ms()
            position = player.position(now)
            assert position is not None
            assert abs(position - (10.006 + (now - at) / 1000.0)) < 0.015
