"""An mpv process as a player that SyncClient can drive.

:func:`open_mpv` starts mpv on a file with ``--input-ipc-server``, connects,
observes the properties :class:`MpvState` follows and waits for the first
frame. :class:`MpvPlayer` carries out SyncClient's player commands and hands
back the status and events mpv reports. Its reader task lives in the task
group of :func:`open_mpv`; leaving the block quits mpv (and kills it if it
does not go within a few seconds).
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any

import anyio
import anyio.abc

from opensyncparty_core import Pause, Play, PlayerCommand, PlayerStatus, Seek, SetRate

from ._ipc import MpvError, MpvIpc
from ._state import OBSERVED, MpvState, PlayerReport

__all__ = ["HEADLESS", "MpvPlayer", "monotonic_ms", "open_mpv"]

HEADLESS = ("--vo=null", "--ao=null")
"""mpv options for a player without picture or sound (tests, benchmarks, servers)."""

# Seconds: a playing player this close to a Play's position is left alone (the drift
# controller's business); a paused one this far behind it waits rather than seeks.
_PLAY_SEEK_TOLERANCE = 0.1
# Seconds: an exact seek (mpv's hr-seek) drops the frames that start more than this
# before its target and shows the next one (mpv 0.35, video.c), yet reports the
# target itself as time-pos until the clock moves.
_HR_SEEK_SLACK = 0.005


def monotonic_ms() -> float:
    """The local clock this module uses by default (milliseconds, monotonic)."""
    return time.monotonic() * 1000.0


class MpvPlayer:
    """One mpv, seen through its JSON IPC. Get one from :func:`open_mpv`.

    The player interface :class:`~opensyncparty_core.SyncClient` drives:
    :meth:`status` for ``observe``, :meth:`apply` for the player commands it
    returns, :meth:`reports` for ``player_event``.
    """

    def __init__(
        self, ipc: MpvIpc, clock: Callable[[], float], ipc_path: str, pid: int | None = None
    ) -> None:
        self.pid = pid
        """mpv's process id, when this module started it."""
        self.ipc = ipc
        """The IPC connection (for commands this class does not cover)."""
        self.ipc_path = ipc_path
        """mpv's IPC socket; other clients may connect to it too (mpv serves several)."""
        self.state = MpvState()
        self._clock = clock
        self._reports_in, self._reports_out = anyio.create_memory_object_stream[PlayerReport](1000)
        self._loaded = anyio.Event()
        self._gone = anyio.Event()
        self._restarted = anyio.Event()
        self._pause_changed = anyio.Event()
        self.frame_duration = 0.0
        """Seconds per video frame (``container-fps``); 0 without video."""

    def status(self, now: float) -> PlayerStatus | None:
        """The player's status at local time ``now``, for ``SyncClient.observe``."""
        return self.state.status(now)

    def position(self, now: float) -> float | None:
        """The media clock (seconds) at local time ``now``."""
        return self.state.position(now)

    async def apply(self, command: PlayerCommand) -> None:
        """Carry out one of SyncClient's player commands, meant for local time ``command.at``.

        :raises MpvError: mpv refused, did not answer in time, or is gone.
        """
        ipc = self.ipc
        if isinstance(command, SetRate):
            await ipc.command("set_property", "speed", command.rate)
        elif isinstance(command, Seek):
            await self._seek(command.position)
        elif isinstance(command, Pause):
            await self._set_pause(True)
            # Always an exact seek, even in place: from there an unpause starts the same way.
            await self._seek(command.position, wait_restart=True)
        else:
            assert isinstance(command, Play)
            await self._play(command)

    async def _play(self, command: Play) -> None:
        """Start so that the media clock reads ``command.position`` at ``command.at``.

        Measured on mpv 0.35 (``--vo=null --ao=null``): paused after an exact seek,
        an unpause shows the next frame at once and plays on from it, so the
        clock starts one frame after the frame held. Where that is ahead of the
        timeline the unpause waits; where it is behind, mpv seeks (exactly) first.
        """
        state = self.state
        frame = self.frame_duration
        if not state.paused:
            shown = state.position(self._clock())
            if shown is not None and abs(shown - self._due(command)) <= _PLAY_SEEK_TOLERANCE:
                return
            await self._set_pause(True)
        for _ in range(2):
            held = state.time_pos
            wait = None if held is None else held + frame - self._due(command)
            if wait is not None and 0.0 <= wait <= _PLAY_SEEK_TOLERANCE + frame:
                await anyio.sleep(wait)
                break
            if wait is not None and -frame / 2 <= wait < 0.0:
                break  # late by less than half a frame: nothing better to do
            await self._seek(self._due(command), wait_restart=True)
        await self._set_pause(False)

    async def _set_pause(self, paused: bool) -> None:
        """Set ``pause`` and wait for mpv to say it changed: its reply comes first.

        Only a change is waited for, and only briefly: the user may flip it back
        in between (mpv's own keys), and an unchanged property sends nothing.
        """
        if self.state.paused == paused:
            await self.ipc.command("set_property", "pause", paused)
            return
        self._pause_changed = anyio.Event()
        await self.ipc.command("set_property", "pause", paused)
        with anyio.move_on_after(0.5):
            await self._pause_changed.wait()

    def _due(self, command: Play) -> float:
        """Where the timeline of ``command`` is now."""
        return command.position + (self._clock() - command.at) / 1000.0

    async def reports(self) -> AsyncIterator[PlayerReport]:
        """Play, pause and seek events as mpv reports them; ends when mpv is gone."""
        async for report in self._reports_out:
            yield report

    @property
    def gone(self) -> anyio.Event:
        """Set once mpv has closed its IPC connection (it quit, or was closed)."""
        return self._gone

    def _frame_shown(self, position: float) -> float:
        """The frame an exact seek to ``position`` shows (one every ``frame_duration`` from 0)."""
        frame = self.frame_duration
        if frame <= 0.0:
            return position
        return math.ceil((position - _HR_SEEK_SLACK) / frame) * frame

    async def _seek(self, position: float, *, wait_restart: bool = False) -> None:
        # Aimed at the frame mpv will show, so that time-pos (the held frame a start
        # counts from) is that frame's and not the target's: up to a frame apart.
        self._restarted = anyio.Event()
        await self.ipc.command("seek", self._frame_shown(max(0.0, position)), "absolute+exact")
        if wait_restart:
            with anyio.move_on_after(self.ipc.timeout):
                await self._restarted.wait()

    def _on_message(self, message: dict[str, Any], at: float) -> None:
        if message.get("event") == "playback-restart":
            self._restarted.set()
        elif message.get("name") == "pause":
            self._pause_changed.set()
        for report in self.state.feed(message, at):
            with suppress(anyio.WouldBlock, anyio.BrokenResourceError):
                self._reports_in.send_nowait(report)
        if self.state.loaded or self.state.end_reason is not None:
            self._loaded.set()

    async def _run(self) -> None:
        try:
            await self.ipc.run(self._on_message)
        finally:
            self._gone.set()
            self._loaded.set()
            self._reports_in.close()

    async def _start(self) -> None:
        for index, name in enumerate(OBSERVED, start=1):
            await self.ipc.command("observe_property", index, name)

    async def _read_frame_rate(self) -> None:
        with suppress(MpvError):
            fps = await self.ipc.command("get_property", "container-fps")
            if isinstance(fps, (int, float)) and fps > 0:
                self.frame_duration = 1.0 / fps


