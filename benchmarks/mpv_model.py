"""The simulator's mpv player model, measured: one mpv driven by the adapter.

Run from the repository root (needs mpv and ffmpeg)::

    python -m benchmarks.mpv_model [--trials 30]

``benchmarks/mpv_pair.py`` checks the simulator against real mpv with a
:class:`~benchmarks.syncsim.PlayerModel` whose parameters come from here. One
headless mpv on the benchmark clip (25 fps), driven by
:class:`~opensyncparty_transports.mpv.MpvPlayer` exactly as
:class:`~opensyncparty_transports.mpv.Party` drives it, ``--trials`` times:

- **seek landing**: a :class:`~opensyncparty_core.Pause` to a random
  position (an exact seek, as every held start makes) until mpv has
  restarted there: the simulator's ``seek_latency_ms``;
- **start**: a :class:`~opensyncparty_core.Play` from where it landed, the
  media clock then read 0.6 s later against the line the play asked for:
  its error is the simulator's ``start_latency_ms`` (late is positive);
- **position noise**: the media clock read every 50 ms for 1 s while it
  plays, against the best line of slope 1: the residuals' standard
  deviation is the simulator's ``noise_s``.

The report rate is not measured: it is ``Party``'s ``observe_interval``
(0.1 s). Prints a table and writes ``benchmarks/results/mpv_model.json``
and ``.png`` (the three distributions).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import random
import statistics
import tempfile

import anyio

from benchmarks.mpv_media import make_clip
from benchmarks.syncsim import percentile
from opensyncparty_core import Pause, Play
from opensyncparty_transports.mpv import HEADLESS, MpvPlayer, monotonic_ms, open_mpv

RESULTS = pathlib.Path(__file__).parent / "results"
SETTLE_S = 0.6
NOISE_SAMPLES = 20
SAMPLE_S = 0.05


async def _trial(player: MpvPlayer, target: float) -> tuple[float, float, list[float]]:
    """One seek landing (ms), start error (ms, late positive) and noise residuals (ms)."""
    sent = monotonic_ms()
    await player.apply(Pause(target, sent))
    landing = monotonic_ms() - sent
    status = player.status(monotonic_ms())
    assert status is not None
    held = status.position
    at = monotonic_ms()
    await player.apply(Play(held, at))
    await anyio.sleep(SETTLE_S)
    samples = []
    for _ in range(NOISE_SAMPLES):
        now = monotonic_ms()
        position = player.position(now)
        assert position is not None
        samples.append((position - (held + (now - at) / 1000.0)) * 1000.0)
        await anyio.sleep(SAMPLE_S)
    late = -samples[0]
    mean = statistics.fmean(samples)
    return landing, late, [s - mean for s in samples]


async def measure(clip: pathlib.Path, trials: int) -> dict[str, list[float]]:
    rng = random.Random(15)
    landings: list[float] = []
    starts: list[float] = []
    residuals: list[float] = []
    async with open_mpv(clip, args=HEADLESS) as player:
        for _ in range(trials):
            landing, late, noise = await _trial(player, round(rng.uniform(5.0, 100.0), 3))
            landings.append(landing)
            starts.append(late)
            residuals += noise
    return {"seek_landing_ms": landings, "start_late_ms": starts, "noise_ms": residuals}


def _row(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    return (
        f"| {name} | {ordered[0]:.1f} | {percentile(ordered, 0.5):.1f} "
        f"| {percentile(ordered, 0.95):.1f} | {ordered[-1]:.1f} | {statistics.pstdev(values):.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(pathlib.Path(tmp) / "clip.mp4", seconds=150.0)
        measured = anyio.run(measure, clip, args.trials)
    print(f"one headless mpv, {args.trials} trials")
    print("| quantity | min | p50 | p95 | max | std |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, values in measured.items():
        print(_row(name, values))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "mpv_model.json").write_text(json.dumps(measured, indent=2) + "\n")
    _plot(measured, RESULTS / "mpv_model.png")


def _plot(measured: dict[str, list[float]], path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(measured), figsize=(10, 3))
    for ax, (name, values) in zip(axes, measured.items(), strict=True):
        ax.hist(values, bins=20)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("ms")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
