"""The ``opensyncparty-server`` command and :func:`serve_until_signal`."""

from __future__ import annotations

import argparse
import logging
import signal
from collections.abc import Sequence

import anyio

from opensyncparty_core import HANDOVER_POLICIES, Config

from ._server import WebSocketServer

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


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``opensyncparty-server``."""
    parser = argparse.ArgumentParser(
        prog="opensyncparty-server", description="Run an OpenSyncParty session server."
    )
    parser.add_argument("--host", default="0.0.0.0", help="address to bind (default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=3000, help="TCP port (default 3000)")
    parser.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="logging level (default INFO)",
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
    parser.add_argument(
        "--resume-grace-ms",
        type=int,
        default=Config().resume_grace_ms,
        help="how long a disconnected client may resume its place; 0: never (default 10000)",
    )
    parser.add_argument(
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
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = config_from(args)
    except ValueError as exc:
        logger.error("bad option: %s", exc)
        return 2
    server = WebSocketServer(
        host=args.host, port=args.port, queue_size=args.queue_size, config=config
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
