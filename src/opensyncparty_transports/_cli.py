"""The ``opensyncparty-server`` command and :func:`serve_until_signal`."""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import NoReturn

import anyio

from ._extras import missing_message
from ._server import WebSocketServer
from ._settings import LOG_LEVELS, SettingsError, add_arguments, resolve, server_options

__all__ = ["main", "serve_until_signal"]

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
        "--backend", default="asyncio", choices=["asyncio", "trio"], help="default asyncio"
    )
    parser.add_argument(
        "--queue-size",
        type=int,
        default=256,
        help="messages that may wait for one client before it is disconnected (default 256)",
    )
    add_arguments(parser)
    return parser


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
        options = server_options(settings)
    except SettingsError as exc:
        parser.error(str(exc))
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    server = WebSocketServer(
        host=settings.host, port=settings.port, queue_size=args.queue_size, **options
    )
    try:
        anyio.run(serve_until_signal, server, backend=args.backend)
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
