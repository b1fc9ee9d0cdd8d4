"""A client that cannot keep up is evicted; nobody else waits for it (spec section 6)."""

from __future__ import annotations

import anyio
import attrs
import pytest
from wsproto.events import TextMessage

from opensyncparty_core import (
    ClientLeft,
    Config,
    CreateRoom,
    JoinRoom,
    ParticipantsUpdate,
    RoomState,
    StateUpdate,
    encode,
)
from opensyncparty_transports import connect

from .support import TIMEOUT, raw_websocket, receive_until, running_server

pytestmark = pytest.mark.anyio

QUEUE_SIZE = 16
UPDATES = 300
# No rate limit and no spacing rule in the way: every update is relayed.
CONFIG = attrs.evolve(
    Config(),
    rate_limit_per_second=100_000.0,
    rate_limit_burst=100_000,
    min_state_update_interval_ms=0,
)


async def test_client_that_never_reads_is_evicted_and_others_get_everything() -> None:
    blob = "x" * 30_000
    with anyio.fail_after(TIMEOUT):
        async with (
            running_server(config=CONFIG, queue_size=QUEUE_SIZE, close_timeout=0.5) as server,
            connect(server.url) as host,
            connect(server.url) as reader,
        ):
            await host.send(CreateRoom())
            room = (await receive_until(host, RoomState)).room
            await reader.send(JoinRoom(room=room))
            await receive_until(reader, RoomState)
            slow_stream, slow_ws = await raw_websocket(server.port, receive_buffer=4096)
            async with slow_stream:
                # The slow client joins, then never reads another byte.
                slow_join = encode(JoinRoom(room=room))
                await slow_stream.send(slow_ws.send(TextMessage(data=slow_join)))
                while (await receive_until(host, ParticipantsUpdate)).participant_count < 3:
                    pass

                async def read_all() -> list[float]:
                    positions: list[float] = []
                    while len(positions) < UPDATES:
                        positions.append((await receive_until(reader, StateUpdate)).position)
                    return positions

                async with anyio.create_task_group() as tg:
                    results: list[list[float]] = []

                    async def collect() -> None:
                        results.append(await read_all())

                    tg.start_soon(collect)
                    for i in range(UPDATES):
                        update = StateUpdate(
                            room=room,
                            position=float(i),
                            # A changed play state is always relayed.
                            play_state="paused" if i % 2 else "playing",
                            payload={"blob": blob},
                        )
                        await host.send(update)
                    left = await receive_until(host, ClientLeft)

                assert results == [[float(i) for i in range(UPDATES)]]
                assert left.participant_count == 2
                assert server.evictions == 1
                assert server.peak_queue_length <= QUEUE_SIZE
                assert len(server.core.client_ids) == 2
