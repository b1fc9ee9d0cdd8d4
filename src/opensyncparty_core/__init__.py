"""opensyncparty_core: the OpenSyncParty watch-party protocol, sans-IO.

The public API is what this module exports. :class:`SessionServer` is the
server side of the protocol and :class:`SyncClient` the client side (clock
sync, scheduled commands, drift correction); the message classes and
:func:`encode` / :func:`decode_client_message` / :func:`decode_server_message`
are the codec.
Nothing here does I/O, reads a clock or makes a random id.
"""

from importlib.metadata import version as _version

from ._auth import InvalidToken, TokenVerifier, clean_user_name, identity_from_claims
from ._clock_sync import ClockConfig, ClockEstimator, ClockModel, ClockSample
from ._config import Config
from ._errors import LocalProtocolError, OpenSyncPartyError, RemoteProtocolError
from ._ids import seeded_uuid4s
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
    Message,
    ParticipantsUpdate,
    Ping,
    PlayerAction,
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
)
from ._rules import DropReason, check_position, clean_room_name, state_update_drop_reason
from ._server import ClientSnapshot, Outgoing, PendingPlay, RoomSnapshot, SessionServer
from ._sync_client import (
    Pause,
    Play,
    PlayerCommand,
    PlayerStatus,
    Seek,
    SetRate,
    SyncClient,
    SyncConfig,
    SyncOutput,
)

__version__: str = _version("opensyncparty-core")

__all__ = [
    "Auth",
    "AuthSuccess",
    "ClientHello",
    "ClientLeft",
    "ClientMessage",
    "ClientSnapshot",
    "ClockConfig",
    "ClockEstimator",
    "ClockModel",
    "ClockSample",
    "Config",
    "CreateRoom",
    "DropReason",
    "Error",
    "InvalidToken",
    "JoinRoom",
    "LeaveRoom",
    "ListRooms",
    "LocalProtocolError",
    "Message",
    "OpenSyncPartyError",
    "Outgoing",
    "ParticipantsUpdate",
    "Pause",
    "PendingPlay",
    "Ping",
    "Play",
    "PlayState",
    "PlayerAction",
    "PlayerCommand",
    "PlayerEvent",
    "PlayerStatus",
    "Pong",
    "Ready",
    "RemoteProtocolError",
    "RoomClosed",
    "RoomList",
    "RoomSnapshot",
    "RoomState",
    "RoomSummary",
    "Seek",
    "ServerMessage",
    "SessionServer",
    "SetRate",
    "StateUpdate",
    "SyncClient",
    "SyncConfig",
    "SyncOutput",
    "TokenVerifier",
    "__version__",
    "check_position",
    "clean_room_name",
    "clean_user_name",
    "decode_client_message",
    "decode_server_message",
    "encode",
    "identity_from_claims",
    "seeded_uuid4s",
    "state_update_drop_reason",
]
