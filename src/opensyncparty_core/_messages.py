"""Typed protocol messages and their JSON codec.

Theory of operation: text is decoded and validated exactly once, at the edge,
into one of the frozen classes below; everything inside works on those. Every
message encodes to compact JSON with the wire names of the specification.
Types that travel both ways (``player_event``, ``state_update``) are one class
each; the direction only decides which fields are set and which decoder
(:func:`decode_client_message` or :func:`decode_server_message`) accepts them.

This module knows the wire format and field validation, never the session
rules (rooms, hosts, timing): those live in ``_server.py`` and ``_rules.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal, TypeAlias

import attrs

from . import _json
from ._config import Config
from ._errors import RemoteProtocolError
from ._validation import (
    DEFAULT_CONFIG,
    INVALID_FORMAT,
    check_lengths,
    non_finite_error,
    quote,
)

__all__ = [
    "Auth",
    "AuthSuccess",
    "ClientHello",
    "ClientLeft",
    "ClientMessage",
    "CreateRoom",
    "Error",
    "JoinRoom",
    "LeaveRoom",
    "ListRooms",
    "Message",
    "ParticipantsUpdate",
    "Ping",
    "PlayState",
    "PlayerAction",
    "PlayerEvent",
    "Pong",
    "Ready",
    "RoomClosed",
    "RoomList",
    "RoomState",
    "RoomSummary",
    "ServerMessage",
    "StateUpdate",
    "decode_client_message",
    "decode_server_message",
    "encode",
]

PlayerAction = Literal["play", "pause", "seek"]
PlayState = Literal["playing", "paused"]

_ACTIONS: frozenset[str] = frozenset(("play", "pause", "seek"))
_PLAY_STATES: frozenset[str] = frozenset(("playing", "paused"))
_EMPTY: Mapping[str, Any] = {}

# --------------------------------------------------------------------------
# Messages a client sends
# --------------------------------------------------------------------------


@attrs.frozen
class ListRooms:
    """``list_rooms``: ask for a fresh :class:`RoomList`."""

    ts: int | None = None
    type: ClassVar[Literal["list_rooms"]] = "list_rooms"


@attrs.frozen
class CreateRoom:
    """``create_room``: make a room and become its host.

    ``name`` is as sent; the server cleans it (see :func:`clean_room_name`).
    """

    name: str | None = None
    start_pos: float = 0.0
    media_id: str | None = None
    ts: int | None = None
    type: ClassVar[Literal["create_room"]] = "create_room"


@attrs.frozen
class JoinRoom:
    """``join_room``: enter the room ``room``."""

    room: str
    ts: int | None = None
    type: ClassVar[Literal["join_room"]] = "join_room"


@attrs.frozen
class Ready:
    """``ready``: the sender's player has loaded the room's media."""

    room: str
    media_id: str | None = None
    ts: int | None = None
    type: ClassVar[Literal["ready"]] = "ready"


@attrs.frozen
class LeaveRoom:
    """``leave_room``: leave the sender's room. ``room`` is ignored by the server."""

    room: str | None = None
    ts: int | None = None
    type: ClassVar[Literal["leave_room"]] = "leave_room"


@attrs.frozen
class Ping:
    """``ping``: answered by a :class:`Pong` echoing ``payload``.

    Clients put their clock in it as ``{"client_ts": ms}``. ``None`` means no payload.
    """

    payload: Any = None
    ts: int | None = None
    type: ClassVar[Literal["ping"]] = "ping"


@attrs.frozen
class Auth:
    """``auth``: authenticate with a ``token``, or (auth disabled) give a display name.

    ``protocol_version`` and ``features`` are what newer clients announce;
    unknown features are kept here and ignored by the server.
    """

    token: str | None = None
    user_name: str | None = None
    user_id: str | None = None
    protocol_version: int | None = None
    features: tuple[str, ...] = ()
    ts: int | None = None
    type: ClassVar[Literal["auth"]] = "auth"


# --------------------------------------------------------------------------
# Messages that travel both ways
# --------------------------------------------------------------------------


