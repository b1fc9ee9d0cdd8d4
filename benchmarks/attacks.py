"""Each attack of issue 11 against the reference server in a child process.

    .venv/bin/python -m benchmarks.attacks [--backend asyncio|trio|both] [--sinks 300]

While an attack runs, a probe (two fresh clients: hello + create + join) is
timed every 0.1 s; a probe over 1 s counts as failed (``fail``, ``inf``), one
the server refuses with an HTTP status (a full server's 503) as ``503``. The table
gives, per attack: its load, the probe latency p50 / max during it, the
server's peak resident memory (VmHWM from /proc), and what the server did.
Results go to ``benchmarks/results/attacks.json`` and ``attacks.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import statistics
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import attrs

from benchmarks.attack_kit import (
    OTHER_HOST,
    Probes,
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

RESULTS = pathlib.Path(__file__).parent / "results"


@attrs.frozen
class Attack:
    name: str
    load: str
    run: Callable[[int], Awaitable[dict[str, Any]]]
    flags: tuple[str, ...] = ()
    nofile: int | None = None


def attacks(sinks: int, duration: float) -> list[Attack]:
    no_caps = ("--max-connections", "0", "--max-connections-per-ip", "0")
    return [
        Attack(
            "fd exhaustion",
            "200 silent TCP, ulimit -n 128",
            lambda port: fd_exhaustion(port, connections=200, hold=duration),
            nofile=128,
        ),
        Attack(
            "ws exhaustion",
            "100 WebSockets, ulimit -n 64",
            lambda port: websocket_exhaustion(port, connections=100),
            flags=no_caps,
            nofile=64,
        ),
        Attack(
            "amplification",
            f"{sinks} never read, 5 x 60 KB media_id",
            lambda port: amplification(port, sinks=sinks, attackers=5, duration=duration),
            flags=no_caps,
        ),
        Attack(
            "fragment flood",
            "4M empty continuation frames",
            lambda port: fragment_flood(port, frames=4_000_000),
        ),
        Attack("ping flood", "1M pings", lambda port: control_flood(port, pings=1_000_000)),
        Attack(
            "idle",
            "100 silent WebSockets, idle 1 s",
            lambda port: idle_connections(port, connections=100, timeout=duration + 5),
            flags=("--ping-interval", "0.5", "--idle-timeout", "1"),
        ),
        Attack(
            "per-IP flood",
            "300 upgrades from 127.0.0.2, cap 100",
            lambda port: connection_flood(port, connections=300, local_host=OTHER_HOST),
        ),
        Attack(
            "global flood",
            "300 upgrades, cap 200",
            lambda port: connection_flood(port, connections=300, local_host=OTHER_HOST),
            flags=("--max-connections", "200", "--max-connections-per-ip", "0"),
        ),
        Attack(
            "malformed",
            "120 near-valid state_update",
            lambda port: malformed_messages(port, rounds=120),
        ),
        Attack(
            "handshake junk",
            "300 bad / HTTP/1.0 requests",
            lambda port: handshake_junk(port, requests=300),
        ),
    ]


async def run_one(attack: Attack, backend: str, workdir: pathlib.Path) -> dict[str, Any]:
    log_path = workdir / f"{attack.name.replace(' ', '_')}_{backend}.log"
    async with server_process(
        log_path, backend=backend, nofile=attack.nofile, flags=attack.flags
    ) as server:
        probes = Probes()
        done = anyio.Event()
        async with anyio.create_task_group() as tg:
            tg.start_soon(probe_while, server.url, done, probes)
            outcome = await attack.run(server.port)
            done.set()
        latencies = probes.latencies
        try:
            after = await probe(server.url)
        except Exception:
            after = math.inf
        alive = server.alive()
        peak = server.peak_rss_mb()
    return {
        "attack": attack.name,
        "backend": backend,
        "load": attack.load,
        "probes": len(latencies),
        "probe_p50_ms": statistics.median(latencies) * 1000 if latencies else math.inf,
        "probe_max_ms": max(latencies) * 1000 if latencies else math.inf,
        "probe_after_ms": after * 1000,
        "failed_probes": sum(1 for x in latencies if math.isinf(x)),
        "refused_probes": len(probes.refused),
        "peak_rss_mb": peak,
        "alive": alive,
        "outcome": outcome,
    }


def _outcome(row: dict[str, Any]) -> str:
    keep = {k: v for k, v in row["outcome"].items() if k not in ("connections", "sinks")}
    return ", ".join(f"{k}={v}" for k, v in keep.items())


def print_table(rows: list[dict[str, Any]]) -> None:
    header = f"{'attack':<15} {'backend':<8} {'load':<38} {'p50 ms':>7} {'max ms':>7} "
    header += f"{'fail':>4} {'503':>4} {'RSS MB':>7} {'alive':>5}  outcome"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['attack']:<15} {r['backend']:<8} {r['load']:<38} {r['probe_p50_ms']:>7.0f} "
            f"{r['probe_max_ms']:>7.0f} {r['failed_probes']:>4} {r['refused_probes']:>4} "
            f"{r['peak_rss_mb']:>7.1f} "
            f"{'yes' if r['alive'] else 'NO':>5}  {_outcome(r)}"
        )


def plot(rows: list[dict[str, Any]], path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['attack']}\n{r['backend']}" for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5))
    worst = [min(r["probe_max_ms"], 2000) for r in rows]
    left.barh(labels, worst, color="tab:blue")
    left.axvline(1000, color="red", linestyle="--", label="1 s target")
    left.set_xlabel("worst probe during the attack (ms, failures shown at 2000)")
    left.legend()
    right.barh(labels, [r["peak_rss_mb"] for r in rows], color="tab:orange")
    right.axvline(100, color="red", linestyle="--", label="100 MB target")
    right.set_xlabel("server peak RSS (MB)")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    backends = ["asyncio", "trio"] if args.backend == "both" else [args.backend]
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for attack in attacks(args.sinks, args.duration):
            if args.only and attack.name not in args.only:
                continue
            for backend in backends:
                rows.append(await run_one(attack, backend, pathlib.Path(workdir)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["asyncio", "trio", "both"], default="both")
    parser.add_argument("--sinks", type=int, default=300, help="clients that never read")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per timed attack")
    parser.add_argument("--only", nargs="*", help="attack names to run (default: all)")
    args = parser.parse_args()
    rows = anyio.run(main_async, args)
    print_table(rows)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "attacks.json").write_text(json.dumps(rows, indent=2, default=str))
    plot(rows, RESULTS / "attacks.png")
    print(f"wrote {RESULTS / 'attacks.json'} and {RESULTS / 'attacks.png'}")


if __name__ == "__main__":
    main()
