"""Keep one player in a room: a ClientConnection, a SyncClient and a player, wired together.

:class:`Party` runs four small loops that each feed
:class:`~opensyncparty_core.SyncClient` one kind of input: server messages,
its timer, the player's status (a few times a second) and the player's
play/pause/seek reports. Whatever SyncClient
returns is carried out in order under one lock: messages go to the server,
player commands to the player.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from typing import Protocol

import anyio

from opensyncparty_core import (
    ClientHello,
    CreateRoom,
    Error,
    JoinRoom,
    LeaveRoom,
    Pause,
    Play,
    PlayerCommand,
    PlayerStatus,
    RemoteProtocolError,
    RoomClosed,
    RoomState,
    Seek,
    SetRate,
    SyncClient,
    SyncOutput,
    decode_server_message,
)

from .._client import ClientConnection, ConnectionClosed
from ._ipc import MpvError
from ._player import monotonic_ms
from ._state import PlayerReport

__all__ = ["Party", "PartyError", "Player"]

logger = logging.getLogger("opensyncparty_transports.mpv")


class Player(Protocol):
    """What :class:`Party` needs of a media player (:class:`MpvPlayer` is one).

    The asynchronous form of the simulator's players: commands in, status and
    events out, all on the local clock given to the party (milliseconds).
    """

    def status(self, now: float) -> PlayerStatus | None:
        """The status at ``now``, or ``None`` while nothing is loaded."""

    async def apply(self, command: PlayerCommand) -> None:
        """Carry out a command of :class:`~opensyncparty_core.SyncClient`."""

    def reports(self) -> AsyncIterator[PlayerReport]:
        """Play, pause and seek events, in order; ends when the player is gone."""


class PartyError(Exception):
    """The server refused to put this client in a room (the ``error`` message's text)."""


class Party:
    """One player kept in sync with a room.

    :param player: the player to drive.
    :param client: the sync logic; a default :class:`~opensyncparty_core.SyncClient`
        if omitted.
    :param clock: local milliseconds, the clock the player stamps its reports with.
    :param observe_interval: seconds between two status reports to the client.
    """

    def __init__(
        self,
        player: Player,
        *,
        client: SyncClient | None = None,
        clock: Callable[[], float] = monotonic_ms,
        observe_interval: float = 0.1,
    ) -> None:
        self.player = player
        self.client = client if client is not None else SyncClient()
        self.clock = clock
        self.observe_interval = observe_interval
        self.joined = anyio.Event()
        """Set once the server has put this client in a room."""
        self._lock = anyio.Lock()
        self._wake = anyio.Event()
        self._player_done = anyio.Event()
        self._conn: ClientConnection | None = None

    @property
    def room_id(self) -> str | None:
        """The room this client is in."""
        return self.client.room_id

    async def run(
        self,
        conn: ClientConnection,
        *,
        create: str | None = None,
        join: str | None = None,
        media_id: str | None = None,
        token: str | None = None,
    ) -> None:
        """Create (``create``: the room's name) or join (``join``: its id) a room and stay in sync.

        Returns when the player is gone (the user closed it) or the server
        closes the room; leaves the room first, also when cancelled.

        :param token: sent as ``{"type": "auth", "payload": {"token": ...}}`` after
            the server's greeting, for servers that require authentication.
        :raises PartyError: the server refused the room request.
        :raises ConnectionClosed: the server closed the connection.
        :raises MpvError: the player failed (other than by quitting).
        """
        if (create is None) == (join is None):
            raise ValueError("give exactly one of create= and join=")
        self._conn = conn
        request = CreateRoom(name=create, media_id=media_id) if create is not None else None
        try:
            async with anyio.create_task_group() as tg:

                async def until_player_done() -> None:
                    await self._forward_reports()
                    tg.cancel_scope.cancel()

                async def until_server_done() -> None:
                    await self._receive(request or JoinRoom(room=join or ""), token)
                    tg.cancel_scope.cancel()

                tg.start_soon(until_server_done)
                tg.start_soon(until_player_done)
                tg.start_soon(self._timers)
                tg.start_soon(self._observe)
        except Exception as exc:
            # The task group wraps the one failure in a group: raise it as documented.
            inner: tuple[BaseException, ...] = getattr(exc, "exceptions", ())
            if len(inner) == 1 and isinstance(inner[0], Exception):
                raise inner[0] from None
            raise
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(1.0):
                await self._leave()

    # -- the four inputs ---------------------------------------------------

    async def _receive(self, request: CreateRoom | JoinRoom, token: str | None) -> None:
        conn = self._conn
        assert conn is not None
        while True:
            text = await conn.receive_text()
            now = self.clock()
            try:
                message = decode_server_message(text)
            except RemoteProtocolError:
                logger.debug("ignoring a message this client does not know: %.200s", text)
                continue
            if isinstance(message, ClientHello):
                if token is not None:
                    auth = {"type": "auth", "payload": {"token": token}}
                    await conn.send_text(json.dumps(auth))
                await conn.send(request)
            elif isinstance(message, Error):
                self._refused(message)
            entering = isinstance(message, RoomState) and self.client.room_id is None
            await self._handle(self.client.receive(message, now))
            if entering:
                self.joined.set()
                await self._handle(self.client.ready(self.clock()))
            if isinstance(message, RoomClosed) and self.client.room_id is None:
                logger.info("the room was closed")
                return

    def _refused(self, message: Error) -> None:
        if "'auth'" in message.message:
            # A server without authentication does not know the message: carry on.
            logger.warning("the server does not take a token: %s", message.message)
        elif not self.joined.is_set():
            raise PartyError(message.message)
        else:
            logger.warning("server: %s", message.message)

    async def _timers(self) -> None:
        while True:
            deadline = self.client.next_deadline()
            wait = math.inf if deadline is None else max(0.0, (deadline - self.clock()) / 1000.0)
            self._wake = anyio.Event()
            with anyio.move_on_after(wait):
                await self._wake.wait()
            deadline = self.client.next_deadline()
            now = self.clock()
            if deadline is not None and now >= deadline:
                await self._handle(self.client.handle_timer(now))

    async def _observe(self) -> None:
        while True:
            await anyio.sleep(self.observe_interval)
            # Under the lock: a status read while a command is half carried out (a
            # start waiting for its instant) would look like a player that is late.
            async with self._lock:
                now = self.clock()
                status = self.player.status(now)
                if status is not None:
                    await self._carry_out(self.client.observe(status, now))
            self._wake.set()

    async def _forward_reports(self) -> None:
        try:
            async for report in self.player.reports():
                # Under the lock and at the time it is handled: a report that waited
                # behind a command must still meet that command's echo window.
                async with self._lock:
                    now = self.clock()
                    outputs = self.client.player_event(report.action, report.position, now)
                    await self._carry_out(outputs)
                self._wake.set()
        finally:
            self._player_done.set()

    # -- outputs -------------------------------------------------------------

    async def _handle(self, outputs: list[SyncOutput]) -> None:
        async with self._lock:
            await self._carry_out(outputs)
        self._wake.set()

    async def _carry_out(self, outputs: list[SyncOutput]) -> None:
        conn = self._conn
        assert conn is not None
        for output in outputs:
            if isinstance(output, (Play, Pause, Seek, SetRate)):
                await self._apply(output)
            else:
                await conn.send(output)

    async def _apply(self, command: PlayerCommand) -> None:
        try:
            await self.player.apply(command)
        except MpvError:
            # A player that quit fails its last commands: that is a leave, not an error.
            with anyio.move_on_after(1.0):
                await self._player_done.wait()
            if not self._player_done.is_set():
                raise

    async def _leave(self) -> None:
        conn = self._conn
        if conn is None or self.client.room_id is None:
            return
        room = self.client.room_id
        self.client.left(self.clock())
        with suppress(ConnectionClosed):
            await conn.send(LeaveRoom(room=room))
