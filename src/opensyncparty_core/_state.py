"""What the session server keeps, and the steps every handler shares.

Theory of operation. :class:`ServerState` is the one bag of mutable state
behind :class:`~opensyncparty_core.SessionServer`: the clients, the rooms,
the timers, the config and the id source. The handler modules
(``_lifecycle.py``, ``_playback.py``...) each hold a reference to it and change
it; nothing else does. The records here (``_Room``, ``_Client``) never leave
the package: callers get frozen :class:`RoomSnapshot` copies.

This module does no decoding and knows no message rule beyond the shared
helpers (the member and host checks, the messages every handler sends).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from typing import NoReturn, Protocol

import attrs

from ._config import Config
from ._errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from ._handover import HandoverPolicy
from ._messages import (
    Error,
    PlayState,
    RoomList,
    RoomState,
    RoomSummary,
    ServerMessage,
    decode_server_message,
    encode,
)
from ._room_list import RoomListCoalescer

__all__ = ["Outgoing", "PendingPlay", "RoomSnapshot", "ServerState"]


@attrs.frozen
class Outgoing:
    """One message to deliver: the same ``text`` to every id in ``recipients``.

    ``text`` is encoded once, however many recipients.
    """

    recipients: tuple[str, ...]
    text: str

    @property
    def message(self) -> ServerMessage:
        """``text`` decoded as a typed message (decoded on each access: for tests and logs).

        Being derived from ``text``, it is exactly what a client will decode.
        """
        return decode_server_message(self.text)


@attrs.frozen
class PendingPlay:
    """A play waiting for every member to be ready (or for its deadline)."""

    position: float
    created_at: int


@attrs.frozen
class RoomSnapshot:
    """A read-only copy of a room's state at the time it was taken."""

    id: str
    name: str
    host_id: str
    media_id: str | None
    clients: tuple[str, ...]
    """Members in join order; the host first."""
    ready_clients: frozenset[str]
    pending_play: PendingPlay | None
    position: float
    play_state: PlayState
    last_state_ts: int
    last_command_ts: int | None
    """``None`` until the first host command (the specification's 0, "never")."""


@attrs.define(eq=False)
class _Room:
    id: str
    name: str
    host_id: str
    media_id: str | None
    position: float
    play_state: PlayState
    last_state_ts: int
    # Protocol id -> record, in join order; O(1) removal. Includes members
    # away within their resume grace (whose ``conn`` is None).
    members: dict[str, _Client]
    ready: set[str]
    handover: HandoverPolicy
    pending_play: PendingPlay | None = None
    # None rather than the spec's 0: a test clock may legitimately read 0.
    last_command_ts: int | None = None
    # Server time at which the room was at ``position`` (a scheduled play's target).
    position_ts: int = 0
    # Encoded chat_message texts, for joiners.
    chat_history: deque[str] = attrs.field(factory=deque)
    # Cached recipient tuples (connection ids of the members who are
    # connected), rebuilt on membership or presence change only.
    everyone: tuple[str, ...] = ()
    guests: tuple[str, ...] = ()

    def refresh_recipients(self) -> None:
        present = [c for c in self.members.values() if c.conn is not None]
        self.everyone = tuple(c.conn for c in present if c.conn is not None)
        self.guests = tuple(c.conn for c in present if c.conn is not None and c.id != self.host_id)

    def participant_count(self) -> int:
        """Connected members: what ``participant_count`` and ``room_list`` show."""
        return len(self.everyone)

    def all_ready(self) -> bool:
        return self.ready.issuperset(self.members)


@attrs.define(eq=False)
class _Client:
    id: str
    """The protocol id, which a ``resume`` carries over to a new connection."""
    conn: str | None
    """The connection id the embedder knows it by; ``None`` while away (resume grace)."""
    tokens: float
    refilled_at: int
    room: _Room | None = None
    rate_error_at: int | None = None
    resume_token: str | None = None
    away_until: int = 0
    """While away: when the resume grace ends (a late timer must not extend it)."""
    missed_close: str | None = None
    """A room closed while this client was away: told on resume."""
    user_id: str | None = None
    user_name: str | None = None
    """Display name from authentication, if any (used as the chat ``username``)."""
    authenticated: bool = False
    """True once an ``auth`` with a token succeeded (rooms need it when auth is on)."""

    def inbox(self) -> tuple[str]:
        """Recipients of a message to this (connected) client."""
        assert self.conn is not None, "a message to a client that is away"
        return (self.conn,)


