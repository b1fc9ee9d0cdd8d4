"""How closely viewers follow the host: our SyncClient against the upstream web client.

Run from the repository root::

    python -m benchmarks.sync_accuracy            # 20 seeds per cell (a few minutes)
    python -m benchmarks.sync_accuracy --quick    # 3 seeds, a smoke test

Each scenario is simulated (``benchmarks.syncsim``: the real server and
clients on a virtual clock, modelled network, clocks and players) for every
seed with four clients: ``upstream_12923e4`` (the upstream web client as
written), ``hybrid`` (the earlier baseline: our scheduling with the upstream
estimator and controller), ``ours`` and ``ours-no-stamp`` (without the
``at_server_ts`` extension). Offsets are what viewers see against what the host
sees, every 50 ms from the host's first action to the end: nothing excluded.

It prints a table and writes ``benchmarks/results/sync_accuracy.json``, ``.md``
and ``.png`` (offset over time for one seed of each scenario, and the CDF of
|offset| per scenario).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import pathlib
import statistics
import time
from collections.abc import Callable

import attrs

from benchmarks.syncsim import (
    IDEAL_PLAYER,
    REALISTIC_PLAYER,
    LinkModel,
    OldServerClient,
    Scenario,
    SimClient,
    SimResult,
    Stats,
    UpstreamClient,
    baseline_client,
    run,
    summarize,
)
from opensyncparty_core import SyncClient, SyncConfig

RESULTS = pathlib.Path(__file__).parent / "results"

BROADBAND = LinkModel(
    rtt_ms=(20.0, 80.0),
    jitter=0.15,
    asymmetry=0.3,
    mixed_sign=True,
    tail_ms=3.0,
    spike_probability=0.01,
    spike_ms=(20.0, 100.0),
)
MOBILE = LinkModel(
    rtt_ms=(100.0, 300.0),
    jitter=0.3,
    asymmetry=0.4,
    mixed_sign=True,
    tail_ms=10.0,
    spike_probability=0.02,
    spike_ms=(50.0, 300.0),
)
LONG = LinkModel(
    rtt_ms=(300.0, 800.0),
    jitter=0.3,
    asymmetry=0.4,
    mixed_sign=True,
    tail_ms=20.0,
    spike_probability=0.05,
    spike_ms=(100.0, 1_000.0),
)
STALLING = attrs.evolve(REALISTIC_PLAYER, stalls_per_minute=0.5, stall_ms=(300.0, 3_000.0))
SLOW_HLS = attrs.evolve(REALISTIC_PLAYER, keyframe_s=(2.0, 6.0), seek_latency_ms=(500.0, 3_000.0))

SCENARIOS = (
    Scenario(name="ideal-player", link=attrs.evolve(BROADBAND, mixed_sign=False, asymmetry=0.1),
             player=IDEAL_PLAYER),
    Scenario(name="broadband", link=BROADBAND),
    Scenario(name="mobile", link=MOBILE),
    Scenario(name="mobile+stalls", link=MOBILE, player=STALLING),
    Scenario(name="rtt-300-800", link=LONG),
    Scenario(name="slow-hls", link=BROADBAND, player=SLOW_HLS),
    Scenario(name="skew-200ppm", link=BROADBAND, skews_ppm=(0.0, 200.0), duration_s=300.0),
    # The last viewer joins 22 s into play, 35 s before the host's next action.
    Scenario(name="late-join", link=BROADBAND, late_join_s=30.0),
    Scenario(name="late-join-mobile", link=MOBILE, late_join_s=30.0),
)  # fmt: skip


def _ours_no_stamp() -> SyncClient:
    return SyncClient(SyncConfig(stamp_positions=False))


CLIENTS: dict[str, Callable[[], SimClient]] = {
    "upstream_12923e4": UpstreamClient,
    "hybrid": baseline_client,
    "ours": SyncClient,
    "ours-no-stamp": _ours_no_stamp,
}
LATE_JOIN_CLIENTS: dict[str, Callable[[], SimClient]] = {
    **CLIENTS,
    "ours-old-server": OldServerClient,
}
"""Late-join scenarios also run ``ours`` without ``state.server_ts``: the join before and after."""


def _clients(scenario: Scenario) -> dict[str, Callable[[], SimClient]]:
    return CLIENTS if scenario.late_join_s is None else LATE_JOIN_CLIENTS


def _one(job: tuple[int, str, int]) -> tuple[int, str, SimResult]:
    index, client, seed = job
    return index, client, run(SCENARIOS[index], _clients(SCENARIOS[index])[client], seed=seed)


def _fmt(value: float, digits: int = 0) -> str:
    if math.isnan(value):
        return "-"
    return "never" if math.isinf(value) else f"{value:,.{digits}f}"


def _table(rows: list[tuple[str, str, Stats]]) -> str:
    header = (
        "| scenario | client | p50 ms | p95 ms | p99 ms | max ms | p95 by seed (min-med-max) "
        "| start p95 ms | converge median / p95 s | seek conv. p95 s | never | seeks/viewer "
        "| steady p95 ms | asym. p95 ms | seeds |"
    )
    lines = [header, "|---|---|---:|---:|---:|---:|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for name, client, s in rows:
        spread = sorted(s.p95_by_seed_ms)
        seeds = f"{_fmt(spread[0])}-{_fmt(statistics.median(spread))}-{_fmt(spread[-1])}"
        lines.append(
            f"| {name} | {client} | {_fmt(s.p50_ms, 1)} | {_fmt(s.p95_ms, 1)} "
            f"| {_fmt(s.p99_ms)} | {_fmt(s.max_ms)} | {seeds} | {_fmt(s.start_p95_ms, 1)} "
            f"| {_fmt(s.converge_median_s, 2)} / {_fmt(s.converge_p95_s, 2)} "
            f"| {_fmt(s.seek_converge_p95_s, 2)} "
            f"| {s.never_converged}/{s.actions} | {s.seeks_per_viewer:.1f} "
            f"| {_fmt(s.steady_p95_ms, 1)} | {_fmt(s.asymmetry_p95_ms)} | {s.seeds} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="runs per scenario and client")
    parser.add_argument("--quick", action="store_true", help="3 seeds, for a smoke test")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args()
    seeds = range(3 if args.quick else args.seeds)
    jobs = [(i, c, seed) for i, sc in enumerate(SCENARIOS) for c in _clients(sc) for seed in seeds]
    started = time.perf_counter()
    results: dict[tuple[int, str], list[SimResult]] = {}
    with multiprocessing.Pool(max(1, min(args.workers, 2))) as pool:
        for index, client, result in pool.imap_unordered(_one, jobs, chunksize=4):
            results.setdefault((index, client), []).append(result)
    elapsed = time.perf_counter() - started
    rows = []
    for i, scenario in enumerate(SCENARIOS):
        for client in _clients(scenario):
            runs = sorted(results[i, client], key=lambda r: r.seed)
            rows.append((scenario.name, client, summarize(runs)))
    table = _table(rows)
    note = (
        f"{len(seeds)} seeds per cell, host + 3 viewers, 170 s each (300 s with skew); "
        "|viewer - host| as seen (output latency included) every 50 ms from the first user "
        "action to the end, nothing excluded; start = offset when the later of host and "
        "viewer starts, at each play; converge = from each user action until every viewer is "
        "within 40 ms for 1 s (seek conv.: seeks only); steady = offsets from 8 s after each "
        "play or seek to the next action. "
        f"Simulated in {elapsed:.0f} s."
    )
    joins = _join_table(rows)
    print(table)
    print(note)
    print(_ratios(rows))
    print(joins)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sync_accuracy.md").write_text(f"{table}\n\n{note}\n\n{_ratios(rows)}\n\n{joins}\n")
    payload = {
        "rows": [
            {"scenario": name, "client": client, **_finite(attrs.asdict(stats))}
            for name, client, stats in rows
        ],
        "seeds": len(seeds),
        "elapsed_s": elapsed,
    }
    (RESULTS / "sync_accuracy.json").write_text(json.dumps(payload, indent=2) + "\n")
    (RESULTS / "sync_accuracy.csv").write_text(_csv(rows))
    _plot(results, len(seeds), RESULTS / "sync_accuracy.png")
    _plot_starts(results, RESULTS / "sync_start.png")


def _csv(rows: list[tuple[str, str, Stats]]) -> str:
    """The table as CSV, for the documentation's ``csv-table``."""
    lines = [
        "scenario,client,p50 ms,p95 ms,p99 ms,max ms,p95 by seed min-med-max,"
        "start p95 ms,converge median / p95 s,seek conv. p95 s,never,seeks/viewer,"
        "steady p95 ms,asym. p95 ms"
    ]
    for line in _table(rows).splitlines()[2:]:
        cells = [c.strip().replace(",", "") for c in line.strip("|").split("|")]
        lines.append(",".join(f'"{c}"' for c in cells[:-1]))
    return "\n".join(lines) + "\n"