@attrs.frozen
class PlayerEvent:
    """``player_event``: a host command (client to server) or its relay.

    ``payload`` is the payload object as the host sent it, with any keys of
    the client's own; the server relays those keys unchanged. On encoding,
    ``action``, ``position`` and ``target_server_ts`` override the same keys
    of ``payload``. A scheduled play has ``client`` unset and
    ``server_ts == target_server_ts``.
    """

    room: str
    action: PlayerAction
    position: float | None = None
    target_server_ts: int | None = None
    client: str | None = None
    payload: Mapping[str, Any] = attrs.field(default=_EMPTY, repr=False)
    ts: int | None = None
    server_ts: int | None = None
    type: ClassVar[Literal["player_event"]] = "player_event"


@attrs.frozen
class StateUpdate:
    """``state_update``: the host's periodic playback report, or its relay.

    ``payload`` works as for :class:`PlayerEvent`.
    """

    room: str
    position: float
    play_state: PlayState
    client: str | None = None
    payload: Mapping[str, Any] = attrs.field(default=_EMPTY, repr=False)
    ts: int | None = None
    server_ts: int | None = None
    type: ClassVar[Literal["state_update"]] = "state_update"


# --------------------------------------------------------------------------
# Messages the server sends
# --------------------------------------------------------------------------


@attrs.frozen
class ClientHello:
    """``client_hello``: first message on a connection; tells the client its id."""

    client_id: str
    ts: int
    server_ts: int
    type: ClassVar[Literal["client_hello"]] = "client_hello"


@attrs.frozen
class AuthSuccess:
    """``auth_success``: the recipient (``client``) is now known as ``user_name``."""

    client: str
    user_name: str
    ts: int
    server_ts: int
    type: ClassVar[Literal["auth_success"]] = "auth_success"


@attrs.frozen
class RoomSummary:
    """One entry of a :class:`RoomList`."""

    id: str
    name: str
    count: int
    media_id: str | None


@attrs.frozen
class RoomList:
    """``room_list``: every room, in creation order."""

    rooms: tuple[RoomSummary, ...]
    ts: int
    server_ts: int
    type: ClassVar[Literal["room_list"]] = "room_list"


@attrs.frozen
class RoomState:
    """``room_state``: the room as the recipient (``client``) finds it on create or join."""

    room: str
    client: str
    name: str
    host_id: str
    position: float
    play_state: PlayState
    participant_count: int
    media_id: str | None
    ts: int
    server_ts: int
    type: ClassVar[Literal["room_state"]] = "room_state"


@attrs.frozen
class ParticipantsUpdate:
    """``participants_update``: someone joined ``room``; it now has this many members."""

    room: str
    participant_count: int
    ts: int
    server_ts: int
    type: ClassVar[Literal["participants_update"]] = "participants_update"


@attrs.frozen
class ClientLeft:
    """``client_left``: ``client`` left ``room``, which goes on with this many members."""

    room: str
    client: str
    participant_count: int
    ts: int
    server_ts: int
    type: ClassVar[Literal["client_left"]] = "client_left"


@attrs.frozen
class RoomClosed:
    """``room_closed``: the host left (or the room emptied); ``room`` no longer exists."""

    room: str
    ts: int
    server_ts: int
    type: ClassVar[Literal["room_closed"]] = "room_closed"


@attrs.frozen
class Pong:
    """``pong``: answer to :class:`Ping`; ``server_ts`` is the server clock when handled."""

    payload: Any
    ts: int
    server_ts: int
    type: ClassVar[Literal["pong"]] = "pong"


@attrs.frozen
class Error:
    """``error``: the recipient's last message was refused; nothing changed."""

    message: str
    ts: int
    server_ts: int
    type: ClassVar[Literal["error"]] = "error"


ClientMessage: TypeAlias = (
    ListRooms | CreateRoom | JoinRoom | Ready | LeaveRoom | Ping | PlayerEvent | StateUpdate | Auth
)
"""What :func:`decode_client_message` returns."""

ServerMessage: TypeAlias = (
    ClientHello
    | RoomList
    | RoomState
    | ParticipantsUpdate
    | ClientLeft
    | RoomClosed
    | PlayerEvent
    | StateUpdate
    | Pong
    | Error
    | AuthSuccess
)
"""What :func:`decode_server_message` returns and :class:`Outgoing` carries."""

Message: TypeAlias = ClientMessage | ServerMessage

# --------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------

# Compact ASCII JSON; orjson's where it gives the same text (see _json.py).
_encode_json = _json.dumps


