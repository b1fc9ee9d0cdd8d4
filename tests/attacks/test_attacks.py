"""The attack suite: hostile clients against the reference server in a child process.

One test per attack of issue 11. Each asserts what a user relies on: the
server process is alive, a fresh probe (hello + create + join by two new
clients) is served within 1 s during the attack and after it, and the limit
that was hit answered as the limits table says.
"""

from __future__ import annotations

import pathlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio
import pytest
from benchmarks.attack_kit import (
    OTHER_HOST,
    PROBE_TIMEOUT,
    Probes,
    ServerProcess,
    amplification,
    connection_flood,
    control_flood,
    fd_exhaustion,
    fragment_flood,
    handshake_junk,
    idle_connections,
    malformed_messages,
    probe,
    probe_while,
    server_process,
    websocket_exhaustion,
)

pytestmark = pytest.mark.anyio

# Bounds every attack test, server start and stop included.
TIMEOUT = 30.0
# The amplification attack must leave the server under this resident size.
RSS_BOUND_MB = 100.0


async def attack_with_probes(
    server: ServerProcess, attack: Callable[[], Awaitable[dict[str, Any]]]
) -> dict[str, Any]:
    """Run ``attack`` while probing; check the probes during and after it, and the process."""
    probes = Probes()
    done = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(probe_while, server.url, done, probes)
        result = await attack()
        done.set()
    latencies = probes.latencies
    assert latencies, "no probe ran during the attack"
    assert max(latencies) < PROBE_TIMEOUT, f"probes during the attack: {latencies}"
    assert probes.refused == []
    assert server.alive()
    assert await probe(server.url) < PROBE_TIMEOUT
    return result


async def run(
    tmp_path: pathlib.Path,
    backend: str,
    attack: Callable[[int], Awaitable[dict[str, Any]]],
    *,
    flags: Sequence[str] = (),
    nofile: int | None = None,
) -> tuple[dict[str, Any], str]:
    """Start a server, attack it with probes, stop it; the attack's result and the log."""
    with anyio.fail_after(TIMEOUT):
        async with server_process(
            tmp_path / "server.log", backend=backend, nofile=nofile, flags=flags
        ) as server:
            result = await attack_with_probes(server, lambda: attack(server.port))
            log = server.log_text()
        assert server.popen.returncode == 0, log
    return result, log


async def test_fd_exhaustion_cuts_idle_sockets_and_the_server_serves_on(
    tmp_path: pathlib.Path, anyio_backend: str
) -> None:
    # Issue 11, attack 1: 200 silent TCP connections against 128 descriptors.
    result, log = await run(
        tmp_path,
        anyio_backend,
        lambda port: fd_exhaustion(port, connections=200, hold=1.0),
        nofile=128,
    )
    assert result["cut_by_server"] > 0
    assert log.count("accept failed") <= 2, "accept errors flood the log"


async def test_websocket_exhaustion_is_refused_with_503_and_health_still_answers(
    tmp_path: pathlib.Path, anyio_backend: str
) -> None:
    # Every descriptor held by an upgraded client: the reserve answers for the server.
    flags = ["--max-connections", "0", "--max-connections-per-ip", "0"]
    log = tmp_path / "server.log"
    with anyio.fail_after(TIMEOUT):
        async with server_process(log, backend=anyio_backend, nofile=64, flags=flags) as server:
            result = await websocket_exhaustion(server.port, connections=100)
            assert result["refused_with"] == 503
            assert result["health"] == 200
            assert server.alive()
            assert await probe(server.url) < PROBE_TIMEOUT


async def test_amplification_keeps_memory_bounded(
    tmp_path: pathlib.Path, anyio_backend: str
) -> None:
    # Issue 11, attack 2: clients that never read, attackers echoing 60 KB media ids.
    with anyio.fail_after(TIMEOUT):
        async with server_process(
            tmp_path / "server.log",
            backend=anyio_backend,
            flags=["--max-connections-per-ip", "0"],
        ) as server:
            await attack_with_probes(
                server, lambda: amplification(server.port, sinks=100, attackers=5, duration=2.0)
            )
            assert server.peak_rss_mb() < RSS_BOUND_MB


async def test_fragment_flood_closes_1009(tmp_path: pathlib.Path, anyio_backend: str) -> None:
    # Issue 11, attack 3: one message in endless empty continuation frames.
    result, _ = await run(
        tmp_path, anyio_backend, lambda port: fragment_flood(port, frames=2_000_000)
    )
    assert result["close_code"] == 1009
    assert result["frames_sent"] < 2_000_000


async def test_control_frame_flood_closes_1008(tmp_path: pathlib.Path, anyio_backend: str) -> None:
    result, _ = await run(
        tmp_path, anyio_backend, lambda port: control_flood(port, pings=1_000_000)
    )
    assert result["close_code"] == 1008
    assert result["frames_sent"] < 1_000_000


async def test_silent_connections_are_closed_at_the_idle_timeout(
    tmp_path: pathlib.Path, anyio_backend: str
) -> None:
    # Issue 11, attack 4: upgraded, then not a byte, not even a pong.
    flags = ["--ping-interval", "0.2", "--idle-timeout", "0.6"]
    result, _ = await run(
        tmp_path,
        anyio_backend,
        lambda port: idle_connections(port, connections=20, timeout=5.0),
        flags=flags,
    )
    assert result["closed"] == 20
    assert result["close_codes"] == [1001]


async def test_connection_flood_from_one_address_gets_429(
    tmp_path: pathlib.Path, anyio_backend: str
) -> None:
    # Issue 11, attack 5: the probe comes from another address and is served.
    result, log = await run(
        tmp_path,
        anyio_backend,
        lambda port: connection_flood(port, connections=40, local_host=OTHER_HOST),
        flags=["--max-connections-per-ip", "10"],
    )
    assert result["refused"] == {429: 30}
    assert log.count("HTTP 429") == 1, "refusals flood the log"


async def test_connection_flood_over_the_global_cap_gets_503(
    tmp_path: pathlib.Path, anyio_backend: str
) -> None:
    flags = ["--max-connections", "10"]
    log = tmp_path / "server.log"
    with anyio.fail_after(TIMEOUT):
        async with server_process(log, backend=anyio_backend, flags=flags) as server:
            result = await connection_flood(server.port, connections=15, local_host=OTHER_HOST)
            assert result["refused"] == {503: 5}
            # The flood is over and its slots are free again.
            assert server.alive()
            assert await probe(server.url) < PROBE_TIMEOUT


async def test_malformed_messages_cost_an_error_not_the_party(
    tmp_path: pathlib.Path, anyio_backend: str
) -> None:
    # Issue 11, attack 6: "play_state": [] and other near-valid state updates.
    result, _ = await run(tmp_path, anyio_backend, lambda port: malformed_messages(port, rounds=12))
    assert result["errors"] == 12
    assert result["relayed_after"]


async def test_handshake_junk_gets_400_and_few_log_lines(
    tmp_path: pathlib.Path, anyio_backend: str
) -> None:
    # Issue 11, attack 7: HTTP/1.0 upgrades and malformed requests.
    result, log = await run(tmp_path, anyio_backend, lambda port: handshake_junk(port, requests=60))
    assert result["statuses"] == {400: 60}
    assert log.count("refused") <= 2, "refused handshakes flood the log"
