"""End-to-end load on the reference server over real loopback sockets.

Run from the repository root::

    python benchmarks/e2e_load.py [--rooms 100 --clients 10 --interval-ms 100 --duration 10]
    python benchmarks/e2e_load.py --ramp [--rooms 100 --clients 20]
    python benchmarks/e2e_load.py --idle 10000

The server is a separate process started as a user would start it
(``examples/reference_server.py --host 127.0.0.1``); its CPU and RSS are read
with psutil. The clients all live in this process: one asyncio protocol per
socket with wsproto for the WebSocket, and no per-client task. After setup
only one guest per room (``--probes``) parses and times every frame; the
others read and count bytes, which is enough to count their frames (see
:class:`BenchClient`) and keeps the load generator cheaper than the server.
The last joiner is the probe: it is last in the server's fan-out order.

Modes:

- load (default): R rooms of C clients; every host sends a ``seek`` each
  interval and the guests time its relay. The host puts
  ``time.monotonic_ns()`` in an extra payload key (``bench_sent_ns``), which
  the server relays unchanged; ``CLOCK_MONOTONIC`` is system-wide on Linux, so
  a guest's receive time minus that key is the fan-out latency.
- ramp: rooms of 20 (the largest the protocol allows), the seek rate per host
  raised by 2/s per step (at most 28/s: the protocol refuses more than 30
  messages/s per client) until p99 passes 100 ms.
- idle: N connections that only read their ``client_hello`` and ``room_list``;
  the server's RSS growth per connection.

Setup is timed on its own: each ``create_room`` / ``join_room`` changes the room
list, which every connected client gets (coalesced: at most one per 250 ms).
Results go to ``benchmarks/results/e2e_*.json`` and ``.png``; figures depend on
the machine and on what else runs on it, so the load average is recorded too.
``--profile`` samples the server with py-spy (``pip install py-spy``) during
each measured window and writes ``e2e_*_profile*.txt``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import pathlib
import resource
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)

ROOT = pathlib.Path(__file__).resolve().parent.parent
SERVER_SCRIPT = ROOT / "examples" / "reference_server.py"
RESULTS = ROOT / "benchmarks" / "results"
HOST = "127.0.0.1"

# The protocol allows 30 messages/s per client (burst 30); stay under it.
MAX_SEEK_RATE = 28.0
RAMP_LIMIT_MS = 100.0
_SENT_KEY = '"bench_sent_ns":'


# ----------------------------------------------------------------------
# The server process
# ----------------------------------------------------------------------


def _raise_nofile_limit() -> None:
    """Allow as many open files as the hard limit permits (idle mode needs ~N)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    """A TCP port on HOST that is free now (for a server child process to bind)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """``examples/reference_server.py`` in a child process, with psutil readings."""

    def __init__(self, log_path: pathlib.Path, backend: str) -> None:
        self.port = free_port()
        self.log_path = log_path
        command = [sys.executable, str(SERVER_SCRIPT), "--host", HOST, "--port", str(self.port)]
        command += ["--log-level", "WARNING", "--backend", backend]
        # Every client comes from this one address, thousands at once.
        command += ["--max-connections", "0", "--max-connections-per-ip", "0"]
        self._log = log_path.open("wb")
        self.popen = subprocess.Popen(
            command, stderr=self._log, stdout=self._log, preexec_fn=_raise_nofile_limit
        )
        self.process = psutil.Process(self.popen.pid)

    def wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.health()
                return
            except OSError:
                if self.popen.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start; see {self.log_path}") from None
                time.sleep(0.05)

    def health(self) -> dict[str, Any]:
        url = f"http://{HOST}:{self.port}/health"
        with urllib.request.urlopen(url, timeout=5) as response:
            body: dict[str, Any] = json.loads(response.read())
            return body

    def cpu_seconds(self) -> float:
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def rss(self) -> int:
        return int(self.process.memory_info().rss)

    def stop(self) -> None:
        self.popen.send_signal(2)  # SIGINT: a graceful shutdown, and cProfile's dump
        try:
            self.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        self._log.close()

    def start_profile(self, seconds: float, path: pathlib.Path) -> subprocess.Popen[bytes]:
        """Sample the server's stacks with py-spy for ``seconds`` into ``path`` (raw format)."""
        py_spy = shutil.which("py-spy") or str(pathlib.Path(sys.executable).parent / "py-spy")
        command = [py_spy, "record", "--pid", str(self.popen.pid), "--duration"]
        command += [str(max(1, round(seconds))), "--rate", "250", "--format", "raw"]
        command += ["--output", str(path)]
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def log_count(self, needle: str) -> int:
        return self.log_path.read_text(errors="replace").count(needle)


