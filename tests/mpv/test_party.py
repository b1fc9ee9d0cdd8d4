"""Party with a stand-in player (no mpv): rooms, tokens, and a player that goes away."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator

import anyio
import pytest

from opensyncparty_core import PlayerCommand, PlayerStatus
from opensyncparty_transports import ConnectionClosed, connect
from opensyncparty_transports.mpv import Party, PartyError, PlayerReport

from ..transports.support import TIMEOUT, running_server

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend


class StandInPlayer:
    """Paused at 0, records commands; closing ``user`` is the user closing the player."""

    def __init__(self) -> None:
        self.commands: list[PlayerCommand] = []
        self.user, self._reports = anyio.create_memory_object_stream[PlayerReport](10)

    def status(self, now: float) -> PlayerStatus:
        return PlayerStatus(position=0.0, paused=True)

    async def apply(self, command: PlayerCommand) -> None:
        self.commands.append(command)

    async def reports(self) -> AsyncIterator[PlayerReport]:
        async with self._reports:
            async for report in self._reports:
                yield report


async def test_a_token_is_sent_as_auth_and_the_client_gets_in(
    caplog: pytest.LogCaptureFixture,
) -> None:
    player = StandInPlayer()
    party = Party(player)
    with caplog.at_level(logging.WARNING, logger="opensyncparty_transports.mpv"):
        async with (
            running_server() as server,
            connect(server.url) as conn,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(functools.partial(party.run, conn, create="Film", token="s3cret"))
            with anyio.fail_after(TIMEOUT):
                await party.joined.wait()
            assert party.room_id in server.core.room_ids
            player.user.close()
    # The server (issue 12) knows ``auth``: nothing was refused.
    assert "opensyncparty_transports.mpv" not in caplog.text


async def test_a_player_that_goes_away_leaves_the_room() -> None:
    player = StandInPlayer()
    party = Party(player)
    async with running_server() as server, connect(server.url) as conn:
        async with anyio.create_task_group() as tg:
            tg.start_soon(functools.partial(party.run, conn, create="Film"))
            with anyio.fail_after(TIMEOUT):
                await party.joined.wait()
            client_id = party.client.client_id
            player.user.close()
        assert client_id in server.core.client_ids
        assert server.core.room_of(client_id or "") is None
        assert server.core.room_ids == ()


async def test_a_refused_join_is_a_party_error() -> None:
    player = StandInPlayer()
    async with running_server() as server, connect(server.url) as conn:
        with anyio.fail_after(TIMEOUT), pytest.raises(PartyError, match="Room 'nope' not found"):
            await Party(player).run(conn, join="nope")
    player.user.close()
    await player._reports.aclose()


async def test_create_or_join_exactly_one() -> None:
    player = StandInPlayer()
    async with running_server() as server, connect(server.url) as conn:
        with pytest.raises(ValueError, match="exactly one"):
            await Party(player).run(conn)
    player.user.close()
    await player._reports.aclose()


async def test_a_server_going_away_is_connection_closed() -> None:
    player = StandInPlayer()
    party = Party(player)
    async with (
        running_server() as server,
        connect(server.url) as conn,
        anyio.create_task_group() as tg,
    ):

        async def stop_once_in() -> None:
            await party.joined.wait()
            server.stop()

        tg.start_soon(stop_once_in)
        with anyio.fail_after(TIMEOUT), pytest.raises(ConnectionClosed) as closed:
            await party.run(conn, create="Film")
    assert closed.value.code == 1001
    player.user.close()
    await player._reports.aclose()
