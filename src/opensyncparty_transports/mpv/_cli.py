"""The ``opensyncparty-mpv`` command: watch a file in mpv, in sync with a room."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import sys
from collections.abc import Sequence

import anyio

from .._client import ConnectionClosed, HandshakeError, connect
from ._ipc import MpvError
from ._party import Party, PartyError
from ._player import HEADLESS, open_mpv

__all__ = ["main"]

logger = logging.getLogger("opensyncparty_transports.mpv")

EXIT_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``opensyncparty-mpv``."""
    parser = argparse.ArgumentParser(
        prog="opensyncparty-mpv",
        description="Play FILE in mpv, kept in sync with a watch-party room.",
    )
    parser.add_argument("url", help="the server's WebSocket URL, e.g. ws://HOST:3000/ws")
    parser.add_argument("file", help="the media file to play")
    room = parser.add_mutually_exclusive_group(required=True)
    room.add_argument("--create", metavar="NAME", help="create a room and host it")
    room.add_argument("--join", metavar="ROOM_ID", help="join the room with this id")
    parser.add_argument("--token", help="authentication token, for servers that require one")
    parser.add_argument("--mpv", default="mpv", help="the mpv executable (default: mpv)")
    parser.add_argument(
        "--headless", action="store_true", help="no window and no sound (--vo=null --ao=null)"
    )
    parser.add_argument(
        "--mpv-option",
        action="append",
        default=[],
        metavar="OPTION",
        help="pass an option to mpv, e.g. --mpv-option=--volume=50 (repeatable)",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="logging level (default INFO)",
    )
    return parser


async def _watch(args: argparse.Namespace) -> None:
    mpv_args = [*(HEADLESS if args.headless else ()), *args.mpv_option]
    media_id = os.path.basename(args.file)
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with (
            connect(args.url) as conn,
            open_mpv(args.file, mpv=args.mpv, args=mpv_args) as player,
        ):
            party = Party(player)
            async with anyio.create_task_group() as tg:

                async def stop_on_signal() -> None:
                    async for signum in signals:
                        logger.info("%s: leaving the room", signal.Signals(signum).name)
                        tg.cancel_scope.cancel()
                        return

                async def announce() -> None:
                    await party.joined.wait()
                    role = "hosting" if party.client.is_host else "in"
                    logger.info("%s room %s", role, party.room_id)
                    if party.client.is_host:
                        logger.info(
                            "others join with: opensyncparty-mpv %s FILE --join %s",
                            args.url,
                            party.room_id,
                        )

                async def sync() -> None:
                    await party.run(
                        conn,
                        create=args.create,
                        join=args.join,
                        media_id=media_id,
                        token=args.token,
                    )
                    tg.cancel_scope.cancel()

                tg.start_soon(stop_on_signal)
                tg.start_soon(announce)
                tg.start_soon(sync)


def _problem(exc: BaseException, url: str) -> str | None:
    """One line for a failure a user can act on, or ``None`` for a bug."""
    if isinstance(exc, (MpvError, PartyError)):
        return str(exc)
    if isinstance(exc, HandshakeError):
        return f"{url} refused the WebSocket upgrade (HTTP {exc.status_code})"
    if isinstance(exc, ConnectionClosed):
        reason = f": {exc.reason}" if exc.reason else ""
        return f"the server closed the connection ({exc.code}{reason})"
    if isinstance(exc, (OSError, TimeoutError)):
        return f"cannot reach the server at {url}: {exc.strerror or exc}"
    if isinstance(exc, ValueError):
        return str(exc)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``opensyncparty-mpv``; returns the exit status (2 on any error)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="opensyncparty-mpv: %(message)s")
    # Checked before connecting, so that a typo costs no round trip.
    problem: str | None = None
    if shutil.which(args.mpv) is None:
        problem = f"mpv not found: {args.mpv!r} (install it, e.g. apt-get install mpv)"
    elif not os.path.isfile(args.file):
        problem = f"no such file: {args.file!r}"
    if problem is None:
        try:
            anyio.run(_watch, args)
            return 0
        except Exception as exc:
            cause: BaseException = exc
            inner: tuple[BaseException, ...] = getattr(cause, "exceptions", ())
            while len(inner) == 1:  # task groups wrap a failure in groups of one
                cause = inner[0]
                inner = getattr(cause, "exceptions", ())
            problem = _problem(cause, args.url)
            if problem is None:
                raise
    sys.stderr.write(f"opensyncparty-mpv: error: {problem}\n")
    return EXIT_ERROR
