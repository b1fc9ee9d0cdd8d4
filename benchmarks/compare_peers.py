"""Our server against the plain Python peer, under an independent load generator.

Run from the repository root (node must be installed; ``ws`` is installed
into ``~/.cache/loadgen`` on first use, as ``../shared/bench/README.md`` shows)::

    python benchmarks/compare_peers.py                 # 100 rooms x 20, a seek every 40 ms
    python benchmarks/compare_peers.py --rooms 100 --clients 10 --interval 100
    python benchmarks/compare_peers.py --ramp          # rooms added until p99 passes 20 ms
    python benchmarks/compare_peers.py --servers asyncio,trio --profile

One after the other, in the same run, each server is started as a process
on 127.0.0.1 and loaded by ``../shared/bench/loadgen.mjs`` (Node's ``ws``, not
our code): R rooms of C clients are seated (``setup_s``: 2,000 clients for
100 x 20), then every host seeks every INTERVAL ms and the guests time the
relay. Servers: ``asyncio``, ``uvloop`` and ``trio`` are
``examples/reference_server.py`` on that event loop; ``peer`` is
``../shared/bench/peer_websockets_server.py`` (``websockets``, encode once,
``websockets.broadcast``). The server's RSS is its peak during the run, its
CPU the share of one core over the run (``gen CPU``: the load generator's; near
100 % it measures itself more than the server); ``wCPU`` and ``us/frm`` are
the server's CPU in loadgen's measured window alone (seating left out), as a
share of a core and in microseconds per frame the guests received: the cost
of a relayed frame, which the machine's load moves far less than latency.

Ramp mode keeps C and INTERVAL and raises the number of rooms until p99
passes 20 ms (or frames are lost, or seating fails); the knee is the
highest relayed frames/s with p99 within 20 ms. The load generator shares
the machine's cores with the server: its own ceiling is a ceiling here too.

Prints one table; writes ``benchmarks/results/compare_<mode>.json`` and
``.png`` (p99 against relayed frames/s, one line per server), and with
``--profile`` a py-spy profile of each of our servers. The load average is
recorded before and after each run: compare ratios within one run only.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from typing import Any

import psutil

if __package__ in (None, ""):
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from benchmarks.e2e_load import free_port, summarize_profile

ROOT = pathlib.Path(__file__).resolve().parent.parent
KIT = (ROOT / ".." / "shared" / "bench").resolve()
RESULTS = ROOT / "benchmarks" / "results"
NODE_PREFIX = pathlib.Path.home() / ".cache" / "loadgen"
HOST = "127.0.0.1"
SERVERS = ("asyncio", "uvloop", "trio", "peer")
P99_LIMIT_MS = 20.0
RAMP_ROOMS = (5, 10, 25, 50, 65, 80, 100, 150, 200, 300, 400)


def server_command(name: str, port: int) -> list[str]:
    if name == "peer":
        return [
            sys.executable,
            str(KIT / "peer_websockets_server.py"),
            "--host",
            HOST,
            "--port",
            str(port),
        ]
    script = ROOT / "examples" / "reference_server.py"
    return [
        sys.executable,
        str(script),
        "--host",
        HOST,
        "--port",
        str(port),
        "--backend",
        name,
        "--log-level",
        "WARNING",
        # Every loadgen client comes from 127.0.0.1: lift the connection
        # caps (defaults 1,000 and 100 per address) as the peer has none.
        "--max-connections",
        "0",
        "--max-connections-per-ip",
        "0",
    ]


def node_path() -> pathlib.Path:
    """Where ``ws`` is installed; installs it there if it is not yet."""
    modules = NODE_PREFIX / "node_modules"
    if not (modules / "ws").is_dir():
        print(f"installing ws@8 into {NODE_PREFIX} (npm)")
        subprocess.run(
            ["npm", "install", "--silent", "--prefix", str(NODE_PREFIX), "ws@8"], check=True
        )
    return modules


class Server:
    """One server process, with its peak RSS sampled in a thread."""

    def __init__(self, name: str, log_dir: pathlib.Path) -> None:
        self.name = name
        self.port = free_port()
        self._log = (log_dir / f"compare_{name}_server.log").open("wb")
        self.popen = subprocess.Popen(
            server_command(name, self.port), stdout=self._log, stderr=self._log
        )
        self.process = psutil.Process(self.popen.pid)
        self.peak_rss = 0
        # (monotonic s, CPU s) every 0.1 s: the CPU of the measured window alone.
        self.cpu_samples: list[tuple[float, float]] = []
        self._sampling = threading.Event()

    def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection((HOST, self.port), timeout=1).close()
                return
            except OSError:
                if self.popen.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} did not start; see {self._log.name}") from None
                time.sleep(0.05)

    def cpu_seconds(self) -> float:
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def _sample(self) -> None:
        while not self._sampling.wait(0.1):
            try:
                self.peak_rss = max(self.peak_rss, int(self.process.memory_info().rss))
                self.cpu_samples.append((time.monotonic(), self.cpu_seconds()))
            except psutil.Error:
                return

    def cpu_between(self, start: float, end: float) -> float | None:
        """CPU seconds the server used from ``start`` to ``end`` (monotonic), from the samples."""
        inside = [cpu for t, cpu in self.cpu_samples if start <= t <= end]
        return inside[-1] - inside[0] if len(inside) >= 2 else None

    def __enter__(self) -> Server:
        self.wait_ready()
        threading.Thread(target=self._sample, daemon=True).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._sampling.set()
        self.popen.send_signal(2)
        try:
            self.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        self._log.close()


def run_loadgen(
    modules: pathlib.Path, port: int, rooms: int, args: argparse.Namespace
) -> dict[str, Any]:
    clients, interval, duration = args.clients, args.interval, args.duration
    command = ["node", str(KIT / "loadgen.mjs"), "--url", f"ws://{HOST}:{port}/ws"]
    command += ["--rooms", str(rooms), "--clients", str(clients), "--interval", str(interval)]
    command += ["--duration", str(duration), "--setup-timeout", str(args.setup_timeout)]
    env = os.environ | {"NODE_PATH": str(modules)}
    # The load generator's CPU: children are counted once they have been waited for.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    # stderr to a file: only stdout is read as it comes, so neither pipe can fill.
    with tempfile.TemporaryFile("w+") as errors:
        gen = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=errors, text=True)
        timer = threading.Timer(duration + args.setup_timeout + 60, gen.kill)
        timer.start()
        line, printed_at = "", 0.0
        for out in gen.stdout or ():
            if out.startswith("{"):
                line, printed_at = out, time.monotonic()
        gen.wait()
        timer.cancel()
        errors.seek(0)
        stderr = errors.read()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    gen_cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / (
        time.monotonic() - started
    )
    if not line:
        return {"error": f"loadgen exited {gen.returncode}: {stderr.strip()[-300:]}"}
    result: dict[str, Any] = json.loads(line)
    result["loadgen_cpu"] = round(gen_cpu, 3)
    # loadgen prints 1 s after its measured window ends (it lets frames land).
    result["window"] = (printed_at - 1.0 - duration, printed_at - 1.0)
    return result


def measure(
    name: str,
    args: argparse.Namespace,
    rooms: int,
    modules: pathlib.Path,
    profile: pathlib.Path | None = None,
) -> dict[str, Any]:
    """One load run of ``name``: loadgen's figures plus the server's CPU, RSS and the load."""
    load_before = os.getloadavg()[0]
    with Server(name, args.out) as server:
        cpu0, t0 = server.cpu_seconds(), time.monotonic()
        spy = None
        if profile is not None:
            py_spy = shutil.which("py-spy") or str(pathlib.Path(sys.executable).parent / "py-spy")
            seconds = str(round(args.duration + 60))
            raw = str(profile.with_suffix(".raw"))
            command = [py_spy, "record", "--pid", str(server.popen.pid), "--duration", seconds]
            command += ["--rate", "200", "--format", "raw", "--output", raw]
            spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        result = run_loadgen(modules, server.port, rooms, args)
        cpu = (server.cpu_seconds() - cpu0) / (time.monotonic() - t0)
        if spy is not None and profile is not None:
            spy.send_signal(2)
            spy.wait(timeout=30)
            summarize_profile(profile.with_suffix(".raw"), profile)
        result |= {"server_cpu": round(cpu, 3), "rss_mib": round(server.peak_rss / 2**20, 1)}
        window = result.pop("window", None)
        busy = server.cpu_between(*window) if window else None
        if busy is not None and result.get("frames_per_s"):
            # Server CPU per frame a guest received, in the measured window only
            # (seating excluded): the cost of a relayed frame, load aside.
            frames = result["frames_per_s"] * (window[1] - window[0])
            result["server_us_per_frame"] = round(busy / frames * 1e6, 2)
            result["window_cpu"] = round(busy / (window[1] - window[0]), 3)
    result |= {
        "server": name,
        "rooms": rooms,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }
    return result


def passed(result: dict[str, Any]) -> bool:
    p99 = result.get("p99_ms")
    loss = result.get("loss")
    return "error" not in result and p99 is not None and p99 <= P99_LIMIT_MS and (loss or 0) <= 0.01


def ramp(name: str, args: argparse.Namespace, modules: pathlib.Path) -> dict[str, Any]:
    steps = []
    for rooms in args.ramp_rooms:
        step = measure(name, args, rooms, modules)
        steps.append(step)
        print(row(step), flush=True)
        if not passed(step):
            break
    within = [s["frames_per_s"] for s in steps if passed(s)]
    return {"server": name, "steps": steps, "knee_frames_per_s": max(within, default=0)}


COLUMNS = (
    ("server", "{:>8}", "server"),
    ("rooms", "{:>5}", "rooms"),
    ("setup_s", "{:>7}", "setup_s"),
    ("p50_ms", "{:>7}", "p50 ms"),
    ("p99_ms", "{:>7}", "p99 ms"),
    ("max_ms", "{:>7}", "max ms"),
    ("frames_per_s", "{:>8}", "frames/s"),
    ("loss", "{:>6}", "loss"),
    ("errors", "{:>6}", "errors"),
    ("server_cpu", "{:>5}", "CPU"),
    ("window_cpu", "{:>6}", "wCPU"),
    ("server_us_per_frame", "{:>7}", "us/frm"),
    ("loadgen_cpu", "{:>7}", "gen CPU"),
    ("rss_mib", "{:>7}", "RSS MiB"),
    ("load_before", "{:>5}", "load"),
)


def header() -> str:
    return " ".join(fmt.format(title) for _, fmt, title in COLUMNS)


def row(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"{result['server']:>8} {result['rooms']:>5} error: {result['error']}"
    cells = []
    for key, fmt, _ in COLUMNS:
        value = result.get(key)
        if isinstance(value, float) and key.endswith("_cpu"):
            value = f"{value:.0%}"
        elif isinstance(value, float):
            value = f"{value:.2f}"
        cells.append(fmt.format("-" if value is None else value))
    return " ".join(cells)


def ratios(results: Sequence[dict[str, Any]]) -> list[str]:
    """Each of ours against the peer, for the issue's targets."""
    peer = next((r for r in results if r["server"] == "peer" and "error" not in r), None)
    if peer is None:
        return []
    lines = []
    for r in results:
        if r["server"] == "peer" or "error" in r:
            continue
        parts = [f"{r['server']:>8} vs peer:"]
        for key in ("setup_s", "p99_ms", "server_us_per_frame"):
            if r.get(key) is not None and peer.get(key):
                parts.append(f"{key} {r[key] / peer[key]:.2f}x")
        lines.append(" ".join(parts))
    return lines