def refuse(message: str, code: ErrorCode) -> NoReturn:
    """Answer the current message with an ``error``; nothing has changed yet."""
    raise RemoteProtocolError(message, code)


class Timer(Protocol):
    """A deadline's action. ``live()`` false means it was superseded: skip it."""

    def live(self) -> bool: ...

    def fire(self, now: int, out: list[Outgoing]) -> None: ...


class Timers:
    """Deadlines in a heap; stale ones are dropped lazily when they reach the top."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, Timer]] = []
        self._sequence = 0

    def schedule(self, when: int, timer: Timer) -> None:
        self._sequence += 1
        heapq.heappush(self._heap, (when, self._sequence, timer))

    def next_deadline(self) -> int | None:
        heap = self._heap
        while heap:
            if heap[0][2].live():
                return heap[0][0]
            heapq.heappop(heap)
        return None

    def fire_due(self, now: int, out: list[Outgoing]) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, _, timer = heapq.heappop(heap)
            if timer.live():
                timer.fire(now, out)


class ServerState:
    """Clients, rooms, timers, config and id source, with the shared steps."""

    def __init__(self, config: Config, id_source: Callable[[], str]) -> None:
        self.config = config
        self.id_source = id_source
        # Connection id -> record of every connected client.
        self.clients: dict[str, _Client] = {}
        self.rooms: dict[str, _Room] = {}
        # Protocol id -> record of every client, connected or away.
        self.by_id: dict[str, _Client] = {}
        # Resume token -> record, for every client holding a token.
        self.tokens: dict[str, _Client] = {}
        self.timers = Timers()
        self.room_list_schedule = RoomListCoalescer(config.room_list_interval_ms)

    def client(self, client_id: str) -> _Client:
        try:
            return self.clients[client_id]
        except KeyError:
            raise LocalProtocolError(f"unknown client id {client_id!r}") from None

    def new_id(self) -> str:
        new_id = self.id_source()
        if (
            new_id in self.clients
            or new_id in self.by_id
            or new_id in self.rooms
            or new_id in self.tokens
        ):
            raise LocalProtocolError(f"id source returned an id already in use: {new_id!r}")
        return new_id

    def member_room(self, client: _Client, room_id: str) -> _Room:
        room = client.room
        if room is None or room.id != room_id:
            refuse(f"You are not in room '{room_id}'", "NOT_ROOM_MEMBER")
        return room

    def host_room(self, client: _Client, room_id: str) -> _Room:
        room = self.member_room(client, room_id)
        if room.host_id != client.id:
            refuse("Only the host can control playback", "NOT_HOST")
        return room

    def error(self, client_id: str, message: str, code: ErrorCode, now: int) -> Outgoing:
        return self.out((client_id,), Error(message=message, ts=now, server_ts=now, code=code))

    def room_state(self, room: _Room, recipient: str, now: int) -> RoomState:
        return RoomState(
            room=room.id,
            client=recipient,
            name=room.name,
            host_id=room.host_id,
            position=room.position,
            play_state=room.play_state,
            participant_count=room.participant_count(),
            media_id=room.media_id,
            ts=now,
            server_ts=now,
            state_server_ts=room.position_ts,
        )

    def room_list(self, now: int) -> RoomList:
        rooms = tuple(
            RoomSummary(id=r.id, name=r.name, count=r.participant_count(), media_id=r.media_id)
            for r in self.rooms.values()
        )
        return RoomList(rooms=rooms, ts=now, server_ts=now)

    def broadcast_room_list(self, now: int, out: list[Outgoing]) -> None:
        """The room list changed: broadcast it now or at the coalescing deadline."""
        if self.room_list_schedule.changed(now):
            self.send_room_list(now, out)

    def send_room_list(self, now: int, out: list[Outgoing]) -> None:
        self.room_list_schedule.sent(now)
        if self.clients:
            out.append(self.out(tuple(self.clients), self.room_list(now)))

    @staticmethod
    def out(recipients: tuple[str, ...], message: ServerMessage) -> Outgoing:
        return Outgoing(recipients, encode(message))
