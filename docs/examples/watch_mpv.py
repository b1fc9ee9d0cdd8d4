"""Keep an mpv in a watch-party room: what ``opensyncparty-mpv`` does, in a few lines."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import anyio

from opensyncparty_transports import connect
from opensyncparty_transports.mpv import Party, open_mpv


async def watch(url: str, file: str, room: str | None = None, mpv_args: Sequence[str] = ()) -> None:
    """Join ``room`` (or create one) and stay in sync until mpv is closed or we are cancelled."""
    async with connect(url) as conn, open_mpv(file, args=mpv_args) as player:
        party = Party(player)
        if room is None:
            await party.run(conn, create="Movie night")
        else:
            await party.run(conn, join=room)  # leaves the room on the way out


if __name__ == "__main__":
    anyio.run(watch, *sys.argv[1:4])  # URL FILE [ROOM_ID]
