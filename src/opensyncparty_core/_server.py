"""The session server: the one object with state.

Theory of operation. A :class:`SessionServer` holds every connected client
and every room. The embedding code reports what happened (a connection, a
text or binary frame, a disconnection, the passing of time), always with the
current clock reading ``now`` in milliseconds since the epoch, and gets back
a list of :class:`Outgoing`: who must receive which text, in order. The
server never reads a clock, never makes an id (the id source is injected)
and never does I/O; its timers (the pending-play deadline and the coalesced
``room_list``, see ``_room_list.py``) are exposed through
:meth:`SessionServer.next_deadline` and :meth:`SessionServer.handle_timer`.

What must never leak in here: sockets, tasks, sleeping, logging of traffic,
anything about WebSocket framing. What must never leak out: the mutable
room and client records (callers get frozen snapshots).

Bad input from a client is a :class:`RemoteProtocolError` inside this module
and an ``error`` message outside it; every handler validates everything
before it changes anything, so a refused message leaves no trace.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any, NoReturn

import attrs

from ._auth import AUTH_REQUIRED, TokenVerifier, apply_auth
from ._config import Config
from ._errors import LocalProtocolError, RemoteProtocolError
from ._messages import (
    Auth,
    AuthSuccess,
    ClientHello,
    ClientLeft,
    ClientMessage,
    CreateRoom,
    Error,
    JoinRoom,
    LeaveRoom,
    ListRooms,
    ParticipantsUpdate,
    Ping,
    PlayerEvent,
    PlayState,
    Pong,
    Ready,
    RoomClosed,
    RoomList,
    RoomState,
    RoomSummary,
    ServerMessage,
    StateUpdate,
    decode_client_message,
    decode_server_message,
    encode,
    encode_relay,
)
from ._room_list import RoomListCoalescer
from ._rules import check_position, clean_room_name, state_update_drop_reason

__all__ = ["ClientSnapshot", "Outgoing", "PendingPlay", "RoomSnapshot", "SessionServer"]

RATE_LIMIT_MESSAGE = "Rate limit exceeded"
BINARY_MESSAGE = "Binary messages are not supported"


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


@attrs.frozen
class ClientSnapshot:
    """A read-only copy of what the server knows about one connected client."""

    id: str
    room: str | None
    """The id of the room the client is in, if any."""
    user_id: str | None
    """From a verified token's ``sub`` claim, or as the client gave it with
    ``user_name`` when authentication is off; ``None`` until then."""
    user_name: str | None
    """Display name: a verified token's ``name`` claim, or the ``user_name`` of an
    ``auth`` message when authentication is off; ``None`` until then."""
    authenticated: bool
    """True once an ``auth`` with a token succeeded."""


@attrs.define(eq=False)
class _Room:
    id: str
    name: str
    host_id: str
    media_id: str | None
    position: float
    play_state: PlayState
    last_state_ts: int
    # dict as an ordered set: join order, O(1) removal.
    members: dict[str, None]
    ready: set[str]
    pending_play: PendingPlay | None = None
    # None rather than the spec's 0: a test clock may legitimately read 0.
    last_command_ts: int | None = None
    # Cached recipient tuples, rebuilt on membership change only.
    everyone: tuple[str, ...] = ()
    guests: tuple[str, ...] = ()

    def refresh_recipients(self) -> None:
        self.everyone = tuple(self.members)
        self.guests = tuple(c for c in self.members if c != self.host_id)

    def all_ready(self) -> bool:
        return self.ready.issuperset(self.members)


@attrs.define(eq=False)
class _Client:
    id: str
    tokens: float
    refilled_at: int
    room: _Room | None = None
    rate_error_at: int | None = None
    user_id: str | None = None
    user_name: str | None = None
    authenticated: bool = False


def _refuse(message: str) -> NoReturn:
    raise RemoteProtocolError(message)


class SessionServer:
    """The watch-party session protocol as a sans-IO state machine.

    :param id_source: returns a new unique id (a UUID4 string on the wire) each
        call; used for clients and rooms. Inject ``lambda: str(uuid.uuid4())``
        in production and a deterministic source in tests.
    :param config: timings and limits; the specification's defaults if omitted.
    :param token_verifier: turns on authentication: ``create_room`` and
        ``join_room`` are refused until the client's ``auth`` token passes it.
        ``None`` (the default) serves everyone, as the original server did.

    Every method that takes ``now`` (milliseconds since the epoch) returns the
    messages to send, in order. Deliver each :class:`Outgoing` to its recipients
    in list order. Methods raise :class:`LocalProtocolError` only on misuse by
    the caller (an unknown client id, an id source returning a duplicate);
    anything a remote client sends is answered on the wire instead.
    """

    def __init__(
        self,
        *,
        id_source: Callable[[], str],
        config: Config | None = None,
        token_verifier: TokenVerifier | None = None,
    ) -> None:
        self.config: Config = config if config is not None else Config()
        """The timings and limits in force (a frozen :class:`Config`)."""
        self._id_source = id_source
        self._token_verifier = token_verifier
        self.received_by_type: dict[str, int] = {}
        """Messages received so far, by ``type``; ``"invalid"`` for text that did not
        decode, ``"binary"`` for binary frames, ``"rate_limited"`` for dropped ones."""
        self._clients: dict[str, _Client] = {}
        self._rooms: dict[str, _Room] = {}
        # (deadline, sequence, room id, pending play); stale entries are skipped lazily.
        self._deadlines: list[tuple[int, int, str, PendingPlay]] = []
        self._sequence = 0
        self._room_list_schedule = RoomListCoalescer(self.config.room_list_interval_ms)
        self._handlers: dict[type[Any], Callable[[_Client, Any, int], list[Outgoing]]] = {
            StateUpdate: self._on_state_update,
            PlayerEvent: self._on_player_event,
            Ping: self._on_ping,
            Ready: self._on_ready,
            JoinRoom: self._on_join_room,
            CreateRoom: self._on_create_room,
            LeaveRoom: self._on_leave_room,
            ListRooms: self._on_list_rooms,
            Auth: self._on_auth,
        }
        if token_verifier is not None:
            # Rooms need a successful auth; the room handlers themselves never know.
            for kind in (CreateRoom, JoinRoom):
                self._handlers[kind] = self._authenticated_only(self._handlers[kind])

    # ------------------------------------------------------------------
    # Events in
    # ------------------------------------------------------------------

    def connect(self, now: int) -> tuple[str, list[Outgoing]]:
        """A client connected. Returns its new id and its ``client_hello`` + ``room_list``."""
        client_id = self._new_id()
        self._clients[client_id] = _Client(
            id=client_id, tokens=float(self.config.rate_limit_burst), refilled_at=now
        )
        hello = ClientHello(client_id=client_id, ts=now, server_ts=now)
        me = (client_id,)
        return client_id, [self._out(me, hello), self._out(me, self._room_list(now))]

    def receive(self, client_id: str, text: str, now: int) -> list[Outgoing]:
        """A text frame arrived from ``client_id``."""
        client = self._client(client_id)
        if not self._admit(client, now):
            return self._rate_limited(client, now)
        try:
            message: ClientMessage = decode_client_message(text, self.config)
        except RemoteProtocolError as exc:
            self._count("invalid")
            return [self._error(client_id, str(exc), now)]
        self._count(message.type)
        try:
            return self._handlers[type(message)](client, message, now)
        except RemoteProtocolError as exc:
            return [self._error(client_id, str(exc), now)]

    def receive_binary(self, client_id: str, now: int) -> list[Outgoing]:
        """A binary frame arrived from ``client_id``; the protocol has none."""
        client = self._client(client_id)
        if not self._admit(client, now):
            return self._rate_limited(client, now)
        self._count("binary")
        return [self._error(client_id, BINARY_MESSAGE, now)]

    def disconnect(self, client_id: str, now: int) -> list[Outgoing]:
        """``client_id`` is gone (closed, failed, or evicted). It is sent nothing more."""
        client = self._client(client_id)
        out: list[Outgoing] = []
        del self._clients[client_id]
        if client.room is not None:
            self._leave(client, now, out)
            self._broadcast_room_list(now, out)
        return out

    def next_deadline(self) -> int | None:
        """The clock reading at which :meth:`handle_timer` must be called, if any."""
        list_deadline = self._room_list_schedule.deadline()
        deadlines = self._deadlines
        while deadlines:
            _, _, room_id, pending = deadlines[0]
            room = self._rooms.get(room_id)
            if room is not None and room.pending_play is pending:
                play_deadline = deadlines[0][0]
                if list_deadline is None:
                    return play_deadline
                return min(play_deadline, list_deadline)
            heapq.heappop(deadlines)
        return list_deadline

    def handle_timer(self, now: int) -> list[Outgoing]:
        """Fire every deadline that is due at ``now`` (early or repeated calls are harmless)."""
        out: list[Outgoing] = []
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            _, _, room_id, pending = heapq.heappop(deadlines)
            room = self._rooms.get(room_id)
            if room is not None and room.pending_play is pending:
                self._scheduled_play(room, pending.position, now, out)
        if self._room_list_schedule.due(now):
            self._send_room_list(now, out)
        return out

    # ------------------------------------------------------------------
    # Read-only views
    # ------------------------------------------------------------------

    @property
    def client_ids(self) -> tuple[str, ...]:
        """Connected clients, in connection order."""
        return tuple(self._clients)

    @property
    def room_ids(self) -> tuple[str, ...]:
        """Existing rooms, in creation order."""
        return tuple(self._rooms)

    def client(self, client_id: str) -> ClientSnapshot:
        """A snapshot of client ``client_id``. Raises :class:`LocalProtocolError` if unknown."""
        c = self._client(client_id)
        return ClientSnapshot(
            id=c.id,
            room=None if c.room is None else c.room.id,
            user_id=c.user_id,
            user_name=c.user_name,
            authenticated=c.authenticated,
        )

    @property
    def auth_required(self) -> bool:
        """True when a token verifier was given: rooms need a successful ``auth``."""
        return self._token_verifier is not None

    def room_of(self, client_id: str) -> str | None:
        """The id of the room ``client_id`` is in, or ``None``."""
        room = self._client(client_id).room
        return None if room is None else room.id

    def room(self, room_id: str) -> RoomSnapshot:
        """A snapshot of room ``room_id``. Raises :class:`KeyError` if there is none."""
        r = self._rooms[room_id]
        return RoomSnapshot(
            id=r.id,
            name=r.name,
            host_id=r.host_id,
            media_id=r.media_id,
            clients=tuple(r.members),
            ready_clients=frozenset(r.ready),
            pending_play=r.pending_play,
            position=r.position,
            play_state=r.play_state,
            last_state_ts=r.last_state_ts,
            last_command_ts=r.last_command_ts,
        )

    # ------------------------------------------------------------------
    # Message handlers: validate everything, then change state, then report.
    # ------------------------------------------------------------------

    def _on_list_rooms(self, client: _Client, _msg: ListRooms, now: int) -> list[Outgoing]:
        return [self._out((client.id,), self._room_list(now))]

    def _on_ping(self, client: _Client, msg: Ping, now: int) -> list[Outgoing]:
        return [self._out((client.id,), Pong(payload=msg.payload, ts=now, server_ts=now))]

    def _on_auth(self, client: _Client, msg: Auth, now: int) -> list[Outgoing]:
        user_name = apply_auth(client, msg, now, self._token_verifier, self.config)
        if user_name is None:
            return []
        me = (client.id,)
        success = AuthSuccess(client=client.id, user_name=user_name, ts=now, server_ts=now)
        return [self._out(me, success), self._out(me, self._room_list(now))]

    def _on_create_room(self, client: _Client, msg: CreateRoom, now: int) -> list[Outgoing]:
        config = self.config
        start_pos = check_position(msg.start_pos, "payload.start_pos", config)
        name = clean_room_name(msg.name, config)
        # Before the leave: a misbehaving id source must not leave half a change.
        room_id = self._new_id()
        out: list[Outgoing] = []
        if client.room is not None:
            self._leave(client, now, out)
        room = _Room(
            id=room_id,
            name=name,
            host_id=client.id,
            media_id=msg.media_id,
            position=start_pos,
            play_state="paused",
            last_state_ts=now,
            members={client.id: None},
            ready={client.id},
        )
        room.refresh_recipients()
        self._rooms[room.id] = room
        client.room = room
        out.append(self._out((client.id,), self._room_state(room, client.id, now)))
        self._broadcast_room_list(now, out)
        return out

    def _on_join_room(self, client: _Client, msg: JoinRoom, now: int) -> list[Outgoing]:
        room = self._rooms.get(msg.room)
        if room is None:
            _refuse(f"Room '{msg.room}' not found")
        if client.room is room:
            return [self._out((client.id,), self._room_state(room, client.id, now))]
        if len(room.members) >= self.config.max_room_size:
            _refuse(f"Room is full ({self.config.max_room_size} members)")
        out: list[Outgoing] = []
        if client.room is not None:
            self._leave(client, now, out)
        room.members[client.id] = None
        room.ready.discard(client.id)
        room.refresh_recipients()
        client.room = room
        out.append(self._out((client.id,), self._room_state(room, client.id, now)))
        others = tuple(c for c in room.everyone if c != client.id)
        if others:
            update = ParticipantsUpdate(
                room=room.id, participant_count=len(room.members), ts=now, server_ts=now
            )
            out.append(self._out(others, update))
        self._broadcast_room_list(now, out)
        return out

    def _on_ready(self, client: _Client, msg: Ready, now: int) -> list[Outgoing]:
        room = self._member_room(client, msg.room)
        room.ready.add(client.id)
        out: list[Outgoing] = []
        if room.pending_play is not None and room.all_ready():
            self._scheduled_play(room, room.pending_play.position, now, out)
        return out

    def _on_leave_room(self, client: _Client, _msg: LeaveRoom, now: int) -> list[Outgoing]:
        if client.room is None:
            return []
        out: list[Outgoing] = []
        self._leave(client, now, out)
        self._broadcast_room_list(now, out)
        return out

    def _on_player_event(self, client: _Client, msg: PlayerEvent, now: int) -> list[Outgoing]:
        room = self._host_room(client, msg.room)
        position = room.position if msg.position is None else msg.position
        check_position(position, "payload.position", self.config)
        room.position = position
        room.last_state_ts = room.last_command_ts = now
        out: list[Outgoing] = []
        if msg.action == "play":
            room.play_state = "playing"
            if room.all_ready():
                self._scheduled_play(room, position, now, out)
            else:
                pending = PendingPlay(position=position, created_at=now)
                room.pending_play = pending
                self._sequence += 1
                deadline = now + self.config.max_ready_wait_ms
                heapq.heappush(self._deadlines, (deadline, self._sequence, room.id, pending))
            return out
        if msg.action == "pause":
            room.play_state = "paused"
        room.pending_play = None
        if room.guests:
            target = now + self.config.control_schedule_ms
            payload = dict(msg.payload)
            payload["target_server_ts"] = target
            text = encode_relay("player_event", room.id, client.id, payload, now, target)
            out.append(Outgoing(room.guests, text))
        return out

    def _on_state_update(self, client: _Client, msg: StateUpdate, now: int) -> list[Outgoing]:
        room = self._host_room(client, msg.room)
        config = self.config
        check_position(msg.position, "payload.position", config)
        dropped = state_update_drop_reason(
            now=now,
            position=msg.position,
            play_state=msg.play_state,
            room_position=room.position,
            room_play_state=room.play_state,
            last_state_ts=room.last_state_ts,
            last_command_ts=room.last_command_ts,
            config=config,
        )
        if dropped is not None:
            return []
        room.position = msg.position
        room.play_state = msg.play_state
        room.last_state_ts = now
        if not room.guests:
            return []
        # The host's payload is relayed with every key it sent (spec 8.4).
        text = encode_relay("state_update", room.id, client.id, msg.payload, now, now)
        return [Outgoing(room.guests, text)]

    # ------------------------------------------------------------------
    # Shared steps
    # ------------------------------------------------------------------

    def _leave(self, client: _Client, now: int, out: list[Outgoing]) -> None:
        """Take ``client`` out of its room and report it; the caller sends ``room_list``."""
        room = client.room
        assert room is not None
        client.room = None
        del room.members[client.id]
        room.ready.discard(client.id)
        room.refresh_recipients()
        was_host = room.host_id == client.id
        if was_host or not room.members:
            room.pending_play = None
            del self._rooms[room.id]
            for member_id in room.members:
                self._clients[member_id].room = None
            if room.everyone:
                closed = RoomClosed(room=room.id, ts=now, server_ts=now)
                out.append(self._out(room.everyone, closed))
            return
        left = ClientLeft(
            room=room.id,
            client=client.id,
            participant_count=len(room.members),
            ts=now,
            server_ts=now,
        )
        out.append(self._out(room.everyone, left))
        # Nobody left to wait for: a pending play fires now (spec 8.2).
        if room.pending_play is not None and room.all_ready():
            self._scheduled_play(room, room.pending_play.position, now, out)

    def _scheduled_play(self, room: _Room, position: float, now: int, out: list[Outgoing]) -> None:
        """Every member, host included, plays ``position`` at ``now + play_schedule_ms``."""
        target = now + self.config.play_schedule_ms
        room.position = position
        room.play_state = "playing"
        room.pending_play = None
        play = PlayerEvent(
            room=room.id,
            action="play",
            position=position,
            target_server_ts=target,
            ts=now,
            server_ts=target,
        )
        out.append(self._out(room.everyone, play))

    @staticmethod
    def _authenticated_only(
        handler: Callable[[_Client, Any, int], list[Outgoing]],
    ) -> Callable[[_Client, Any, int], list[Outgoing]]:
        def gated(client: _Client, message: Any, now: int) -> list[Outgoing]:
            if not client.authenticated:
                _refuse(AUTH_REQUIRED)
            return handler(client, message, now)

        return gated

    def _count(self, kind: str) -> None:
        counts = self.received_by_type
        counts[kind] = counts.get(kind, 0) + 1

    def _member_room(self, client: _Client, room_id: str) -> _Room:
        room = client.room
        if room is None or room.id != room_id:
            _refuse(f"You are not in room '{room_id}'")
        return room

    def _host_room(self, client: _Client, room_id: str) -> _Room:
        room = self._member_room(client, room_id)
        if room.host_id != client.id:
            _refuse("Only the host can control playback")
        return room

    def _admit(self, client: _Client, now: int) -> bool:
        """Token bucket on the injected clock; a clock stepping back refills nothing."""
        config = self.config
        elapsed = now - client.refilled_at
        if elapsed > 0:
            client.tokens = min(
                float(config.rate_limit_burst),
                client.tokens + elapsed * config.rate_limit_per_second / 1000.0,
            )
        elif elapsed < 0 and client.rate_error_at is not None:
            # Shift with the clock: the time since the last error stays what
            # the clock measured before it stepped back.
            client.rate_error_at += elapsed
        client.refilled_at = now
        if client.tokens >= 1.0:
            client.tokens -= 1.0
            return True
        return False

    def _rate_limited(self, client: _Client, now: int) -> list[Outgoing]:
        self._count("rate_limited")
        last = client.rate_error_at
        if last is not None and now - last < self.config.rate_limit_error_interval_ms:
            return []
        client.rate_error_at = now
        return [self._error(client.id, RATE_LIMIT_MESSAGE, now)]

    def _client(self, client_id: str) -> _Client:
        try:
            return self._clients[client_id]
        except KeyError:
            raise LocalProtocolError(f"unknown client id {client_id!r}") from None

    def _new_id(self) -> str:
        new_id = self._id_source()
        if new_id in self._clients or new_id in self._rooms:
            raise LocalProtocolError(f"id source returned an id already in use: {new_id!r}")
        return new_id

    def _error(self, client_id: str, message: str, now: int) -> Outgoing:
        return self._out((client_id,), Error(message=message, ts=now, server_ts=now))

    def _room_state(self, room: _Room, recipient: str, now: int) -> RoomState:
        return RoomState(
            room=room.id,
            client=recipient,
            name=room.name,
            host_id=room.host_id,
            position=room.position,
            play_state=room.play_state,
            participant_count=len(room.members),
            media_id=room.media_id,
            ts=now,
            server_ts=now,
        )

    def _room_list(self, now: int) -> RoomList:
        rooms = tuple(
            RoomSummary(id=r.id, name=r.name, count=len(r.members), media_id=r.media_id)
            for r in self._rooms.values()
        )
        return RoomList(rooms=rooms, ts=now, server_ts=now)

    def _broadcast_room_list(self, now: int, out: list[Outgoing]) -> None:
        """The room list changed: broadcast it now or at the coalescing deadline."""
        if self._room_list_schedule.changed(now):
            self._send_room_list(now, out)

    def _send_room_list(self, now: int, out: list[Outgoing]) -> None:
        self._room_list_schedule.sent(now)
        if self._clients:
            out.append(self._out(tuple(self._clients), self._room_list(now)))

    @staticmethod
    def _out(recipients: tuple[str, ...], message: ServerMessage) -> Outgoing:
        return Outgoing(recipients, encode(message))
