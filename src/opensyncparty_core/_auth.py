"""Authentication rules: the token verifier seam and what a client's identity may be.

Theory of operation. The core never checks a signature and never reads a
clock. An embedder that wants authentication gives :class:`SessionServer` a
:class:`TokenVerifier`: a callable that takes the token a client sent and the
current time, and returns the token's claims or raises :class:`InvalidToken`.
The server then turns the claims into an identity (``sub`` and ``name``, the
claims upstream OpenWatchParty servers use) with :func:`identity_from_claims`.
No verifier means authentication is off: every client may create and join
rooms, as the original server allowed.

What must never leak in here: key material, JWT parsing, wall-clock reads.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any, Protocol

from ._config import Config
from ._errors import OpenSyncPartyError, RemoteProtocolError
from ._messages import Auth

__all__ = [
    "AUTH_FAILED",
    "AUTH_REQUIRED",
    "InvalidToken",
    "TokenVerifier",
    "apply_auth",
    "check_protocol_version",
    "clean_user_name",
    "identity_from_claims",
]

AUTH_FAILED = "Authentication failed"
"""The ``error`` text for a token that does not verify (upstream's wording)."""

AUTH_REQUIRED = "Authentication required"
"""The ``error`` text for a ``create_room``/``join_room`` sent before a successful ``auth``."""


class InvalidToken(OpenSyncPartyError):
    """Raised by a :class:`TokenVerifier` for a token it does not accept.

    The message is for the server's log; the client only ever sees
    "Authentication failed", so a probe learns nothing about why.
    """


class TokenVerifier(Protocol):
    """Checks a client's token; injected into :class:`SessionServer`.

    Called with the token text and ``now`` (milliseconds since the epoch, the
    same clock reading the server was given), it returns the token's claims,
    or raises :class:`InvalidToken`. It must not read a clock of its own, so
    that expiry is decided by the ``now`` a test controls. Any other exception
    is a bug in the verifier and propagates to the caller.
    """

    def __call__(self, token: str, now: int) -> Mapping[str, Any]: ...


def clean_user_name(name: str, config: Config) -> str | None:
    """Display name rule: drop control characters (Unicode Cc), strip, cut, strip again.

    Returns ``None`` when nothing is left (such a name is refused, never defaulted).
    """
    if not name.isprintable():
        name = "".join(ch for ch in name if unicodedata.category(ch) != "Cc")
    name = name.strip()[: config.max_user_name_length].strip()
    return name or None


def identity_from_claims(claims: Mapping[str, Any], config: Config) -> tuple[str, str]:
    """The ``(user_id, user_name)`` a verified token gives: its ``sub`` and ``name`` claims.

    Both must be strings and the name must not be empty once cleaned (see
    :func:`clean_user_name`); otherwise :class:`InvalidToken`.
    """
    sub = claims.get("sub")
    name = claims.get("name")
    if type(sub) is not str or not sub:
        raise InvalidToken("token has no 'sub' claim")
    if type(name) is not str:
        raise InvalidToken("token has no 'name' claim")
    user_name = clean_user_name(name, config)
    if user_name is None:
        raise InvalidToken("token's 'name' claim is empty")
    return sub, user_name


def check_protocol_version(version: int | None, config: Config) -> None:
    """Refuse an ``auth`` that names a protocol version this server does not speak.

    An absent version is the original protocol, always accepted.
    """
    newest = config.max_protocol_version
    if version is not None and not 1 <= version <= newest:
        speaks = "1" if newest == 1 else f"1 to {newest}"
        raise RemoteProtocolError(
            f"Unsupported protocol version {version} (this server speaks {speaks})"
        )


class Identified(Protocol):
    """The part of the server's client record that ``auth`` changes."""

    user_id: str | None
    user_name: str | None
    authenticated: bool


ANONYMOUS = ("anonymous", "Anonymous")
"""Upstream's identity for a token sent while authentication is off."""


def apply_auth(
    client: Identified, msg: Auth, now: int, verifier: TokenVerifier | None, config: Config
) -> str | None:
    """The ``auth`` rule: update ``client``'s identity from ``msg``.

    Returns the name to confirm in ``auth_success``, or ``None`` when no answer
    is due (a display name while authentication is off). Raises
    :class:`RemoteProtocolError` ("Authentication failed", "Authentication
    required", an unsupported version, a mistyped field) having changed nothing.
    """
    check_protocol_version(msg.protocol_version, config)
    if msg.user_id is not None and len(msg.user_id) > config.max_id_length:
        raise RemoteProtocolError(
            f"Field 'payload.user_id' is longer than {config.max_id_length} characters"
        )
    if msg.token is None:
        if verifier is not None:
            raise RemoteProtocolError(AUTH_REQUIRED)
        # Auth off: a display name only, and no answer, as upstream.
        name = None if msg.user_name is None else clean_user_name(msg.user_name, config)
        if name is not None:
            client.user_name = name
            if msg.user_id is not None:
                client.user_id = msg.user_id
        return None
    if verifier is None:
        user_id, user_name = ANONYMOUS
    else:
        try:
            user_id, user_name = identity_from_claims(verifier(msg.token, now), config)
        except InvalidToken:
            raise RemoteProtocolError(AUTH_FAILED) from None
    client.user_id, client.user_name, client.authenticated = user_id, user_name, True
    return user_name
