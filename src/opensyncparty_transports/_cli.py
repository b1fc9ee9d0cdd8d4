"""The ``opensyncparty-server`` command and :func:`serve_until_signal`."""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import anyio

from opensyncparty_core import HANDOVER_POLICIES, Config

from ._extras import missing_message
from ._server import WebSocketServer
from ._settings import LOG_LEVELS, SettingsError, add_arguments, resolve, server_options

__all__ = ["add_limit_arguments", "limit_options", "main", "resolve_backend", "serve_until_signal"]

logger = logging.getLogger("opensyncparty_transports.cli")


async def serve_until_signal(server: WebSocketServer) -> None:
    """Run ``server`` until SIGINT or SIGTERM, then shut it down gracefully.

    Clients are closed with 1001 (going away) and the coroutine returns.
    """
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with anyio.create_task_group() as tg:

            async def stop_on_signal() -> None:
                async for signum in signals:
                    logger.info("received %s", signal.Signals(signum).name)
                    server.stop()
                    return

            tg.start_soon(stop_on_signal)
            await server.serve()
            tg.cancel_scope.cancel()


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, no usage dump: the message names the flag.
        self.exit(2, f"{self.prog}: error: {message}\n")


def resolve_backend(name: str) -> tuple[str, dict[str, Any]]:
    """The anyio backend and its options for a ``--backend`` choice.

    ``"uvloop"`` is asyncio on uvloop's event loop (the ``speedups`` extra);
    ``"auto"`` is uvloop when it is installed, plain asyncio otherwise.
    Raises :class:`ValueError` for ``"uvloop"`` without uvloop installed.
    """
    if name == "auto":
        name = "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"
    if name == "uvloop":
        if importlib.util.find_spec("uvloop") is None:
            raise ValueError(
                "--backend uvloop needs uvloop: pip install 'opensyncparty-core[speedups]'"
            )
        return "asyncio", {"use_uvloop": True}
    return name, {}


def _int_at_least(low: int, what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"must be {what}, got {value}")
        return value

    return parse


_count = _int_at_least(0, ">= 0 (0: no limit)")
_at_least_one = _int_at_least(1, "at least 1")
_milliseconds = _int_at_least(0, "a number of milliseconds >= 0")


def _seconds(text: str) -> float:
    value = float(text)
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text}")
    return value


def _positive_seconds(text: str) -> float:
    value = _seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


# (keyword argument of WebSocketServer, parser of the flag's value, help).
# The flag is the keyword with dashes; the default is the constructor's own.
_LIMITS: tuple[tuple[str, Callable[[str], Any], str], ...] = (
    ("queue_size", _at_least_one, "messages that may wait for one client before it is evicted"),
    ("max_queue_bytes", _count, "bytes that may wait for one client before it is evicted"),
    ("max_connections", _count, "WebSocket connections at once; one more gets HTTP 503"),
    (
        "max_connections_per_ip",
        _count,
        "WebSocket connections at once from one address; one more gets HTTP 429",
    ),
    ("max_fragments", _count, "frames one message may span; one more closes with 1009"),
    (
        "max_control_frames_per_second",
        _count,
        "pings and pongs per second from one client; one more closes with 1008",
    ),
    ("ping_interval", _seconds, "seconds of silence before the server pings a client"),
    ("idle_timeout", _seconds, "seconds of silence before a client is closed with 1001"),
    ("handshake_timeout", _positive_seconds, "seconds a client may take to send its request"),
    ("close_timeout", _positive_seconds, "seconds the closing handshake may take"),
)


def add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    """Add a flag per limit and timeout of :class:`WebSocketServer` to ``parser``.

    ``--queue-size``, ``--max-connections``, ``--idle-timeout`` and so on,
    with the server's defaults; ``0`` turns a limit off where the server
    allows it. :func:`limit_options` reads them back.
    """
    defaults = inspect.signature(WebSocketServer).parameters
    group = parser.add_argument_group("limits and timeouts (0: no limit)")
    for name, parse, meaning in _LIMITS:
        default = defaults[name].default
        group.add_argument(
            "--" + name.replace("_", "-"),
            type=parse,
            default=default,
            metavar="N",
            help=f"{meaning} (default {default})",
        )


def limit_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :class:`WebSocketServer` parsed by :func:`add_limit_arguments`."""
    return {name: getattr(args, name) for name, _, _ in _LIMITS}


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``opensyncparty-server``."""
    parser = _Parser(
        prog="opensyncparty-server", description="Run an OpenSyncParty session server."
    )
    parser.add_argument("--host", help="address to bind (env HOST; default 0.0.0.0)")
    parser.add_argument("--port", help="TCP port (env PORT; default 3000)")
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=LOG_LEVELS,
        help="logging level (env LOG_LEVEL; default INFO)",
    )
    parser.add_argument(
        "--backend",
        default="auto",
        choices=["auto", "asyncio", "uvloop", "trio"],
        help="event loop (default auto: uvloop if installed, else asyncio)",
    )
    add_limit_arguments(parser)
    add_arguments(parser)
    protocol = parser.add_argument_group("protocol extensions")
    protocol.add_argument(
        "--resume-grace-ms",
        type=_milliseconds,
        default=Config().resume_grace_ms,
        metavar="MS",
        help="how long a disconnected client may resume its place; 0: never (default 10000)",
    )
    protocol.add_argument(
        "--handover",
        default=Config().handover_policy.name,
        choices=sorted(HANDOVER_POLICIES),
        help="what a room does when its host leaves for good (default close)",
    )
    return parser


def config_from(args: argparse.Namespace) -> Config:
    """The core's :class:`Config` the command line asks for."""
    return Config(
        resume_grace_ms=args.resume_grace_ms,
        handover_policy=HANDOVER_POLICIES[args.handover],
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``opensyncparty-server``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.backend == "trio" and importlib.util.find_spec("trio") is None:
        parser.exit(
            2, f"{parser.prog}: error: {missing_message('trio', 'trio', '--backend trio')}\n"
        )
    try:
        settings = resolve(args, os.environ)
        server_kwargs = server_options(settings)
        backend, backend_options = resolve_backend(args.backend)
    except (SettingsError, ValueError) as exc:
        parser.error(str(exc))
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    server = WebSocketServer(
        host=settings.host,
        port=settings.port,
        config=config_from(args),
        **limit_options(args),
        **server_kwargs,
    )
    logger.debug("event loop: %s %s", backend, backend_options)
    try:
        anyio.run(serve_until_signal, server, backend=backend, backend_options=backend_options)
    except Exception as exc:
        # Task groups wrap a failure such as "address already in use" in groups of one.
        cause: BaseException = exc
        inner: tuple[BaseException, ...] = getattr(cause, "exceptions", ())
        while len(inner) == 1:
            cause = inner[0]
            inner = getattr(cause, "exceptions", ())
        logger.error("server failed: %s", cause)
        logger.debug("details", exc_info=exc)
        return 1
    return 0