def plot(runs: list[dict[str, Any]], path: pathlib.Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for run in runs:
        steps = [s for s in run["steps"] if "error" not in s and s.get("p99_ms") is not None]
        ax.plot(
            [s["frames_per_s"] for s in steps],
            [s["p99_ms"] for s in steps],
            marker="o",
            label=run["server"],
        )
    ax.axhline(P99_LIMIT_MS, color="red", linestyle="--", linewidth=0.8, label="20 ms")
    ax.set_yscale("log")
    ax.set_xlabel("relayed frames/s (received by the guests)")
    ax.set_ylabel("p99 fan-out latency (ms)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--servers", default=",".join(SERVERS), help="comma-separated, run in this order"
    )
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--clients", type=int, default=20, help="per room, host included")
    parser.add_argument("--interval", type=float, default=40.0, help="ms between a host's seeks")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument(
        "--setup-timeout", type=float, default=300.0, help="seconds allowed to seat everyone"
    )
    parser.add_argument("--ramp", action="store_true", help="add rooms until p99 passes 20 ms")
    parser.add_argument(
        "--ramp-rooms",
        type=lambda text: [int(n) for n in text.split(",")],
        default=list(RAMP_ROOMS),
        help="room counts of the ramp's steps (default %(default)s)",
    )
    parser.add_argument("--profile", action="store_true", help="py-spy profile of our servers")
    parser.add_argument("--out", type=pathlib.Path, default=RESULTS)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    names = [n for n in args.servers.split(",") if n]
    unknown = set(names) - set(SERVERS)
    if unknown:
        raise SystemExit(f"unknown server(s) {sorted(unknown)}; choose from {SERVERS}")
    args.out.mkdir(parents=True, exist_ok=True)
    modules = node_path()
    mode = "ramp" if args.ramp else "load"
    print(
        f"{mode}: {args.clients} clients per room, a seek every {args.interval:g} ms, "
        f"{args.duration:g} s measured; {os.cpu_count()} CPUs, load {os.getloadavg()}"
    )
    print(header(), flush=True)
    runs: list[dict[str, Any]] = []
    for name in names:
        if args.ramp:
            runs.append(ramp(name, args, modules))
            continue
        profile = (
            args.out / f"compare_{name}_profile.txt" if args.profile and name != "peer" else None
        )
        result = measure(name, args, args.rooms, modules, profile)
        print(row(result), flush=True)
        runs.append({"server": name, "steps": [result]})
    flat = [s for run in runs for s in run["steps"]]
    print()
    if args.ramp:
        for run in runs:
            knee = run["knee_frames_per_s"]
            print(f"knee (p99 <= {P99_LIMIT_MS:g} ms) {run['server']:>8}: {knee} frames/s")
    else:
        print("\n".join(ratios(flat)))
    report = {
        "mode": mode,
        "clients": args.clients,
        "interval_ms": args.interval,
        "duration_s": args.duration,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runs": runs,
    }
    path = args.out / f"compare_{mode}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    title = f"{mode}: rooms x {args.clients} clients, a seek every {args.interval:g} ms"
    plot(runs, path.with_suffix(".png"), title)
    print(f"wrote {path} and {path.with_suffix('.png')}")


if __name__ == "__main__":
    main()
