"""The ``opensyncparty-server`` command and :func:`serve_until_signal`."""

from __future__ import annotations

import argparse
import importlib.util
import logging
import signal
from collections.abc import Sequence
from typing import Any

import anyio

from ._server import WebSocketServer

__all__ = ["main", "resolve_backend", "serve_until_signal"]

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
        "--backend",
        default="auto",
        choices=["auto", "asyncio", "uvloop", "trio"],
        help="event loop (default auto: uvloop if installed, else asyncio)",
    )
    parser.add_argument(
        "--queue-size",
        type=int,
        default=256,
        help="messages that may wait for one client before it is disconnected (default 256)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``opensyncparty-server``; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        backend, options = resolve_backend(args.backend)
    except ValueError as exc:
        logger.error("%s", exc)
        return 2
    server = WebSocketServer(host=args.host, port=args.port, queue_size=args.queue_size)
    logger.debug("event loop: %s %s", backend, options)
    try:
        anyio.run(serve_until_signal, server, backend=backend, backend_options=options)
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
