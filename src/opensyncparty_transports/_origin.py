"""The Origin allow-list, checked on the WebSocket upgrade request.

Browsers send the page's origin with every WebSocket upgrade; a server that
only its own web clients should reach refuses the others before the upgrade
(HTTP 403), so the core never hears of them. Non-browser clients send no
``Origin``: with an allow-list in force they are refused too, as upstream does.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["normalize_origin", "origin_allowed", "parse_origins"]


def normalize_origin(origin: str) -> str:
    """Scheme and host are case-insensitive (RFC 6454 4); a trailing slash is noise."""
    return origin.strip().rstrip("/").lower()


def parse_origins(text: str) -> frozenset[str] | None:
    """``ALLOWED_ORIGINS``: comma-separated origins; empty or ``*`` allows every origin."""
    origins = frozenset(normalize_origin(o) for o in text.split(",") if o.strip())
    if not origins or "*" in origins:
        return None
    return origins


def origin_allowed(
    headers: Iterable[tuple[bytes, bytes]], allowed: frozenset[str] | None
) -> tuple[bool, str | None]:
    """Whether a request with these headers may upgrade, and the Origin it gave.

    ``allowed`` is normalised (see :func:`parse_origins`); ``None`` allows all.
    A missing, repeated or undecodable ``Origin`` is refused under an allow-list.
    """
    values = [value for name, value in headers if name.lower() == b"origin"]
    origin = values[0].decode("latin-1") if len(values) == 1 else None
    if allowed is None:
        return True, origin
    return origin is not None and normalize_origin(origin) in allowed, origin