def _envelope(
    type_: str,
    ts: int | None,
    server_ts: int | None,
    *,
    room: str | None = None,
    client: str | None = None,
    payload: Any = None,
) -> dict[str, Any]:
    # Absent optional fields are omitted, never null (spec section 2).
    obj: dict[str, Any] = {"type": type_}
    if room is not None:
        obj["room"] = room
    if client is not None:
        obj["client"] = client
    if payload is not None:
        obj["payload"] = payload
    if ts is not None:
        obj["ts"] = ts
    if server_ts is not None:
        obj["server_ts"] = server_ts
    return obj


def _player_event_payload(m: PlayerEvent) -> dict[str, Any]:
    payload = dict(m.payload)
    payload["action"] = m.action
    if m.position is not None:
        payload["position"] = m.position
    if m.target_server_ts is not None:
        payload["target_server_ts"] = m.target_server_ts
    return payload


def _to_wire(m: Message) -> dict[str, Any]:
    if isinstance(m, StateUpdate):
        payload = dict(m.payload)
        payload["position"] = m.position
        payload["play_state"] = m.play_state
        return _envelope(m.type, m.ts, m.server_ts, room=m.room, client=m.client, payload=payload)
    if isinstance(m, PlayerEvent):
        return _envelope(
            m.type,
            m.ts,
            m.server_ts,
            room=m.room,
            client=m.client,
            payload=_player_event_payload(m),
        )
    if isinstance(m, RoomList):
        rooms = [
            {"id": r.id, "name": r.name, "count": r.count, "media_id": r.media_id} for r in m.rooms
        ]
        return _envelope(m.type, m.ts, m.server_ts, payload=rooms)
    if isinstance(m, RoomState):
        payload = {
            "name": m.name,
            "host_id": m.host_id,
            "state": {"position": m.position, "play_state": m.play_state},
            "participant_count": m.participant_count,
            "media_id": m.media_id,
        }
        return _envelope(m.type, m.ts, m.server_ts, room=m.room, client=m.client, payload=payload)
    if isinstance(m, ClientHello):
        return _envelope(
            m.type, m.ts, m.server_ts, client=m.client_id, payload={"client_id": m.client_id}
        )
    if isinstance(m, ParticipantsUpdate):
        return _envelope(
            m.type,
            m.ts,
            m.server_ts,
            room=m.room,
            payload={"participant_count": m.participant_count},
        )
    if isinstance(m, ClientLeft):
        return _envelope(
            m.type,
            m.ts,
            m.server_ts,
            room=m.room,
            client=m.client,
            payload={"participant_count": m.participant_count},
        )
    if isinstance(m, RoomClosed):
        return _envelope(m.type, m.ts, m.server_ts, room=m.room)
    if isinstance(m, (Pong, Ping)):
        return _envelope(m.type, m.ts, getattr(m, "server_ts", None), payload=m.payload)
    if isinstance(m, Error):
        return _envelope(m.type, m.ts, m.server_ts, payload={"message": m.message})
    if isinstance(m, AuthSuccess):
        return _envelope(
            m.type, m.ts, m.server_ts, client=m.client, payload={"user_name": m.user_name}
        )
    if isinstance(m, Auth):
        auth_payload: dict[str, Any] = {}
        for key in ("token", "user_name", "user_id", "protocol_version"):
            if getattr(m, key) is not None:
                auth_payload[key] = getattr(m, key)
        if m.features:
            auth_payload["features"] = list(m.features)
        return _envelope(m.type, m.ts, None, payload=auth_payload)
    if isinstance(m, CreateRoom):
        payload = {"name": m.name, "start_pos": m.start_pos}
        if m.media_id is not None:
            payload["media_id"] = m.media_id
        if m.name is None:
            del payload["name"]
        return _envelope(m.type, m.ts, None, payload=payload)
    if isinstance(m, Ready):
        ready_payload = {} if m.media_id is None else {"media_id": m.media_id}
        return _envelope(m.type, m.ts, None, room=m.room, payload=ready_payload)
    if isinstance(m, (JoinRoom, LeaveRoom)):
        return _envelope(m.type, m.ts, None, room=m.room)
    if isinstance(m, ListRooms):
        return _envelope(m.type, m.ts, None)
    raise TypeError(f"not a protocol message: {m!r}")


def encode(message: Message) -> str:
    """Encode ``message`` as compact JSON text (one WebSocket text frame)."""
    return _encode_json(_to_wire(message))


