"""Real mpv players in sync: the offset between host and viewers, measured, beside the simulator's.

Run from the repository root (needs mpv and ffmpeg)::

    python -m benchmarks.mpv_pair [--viewers 3] [--runs 1] [--delay-ms 50] [--jitter-ms 10]

One machine, so one clock: a reference server, a host mpv and 1-3 viewer
mpv processes (headless), each driven by :class:`opensyncparty_transports.mpv.Party`.
Every viewer reaches the server through a TCP proxy that holds each chunk
for its one-way delay (``--delay-ms`` times ``1 ± asymmetry/2``, plus uniform
``±jitter``, in order). The host's user acts through a second IPC connection
to the host's mpv, as its keys would: play, seek, pause, seek, play over
about two minutes. Every 50 ms each player's media clock is read (the
frame-anchored estimate of ``MpvState``; the raw ``time-pos`` is kept too,
quantised to 40 ms frames).

Printed per run and pooled: p50/p95/max of |viewer - host| from the first
action on (nothing excluded), the start error at each play (median |offset|
0.2-0.7 s after the play's target) and the time from each seek (the user's
key press) until a viewer is within 40 ms and stays so for 2 s. The same
script then runs in the simulator (``benchmarks.syncsim``) with matching
link parameters and an mpv-like player model, over ``--seeds`` seeds, and
both are printed side by side. Writes ``benchmarks/results/mpv_pair.json``
and ``.png``.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import pathlib
import random
import statistics
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack
from typing import Any

import anyio
import anyio.abc
import attrs

from benchmarks.mpv_media import make_clip
from benchmarks.syncsim import LinkModel, PlayerModel, Scenario, ScriptStep, percentile, run
from opensyncparty_core import Config, Play, PlayerCommand, PlayerStatus, SyncClient
from opensyncparty_transports import WebSocketServer, connect
from opensyncparty_transports.mpv import (
    HEADLESS,
    MpvIpc,
    MpvPlayer,
    Party,
    PlayerReport,
    monotonic_ms,
    open_mpv,
)

RESULTS = pathlib.Path(__file__).parent / "results"

SCRIPT = (
    ScriptStep(3.0, "play"),
    ScriptStep(33.0, "seek", 90.0),
    ScriptStep(63.0, "pause"),
    ScriptStep(69.0, "seek", 30.0),
    ScriptStep(75.0, "play"),
)
SESSION_S = 115.0
SAMPLE_MS = 50.0
CONVERGED_S = 0.040
HOLD_MS = 2_000.0

# mpv as the adapter drives it, measured with it by ``benchmarks/mpv_model.py`` (mpv 0.35,
# --vo=null --ao=null, 25 fps, 30 trials, load average 0.9-1.3): an exact seek lands in
# 7-24 ms; a start from where it landed is 1.3-2.2 ms late (p95; max 4.2), which the
# client's learned lead mostly takes off; the frame-anchored clock scatters by 0.1 ms
# (std). No glitches; reports at the Party's 10 Hz. (The simulator's defaults model an
# HTML5 player: starts 40-160 ms late, 10 ms noise.)
MPV_MODEL = PlayerModel(
    start_latency_ms=(1.3, 2.2),
    seek_latency_ms=(7.0, 24.0),
    noise_s=0.0001,
    glitch_probability=0.0,
    report_interval_ms=100.0,
    rate_delay_ms=(0.0, 40.0),  # a new speed shows from the next frame
)


# --------------------------------------------------------------------------
# The delay proxy
# --------------------------------------------------------------------------


@attrs.frozen
class Link:
    """One viewer's path: one-way delay (ms), uniform jitter (± ms), asymmetry (0: equal)."""

    delay_ms: float
    jitter_ms: float
    asymmetry: float = 0.0

    @property
    def up_ms(self) -> float:
        return self.delay_ms * (1.0 + self.asymmetry / 2.0)

    @property
    def down_ms(self) -> float:
        return self.delay_ms * (1.0 - self.asymmetry / 2.0)


