"""Helpers for transport tests: a server on a free port, message filters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import anyio

from opensyncparty_core import ServerMessage
from opensyncparty_transports import ClientConnection, WebSocketServer

M = TypeVar("M", bound=ServerMessage)

# Every network wait in these tests is bounded by this many seconds.
TIMEOUT = 10.0


@asynccontextmanager
async def running_server(**kwargs: Any) -> AsyncIterator[WebSocketServer]:
    """A :class:`WebSocketServer` on 127.0.0.1 and a free port for the block."""
    server = WebSocketServer(host="127.0.0.1", port=0, **kwargs)
    async with anyio.create_task_group() as tg:
        await tg.start(server.serve)
        try:
            yield server
        finally:
            server.stop()


async def receive_until(client: ClientConnection, kind: type[M]) -> M:
    """The next message of type ``kind``, skipping others (e.g. ``room_list`` broadcasts)."""
    while True:
        message = await client.receive()
        if isinstance(message, kind):
            return message