# ----------------------------------------------------------------------
# The clients
# ----------------------------------------------------------------------


@dataclass
class Tally:
    """What the guests saw; latencies are only kept while ``recording``."""

    recording: bool = False
    latencies_ns: list[int] = field(default_factory=list)
    received_ns: list[int] = field(default_factory=list)
    errors: int = 0
    closed: int = 0
    last_receive_ns: int = 0

    def reset(self) -> None:
        self.latencies_ns = []
        self.received_ns = []
        self.errors = 0


class BenchClient(asyncio.Protocol):
    """One WebSocket client: wsproto over an asyncio transport, no task of its own.

    Relayed seeks are timed straight from ``data_received``; other messages
    resolve the futures that :meth:`expect` handed out, by message type.

    With ``parse`` off the client only counts the bytes it reads (a sink).
    wsproto takes ~25 us per received frame on the benchmark machine, so a
    load generator that parsed every frame would need more CPU than the server
    it measures; a sink still reads everything, so the server does the same
    work. The server frames each broadcast once, so every guest of a room reads
    the same bytes, and a sink's frames are its bytes times its room's parsing
    guests' frames per byte.
    """

    def __init__(self, tally: Tally, netloc: str) -> None:
        self.tally = tally
        self.netloc = netloc
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._parts: list[str] = []
        self.client_id: str | None = None
        self.lost = False
        self.parse = True
        self.bytes_received = 0
        self.frames_received = 0
        # Registered before the upgrade: these two can arrive with the 101.
        self.hello = self.expect("client_hello")
        self.first_list = self.expect("room_list")

    def expect(self, message_type: str) -> asyncio.Future[dict[str, Any]]:
        """A future for the next message of ``message_type`` (register before sending)."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[message_type] = future
        return future

    def send_text(self, text: str) -> None:
        if self.transport is not None and self.ws.state is ConnectionState.OPEN:
            self.transport.write(self.ws.send(TextMessage(data=text)))

    def send_json(self, message: dict[str, Any]) -> None:
        self.send_text(json.dumps(message, separators=(",", ":")))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # asyncio.Protocol -------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.ws.send(Request(host=self.netloc, target="/ws")))

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        self.tally.last_receive_ns = now
        self.bytes_received += len(data)
        if not self.parse:
            return
        ws = self.ws
        ws.receive_data(data)
        for event in ws.events():
            if isinstance(event, TextMessage):
                self._parts.append(event.data)
                if event.message_finished:
                    text = "".join(self._parts)
                    self._parts.clear()
                    self._on_text(text, now)
            elif isinstance(event, AcceptConnection):
                self.opened.set_result(None)
            elif isinstance(event, Ping):
                self.send_raw(ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                if ws.state is not ConnectionState.CLOSED:
                    self.send_raw(ws.send(event.response()))
                self._fail(ConnectionError(f"closed by the server: {event.code} {event.reason}"))
                self.close()
            elif isinstance(event, RejectConnection):
                self._fail(ConnectionError(f"upgrade refused: HTTP {event.status_code}"))
                self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost:
            self.lost = True
            self.tally.closed += 1
        self._fail(ConnectionError(f"connection lost: {exc!r}"))

    # ------------------------------------------------------------------

    def send_raw(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _fail(self, exc: Exception) -> None:
        futures: list[asyncio.Future[Any]] = [self.opened, *self._waiting.values()]
        self._waiting.clear()
        for future in futures:
            if not future.done():
                future.set_exception(exc)
                # Nobody may be awaiting it (a lost idle client); do not warn about that.
                future.exception()

    def _on_text(self, text: str, now: int) -> None:
        tally = self.tally
        self.frames_received += 1
        # The core writes "type" first; slicing it out spares a json.loads of
        # every relayed seek and of every (large) room_list.
        if text.startswith('{"type":"'):
            message_type = text[9 : text.index('"', 9)]
        else:
            message_type = str(json.loads(text).get("type"))
        if message_type == "player_event":
            if tally.recording:
                start = text.find(_SENT_KEY)
                if start >= 0:
                    start += len(_SENT_KEY)
                    end = start
                    while text[end].isdigit():
                        end += 1
                    tally.latencies_ns.append(now - int(text[start:end]))
                    tally.received_ns.append(now)
            return
        if message_type == "error":
            tally.errors += 1
        future = self._waiting.pop(message_type, None)
        if future is not None and not future.done():
            future.set_result({} if message_type == "room_list" else json.loads(text))


async def open_client(port: int, tally: Tally, timeout: float = 30.0) -> BenchClient:
    """Connect, upgrade and read ``client_hello``; the client id is then known."""
    loop = asyncio.get_running_loop()
    netloc = f"{HOST}:{port}"
    _, client = await asyncio.wait_for(
        loop.create_connection(lambda: BenchClient(tally, netloc), HOST, port), timeout
    )
    hello = await asyncio.wait_for(client.hello, timeout)
    client.client_id = str(hello["client"])
    return client


@dataclass
class Room:
    room_id: str
    host: BenchClient
    guests: list[BenchClient]

    def counters(self) -> list[tuple[bool, int, int]]:
        """(parses, bytes, frames) received so far, for each guest."""
        return [(g.parse, g.bytes_received, g.frames_received) for g in self.guests]


def frames_between(
    before: Sequence[tuple[bool, int, int]], after: Sequence[tuple[bool, int, int]]
) -> float:
    """Frames one room's guests received between two :meth:`Room.counters` readings.

    Parsing guests count frames; a sink's are its bytes at the parsing guests'
    frames per byte (all guests of a room read the same frames).
    """
    parsed_bytes = parsed_frames = sink_bytes = 0
    for (parses, bytes0, frames0), (_, bytes1, frames1) in zip(before, after, strict=True):
        if parses:
            parsed_bytes += bytes1 - bytes0
            parsed_frames += frames1 - frames0
        else:
            sink_bytes += bytes1 - bytes0
    if parsed_bytes == 0:
        return 0.0
    return parsed_frames * (1 + sink_bytes / parsed_bytes)


async def build_room(port: int, tally: Tally, index: int, size: int, probes: int) -> Room:
    """Connect ``size`` clients; the first creates a room and the others join it.

    Then all but the last ``probes`` joiners become sinks (the host too: it
    only sends). The last joiner is the last in the server's fan-out order,
    so it sees the room's slowest relay.
    """
    clients = await asyncio.gather(*(open_client(port, tally) for _ in range(size)))
    host, guests = clients[0], list(clients[1:])
    created = host.expect("room_state")
    host.send_json({"type": "create_room", "payload": {"name": f"r{index}"}})
    room_id = str((await asyncio.wait_for(created, 30))["room"])
    # All joins at once: the server handles them in one pass and each
    # client's writer then sends the resulting room_lists in one write.
    joined = [guest.expect("room_state") for guest in guests]
    for guest in guests:
        guest.send_json({"type": "join_room", "room": room_id})
    states = await asyncio.wait_for(asyncio.gather(*joined), 30)
    # The member count each joiner saw is its place in the join order.
    order = sorted(range(len(guests)), key=lambda i: int(states[i]["payload"]["participant_count"]))
    guests = [guests[i] for i in order]
    host.parse = False
    for guest in guests[: max(0, len(guests) - probes)]:
        guest.parse = False
    return Room(room_id, host, guests)


async def build_rooms(port: int, tally: Tally, rooms: int, size: int, probes: int) -> list[Room]:
    """Build the rooms a few at a time (each client's queue holds 256 messages)."""
    gate = asyncio.Semaphore(8)

    async def one(index: int) -> Room:
        async with gate:
            return await build_room(port, tally, index, size, probes)

    return list(await asyncio.gather(*(one(i) for i in range(rooms))))


async def run_host(room: Room, interval_ns: int, phase_ns: int) -> None:
    """Send a seek every ``interval_ns`` on an absolute schedule, until cancelled."""
    due = time.monotonic_ns() + phase_ns
    position = 0
    while True:
        delay = due - time.monotonic_ns()
        if delay > 0:
            await asyncio.sleep(delay / 1e9)
        elif delay < -interval_ns:
            due = time.monotonic_ns()  # fell behind: skip rather than burst past the rate limit
        position = (position + 1) % 3600
        room.host.send_text(
            f'{{"type":"player_event","room":"{room.room_id}","payload":{{"action":"seek",'
            f'"position":{position},"bench_sent_ns":{time.monotonic_ns()}}}}}'
        )
        due += interval_ns


@contextlib.contextmanager
def hosts_sending(rooms: Sequence[Room], interval_ns: int) -> Iterator[None]:
    """Every host seeks every ``interval_ns``, phases spread evenly, inside the block."""
    tasks = [
        asyncio.ensure_future(run_host(room, interval_ns, interval_ns * i // len(rooms)))
        for i, room in enumerate(rooms)
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()


# ----------------------------------------------------------------------
# Measurements
# ----------------------------------------------------------------------


def percentile(sorted_values: Sequence[int], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (NaN when empty)."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values)) - 1))
    return float(sorted_values[rank])


@dataclass
class Window:
    """One measured interval of steady load."""

    seeks_per_s: float
    offered_frames_per_s: float
    frames_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    samples: int
    server_cpu: float
    loadgen_cpu: float
    server_rss_mib: float
    errors: int
    closed: int


async def measure(
    server: ServerProcess,
    tally: Tally,
    rooms: Sequence[Room],
    guests_per_room: int,
    interval_ms: float,
    duration: float,
    warmup: float = 1.0,
    profile: pathlib.Path | None = None,
) -> tuple[Window, list[int], list[tuple[float, float]]]:
    """Run the hosts for ``warmup + duration`` seconds; measure the last ``duration``.

    Returns the window, its sorted latencies and the worst latency per 100 ms
    of the window (a stall shows there as a sawtooth). With ``profile`` (a
    path stem) py-spy samples the server during the window.
    """
    interval_ns = round(interval_ms * 1e6)
    me = psutil.Process()
    with hosts_sending(rooms, interval_ns):
        await asyncio.sleep(warmup)
        tally.reset()
        closed_before = tally.closed
        server_cpu, my_cpu = server.cpu_seconds(), _cpu(me)
        counters = [room.counters() for room in rooms]
        start = time.monotonic()
        start_ns = time.monotonic_ns()
        tally.recording = True
        sampler = server.start_profile(duration, profile.with_suffix(".raw")) if profile else None
        await asyncio.sleep(duration)
        tally.recording = False
        wall = time.monotonic() - start
        server_cpu, my_cpu = server.cpu_seconds() - server_cpu, _cpu(me) - my_cpu
        frames = sum(
            frames_between(before, room.counters())
            for before, room in zip(counters, rooms, strict=True)
        )
    await quiesce(tally, 0.3)  # the last relays, before the next step
    if sampler is not None and profile is not None:
        await asyncio.to_thread(sampler.wait)
        summarize_profile(profile.with_suffix(".raw"), profile.with_suffix(".txt"))
    worst: dict[int, int] = {}
    for received, latency in zip(tally.received_ns, tally.latencies_ns, strict=True):
        bucket = (received - start_ns) // 100_000_000
        worst[bucket] = max(worst.get(bucket, 0), latency)
    timeline = [(bucket / 10, value / 1e6) for bucket, value in sorted(worst.items())]
    latencies = sorted(tally.latencies_ns)
    seeks = len(rooms) * 1000 / interval_ms
    window = Window(
        seeks_per_s=seeks,
        offered_frames_per_s=seeks * guests_per_room,
        frames_per_s=frames / wall,
        p50_ms=percentile(latencies, 0.50) / 1e6,
        p99_ms=percentile(latencies, 0.99) / 1e6,
        max_ms=(latencies[-1] / 1e6) if latencies else float("nan"),
        samples=len(latencies),
        server_cpu=server_cpu / wall,
        loadgen_cpu=my_cpu / wall,
        server_rss_mib=server.rss() / 2**20,
        errors=tally.errors,
        closed=tally.closed - closed_before,
    )
    return window, latencies, timeline


def summarize_profile(raw: pathlib.Path, out: pathlib.Path, top: int = 40) -> None:
    """Self and inclusive shares per function, from py-spy's raw (collapsed) stacks."""
    if not raw.exists():
        out.write_text("py-spy wrote nothing (is it installed, and may it ptrace?)\n")
        return
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        total += count
        frames = stack.split(";")
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count
    lines = [f"{total} samples of the server process"]
    for title, table in (("self", own), ("inclusive", inclusive)):
        lines += ["", f"--- {title}"]
        ranked = sorted(table.items(), key=lambda item: -item[1])[:top]
        lines += [f"{count / total:6.1%}  {frame}" for frame, count in ranked]
    out.write_text("\n".join(lines) + "\n")
    print(f"server profile: {out}")


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _environment(backend: str) -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "loadavg_before": list(os.getloadavg()),
        "python": sys.version.split()[0],
        "server_backend": backend,
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


async def quiesce(tally: Tally, quiet_s: float = 0.5, timeout: float = 60.0) -> None:
    """Wait until nothing has arrived for ``quiet_s`` (the server's queues are empty)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        idle_s = (time.monotonic_ns() - tally.last_receive_ns) / 1e9
        if idle_s >= quiet_s:
            return
        await asyncio.sleep(quiet_s - idle_s)


async def _setup(
    server: ServerProcess, tally: Tally, args: argparse.Namespace
) -> tuple[list[Room], dict[str, float]]:
    rooms, clients = args.rooms, args.clients
    server_cpu = server.cpu_seconds()
    start = time.monotonic_ns() / 1e9
    built = await build_rooms(server.port, tally, rooms, clients, args.probes)
    await quiesce(tally)
    elapsed = (tally.last_receive_ns / 1e9) - start  # until the last byte of setup arrived
    # The clients are long-lived: keep the collector from walking them all
    # again mid-measurement (a full collection here stalls for tens of ms).
    gc.collect()
    gc.freeze()
    setup = {
        "seconds": elapsed,
        "server_cpu_seconds": server.cpu_seconds() - server_cpu,
        "server_rss_mib": server.rss() / 2**20,
        "connections": rooms * clients,
    }
    print(
        f"setup: {rooms} rooms x {clients} clients in {elapsed:.1f} s "
        f"(server CPU {setup['server_cpu_seconds']:.1f} s, RSS {setup['server_rss_mib']:.0f} MiB)"
    )
    return built, setup


# ----------------------------------------------------------------------
# Modes
# ----------------------------------------------------------------------


async def run_load(args: argparse.Namespace, server: ServerProcess) -> dict[str, Any]:
    tally = Tally()
    rooms, setup = await _setup(server, tally, args)
    window, latencies, timeline = await measure(
        server,
        tally,
        rooms,
        args.clients - 1,
        args.interval_ms,
        args.duration,
        profile=args.profile_stem,
    )
    _print_windows([window])
    targets = {"p99_ms_below_20": window.p99_ms < 20.0}
    print(f"target p99 < 20 ms: {'met' if targets['p99_ms_below_20'] else 'MISSED'}")
    _close_all(rooms)
    return {
        "mode": "load",
        "rooms": args.rooms,
        "clients": args.clients,
        "interval_ms": args.interval_ms,
        "duration_s": args.duration,
        "setup": setup,
        "result": vars(window),
        "targets": targets,
        "latency_histogram_ms": _histogram(latencies),
        "worst_latency_per_100ms": timeline,
    }


def _close_all(rooms: Sequence[Room]) -> None:
    for room in rooms:
        for client in (room.host, *room.guests):
            client.close()


def ramp_rates(first: float, step: float, limit: float) -> list[float]:
    """Seek rates per host for the ramp: ``first, first + step, ...`` up to ``limit``."""
    rates: list[float] = []
    rate = first
    while rate <= limit + 1e-9:
        rates.append(rate)
        rate += step
    return rates


async def run_ramp(args: argparse.Namespace, server: ServerProcess) -> dict[str, Any]:
    tally = Tally()
    rooms, setup = await _setup(server, tally, args)
    windows: list[Window] = []
    for rate in ramp_rates(args.ramp_start, args.ramp_step, MAX_SEEK_RATE):
        stem = args.profile_stem
        window, _, _ = await measure(
            server,
            tally,
            rooms,
            args.clients - 1,
            1000 / rate,
            args.step_duration,
            profile=stem.with_name(f"{stem.name}_{rate:g}") if stem is not None else None,
        )
        windows.append(window)
        print(
            f"  {rate:5.1f} seeks/s/host: {window.frames_per_s:9.0f} frames/s  "
            f"p99 {window.p99_ms:8.1f} ms  server CPU {window.server_cpu:4.0%}"
        )
        if window.p99_ms > RAMP_LIMIT_MS or window.closed:
            break
    _print_windows(windows)
    within = [w for w in windows if w.p99_ms <= RAMP_LIMIT_MS and not w.closed]
    best = max((w.frames_per_s for w in within), default=0.0)
    crossed = next((w for w in windows if w.p99_ms > RAMP_LIMIT_MS), None)
    print(f"highest frames/s with p99 <= {RAMP_LIMIT_MS:.0f} ms: {best:.0f}")
    if crossed is None:
        print(f"p99 never passed {RAMP_LIMIT_MS:.0f} ms up to {MAX_SEEK_RATE:.0f} seeks/s per host")
    target = best >= 50_000
    print(f"target >= 50,000 frames/s at p99 <= 100 ms: {'met' if target else 'MISSED'}")
    _close_all(rooms)
    return {
        "mode": "ramp",
        "rooms": args.rooms,
        "clients": args.clients,
        "step_duration_s": args.step_duration,
        "setup": setup,
        "steps": [vars(w) for w in windows],
        "best_frames_per_s_within_limit": best,
        "crossed_at": vars(crossed) if crossed is not None else None,
        "targets": {"frames_per_s_at_least_50000": target},
    }


async def run_idle(args: argparse.Namespace, server: ServerProcess) -> dict[str, Any]:
    tally = Tally()
    base_rss = server.rss()
    clients: list[BenchClient] = []
    curve: list[tuple[int, float]] = [(0, base_rss / 2**20)]
    gate = asyncio.Semaphore(200)
    failures: list[str] = []

    async def one() -> None:
        async with gate:
            try:
                client = await open_client(server.port, tally)
                await asyncio.wait_for(client.first_list, 30)
                clients.append(client)
            except (OSError, asyncio.TimeoutError) as exc:
                failures.append(repr(exc))

    start = time.monotonic()
    batch = 1000
    for done in range(0, args.idle, batch):
        await asyncio.gather(*(one() for _ in range(min(batch, args.idle - done))))
        curve.append((len(clients), server.rss() / 2**20))
        if failures:
            break
    elapsed = time.monotonic() - start
    await asyncio.sleep(1.0)
    health = await asyncio.to_thread(server.health)
    rss = server.rss()
    held = int(health["clients"])
    per_connection = (rss - base_rss) / max(1, held) / 1024
    print(
        f"idle: {held} connections held by the server ({len(clients)} open here, "
        f"{len(failures)} failed) in {elapsed:.1f} s"
    )
    print(
        f"server RSS {base_rss / 2**20:.1f} -> {rss / 2**20:.1f} MiB: "
        f"{per_connection:.1f} KiB per connection"
    )
    if failures:
        print(f"first failure: {failures[0]}")
    targets = {
        "connections_at_least_10000": held >= 10_000,
        "kib_per_connection_at_most_10": per_connection <= 10.0,
    }
    for name, met in targets.items():
        print(f"target {name}: {'met' if met else 'MISSED'}")
    for client in clients:
        client.close()
    return {
        "mode": "idle",
        "requested": args.idle,
        "held": held,
        "failed": len(failures),
        "first_failure": failures[0] if failures else None,
        "seconds": elapsed,
        "server_rss_base_mib": base_rss / 2**20,
        "server_rss_mib": rss / 2**20,
        "kib_per_connection": per_connection,
        "rss_curve_mib": curve,
        "targets": targets,
    }


# ----------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------


def _print_windows(windows: Sequence[Window]) -> None:
    header = (
        f"{'seeks/s':>8} {'offered/s':>10} {'frames/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8} {'srv CPU':>8} {'gen CPU':>8} {'srv RSS':>9} {'errors':>6} {'lost':>5}"
    )
    print(header)
    print("-" * len(header))
    for w in windows:
        print(
            f"{w.seeks_per_s:8.0f} {w.offered_frames_per_s:10.0f} {w.frames_per_s:10.0f} "
            f"{w.p50_ms:8.2f} {w.p99_ms:8.2f} {w.max_ms:8.1f} {w.server_cpu:8.0%} "
            f"{w.loadgen_cpu:8.0%} {w.server_rss_mib:7.0f}Mi {w.errors:6d} {w.closed:5d}"
        )


def _histogram(latencies_ns: Sequence[int]) -> list[tuple[float, int]]:
    """Counts per 0.5 ms bucket (bucket start in ms), for the plot and the JSON."""
    counts: dict[float, int] = {}
    for value in latencies_ns:
        bucket = (value // 500_000) * 0.5
        counts[bucket] = counts.get(bucket, 0) + 1
    return sorted(counts.items())


def _plot(result: dict[str, Any], path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mode = result["mode"]
    fig, axes = plt.subplots(
        1, 2 if mode == "load" else 1, figsize=(13 if mode == "load" else 8, 4.5)
    )
    ax = axes[0] if mode == "load" else axes
    if mode == "load":
        timeline = result["worst_latency_per_100ms"]
        axes[1].plot([t for t, _ in timeline], [v for _, v in timeline], linewidth=0.8)
        axes[1].set_xlabel("time in the measured window (s)")
        axes[1].set_ylabel("worst latency per 100 ms (ms)")
        axes[1].grid(True, alpha=0.3)
        buckets = result["latency_histogram_ms"]
        ax.bar([b for b, _ in buckets], [c for _, c in buckets], width=0.5, align="edge")
        ax.set_yscale("log")
        ax.set_xlabel("fan-out latency, host send to guest receive (ms)")
        ax.set_ylabel("relayed seeks")
        r = result["result"]
        ax.set_title(
            f"{result['rooms']} rooms x {result['clients']} clients, "
            f"{r['frames_per_s']:.0f} frames/s: p50 {r['p50_ms']:.1f} ms, "
            f"p99 {r['p99_ms']:.1f} ms"
        )
        for value, label in ((r["p50_ms"], "p50"), (r["p99_ms"], "p99")):
            ax.axvline(value, color="black", linestyle="--", linewidth=0.8)
            ax.text(value, ax.get_ylim()[1], f" {label}", va="top")
    elif mode == "ramp":
        steps = result["steps"]
        frames = [s["frames_per_s"] for s in steps]
        ax.plot(frames, [s["p50_ms"] for s in steps], marker="o", label="p50")
        ax.plot(frames, [s["p99_ms"] for s in steps], marker="o", label="p99")
        ax.axhline(RAMP_LIMIT_MS, color="red", linestyle="--", linewidth=0.8, label="100 ms")
        ax.axvline(50_000, color="grey", linestyle=":", linewidth=0.8, label="50k frames/s")
        ax.set_yscale("log")
        ax.set_xlabel("outbound frames/s (received by the guests)")
        ax.set_ylabel("fan-out latency (ms)")
        ax.set_title(f"ramp: {result['rooms']} rooms x {result['clients']} clients")
        ax.legend()
    else:
        curve = result["rss_curve_mib"]
        ax.plot([c for c, _ in curve], [m for _, m in curve], marker="o")
        ax.set_xlabel("open idle connections")
        ax.set_ylabel("server RSS (MiB)")
        ax.set_title(f"idle connections: {result['kib_per_connection']:.1f} KiB each")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument(
        "--clients", type=int, default=None, help="per room, host included (10; ramp: 20)"
    )
    parser.add_argument("--interval-ms", type=float, default=100.0, help="seek interval per host")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument(
        "--ramp", action="store_true", help="raise the seek rate until p99 > 100 ms"
    )
    parser.add_argument("--ramp-start", type=float, default=2.0, help="first seeks/s per host")
    parser.add_argument("--ramp-step", type=float, default=2.0, help="seeks/s per host added")
    parser.add_argument("--step-duration", type=float, default=5.0, help="measured s per step")
    parser.add_argument(
        "--probes",
        type=int,
        default=1,
        help="guests per room that parse every frame and time it (default 1; the rest count "
        "bytes only); --probes 20 parses everything",
    )
    parser.add_argument("--idle", type=int, default=None, metavar="N", help="idle connections")
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--out", type=pathlib.Path, default=RESULTS)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample the server with py-spy during each measured window (pip install py-spy)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.clients is None:
        args.clients = 20 if args.ramp else 10
    if args.interval_ms < 1000 / MAX_SEEK_RATE:
        raise SystemExit(f"--interval-ms below {1000 / MAX_SEEK_RATE:.1f} hits the rate limit")
    _raise_nofile_limit()
    args.out.mkdir(parents=True, exist_ok=True)
    name = "idle" if args.idle is not None else "ramp" if args.ramp else "load"
    if args.backend != "asyncio":
        name += f"_{args.backend}"
    environment = _environment(args.backend)
    print(f"load average {environment['loadavg_before']}, {environment['cpus']} CPUs")
    args.profile_stem = args.out / f"e2e_{name}_profile" if args.profile else None
    server = ServerProcess(args.out / f"e2e_{name}_server.log", args.backend)
    mode: Callable[[argparse.Namespace, ServerProcess], Awaitable[dict[str, Any]]]
    mode = run_idle if args.idle is not None else run_ramp if args.ramp else run_load
    try:
        server.wait_ready()
        result = asyncio.run(mode(args, server))
    finally:
        server.stop()
    result["environment"] = environment | {"loadavg_after": list(os.getloadavg())}
    result["server_log"] = {"evictions": server.log_count("evicted")}
    if result["server_log"]["evictions"]:
        print(f"server evicted {result['server_log']['evictions']} slow client(s)")
    json_path = args.out / f"e2e_{name}.json"
    json_path.write_text(json.dumps(result, indent=2) + "\n")
    _plot(result, args.out / f"e2e_{name}.png")
    print(f"wrote {json_path} and {json_path.with_suffix('.png')}")


if __name__ == "__main__":
    main()
