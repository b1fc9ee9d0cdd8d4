"""The two kinds of failure, after h11: who broke the rules decides the type.

Every refusal sent on the wire also carries a stable, machine-readable
:data:`ErrorCode` next to its human-readable message.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

__all__ = ["ErrorCode", "LocalProtocolError", "OpenSyncPartyError", "RemoteProtocolError"]

ErrorCode: TypeAlias = Literal[
    "INVALID_FORMAT",
    "MESSAGE_TOO_DEEP",
    "UNKNOWN_MESSAGE_TYPE",
    "INVALID_FIELD",
    "FIELD_TOO_LONG",
    "ROOM_REQUIRED",
    "POSITION_OUT_OF_RANGE",
    "BINARY_NOT_SUPPORTED",
    "RATE_LIMITED",
    "ROOM_NOT_FOUND",
    "ROOM_FULL",
    "NOT_ROOM_MEMBER",
    "NOT_HOST",
    "TRANSFER_TARGET_INVALID",
    "RESUME_TOKEN_INVALID",
    "RESUME_IN_ROOM",
    "CHAT_MESSAGE_EMPTY",
    "CHAT_MESSAGE_TOO_LONG",
    "AUTHENTICATION_REQUIRED",
    "AUTHENTICATION_FAILED",
    "UNSUPPORTED_PROTOCOL_VERSION",
]
"""The ``code`` of an ``error`` payload; the protocol page says when each is sent.

Names follow the OpenWatchParty server where the meaning matches
(``ROOM_NOT_FOUND``, ``NOT_ROOM_MEMBER``, ``UNKNOWN_MESSAGE_TYPE``,
``CHAT_MESSAGE_TOO_LONG``). A code never changes meaning; new ones may appear,
so a client must treat an unknown code like a plain ``message``."""


class OpenSyncPartyError(Exception):
    """Base class of every exception this package raises on purpose."""


class LocalProtocolError(OpenSyncPartyError):
    """The embedding code misused the API (for example, an unknown client id).

    This is a bug in the caller, never something a remote peer can cause.
    """


class RemoteProtocolError(OpenSyncPartyError):
    """A peer sent something the protocol does not allow.

    :class:`~opensyncparty_core.SessionServer` never lets this escape: it answers
    the sender with an ``error`` message whose text is ``str(exc)`` and whose
    code is :attr:`code`. The codec functions raise it so that other embedders
    (clients, proxies) can do the same.

    :param code: why, for machines; the default is the most common reason, a
        field that is missing or of the wrong type.
    """

    def __init__(self, message: str, code: ErrorCode = "INVALID_FIELD") -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        """The :data:`ErrorCode` sent with the message."""