def _join_table(rows: list[tuple[str, str, Stats]]) -> str:
    """Late joins: from the join click until the viewer is within 40 ms for 1 s."""
    lines = [
        "| scenario | client | join to in sync: median / p95 / max s | never | joins |",
        "|---|---|---|---:|---:|",
    ]
    for name, client, s in rows:
        if not math.isnan(s.join_median_s):
            times = (
                f"{_fmt(s.join_median_s, 2)} / {_fmt(s.join_p95_s, 2)} / {_fmt(s.join_max_s, 2)}"
            )
            lines.append(f"| {name} | {client} | {times} | {s.join_never} | {s.seeds} |")
    return "\n".join(lines)


def _ratios(rows: list[tuple[str, str, Stats]]) -> str:
    """How many times better ``ours`` is than the upstream client, at p95."""
    p95 = {(name, client): s.p95_ms for name, client, s in rows}
    parts = [
        f"{name}: {p95[name, 'upstream_12923e4'] / p95[name, 'ours']:.1f}x"
        for name in dict.fromkeys(name for name, _, _ in rows)
    ]
    return "p95 upstream / ours: " + ", ".join(parts)


def _finite(values: dict[str, object]) -> dict[str, object]:
    """JSON has no infinity: a value that never came is ``null``."""
    return {
        k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in values.items()
    }


