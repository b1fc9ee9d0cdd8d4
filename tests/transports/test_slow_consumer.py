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
    Ping,
    PlayState,
    Pong,
    RoomState,
    StateUpdate,
    encode,
)
from opensyncparty_transports import connect

from .support import TIMEOUT, raw_websocket, receive_until, running_server

pytestmark = pytest.mark.anyio

QUEUE_SIZE = 16
MAX_UPDATES = 3_000
# No rate limit and no spacing rule in the way: every update is relayed.
CONFIG = attrs.evolve(
    Config(),
    rate_limit_per_second=100_000.0,
    rate_limit_burst=100_000,
    min_state_update_interval_ms=0,
)


def update(room: str, i: int, **payload: object) -> StateUpdate:
    # The play state changes every time, so the core relays every update.
    play_state: PlayState = "paused" if i % 2 else "playing"
    return StateUpdate(room=room, position=float(i), play_state=play_state, payload=payload)


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

                evicted = anyio.Event()
                received: list[float] = []

                async def watch_host() -> None:
                    left = await receive_until(host, ClientLeft)
                    assert left.participant_count == 2
                    evicted.set()

                async def read_until_last() -> None:
                    while (
                        "last" not in (message := await receive_until(reader, StateUpdate)).payload
                    ):
                        received.append(message.position)

                async with anyio.create_task_group() as tg:
                    tg.start_soon(watch_host)
                    tg.start_soon(read_until_last)
                    # However large the kernel's socket buffers, they fill up in the end.
                    sent = 0
                    while not evicted.is_set():
                        assert sent < MAX_UPDATES, "the slow client was never evicted"
                        await host.send(update(room, sent, blob=blob))
                        sent += 1
                    await host.send(update(room, sent, last=True))

            assert received == [float(i) for i in range(sent)]
            assert server.evictions == 1
            assert server.peak_queue_length <= QUEUE_SIZE
            assert len(server.core.client_ids) == 2


async def test_client_over_the_byte_budget_is_evicted_before_its_queue_is_full() -> None:
    blob = "x" * 30_000
    budget = 100_000
    with anyio.fail_after(TIMEOUT):
        async with (
            running_server(
                config=CONFIG, queue_size=10_000, max_queue_bytes=budget, close_timeout=0.5
            ) as server,
            connect(server.url) as host,
        ):
            await host.send(CreateRoom())
            room = (await receive_until(host, RoomState)).room
            slow_stream, slow_ws = await raw_websocket(server.port, receive_buffer=4096)
            async with slow_stream:
                await slow_stream.send(slow_ws.send(TextMessage(data=encode(JoinRoom(room=room)))))
                await receive_until(host, ParticipantsUpdate)
                sent = 0
                while server.evictions == 0:
                    assert sent < MAX_UPDATES, "the slow client was never evicted"
                    await host.send(update(room, sent, blob=blob))
                    sent += 1
                    # A round trip: the server has handled the update before the pong.
                    await host.send(Ping(payload=sent))
                    await receive_until(host, Pong)
            # The core heard at once that the slow client left.
            assert len(server.core.client_ids) == 1
            # Far fewer frames than queue_size were ever queued...
            assert server.peak_queue_length < 10
            # ...and never more bytes than the budget.
            assert server.peak_queue_bytes <= budget


async def test_frame_larger_than_the_byte_budget_still_reaches_a_reader() -> None:
    blob = "y" * 50_000
    with anyio.fail_after(TIMEOUT):
        async with (
            running_server(config=CONFIG, max_queue_bytes=1_000) as server,
            connect(server.url) as host,
            connect(server.url) as guest,
        ):
            await host.send(CreateRoom())
            room = (await receive_until(host, RoomState)).room
            await guest.send(JoinRoom(room=room))
            await receive_until(guest, RoomState)
            for i in range(3):
                await host.send(update(room, i, blob=blob))
                assert (await receive_until(guest, StateUpdate)).payload["blob"] == blob
            assert server.evictions == 0
