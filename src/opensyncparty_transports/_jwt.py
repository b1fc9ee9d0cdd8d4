"""A token verifier for the core, built on PyJWT, with upstream OpenWatchParty's defaults.

The signature, algorithm, audience, issuer and the presence of ``exp`` are
PyJWT's checks. Time is not: PyJWT reads the wall clock, so its time checks
are turned off and ``exp``, ``nbf`` and ``iat`` are checked here against the
``now`` the core passes in, with PyJWT's own rules and the same leeway.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import jwt

from opensyncparty_core import InvalidToken

__all__ = ["MIN_SECRET_BYTES", "JwtVerifier"]

logger = logging.getLogger("opensyncparty_transports.auth")

MIN_SECRET_BYTES = 32
"""Shortest HS256 secret accepted (RFC 7518 3.2: a key as long as the hash)."""

_OPTIONS: Any = {
    "require": ["exp"],
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
}


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if type(value) not in (int, float):
        raise InvalidToken(f"'{name}' claim is not a number")
    return float(value)


class JwtVerifier:
    """Verifies HS256 JSON Web Tokens signed with a shared secret.

    :param secret: the shared secret (the Jellyfin plugin's ``JWT_SECRET``);
        at least 32 bytes in UTF-8 (RFC 7518: as long as the hash).
    :param audience: required ``aud`` claim.
    :param issuer: required ``iss`` claim.
    :param leeway_s: seconds of clock difference tolerated on ``exp``, ``nbf``
        and ``iat``.

    Only HS256 is accepted, so ``alg: none`` and algorithm-confusion tokens
    fail. Pass an instance as ``token_verifier`` to
    :class:`~opensyncparty_core.SessionServer` (or
    :class:`~opensyncparty_transports.WebSocketServer`).
    """

    def __init__(
        self,
        secret: str,
        *,
        audience: str = "OpenWatchParty",
        issuer: str = "Jellyfin",
        leeway_s: float = 60.0,
    ) -> None:
        if len(secret.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"the JWT secret must be at least {MIN_SECRET_BYTES} bytes")
        self._secret = secret
        self.audience = audience
        self.issuer = issuer
        self.leeway_s = leeway_s

    def __call__(self, token: str, now: int) -> Mapping[str, Any]:
        """The claims of ``token`` if it is valid at ``now`` (ms); else :class:`InvalidToken`."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                audience=self.audience,
                issuer=self.issuer,
                options=_OPTIONS,
            )
        except jwt.PyJWTError as exc:
            logger.debug("token refused: %s", exc)
            raise InvalidToken(str(exc)) from None
        now_s = now / 1000
        leeway = self.leeway_s
        exp = _number(claims, "exp")
        if exp is not None and exp <= now_s - leeway:
            logger.debug("token refused: expired")
            raise InvalidToken("token has expired")
        for name in ("nbf", "iat"):
            start = _number(claims, name)
            if start is not None and start > now_s + leeway:
                logger.debug("token refused: not valid yet (%s)", name)
                raise InvalidToken(f"token is not valid yet ({name})")
        return claims