def encode_relay(
    type_: str, room: str, client: str, payload: Mapping[str, Any], ts: int, server_ts: int
) -> str:
    """Encode a relayed host message: the server's envelope around the host's payload.

    The hot path of every server: equal to ``encode(StateUpdate(...))`` (or
    ``PlayerEvent``) built from the same values, without the intermediate object.
    """
    return _encode_json(
        {
            "type": type_,
            "room": room,
            "client": client,
            "payload": payload,
            "ts": ts,
            "server_ts": server_ts,
        }
    )


# --------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------

_load_json = _json.loads


MAX_NESTING = 32
"""Deepest nesting of arrays/objects accepted in a message (clients send 3 or less).

Without a bound, a payload nested just below the interpreter's recursion limit
decodes but cannot be re-encoded for its echo or relay."""


def _too_deep(value: object) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if type(item) is dict else item
        if depth > MAX_NESTING:
            return True
        stack.extend((c, depth + 1) for c in children if type(c) is dict or type(c) is list)
    return False


def _load_object(text: str) -> dict[str, Any]:
    try:
        obj = _load_json(text)
    except RecursionError:
        raise RemoteProtocolError(INVALID_FORMAT) from None
    except ValueError:
        raise RemoteProtocolError(non_finite_error(text)) from None
    if type(obj) is not dict or type(obj.get("type")) is not str:
        raise RemoteProtocolError(INVALID_FORMAT)
    # Counting brackets is cheap and bounds the depth; strings may hold some too,
    # which only costs the exact walk.
    if text.count("[") + text.count("{") > MAX_NESTING and _too_deep(obj):
        raise RemoteProtocolError(f"Message nested deeper than {MAX_NESTING} levels")
    return obj


def _is_number(value: object) -> bool:
    # bool is an int subclass; JSON true is not a number.
    return type(value) is float or type(value) is int


def _optional_int(obj: Mapping[str, Any], key: str) -> int | None:
    value = obj.get(key)
    if value is None and key not in obj:
        return None
    if type(value) is not int:
        raise RemoteProtocolError(f"Field '{key}' must be an integer")
    return value