def _plot(results: dict[tuple[int, str], list[SimResult]], seeds: int, path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {
        "upstream_12923e4": "tab:red",
        "hybrid": "tab:orange",
        "ours": "tab:blue",
        "ours-no-stamp": "tab:green",
    }
    n = len(SCENARIOS)
    fig, axes = plt.subplots(n, 2, figsize=(13, 2.4 * n), gridspec_kw={"width_ratios": [3, 1]})
    for i, scenario in enumerate(SCENARIOS):
        over_time, cdf = axes[i]
        for client, colour in colours.items():
            runs = sorted(results[i, client], key=lambda r: r.seed)
            example = runs[0]
            points = [(t / 1000.0, o * 1000.0) for t, v, o in example.samples if v == 1]
            over_time.plot(*zip(*points, strict=True), color=colour, lw=0.7, label=client)
            pooled = sorted(abs(o) * 1000.0 for r in runs for _, _, o in r.samples)
            ys = [(k + 1) / len(pooled) for k in range(len(pooled))]
            cdf.plot([max(x, 0.1) for x in pooled], ys, color=colour, lw=1.0)
        over_time.set_ylim(-400, 400)
        over_time.set_ylabel("viewer 1 - host (ms)")
        over_time.set_title(f"{scenario.name} (seed 0)", fontsize=9)
        over_time.grid(alpha=0.3)
        cdf.set_xscale("log")
        cdf.set_xlim(0.1, 1e5)
        cdf.set_title(f"{scenario.name}: CDF of |offset| ({seeds} seeds)", fontsize=9)
        cdf.set_xlabel("ms")
        cdf.grid(alpha=0.3)
    axes[0][0].legend(loc="upper right", fontsize=7, ncol=4)
    axes[-1][0].set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_starts(results: dict[tuple[int, str], list[SimResult]], path: pathlib.Path) -> None:
    """CDF of ``ours``' start errors per scenario, against the floor the start latency sets.

    A player starts ``U(lo, hi)`` ms after it is told, a fresh draw each time, and host
    and viewer each draw one: a learned lead removes the mean, so no client can do better
    than the difference of two draws, ``|U1 - U2|``, whose CDF is ``1 - (1 - x / w)**2``
    for ``w = hi - lo``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, scenario in enumerate(SCENARIOS):
        errors = sorted(e * 1000.0 for r in results[i, "ours"] for e in r.start_errors)
        ys = [(k + 1) / len(errors) for k in range(len(errors))]
        ax.plot(errors, ys, lw=1.0, label=scenario.name)
    lo, hi = REALISTIC_PLAYER.start_latency_ms
    width = hi - lo
    xs = [width * k / 100 for k in range(101)]
    floor = [1 - (1 - x / width) ** 2 for x in xs]
    ax.plot(xs, floor, "k--", lw=1.5, label=f"|U1 - U2|, U = U({lo:.0f}, {hi:.0f}) ms")
    ax.axvline(20.0, color="grey", lw=0.8, ls=":")
    ax.set_xlim(0, 300)
    ax.set_xlabel("|viewer - host| when the later one starts (ms)")
    ax.set_ylabel("fraction of starts")
    ax.set_title("Start error of ours, per scenario, against the start-latency floor")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