class DelayProxy:
    """A TCP proxy on 127.0.0.1 that delays each direction by ``link``, keeping byte order."""

    def __init__(self, target_port: int, link: Link, rng: random.Random) -> None:
        self.target_port = target_port
        self.link = link
        self.rng = rng
        self.port = 0

    async def serve(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        self.port = listener.extra(anyio.abc.SocketAttribute.local_port)
        task_status.started()
        await listener.serve(self._relay)

    async def _relay(self, client: anyio.abc.SocketStream) -> None:
        server = await anyio.connect_tcp("127.0.0.1", self.target_port)
        async with client, server, anyio.create_task_group() as tg:
            tg.start_soon(self._pipe, client, server, self.link.up_ms, tg.cancel_scope)
            tg.start_soon(self._pipe, server, client, self.link.down_ms, tg.cancel_scope)

    async def _pipe(
        self,
        source: anyio.abc.SocketStream,
        sink: anyio.abc.SocketStream,
        base_ms: float,
        scope: anyio.CancelScope,
    ) -> None:
        send, receive = anyio.create_memory_object_stream[tuple[float, bytes]](1000)

        async def deliver() -> None:
            async for due, data in receive:
                await anyio.sleep(max(0.0, due - monotonic_ms()) / 1000.0)
                await sink.send(data)

        last = 0.0
        async with anyio.create_task_group() as tg:
            tg.start_soon(deliver)
            try:
                while True:
                    data = await source.receive()
                    jitter = self.rng.uniform(-self.link.jitter_ms, self.link.jitter_ms)
                    last = max(last, monotonic_ms() + max(0.0, base_ms + jitter))  # TCP: in order
                    await send.send((last, data))
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                await send.aclose()
        scope.cancel()


# --------------------------------------------------------------------------
# One session with real players
# --------------------------------------------------------------------------


class RecordedPlayer:
    """A player that notes when it was told to play (the play's target instant)."""

    def __init__(self, player: MpvPlayer) -> None:
        self.player = player
        self.plays: list[float] = []

    def status(self, now: float) -> PlayerStatus | None:
        return self.player.status(now)

    async def apply(self, command: PlayerCommand) -> None:
        if isinstance(command, Play):
            self.plays.append(monotonic_ms())
        await self.player.apply(command)

    def reports(self) -> AsyncIterator[PlayerReport]:
        return self.player.reports()


@attrs.frozen
class Session:
    """What one run recorded (times in ms from the start of the script)."""

    samples: tuple[tuple[float, int, float, float], ...]
    """(t, viewer, media-clock offset s, raw time-pos offset s)."""
    actions: tuple[tuple[float, str], ...]
    starts: tuple[float, ...]
    """When the host's player was told to play (each play's target)."""


async def mpv_session(
    clip: pathlib.Path, links: Sequence[Link], seed: int, host_link: Link | None = None
) -> Session:
    rng = random.Random(seed)
    server = WebSocketServer(host="127.0.0.1", port=0)
    async with anyio.create_task_group() as tg, AsyncExitStack() as stack:
        await tg.start(server.serve)
        proxies = [DelayProxy(server.port, link, rng) for link in links]
        for proxy in proxies:
            await tg.start(proxy.serve)
        host_mpv = await stack.enter_async_context(open_mpv(clip, args=HEADLESS))
        viewer_mpvs = [
            await stack.enter_async_context(open_mpv(clip, args=HEADLESS)) for _ in links
        ]
        host_player = RecordedPlayer(host_mpv)
        host = Party(host_player)
        host_url = server.url
        if host_link is not None:
            host_proxy = DelayProxy(server.port, host_link, rng)
            await tg.start(host_proxy.serve)
            host_url = f"ws://127.0.0.1:{host_proxy.port}/ws"
        host_conn = await stack.enter_async_context(connect(host_url))
        tg.start_soon(functools.partial(host.run, host_conn, create="mpv_pair"))
        await host.joined.wait()
        room = host.room_id
        for proxy, mpv in zip(proxies, viewer_mpvs, strict=True):
            conn = await stack.enter_async_context(connect(f"ws://127.0.0.1:{proxy.port}/ws"))
            viewer = Party(mpv)
            tg.start_soon(functools.partial(viewer.run, conn, join=room))
            await viewer.joined.wait()
        remote = await MpvIpc.connect(host_mpv.ipc_path, monotonic_ms)
        tg.start_soon(remote.run, lambda message, at: None)
        await anyio.sleep(2.0)  # clock sync and ready

        t0 = monotonic_ms()
        samples: list[tuple[float, int, float, float]] = []
        actions: list[tuple[float, str]] = []

        async def sample() -> None:
            while True:
                now = monotonic_ms()
                hp, hr = host_mpv.position(now), host_mpv.state.time_pos
                for i, mpv in enumerate(viewer_mpvs, start=1):
                    vp, vr = mpv.position(now), mpv.state.time_pos
                    if None not in (hp, hr, vp, vr):
                        samples.append((now - t0, i, vp - hp, vr - hr))  # type: ignore[operator]
                await anyio.sleep(max(0.0, (now + SAMPLE_MS - monotonic_ms()) / 1000.0))

        tg.start_soon(sample)
        for step in SCRIPT:
            await anyio.sleep(max(0.0, t0 + step.t_s * 1000.0 - monotonic_ms()) / 1000.0)
            actions.append((monotonic_ms() - t0, step.action))
            if step.action == "seek":
                await remote.command("seek", step.position, "absolute")
            else:
                await remote.command("set_property", "pause", step.action == "pause")
        await anyio.sleep(max(0.0, t0 + SESSION_S * 1000.0 - monotonic_ms()) / 1000.0)
        await remote.aclose()
        tg.cancel_scope.cancel()
    starts = tuple(t - t0 for t in host_player.plays if t >= t0)
    return Session(tuple(samples), tuple(actions), starts)


# --------------------------------------------------------------------------
# The same session in the simulator
# --------------------------------------------------------------------------


def sim_session(links: Sequence[Link], seed: int) -> Session:
    link = links[0]
    scenario = Scenario(
        name="mpv_pair",
        viewers=len(links),
        link=LinkModel(
            rtt_ms=(2.0 * link.delay_ms, 2.0 * link.delay_ms),
            jitter=link.jitter_ms / link.delay_ms if link.delay_ms > 0 else 0.0,
            asymmetry=link.asymmetry / 2.0,  # the simulator's up share is (1 + a) of half
        ),
        player=MPV_MODEL,
        duration_s=SESSION_S + 5.0,
        script=tuple(attrs.evolve(s, t_s=s.t_s + 5.0) for s in SCRIPT),
    )
    result = run(scenario, SyncClient, seed=seed)
    t0 = 5_000.0
    samples = tuple((t - t0, v, o, o) for t, v, o in result.samples if t >= t0)
    actions = tuple((t - t0, action) for t, action in result.user_actions)
    # A play's target: the host's message reaches the server, which schedules it ahead.
    lead = Config().play_schedule_ms + link.delay_ms
    starts = tuple(t + lead for t, action in actions if action == "play")
    return Session(samples, actions, starts)


# --------------------------------------------------------------------------
# Figures (the same for both)
# --------------------------------------------------------------------------


@attrs.frozen
class Figures:
    p50_ms: float
    p95_ms: float
    max_ms: float
    start_ms: tuple[float, ...]
    """Worst viewer's start error at each play."""
    converge_s: tuple[float, ...]
    """Slowest viewer's convergence after each seek (inf: never)."""
    raw_p95_ms: float


def figures(sessions: Sequence[Session]) -> Figures:
    offsets: list[float] = []
    raw: list[float] = []
    starts: list[float] = []
    converge: list[float] = []
    for session in sessions:
        first = session.actions[0][0]
        offsets += [abs(o) * 1000.0 for t, _, o, _ in session.samples if t >= first]
        raw += [abs(r) * 1000.0 for t, _, _, r in session.samples if t >= first]
        viewers = sorted({v for _, v, _, _ in session.samples})
        plays = [t for t, a in session.actions if a == "play"]
        for play in plays:
            target = min((s for s in session.starts if s >= play), default=math.nan)
            errors = []
            for v in viewers:
                window = [
                    abs(o) * 1000.0
                    for t, w, o, _ in session.samples
                    if w == v and target + 200.0 <= t <= target + 700.0
                ]
                # A play that never started (no start seen, no samples after it) is a miss.
                errors.append(statistics.median(window) if window else math.inf)
            starts.append(max(errors))
        times = [t for t, _ in session.actions] + [math.inf]
        for k, (t, action) in enumerate(session.actions):
            if action == "seek":
                converge.append(max(_converged(session, v, t, times[k + 1]) for v in viewers))
    offsets.sort()
    raw.sort()
    return Figures(
        p50_ms=percentile(offsets, 0.50),
        p95_ms=percentile(offsets, 0.95),
        max_ms=offsets[-1],
        start_ms=tuple(starts),
        converge_s=tuple(converge),
        raw_p95_ms=percentile(raw, 0.95),
    )


def _converged(session: Session, viewer: int, since: float, until: float) -> float:
    """Seconds from ``since`` until ``viewer`` is within bounds for HOLD_MS (or until ``until``)."""
    within: float | None = None
    series = [(t, o) for t, v, o, _ in session.samples if v == viewer and since <= t < until]
    for t, offset in series:
        if abs(offset) <= CONVERGED_S:
            within = t if within is None else within
            if t - within >= HOLD_MS or t + SAMPLE_MS * 2 >= until:
                return (within - since) / 1000.0
        else:
            within = None
    return math.inf if within is None else (within - since) / 1000.0


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def _fmt(values: Sequence[float], digits: int = 0) -> str:
    """Each value for one run; the median and the worst for many."""

    def one(v: float) -> str:
        return "never" if math.isinf(v) else f"{v:.{digits}f}"

    if len(values) <= 3:
        return " / ".join(one(v) for v in values)
    return f"median {one(statistics.median(values))}, max {one(max(values))}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=3, choices=[1, 2, 3])
    parser.add_argument("--runs", type=int, default=1, help="real sessions (~2 min each)")
    parser.add_argument("--seeds", type=int, default=20, help="simulated sessions")
    parser.add_argument("--delay-ms", type=float, default=50.0, help="viewers' one-way delay")
    parser.add_argument("--jitter-ms", type=float, default=10.0, help="uniform ± jitter")
    parser.add_argument("--asymmetry", type=float, default=0.0, help="0: up = down")
    parser.add_argument(
        "--host-link",
        choices=["loopback", "same"],
        default="loopback",
        help="the host's path: direct (default) or through a proxy like the viewers' "
        "(as the simulator has it)",
    )
    args = parser.parse_args()
    links = [Link(args.delay_ms, args.jitter_ms, args.asymmetry)] * args.viewers
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(pathlib.Path(tmp) / "clip.mp4", seconds=150.0)
        real = []
        for r in range(args.runs):
            host_link = links[0] if args.host_link == "same" else None
            real.append(anyio.run(mpv_session, clip, links, r, host_link))
            print(f"run {r + 1}/{args.runs}: {_row('mpv', figures(real[-1:]))}", flush=True)
    simulated = [sim_session(links, seed) for seed in range(args.seeds)]
    rows = {"mpv": figures(real), "simulator": figures(simulated)}
    print()
    print(
        f"{args.viewers} viewer(s), one-way {args.delay_ms:g} ms ± {args.jitter_ms:g} ms, "
        f"asymmetry {args.asymmetry:g}, host link {args.host_link}; "
        f"{args.runs} real run(s), {args.seeds} simulated"
    )
    header = (
        "| engine | p50 ms | p95 ms | max ms | start error ms (per play) "
        "| converged in s (per seek) | raw time-pos p95 ms |"
    )
    print(header)
    print("|---|---:|---:|---:|---|---|---:|")
    for name, fig in rows.items():
        print(_row(name, fig))
    for name, sessions in (("mpv", real), ("simulator", simulated)):
        p95s = sorted(figures([session]).p95_ms for session in sessions)
        print(
            f"{name}: p95 per run min {p95s[0]:.1f}, median {statistics.median(p95s):.1f}, "
            f"max {p95s[-1]:.1f} ms over {len(p95s)} run(s)"
        )
    ratio = rows["simulator"].p95_ms / rows["mpv"].p95_ms
    print(f"simulator p95 / measured p95 = {ratio:.2f}")
    RESULTS.mkdir(exist_ok=True)
    report = {
        "params": vars(args),
        "script": [attrs.asdict(s) for s in SCRIPT],
        "figures": {name: _jsonable(attrs.asdict(fig)) for name, fig in rows.items()},
        "per_run": [_jsonable(attrs.asdict(figures([s]))) for s in real],
        "simulator_over_measured_p95": ratio,
    }
    (RESULTS / "mpv_pair.json").write_text(json.dumps(report, indent=2) + "\n")
    _plot(real[0], simulated[0], RESULTS / "mpv_pair.png")


def _row(name: str, fig: Figures) -> str:
    return (
        f"| {name} | {fig.p50_ms:.1f} | {fig.p95_ms:.1f} | {fig.max_ms:.0f} "
        f"| {_fmt(fig.start_ms)} | {_fmt(fig.converge_s, digits=2)} | {fig.raw_p95_ms:.1f} |"
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, float):
        return None if not math.isfinite(value) else value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def _plot(real: Session, simulated: Session, path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(10, 5.5), sharex=True)
    for ax, session, title in ((axes[0], real, "mpv"), (axes[1], simulated, "simulator")):
        for viewer in sorted({v for _, v, _, _ in session.samples}):
            points = [(t / 1000.0, o * 1000.0) for t, v, o, _ in session.samples if v == viewer]
            ax.plot(
                [p[0] for p in points], [p[1] for p in points], lw=0.8, label=f"viewer {viewer}"
            )
        for t, action in session.actions:
            ax.axvline(t / 1000.0, color="grey", lw=0.6, ls=":")
            ax.text(t / 1000.0, 95, action, fontsize=7, color="grey")
        ax.set_ylim(-100, 100)
        ax.set_ylabel("viewer - host (ms)")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=7)
    axes[-1].set_xlabel("time since the first action (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