def _optional_str(obj: Mapping[str, Any], key: str, label: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if type(value) is not str:
        raise RemoteProtocolError(f"Field '{label}' must be a string")
    return value


def _room(obj: Mapping[str, Any]) -> str | None:
    # "" and null mean "no room": web clients send "" before they are in one.
    room = obj.get("room")
    if room is None or room == "":
        return None
    if type(room) is not str:
        raise RemoteProtocolError("Field 'room' must be a string")
    return room


def _required_room(obj: Mapping[str, Any]) -> str:
    room = _room(obj)
    if room is None:
        raise RemoteProtocolError(f"Field 'room' is required for {obj['type']}")
    return room


def _payload(obj: Mapping[str, Any], *, required: bool) -> Mapping[str, Any]:
    payload = obj.get("payload")
    if payload is None:
        if required:
            raise RemoteProtocolError(f"Field 'payload' is required for {obj['type']}")
        return _EMPTY
    if type(payload) is not dict:
        raise RemoteProtocolError("Field 'payload' must be an object")
    return payload


def _position(payload: Mapping[str, Any], key: str, *, required: bool) -> float | None:
    value = payload.get(key)
    if value is None:
        if required:
            raise RemoteProtocolError(f"Field 'payload.{key}' is required")
        return None
    if not _is_number(value):
        raise RemoteProtocolError(f"Field 'payload.{key}' must be a finite number")
    return value  # type: ignore[no-any-return]


def _client_field(obj: Mapping[str, Any]) -> str | None:
    return _optional_str(obj, "client", "client")


def _decode_list_rooms(obj: dict[str, Any], ts: int | None) -> ClientMessage:
    return ListRooms(ts=ts)


def _decode_create_room(obj: dict[str, Any], ts: int | None) -> ClientMessage:
    payload = _payload(obj, required=False)
    start_pos = _position(payload, "start_pos", required=False)
    return CreateRoom(
        name=_optional_str(payload, "name", "payload.name"),
        start_pos=0.0 if start_pos is None else start_pos,
        media_id=_optional_str(payload, "media_id", "payload.media_id"),
        ts=ts,
    )


def _decode_join_room(obj: dict[str, Any], ts: int | None) -> ClientMessage:
    return JoinRoom(room=_required_room(obj), ts=ts)


def _decode_ready(obj: dict[str, Any], ts: int | None) -> ClientMessage:
    room = _required_room(obj)
    payload = _payload(obj, required=False)
    media_id = payload.get("media_id")
    # Clients put other things there; a non-string media_id is not worth refusing a ready.
    return Ready(room=room, media_id=media_id if type(media_id) is str else None, ts=ts)


def _decode_leave_room(obj: dict[str, Any], ts: int | None) -> ClientMessage:
    room = obj.get("room")
    return LeaveRoom(room=room if type(room) is str and room else None, ts=ts)


def _decode_ping(obj: dict[str, Any], ts: int | None) -> ClientMessage:
    return Ping(payload=obj.get("payload"), ts=ts)


def _decode_auth(obj: dict[str, Any], ts: int | None) -> ClientMessage:
    payload = _payload(obj, required=False)
    version = payload.get("protocol_version")
    if version is not None and type(version) is not int:
        raise RemoteProtocolError("Field 'payload.protocol_version' must be an integer")
    features = payload.get("features")
    if features is None:
        features = ()
    elif type(features) is not list or not all(type(f) is str for f in features):
        raise RemoteProtocolError("Field 'payload.features' must be a list of strings")
    return Auth(
        token=_optional_str(payload, "token", "payload.token"),
        user_name=_optional_str(payload, "user_name", "payload.user_name"),
        user_id=_optional_str(payload, "user_id", "payload.user_id"),
        protocol_version=version,
        features=tuple(features),
        ts=ts,
    )


def _envelope_extras(obj: Mapping[str, Any], from_server: bool) -> tuple[str | None, int | None]:
    # A client's own ``client`` and ``server_ts`` are ignored (the server sets
    # both), so they are only read from server messages.
    if not from_server:
        return None, None
    server_ts = obj.get("server_ts")
    return _client_field(obj), server_ts if type(server_ts) is int else None


def _decode_player_event(
    obj: dict[str, Any], ts: int | None, from_server: bool = False
) -> PlayerEvent:
    room = _required_room(obj)
    payload = _payload(obj, required=True)
    action = payload.get("action")
    if type(action) is not str:
        raise RemoteProtocolError("Field 'payload.action' must be a string")
    if action not in _ACTIONS:
        raise RemoteProtocolError(
            f"Unknown player action '{quote(action)}' (expected play, pause or seek)"
        )
    position = _position(payload, "position", required=action == "seek")
    target = payload.get("target_server_ts") if from_server else None
    client, server_ts = _envelope_extras(obj, from_server)
    return PlayerEvent(
        room,
        action,  # type: ignore[arg-type]
        position,
        target if type(target) is int else None,
        client,
        payload,
        ts,
        server_ts,
    )


def _decode_state_update(
    obj: dict[str, Any], ts: int | None, from_server: bool = False
) -> StateUpdate:
    room = _required_room(obj)
    payload = _payload(obj, required=True)
    position = payload.get("position")
    if type(position) is not float and type(position) is not int:
        _position(payload, "position", required=True)  # raises the right error
    play_state = payload.get("play_state")
    # A list or object is unhashable: test the type before the set lookup.
    if type(play_state) is not str or play_state not in _PLAY_STATES:
        raise RemoteProtocolError("Field 'payload.play_state' must be 'playing' or 'paused'")
    client, server_ts = _envelope_extras(obj, from_server)
    return StateUpdate(room, position, play_state, client, payload, ts, server_ts)  # type: ignore[arg-type]


_ClientDecoder = Callable[[dict[str, Any], "int | None"], ClientMessage]

_CLIENT_DECODERS: dict[str, _ClientDecoder] = {
    "list_rooms": _decode_list_rooms,
    "create_room": _decode_create_room,
    "join_room": _decode_join_room,
    "ready": _decode_ready,
    "leave_room": _decode_leave_room,
    "ping": _decode_ping,
    "player_event": _decode_player_event,
    "state_update": _decode_state_update,
    "auth": _decode_auth,
}


def decode_client_message(text: str, config: Config | None = None) -> ClientMessage:
    """Decode and validate one text frame sent by a client.

    Raises :class:`RemoteProtocolError` whose message is fit to send back in an
    ``error``: "Invalid message format" for anything that is not a JSON object
    with a string ``type``, the type's name for an unknown type, and the field's
    name for a missing, mistyped, non-finite or too long field (the lengths are
    those of ``config``, the specification's defaults if omitted). Unknown
    fields are ignored. Position ranges are a session rule, checked by the
    server, not here.
    """
    obj = _load_object(text)
    decoder = _CLIENT_DECODERS.get(obj["type"])
    if decoder is None:
        raise RemoteProtocolError(f"Unknown message type '{quote(obj['type'])}'")
    check_lengths(obj, DEFAULT_CONFIG if config is None else config)
    return decoder(obj, _optional_int(obj, "ts"))


# The server is trusted to follow the specification: these decoders check
# enough to build the typed object, not every rule.


def _server_ts(obj: Mapping[str, Any]) -> tuple[int, int]:
    ts, server_ts = obj.get("ts"), obj.get("server_ts")
    if type(ts) is not int or type(server_ts) is not int:
        raise RemoteProtocolError(f"{obj['type']} needs integer 'ts' and 'server_ts'")
    return ts, server_ts


def _str_field(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    if type(value) is not str:
        raise RemoteProtocolError(f"Field '{key}' of {obj.get('type')} must be a string")
    return value


def _int_field(obj: Mapping[str, Any], key: str) -> int:
    value = obj.get(key)
    if type(value) is not int:
        raise RemoteProtocolError(f"Field '{key}' must be an integer")
    return value


def _decode_server_object(obj: dict[str, Any]) -> ServerMessage:
    kind = obj["type"]
    if kind == "player_event":
        return _decode_player_event(obj, _optional_int(obj, "ts"), from_server=True)
    if kind == "state_update":
        return _decode_state_update(obj, _optional_int(obj, "ts"), from_server=True)
    ts, server_ts = _server_ts(obj)
    payload: Any = obj.get("payload")
    try:
        if kind == "client_hello":
            client_id = _str_field(payload, "client_id")
            return ClientHello(client_id=client_id, ts=ts, server_ts=server_ts)
        if kind == "room_list":
            if type(payload) is not list:
                raise RemoteProtocolError("room_list payload must be a list")
            rooms = tuple(
                RoomSummary(
                    id=_str_field(r, "id"),
                    name=_str_field(r, "name"),
                    count=_int_field(r, "count"),
                    media_id=_optional_str(r, "media_id", "media_id"),
                )
                for r in payload
            )
            return RoomList(rooms=rooms, ts=ts, server_ts=server_ts)
        if kind == "room_state":
            state = payload["state"]
            position, play_state = state["position"], state["play_state"]
            if not _is_number(position) or play_state not in _PLAY_STATES:
                raise TypeError  # reported below as a malformed message
            return RoomState(
                room=_str_field(obj, "room"),
                client=_str_field(obj, "client"),
                name=_str_field(payload, "name"),
                host_id=_str_field(payload, "host_id"),
                position=position,
                play_state=play_state,
                participant_count=_int_field(payload, "participant_count"),
                media_id=_optional_str(payload, "media_id", "payload.media_id"),
                ts=ts,
                server_ts=server_ts,
            )
        if kind == "participants_update":
            return ParticipantsUpdate(
                room=_str_field(obj, "room"),
                participant_count=_int_field(payload, "participant_count"),
                ts=ts,
                server_ts=server_ts,
            )
        if kind == "client_left":
            return ClientLeft(
                room=_str_field(obj, "room"),
                client=_str_field(obj, "client"),
                participant_count=_int_field(payload, "participant_count"),
                ts=ts,
                server_ts=server_ts,
            )
        if kind == "room_closed":
            return RoomClosed(room=_str_field(obj, "room"), ts=ts, server_ts=server_ts)
        if kind == "pong":
            return Pong(payload=payload, ts=ts, server_ts=server_ts)
        if kind == "auth_success":
            return AuthSuccess(
                client=_str_field(obj, "client"),
                user_name=_str_field(payload, "user_name"),
                ts=ts,
                server_ts=server_ts,
            )
        if kind == "error":
            return Error(message=_str_field(payload, "message"), ts=ts, server_ts=server_ts)
    except (TypeError, KeyError, AttributeError):
        raise RemoteProtocolError(f"Malformed {kind} message") from None
    raise RemoteProtocolError(f"Unknown message type '{kind}'")


def decode_server_message(text: str) -> ServerMessage:
    """Decode one text frame sent by a server (the client side's decoder).

    Raises :class:`RemoteProtocolError` for text that is not a server message.
    """
    return _decode_server_object(_load_object(text))
