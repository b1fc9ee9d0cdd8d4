"""Server settings from the environment and the command line; a flag beats its variable.

The variable names are upstream OpenWatchParty's (``PORT``, ``HOST``,
``LOG_LEVEL``, ``ALLOWED_ORIGINS``, ``JWT_SECRET``, ``JWT_AUDIENCE``,
``JWT_ISSUER``), so an existing deployment's environment works unchanged;
the others are ours. Every bad value is a :class:`SettingsError` whose
message is one line naming the variable or flag, for the command to print.
"""

from __future__ import annotations

import argparse
import ssl
from collections.abc import Mapping
from typing import Any

import attrs

from ._jwt import MIN_SECRET_BYTES, JwtVerifier
from ._origin import parse_origins

__all__ = ["LOG_LEVELS", "Settings", "SettingsError", "add_arguments", "resolve", "server_options"]

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

_TRUE = frozenset(("1", "true", "yes", "on"))
_FALSE = frozenset(("0", "false", "no", "off"))


class SettingsError(Exception):
    """A setting has a value the server cannot use; ``str()`` is one line."""


@attrs.frozen(kw_only=True)
class Settings:
    """Everything the command needs besides the core's timings."""

    host: str = "0.0.0.0"
    port: int = 3000
    log_level: str = "INFO"
    allowed_origins: frozenset[str] | None = None
    jwt_secret: str = ""
    jwt_audience: str = "OpenWatchParty"
    jwt_issuer: str = "Jellyfin"
    certfile: str | None = None
    keyfile: str | None = None
    metrics: bool = True
    metrics_address: tuple[str, int] | None = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The access, TLS and metrics flags (each also settable from the environment)."""
    add = parser.add_argument
    add(
        "--allowed-origins",
        help="comma-separated origins whose pages may connect (env ALLOWED_ORIGINS; default any)",
    )
    add(
        "--jwt-secret",
        help="HS256 secret shared with the Jellyfin plugin; empty: auth off (env JWT_SECRET)",
    )
    add("--jwt-audience", help="required 'aud' claim (env JWT_AUDIENCE; default OpenWatchParty)")
    add("--jwt-issuer", help="required 'iss' claim (env JWT_ISSUER; default Jellyfin)")
    add("--certfile", help="PEM certificate chain: serve wss:// (env TLS_CERTFILE)")
    add("--keyfile", help="PEM private key, if not in the certificate file (env TLS_KEYFILE)")
    add("--metrics", choices=["on", "off"], help="serve GET /metrics (env METRICS; default on)")
    add(
        "--metrics-address",
        metavar="HOST:PORT",
        help="serve /metrics there only, not on the public port (env METRICS_ADDRESS)",
    )


def _pick(flag: Any, environ: Mapping[str, str], name: str) -> tuple[str | None, str]:
    """The flag's value if given, else the variable's; with the name to blame."""
    if flag is not None:
        return str(flag), "--" + name.lower().replace("_", "-")
    return environ.get(name), name


def _port(text: str, label: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65_535:
        raise SettingsError(f"{label} must be an integer from 0 to 65535, got {text!r}")
    return port


def _address(text: str, label: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise SettingsError(f"{label} must be HOST:PORT, got {text!r}")
    return host.strip("[]"), _port(port, label)


def resolve(args: argparse.Namespace, environ: Mapping[str, str]) -> Settings:
    """Settings from parsed flags and the environment; raises :class:`SettingsError`."""
    values: dict[str, Any] = {}
    text, label = _pick(args.host, environ, "HOST")
    if text:
        values["host"] = text
    text, label = _pick(args.port, environ, "PORT")
    if text:
        values["port"] = _port(text, label)
    text, label = _pick(args.log_level, environ, "LOG_LEVEL")
    if text:
        level = text.strip().upper()
        if level not in LOG_LEVELS:
            raise SettingsError(f"{label} must be one of {', '.join(LOG_LEVELS)}, got {text!r}")
        values["log_level"] = level
    text, _ = _pick(args.allowed_origins, environ, "ALLOWED_ORIGINS")
    values["allowed_origins"] = parse_origins(text or "")
    text, label = _pick(args.jwt_secret, environ, "JWT_SECRET")
    secret = (text or "").strip()
    if secret and len(secret.encode()) < MIN_SECRET_BYTES:
        raise SettingsError(
            f"{label} must be at least {MIN_SECRET_BYTES} bytes (or empty: auth off)"
        )
    values["jwt_secret"] = secret
    for name in ("JWT_AUDIENCE", "JWT_ISSUER"):
        text, _ = _pick(getattr(args, name.lower()), environ, name)
        if text:
            values[name.lower()] = text
    values["certfile"] = _pick(args.certfile, environ, "TLS_CERTFILE")[0] or None
    values["keyfile"] = _pick(args.keyfile, environ, "TLS_KEYFILE")[0] or None
    if values["keyfile"] and not values["certfile"]:
        raise SettingsError("a TLS key file needs a certificate file (--certfile or TLS_CERTFILE)")
    text, label = _pick(args.metrics, environ, "METRICS")
    if text:
        flag = text.strip().lower()
        if flag not in _TRUE | _FALSE:
            raise SettingsError(f"{label} must be on or off, got {text!r}")
        values["metrics"] = flag in _TRUE
    text, label = _pick(args.metrics_address, environ, "METRICS_ADDRESS")
    if text:
        values["metrics_address"] = _address(text, label)
    return Settings(**values)


def tls_context(certfile: str, keyfile: str | None) -> ssl.SSLContext:
    """A server-side TLS context (modern defaults) with this certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise SettingsError(f"cannot load the TLS certificate {certfile!r}: {exc}") from None
    return context


def server_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for :class:`WebSocketServer` beyond host and port."""
    options: dict[str, Any] = {
        "allowed_origins": settings.allowed_origins,
        "metrics": settings.metrics,
    }
    if settings.jwt_secret:
        options["token_verifier"] = JwtVerifier(
            settings.jwt_secret, audience=settings.jwt_audience, issuer=settings.jwt_issuer
        )
    if settings.certfile is not None:
        options["ssl_context"] = tls_context(settings.certfile, settings.keyfile)
    if settings.metrics_address is not None:
        options["metrics_host"], options["metrics_port"] = settings.metrics_address
    return options
