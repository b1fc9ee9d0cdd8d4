"""Accuracy statistics of simulated runs: from the user's action, nothing excluded."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

import attrs

from .sim import SimResult

__all__ = [
    "Stats",
    "convergence_times",
    "join_times",
    "percentile",
    "steady_offsets",
    "summarize",
]

STEADY_AFTER_MS = 8_000.0
"""Offsets this long after a play or seek, until the next action, are the steady state."""


@attrs.frozen
class Stats:
    """One scenario and client over several seeds (offsets in ms, times in s)."""

    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    """Pooled |viewer - host| over every sample of every run."""
    p95_by_seed_ms: tuple[float, ...]
    """Each seed's own p95: the spread across seeds."""
    start_p50_ms: float
    start_p95_ms: float
    start_max_ms: float
    """|viewer - host| at each play, when the later of the two starts."""
    converge_median_s: float
    converge_p95_s: float
    converge_max_s: float
    """From each user action until every viewer is within ``converged_s`` (and stays so)."""
    never_converged: int
    """Actions after which some viewer never converged before the next action."""
    actions: int
    seeks_per_viewer: float
    """Seeks a viewer's player made per run (each is a visible hitch)."""
    asymmetry_p95_ms: float
    """p95 over viewers of the path asymmetry no ping/pong can measure (see
    :attr:`SimResult.asymmetry_ms`): a floor under any clock-based client's error."""
    seeds: int
    seek_converge_p95_s: float = math.nan
    """p95 of :attr:`converge_p95_s`'s times, over the seeks only (from each seek click)."""
    steady_p95_ms: float = math.nan
    """p95 of |viewer - host| from ``STEADY_AFTER_MS`` after each play or seek to the next
    action: what is left once starts and seeks are absorbed (compare ``asymmetry_p95_ms``)."""
    join_median_s: float = math.nan
    join_p95_s: float = math.nan
    join_max_s: float = math.nan
    join_never: int = 0
    """From a late viewer's join click until it is within ``converged_s`` of the host
    and stays so (``inf``: not before the host's next action); see :func:`join_times`."""


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of already sorted values, linearly interpolated."""
    if not sorted_values:
        return math.nan
    k = (len(sorted_values) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    if math.isinf(sorted_values[hi]):
        return sorted_values[hi] if k > lo or math.isinf(sorted_values[lo]) else sorted_values[lo]
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def convergence_times(result: SimResult) -> list[float]:
    """Seconds from each user action until every viewer is within ``converged_s`` of the
    host and stays so for ``hold_ms`` (or until the next action); ``inf`` if not before it."""
    scenario = result.scenario
    bound, hold = scenario.converged_s, scenario.hold_ms
    actions = [t for t, _ in result.user_actions]
    ends = [*actions[1:], math.inf]
    by_viewer: dict[int, list[tuple[float, float]]] = {}
    for t, viewer, offset in result.samples:
        by_viewer.setdefault(viewer, []).append((t, abs(offset)))
    times = []
    for start, end in zip(actions, ends, strict=True):
        worst = 0.0
        for series in by_viewer.values():
            window = [(t, o) for t, o in series if start <= t < end]
            worst = max(worst, _converged_after(window, start, bound, hold))
        times.append(worst)
    return times


def steady_offsets(result: SimResult) -> list[float]:
    """|viewer - host| (s) from ``STEADY_AFTER_MS`` after each play or seek to the next action."""
    windows = []
    actions = list(result.user_actions)
    for (t, action), end in zip(actions, [*(t for t, _ in actions[1:]), math.inf], strict=True):
        if action in ("play", "seek"):
            windows.append((t + STEADY_AFTER_MS, end))
    return [abs(o) for t, _, o in result.samples if any(a <= t < b for a, b in windows)]


def join_times(result: SimResult) -> list[float]:
    """Seconds from each late join click until that viewer is within ``converged_s`` of
    the host and stays so for ``hold_ms`` (or until the host's next action); ``inf`` if not."""
    scenario = result.scenario
    times = []
    for clicked, viewer in result.joins:
        end = min((t for t, _ in result.user_actions if t > clicked), default=math.inf)
        window = [(t, abs(o)) for t, v, o in result.samples if v == viewer and clicked <= t < end]
        times.append(_converged_after(window, clicked, scenario.converged_s, scenario.hold_ms))
    return times


def _converged_after(
    window: list[tuple[float, float]], start: float, bound: float, hold: float
) -> float:
    since: float | None = None
    for t, offset in window:
        if offset > bound:
            since = None
            continue
        if since is None:
            since = t
        if t - since >= hold:
            break
    if since is None or not window:
        return math.inf
    return (since - start) / 1000.0


def summarize(results: Sequence[SimResult]) -> Stats:
    """Pooled statistics of ``results`` (one scenario and client, several seeds)."""
    pooled: list[float] = []
    by_seed: list[float] = []
    starts: list[float] = []
    converge: list[float] = []
    seeks = 0
    viewers = 0
    asymmetry: list[float] = []
    joins: list[float] = []
    seek_converge: list[float] = []
    steady: list[float] = []
    for result in results:
        joins += join_times(result)
        times = convergence_times(result)
        seek_converge += [
            c for c, (_, a) in zip(times, result.user_actions, strict=True) if a == "seek"
        ]
        steady += (o * 1000.0 for o in steady_offsets(result))
        offsets = sorted(abs(o) * 1000.0 for _, _, o in result.samples)
        pooled += offsets
        by_seed.append(percentile(offsets, 0.95))
        starts += (e * 1000.0 for e in result.start_errors)
        converge += convergence_times(result)
        seeks += sum(result.seeks[1:])
        viewers += len(result.seeks) - 1
        asymmetry += result.asymmetry_ms
    pooled.sort()
    starts.sort()
    finite = sorted(c for c in converge if math.isfinite(c))
    return Stats(
        p50_ms=percentile(pooled, 0.50),
        p95_ms=percentile(pooled, 0.95),
        p99_ms=percentile(pooled, 0.99),
        max_ms=pooled[-1] if pooled else math.nan,
        p95_by_seed_ms=tuple(by_seed),
        start_p50_ms=percentile(starts, 0.50),
        start_p95_ms=percentile(starts, 0.95),
        start_max_ms=starts[-1] if starts else math.nan,
        converge_median_s=statistics.median(converge) if converge else math.nan,
        converge_p95_s=percentile(sorted(converge), 0.95),
        converge_max_s=max(converge) if converge else math.nan,
        never_converged=len(converge) - len(finite),
        actions=len(converge),
        seeks_per_viewer=seeks / viewers if viewers else math.nan,
        asymmetry_p95_ms=percentile(sorted(asymmetry), 0.95),
        seeds=len(results),
        seek_converge_p95_s=percentile(sorted(seek_converge), 0.95),
        steady_p95_ms=percentile(sorted(steady), 0.95),
        join_median_s=statistics.median(joins) if joins else math.nan,
        join_p95_s=percentile(sorted(joins), 0.95),
        join_max_s=max(joins) if joins else math.nan,
        join_never=sum(1 for j in joins if math.isinf(j)),
    )