@asynccontextmanager
async def open_mpv(
    file: str | os.PathLike[str],
    *,
    mpv: str = "mpv",
    args: Sequence[str] = (),
    clock: Callable[[], float] = monotonic_ms,
    timeout: float = 10.0,
    ipc_timeout: float = 2.0,
) -> AsyncIterator[MpvPlayer]:
    """Start ``mpv`` on ``file``, paused at 0, and yield it as a :class:`MpvPlayer`.

    :param args: more mpv options, e.g. :data:`HEADLESS`.
    :param clock: local milliseconds; pass the clock given to ``SyncClient``.
    :param timeout: seconds allowed for mpv to start and show the first frame.
    :param ipc_timeout: seconds any one IPC request may take.
    :raises MpvError: mpv is missing, cannot play the file, or does not start in time.

    mpv is asked to quit when the block exits, and killed if it lingers.
    """
    executable = shutil.which(mpv)
    if executable is None:
        raise MpvError(f"mpv not found: {mpv!r} (install it, e.g. apt-get install mpv)")
    if not os.path.isfile(file):
        raise MpvError(f"no such file: {os.fspath(file)!r}")
    with tempfile.TemporaryDirectory(prefix="opensyncparty-mpv-") as tmp:
        path = os.path.join(tmp, "ipc.sock")
        command = [
            executable,
            "--no-config",
            "--idle=no",
            "--keep-open=yes",  # the end of the file pauses; it does not quit
            "--pause",
            "--really-quiet",
            "--input-terminal=no",  # keys go to mpv's window, never to our terminal
            f"--input-ipc-server={path}",
            *args,
            "--",
            os.fspath(file),
        ]
        # A session of its own: Ctrl-C in the terminal reaches this program, which
        # leaves the room and then closes mpv, rather than mpv dying first.
        process = await anyio.open_process(
            command,
            stdin=subprocess.DEVNULL,
            stdout=None,
            stderr=None,
            start_new_session=True,
        )
        try:
            async with anyio.create_task_group() as tg:
                player = await _connect(process, path, clock, timeout, ipc_timeout, tg)
                try:
                    yield player
                finally:
                    with anyio.CancelScope(shield=True):
                        await _quit(player)
                    tg.cancel_scope.cancel()
                    player._reports_out.close()
        finally:
            with anyio.CancelScope(shield=True):
                await _reap(process)


async def _connect(
    process: anyio.abc.Process,
    path: str,
    clock: Callable[[], float],
    timeout: float,
    ipc_timeout: float,
    tg: anyio.abc.TaskGroup,
) -> MpvPlayer:
    with anyio.move_on_after(timeout) as scope:
        while True:
            if process.returncode is not None:
                raise MpvError(f"mpv exited with status {process.returncode} before it started")
            if os.path.exists(path):
                # The socket file appears when mpv binds, a moment before it listens.
                with suppress(MpvError):
                    ipc = await MpvIpc.connect(path, clock, ipc_timeout)
                    break
            await anyio.sleep(0.01)
        player = MpvPlayer(ipc, clock, path, process.pid)
        tg.start_soon(player._run)
        await player._start()
        await player._loaded.wait()
        await player._read_frame_rate()
    if scope.cancelled_caught:
        raise MpvError(f"mpv did not start within {timeout:g} s")
    if not player.state.loaded:
        reason = player.state.end_reason or "it quit"
        raise MpvError(f"mpv could not play the file ({reason})")
    return player


async def _quit(player: MpvPlayer) -> None:
    with suppress(MpvError):
        await player.ipc.command("quit", timeout=1.0)
    await player.ipc.aclose()


async def _reap(process: anyio.abc.Process) -> None:
    with anyio.move_on_after(3.0):
        await process.wait()
    if process.returncode is None:
        with suppress(ProcessLookupError):
            process.send_signal(signal.SIGKILL)
        await process.wait()
    await process.aclose()
