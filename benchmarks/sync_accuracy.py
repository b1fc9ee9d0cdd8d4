"""How closely viewers follow the host: our SyncClient against the original algorithm.

Run from the repository root::

    python -m benchmarks.sync_accuracy [--seeds 5] [--quick]

Each scenario is simulated (``benchmarks.syncsim``: real server, real clients,
modelled network, clocks and players) for every seed, once with
:class:`SyncClient` and once with the baseline that reproduces the original
web client. It prints a table and writes ``benchmarks/results/sync_accuracy.json``,
``.md`` and ``.png`` (offset over time for one run of each scenario).
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import time
from collections.abc import Callable

import attrs

from benchmarks.syncsim import (
    LinkModel,
    PlayerModel,
    Scenario,
    SimResult,
    Stats,
    baseline_client,
    run,
    summarize,
)
from opensyncparty_core import SyncClient

RESULTS = pathlib.Path(__file__).parent / "results"

BROADBAND = LinkModel(rtt_ms=(20.0, 80.0), jitter=0.15, asymmetry=0.1, tail_ms=3.0)
MOBILE = LinkModel(rtt_ms=(100.0, 300.0), jitter=0.3, asymmetry=0.2, tail_ms=10.0)

SCENARIOS = (
    Scenario(name="lan", link=LinkModel(rtt_ms=(1.0, 3.0), jitter=0.2, tail_ms=0.2)),
    Scenario(name="broadband", link=BROADBAND),
    Scenario(name="mobile", link=MOBILE),
    Scenario(name="mobile+stalls", link=MOBILE, player=PlayerModel(stalls_per_minute=0.5)),
    Scenario(name="skew-200ppm", link=BROADBAND, skews_ppm=(0.0, 200.0), duration_s=300.0),
)

ENGINES: dict[str, Callable[[], SyncClient]] = {"ours": SyncClient, "baseline": baseline_client}


def _fmt(value: float, digits: int = 1) -> str:
    return "never" if math.isinf(value) else f"{value:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="runs per scenario and engine")
    parser.add_argument("--quick", action="store_true", help="one seed, for a smoke test")
    args = parser.parse_args()
    seeds = range(1 if args.quick else args.seeds)
    rows: list[tuple[str, str, Stats]] = []
    examples: dict[tuple[str, str], SimResult] = {}
    started = time.perf_counter()
    for scenario in SCENARIOS:
        for engine, make in ENGINES.items():
            results = [run(scenario, make, seed=seed) for seed in seeds]
            examples[scenario.name, engine] = results[0]
            rows.append((scenario.name, engine, summarize(results)))
    elapsed = time.perf_counter() - started
    header = "| scenario | engine | p50 ms | p95 ms | max ms | converge median s | converge max s |"
    lines = [header, "|---|---|---:|---:|---:|---:|---:|"]
    for name, engine, stats in rows:
        lines.append(
            f"| {name} | {engine} | {stats.p50_ms:.1f} | {stats.p95_ms:.1f} "
            f"| {stats.max_ms:.1f} | {_fmt(stats.converge_median_s)} "
            f"| {_fmt(stats.converge_max_s)} |"
        )
    table = "\n".join(lines)
    note = (
        f"{len(seeds)} seed(s) per cell, host + 3 viewers, 170 s each (300 s with skew); "
        f"offsets while the host plays, excluding {SCENARIOS[0].settle_s:.0f} s after each "
        f"play/seek; converged = within {SCENARIOS[0].converged_s * 1000:.0f} ms for 2 s. "
        f"Simulated in {elapsed:.1f} s."
    )
    print(table)
    print(note)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sync_accuracy.md").write_text(f"{table}\n\n{note}\n")
    (RESULTS / "sync_accuracy.json").write_text(
        json.dumps(
            {
                "rows": [
                    {"scenario": name, "engine": engine, **_finite(attrs.asdict(stats))}
                    for name, engine, stats in rows
                ],
                "seeds": len(seeds),
                "elapsed_s": elapsed,
            },
            indent=2,
        )
        + "\n"
    )
    _plot(examples, RESULTS / "sync_accuracy.png")


def _finite(values: dict[str, float]) -> dict[str, float | None]:
    """JSON has no infinity: a viewer that never converged is ``null``."""
    return {k: None if math.isinf(v) else v for k, v in values.items()}


def _plot(examples: dict[tuple[str, str], SimResult], path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(SCENARIOS), 1, figsize=(10, 2.6 * len(SCENARIOS)), sharex=True)
    for ax, scenario in zip(axes, SCENARIOS, strict=True):
        for engine, colour in (("baseline", "tab:red"), ("ours", "tab:blue")):
            result = examples[scenario.name, engine]
            points = [(t / 1000.0, o * 1000.0) for t, v, o, playing in result.samples if v == 1]
            ax.plot([p[0] for p in points], [p[1] for p in points], colour, lw=0.8, label=engine)
        ax.set_ylim(-150, 150)
        ax.set_ylabel("viewer 1 - host (ms)")
        ax.set_title(scenario.name, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize=8)
    axes[-1].set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
