"""The two kinds of failure, after h11: who broke the rules decides the type."""

from __future__ import annotations

__all__ = ["LocalProtocolError", "OpenSyncPartyError", "RemoteProtocolError"]


class OpenSyncPartyError(Exception):
    """Base class of every exception this package raises on purpose."""


class LocalProtocolError(OpenSyncPartyError):
    """The embedding code misused the API (for example, an unknown client id).

    This is a bug in the caller, never something a remote peer can cause.
    """


class RemoteProtocolError(OpenSyncPartyError):
    """A peer sent something the protocol does not allow.

    :class:`~opensyncparty_core.SessionServer` never lets this escape: it answers
    the sender with an ``error`` message whose text is ``str(exc)``. The codec
    functions raise it so that other embedders (clients, proxies) can do the same.
    """
