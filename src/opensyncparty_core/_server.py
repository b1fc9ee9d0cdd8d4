"""The session server: the one object with state.

Theory of operation. A :class:`SessionServer` holds every connected client
and every room. The embedding code reports what happened (a connection, a
text or binary frame, a disconnection, the passing of time), always with the
current clock reading ``now`` in milliseconds since the epoch, and gets back
a list of :class:`Outgoing`: who must receive which text, in order. The
server never reads a clock, never makes an id (the id source is injected)
and never does I/O; its timers (the pending-play deadline, the end of a resume
grace period, the coalesced ``room_list``, see ``_room_list.py``) are exposed
through :meth:`SessionServer.next_deadline` and :meth:`SessionServer.handle_timer`.

This class is a dispatcher: it owns the events in and the read-only views,
decodes each frame once and hands the typed message to the one handler of its
type. The rules live beside it: room membership and host handover in
``_lifecycle.py`` (policies in ``_handover.py``), playback in
``_playback.py``, resume after a blip in ``_resume.py``, chat in
``_chat.py``, the shared records and steps in ``_state.py``.

A client's protocol id and its connection id are the same until it resumes:
then the new connection (the id :meth:`SessionServer.connect` returned, which
the embedder keeps using) carries the former protocol id. ``Outgoing``
recipients and every method's ``client_id`` are connection ids.

What must never leak in here: sockets, tasks, sleeping, logging of traffic,
anything about WebSocket framing. What must never leak out: the mutable
room and client records (callers get frozen snapshots).

Bad input from a client is a :class:`RemoteProtocolError` inside this module
and an ``error`` message outside it; every handler validates everything
before it changes anything, so a refused message leaves no trace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from ._auth import AUTH_REQUIRED, TokenVerifier, apply_auth
from ._chat import Chat
from ._config import Config
from ._errors import RemoteProtocolError
from ._lifecycle import RoomLifecycle
from ._messages import (
    Auth,
    AuthSuccess,
    ChatMessage,
    ClientHello,
    ClientMessage,
    CreateRoom,
    JoinRoom,
    LeaveRoom,
    ListRooms,
    Ping,
    PlayerEvent,
    Pong,
    Ready,
    Resume,
    StateUpdate,
    TransferHost,
    decode_client_message,
)
from ._playback import Playback
from ._resume import Resumption
from ._state import Outgoing, PendingPlay, RoomSnapshot, ServerState, _Client, refuse

__all__ = ["ClientSnapshot", "Outgoing", "PendingPlay", "RoomSnapshot", "SessionServer"]

RATE_LIMIT_MESSAGE = "Rate limit exceeded"
BINARY_MESSAGE = "Binary messages are not supported"

_Handler = Callable[[_Client, Any, int], list[Outgoing]]


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
        self._token_verifier = token_verifier
        self.received_by_type: dict[str, int] = {}
        """Messages received so far, by ``type``; ``"invalid"`` for text that did not
        decode, ``"binary"`` for binary frames, ``"rate_limited"`` for dropped ones."""
        self._state = state = ServerState(self.config, id_source)
        self._lifecycle = lifecycle = RoomLifecycle(state)
        playback = Playback(state)
        self._resumption = resumption = Resumption(state, lifecycle)
        self._handlers: dict[type[Any], _Handler] = {
            StateUpdate: playback.on_state_update,
            PlayerEvent: playback.on_player_event,
            Ping: self._on_ping,
            Ready: playback.on_ready,
            JoinRoom: lifecycle.on_join_room,
            CreateRoom: lifecycle.on_create_room,
            LeaveRoom: lifecycle.on_leave_room,
            ListRooms: lifecycle.on_list_rooms,
            TransferHost: lifecycle.on_transfer_host,
            Resume: resumption.on_resume,
            ChatMessage: Chat(state).on_chat_message,
            Auth: self._on_auth,
        }
        if token_verifier is not None:
            # Rooms need a successful auth; the room handlers themselves never know.
            for kind in (CreateRoom, JoinRoom):
                self._handlers[kind] = _authenticated_only(self._handlers[kind])

    # ------------------------------------------------------------------
    # Events in
    # ------------------------------------------------------------------

    def connect(self, now: int) -> tuple[str, list[Outgoing]]:
        """A client connected. Returns its new id and its ``client_hello`` + ``room_list``."""
        state = self._state
        client_id = state.new_id()
        client = _Client(
            id=client_id,
            conn=client_id,
            tokens=float(self.config.rate_limit_burst),
            refilled_at=now,
        )
        token = self._resumption.issue_token(client)
        state.clients[client_id] = state.by_id[client_id] = client
        hello = ClientHello(client_id=client_id, ts=now, server_ts=now, resume_token=token)
        me = (client_id,)
        return client_id, [state.out(me, hello), state.out(me, state.room_list(now))]

    def receive(self, client_id: str, text: str, now: int) -> list[Outgoing]:
        """A text frame arrived from ``client_id``."""
        client = self._state.client(client_id)
        if not self._admit(client, now):
            return self._rate_limited(client, now)
        try:
            message: ClientMessage = decode_client_message(text, self.config)
        except RemoteProtocolError as exc:
            self._count("invalid")
            return [self._state.error(client_id, str(exc), exc.code, now)]
        self._count(message.type)
        try:
            return self._handlers[type(message)](client, message, now)
        except RemoteProtocolError as exc:
            return [self._state.error(client_id, str(exc), exc.code, now)]

    def receive_binary(self, client_id: str, now: int) -> list[Outgoing]:
        """A binary frame arrived from ``client_id``; the protocol has none."""
        client = self._state.client(client_id)
        if not self._admit(client, now):
            return self._rate_limited(client, now)
        self._count("binary")
        return [self._state.error(client_id, BINARY_MESSAGE, "BINARY_NOT_SUPPORTED", now)]

    def disconnect(self, client_id: str, now: int) -> list[Outgoing]:
        """``client_id`` is gone (closed, failed, or evicted). It is sent nothing more.

        With a resume grace period, its place is kept until the period ends.
        """
        state = self._state
        client = state.client(client_id)
        out: list[Outgoing] = []
        del state.clients[client_id]
        if client.resume_token is not None:
            self._resumption.away(client, now, out)
            return out
        del state.by_id[client.id]
        if client.room is not None:
            self._lifecycle.leave(client, now, out)
            state.broadcast_room_list(now, out)
        return out

    def next_deadline(self) -> int | None:
        """The clock reading at which :meth:`handle_timer` must be called, if any."""
        state = self._state
        timer = state.timers.next_deadline()
        room_list = state.room_list_schedule.deadline()
        if timer is None or room_list is None:
            return room_list if timer is None else timer
        return min(timer, room_list)

    def handle_timer(self, now: int) -> list[Outgoing]:
        """Fire every deadline that is due at ``now`` (early or repeated calls are harmless)."""
        out: list[Outgoing] = []
        state = self._state
        state.timers.fire_due(now, out)
        if state.room_list_schedule.due(now):
            state.send_room_list(now, out)
        return out

    # ------------------------------------------------------------------
    # Read-only views
    # ------------------------------------------------------------------

    @property
    def client_ids(self) -> tuple[str, ...]:
        """Connected clients, in connection order."""
        return tuple(self._state.clients)

    @property
    def room_ids(self) -> tuple[str, ...]:
        """Existing rooms, in creation order."""
        return tuple(self._state.rooms)

    def client(self, client_id: str) -> ClientSnapshot:
        """A snapshot of connection ``client_id``. Raises :class:`LocalProtocolError` if unknown."""
        c = self._state.client(client_id)
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
        """The id of the room connection ``client_id`` is in, or ``None``."""
        room = self._state.client(client_id).room
        return None if room is None else room.id

    def room(self, room_id: str) -> RoomSnapshot:
        """A snapshot of room ``room_id``. Raises :class:`KeyError` if there is none."""
        r = self._state.rooms[room_id]
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
    # Connection-level handling: pings and the rate limit
    # ------------------------------------------------------------------

    def _on_ping(self, client: _Client, msg: Ping, now: int) -> list[Outgoing]:
        pong = Pong(payload=msg.payload, ts=now, server_ts=now)
        return [self._state.out(client.inbox(), pong)]

    def _on_auth(self, client: _Client, msg: Auth, now: int) -> list[Outgoing]:
        user_name = apply_auth(client, msg, now, self._token_verifier, self.config)
        if user_name is None:
            return []
        state = self._state
        me = client.inbox()
        success = AuthSuccess(client=client.id, user_name=user_name, ts=now, server_ts=now)
        return [state.out(me, success), state.out(me, state.room_list(now))]

    def _count(self, kind: str) -> None:
        counts = self.received_by_type
        counts[kind] = counts.get(kind, 0) + 1

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
        return [self._state.error(client.inbox()[0], RATE_LIMIT_MESSAGE, "RATE_LIMITED", now)]


def _authenticated_only(handler: _Handler) -> _Handler:
    """``handler``, refusing a client that has not passed ``auth``."""

    def gated(client: _Client, message: Any, now: int) -> list[Outgoing]:
        if not client.authenticated:
            refuse(AUTH_REQUIRED, "AUTHENTICATION_REQUIRED")
        return handler(client, message, now)

    return gated
