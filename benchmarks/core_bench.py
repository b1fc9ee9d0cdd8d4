"""How fast the sans-IO core relays ``state_update`` to a 10-member room.

Run: ``python benchmarks/core_bench.py [--members N] [--messages N] [--repeat N]``

It measures, in one run:

- core: ``SessionServer.receive`` of a host ``state_update`` that passes every
  filter and is relayed to the other members (decode, validate, filter, update
  state, build the relay, encode once);
- floor: ``json.loads`` + ``json.dumps`` of the same text, the least any relay
  written in Python has to do;

and prints both per message and their ratio (target: core <= 1.5x floor).
The core uses orjson when it is installed (the ``speedups`` extra);
``--no-orjson`` measures it without. Core and floor runs alternate, so that
a busy machine slows both alike; the best run of each is compared.
Time is virtual for the core (the clock is an argument), so the state_update
filters are passed by advancing it 600 ms per message; only CPU time is timed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opensyncparty_core import SessionServer


def _room(members: int) -> tuple[SessionServer, str, str]:
    from opensyncparty_core import SessionServer, seeded_uuid4s

    server = SessionServer(id_source=seeded_uuid4s(0))
    host, _ = server.connect(0)
    server.receive(host, json.dumps({"type": "create_room", "payload": {"name": "bench"}}), 0)
    room = server.room_ids[0]
    for _ in range(members - 1):
        guest, _ = server.connect(0)
        server.receive(guest, json.dumps({"type": "join_room", "room": room}), 0)
    return server, host, room


def _messages(room: str, host: str, count: int) -> list[str]:
    # Positions advance 1 s per message so that no filter drops them.
    return [
        json.dumps(
            {
                "type": "state_update",
                "room": room,
                "client": host,
                "payload": {"position": 10.0 + i, "play_state": "paused"},
                "ts": 1_700_000_000_000 + i * 600,
            }
        )
        for i in range(count)
    ]


def bench_core(members: int, count: int) -> float:
    """Seconds per relayed state_update."""
    server, host, room = _room(members)
    texts = _messages(room, host, count)
    receive = server.receive
    start_clock = 10_000
    t0 = time.perf_counter()
    for i, text in enumerate(texts):
        out = receive(host, text, start_clock + i * 600)
    elapsed = time.perf_counter() - t0
    # The last message must have been relayed, or we timed the drop path.
    if len(out) != 1 or len(out[0].recipients) != members - 1:
        raise RuntimeError(f"the last state_update was not relayed: {out!r}")
    return elapsed / count


def bench_floor(members: int, count: int) -> float:
    """Seconds per json.loads + json.dumps of the same texts."""
    _, host, room = _room(members)
    texts = _messages(room, host, count)
    loads, dumps = json.loads, json.dumps
    t0 = time.perf_counter()
    for text in texts:
        dumps(loads(text))
    return (time.perf_counter() - t0) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-orjson", action="store_true", help="the core without orjson")
    args = parser.parse_args()
    if args.no_orjson:
        sys.modules["orjson"] = None  # type: ignore[assignment]
    from opensyncparty_core import _json

    core, floor = [], []
    for _ in range(args.repeat):
        core.append(bench_core(args.members, args.messages))
        floor.append(bench_floor(args.members, args.messages))
    # The minimum is the least disturbed run; the median shows the spread.
    core_us, floor_us = min(core) * 1e6, min(floor) * 1e6
    codec = "orjson" if _json.loads is not _json.std_loads else "json"
    print(
        f"state_update relay, {args.members}-member room, {args.messages} messages x "
        f"{args.repeat}, core on {codec}"
    )
    print(f"  core  : {core_us:6.2f} us/message (median {statistics.median(core) * 1e6:.2f})")
    print(f"  floor : {floor_us:6.2f} us/message (median {statistics.median(floor) * 1e6:.2f})")
    print(f"  ratio : {core_us / floor_us:.2f}x  (target <= 1.50x)")


if __name__ == "__main__":
    main()
