"""The JSON examples of docs/protocol.rst are real traffic of the core.

A scripted session (fixed ids, fixed clock) runs through every message of the
protocol. Every ``.. code-block:: json`` in the page must be either a message
a client sends in that session (and decode as one) or a message the server
sends in it, so an example cannot drift from what the code does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from opensyncparty_core import Config, SessionServer, decode_client_message, decode_server_message

PROTOCOL_RST = Path(__file__).parents[2] / "docs" / "protocol.rst"

# Readable, well-formed UUID4 strings, handed out in this order.
ALICE = "11111111-1111-4111-8111-111111111111"
BOB = "22222222-2222-4222-8222-222222222222"
ROOM = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
CAROL = "33333333-3333-4333-8333-333333333333"
T0 = 1_700_000_000_000

Wire = dict[str, Any]


class Session:
    """Drives a :class:`SessionServer` and records both directions of traffic."""

    def __init__(self) -> None:
        ids = iter([ALICE, BOB, ROOM, CAROL])
        self.server = SessionServer(id_source=lambda: next(ids))
        self.now = T0
        self.sent: list[Wire] = []
        self.received: list[tuple[str, Wire]] = []

    def _record(self, outgoing: list[Any]) -> None:
        for out in outgoing:
            for recipient in out.recipients:
                self.received.append((recipient, json.loads(out.text)))

    def connect(self) -> str:
        client_id, out = self.server.connect(self.now)
        self._record(out)
        return client_id

    def send(self, client_id: str, message: Wire | str) -> None:
        text = message if isinstance(message, str) else json.dumps(message)
        if isinstance(message, dict):
            self.sent.append(message)
        self._record(self.server.receive(client_id, text, self.now))

    def advance(self, ms: int) -> None:
        self.now += ms
        deadline = self.server.next_deadline()
        if deadline is not None and deadline <= self.now:
            self._record(self.server.handle_timer(self.now))


def run_session() -> Session:
    s = Session()
    alice = s.connect()
    s.advance(100)
    bob = s.connect()
    s.advance(100)
    s.send(alice, {"type": "list_rooms", "ts": s.now - 20})
    s.advance(100)
    s.send(
        alice,
        {
            "type": "create_room",
            "payload": {"name": "Friday film", "start_pos": 0, "media_id": "8f2e9c4b"},
            "ts": s.now - 20,
        },
    )
    s.advance(100)
    s.send(bob, {"type": "join_room", "room": ROOM, "ts": s.now - 20})
    s.advance(100)
    # Bob has not loaded the media yet: the play waits for him.
    s.send(
        alice,
        {
            "type": "player_event",
            "room": ROOM,
            "payload": {"action": "play", "position": 0},
            "ts": s.now - 20,
        },
    )
    s.advance(400)
    s.send(
        bob,
        {"type": "ready", "room": ROOM, "payload": {"media_id": "8f2e9c4b"}, "ts": s.now - 20},
    )
    s.advance(1000)
    # Within the command cooldown: dropped, nothing is sent.
    s.send(
        alice,
        {
            "type": "state_update",
            "room": ROOM,
            "payload": {"position": 0.1, "play_state": "playing"},
            "ts": s.now - 20,
        },
    )
    s.advance(40_000)
    s.send(
        alice,
        {
            "type": "state_update",
            "room": ROOM,
            "payload": {"position": 38.5, "play_state": "playing"},
            "ts": s.now - 20,
        },
    )
    s.advance(5_000)
    s.send(
        alice,
        {
            "type": "player_event",
            "room": ROOM,
            "payload": {"action": "pause", "position": 43.6},
            "ts": s.now - 20,
        },
    )
    s.advance(5_000)
    s.send(
        alice,
        {
            "type": "player_event",
            "room": ROOM,
            "payload": {"action": "seek", "position": 600, "play_state": "paused"},
            "ts": s.now - 20,
        },
    )
    s.advance(1_000)
    s.send(bob, {"type": "ping", "payload": {"client_ts": s.now - 20}, "ts": s.now - 20})
    s.advance(1_000)
    # Refused input: each gets an error and changes nothing.
    s.send(
        bob,
        {
            "type": "player_event",
            "room": ROOM,
            "payload": {"action": "play", "position": 600},
            "ts": s.now - 20,
        },
    )
    s.send(bob, "play!")
    s.send(bob, {"type": "dance", "ts": s.now - 20})
    s.send(
        bob,
        {
            "type": "state_update",
            "room": ROOM,
            "payload": {"position": "600", "play_state": "playing"},
            "ts": s.now - 20,
        },
    )
    s.send(bob, {"type": "join_room", "room": "no-such-room", "ts": s.now - 20})
    s._record(s.server.receive_binary(bob, s.now))
    s.advance(1_000)
    carol = s.connect()
    s.advance(100)
    s.send(carol, {"type": "join_room", "room": ROOM, "ts": s.now - 20})
    s.advance(100)
    # Carol never reports ready: the play is forced at its deadline.
    s.send(
        alice,
        {
            "type": "player_event",
            "room": ROOM,
            "payload": {"action": "play", "position": 600},
            "ts": s.now - 20,
        },
    )
    s.advance(2_000)
    s.advance(10_000)
    s.send(bob, {"type": "leave_room", "room": ROOM, "ts": s.now - 20})
    s.advance(1_000)
    s._record(s.server.disconnect(alice, s.now))
    for _ in range(31):  # a flood: the 31st message in one instant is over the limit
        s.send(carol, {"type": "list_rooms"})
    return s


def json_blocks(text: str) -> Iterator[tuple[int, str]]:
    """Yield (line number, body) of every ``.. code-block:: json`` in reStructuredText."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not re.fullmatch(r"\s*\.\. code-block:: json\s*", line):
            continue
        indent = len(line) - len(line.lstrip()) + 3
        body: list[str] = []
        j = i + 1
        while j < len(lines) and lines[j].lstrip().startswith(":"):
            j += 1  # directive options
        while j < len(lines) and (not lines[j].strip() or lines[j].startswith(" " * indent)):
            body.append(lines[j][indent:])
            j += 1
        yield i + 1, "\n".join(body).strip()


@pytest.fixture(scope="module")
def session() -> Session:
    return run_session()


def test_protocol_page_has_examples() -> None:
    assert len(list(json_blocks(PROTOCOL_RST.read_text()))) >= 20


def test_every_protocol_example_is_real_traffic(session: Session) -> None:
    received = [message for _, message in session.received]
    problems = []
    for line, body in json_blocks(PROTOCOL_RST.read_text()):
        example = json.loads(body)
        if "server_ts" in example:  # only the server sets server_ts
            decode_server_message(json.dumps(example))
            if example not in received:
                problems.append(f"line {line}: the server never sends {body}")
        else:
            decode_client_message(json.dumps(example))
            if example not in session.sent:
                problems.append(f"line {line}: the session never sends {body}")
    assert not problems, "\n".join(problems)


def table_rows(text: str, heading: str) -> list[list[str]]:
    """The body rows of the first simple table after ``heading``, split on column gaps."""
    lines = text[text.index("\n" + heading + "\n") :].splitlines()
    borders = [i for i, line in enumerate(lines) if re.fullmatch(r"=+( +=+)+", line)]
    top, _, bottom = borders[:3]
    starts = [m.start() for m in re.finditer(r"=+", lines[top])]
    rows = []
    for line in lines[top + 3 : bottom]:
        if line.strip():
            cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
            rows.append(cells)
    return rows


# One input per row of the error table, with the message the core answers.
ERROR_INPUTS: list[tuple[Wire | str, str]] = [
    ("[1, 2]", "Invalid message format"),
    (
        '{"type": "create_room", "payload": {"start_pos": 1e400}}',
        "Field 'payload.start_pos' must be a finite number",
    ),
    (
        '{"type": "ping", "payload": ' + "[" * 40 + "]" * 40 + "}",
        "Message nested deeper than 32 levels",
    ),
    ({"type": "dance"}, "Unknown message type 'dance'"),
    (
        {"type": "auth", "payload": {"protocol_version": 2}},
        "Unsupported protocol version 2 (this server speaks 1)",
    ),
    ({"type": "list_rooms", "ts": 1.5}, "Field 'ts' must be an integer"),
    ({"type": "join_room"}, "Field 'room' is required for join_room"),
    ({"type": "join_room", "room": 7}, "Field 'room' must be a string"),
    ({"type": "join_room", "room": "r" * 65}, "Field 'room' is longer than 64 characters"),
    (
        {"type": "create_room", "payload": {"media_id": "m" * 129}},
        "Field 'payload.media_id' is longer than 128 characters",
    ),
    ({"type": "state_update", "room": ROOM}, "Field 'payload' is required for state_update"),
    ({"type": "create_room", "payload": [1]}, "Field 'payload' must be an object"),
    ({"type": "create_room", "payload": {"name": 7}}, "Field 'payload.name' must be a string"),
    (
        {"type": "player_event", "room": ROOM, "payload": {"action": "seek"}},
        "Field 'payload.position' is required",
    ),
    (
        {"type": "player_event", "room": ROOM, "payload": {"action": "seek", "position": True}},
        "Field 'payload.position' must be a finite number",
    ),
    (
        {"type": "player_event", "room": ROOM, "payload": {"action": "seek", "position": -1}},
        "Field 'payload.position' must be between 0 and 604800 seconds",
    ),
    (
        {"type": "player_event", "room": ROOM, "payload": {"action": 3}},
        "Field 'payload.action' must be a string",
    ),
    (
        {"type": "player_event", "room": ROOM, "payload": {"action": "stop"}},
        "Unknown player action 'stop' (expected play, pause or seek)",
    ),
    (
        {"type": "state_update", "room": ROOM, "payload": {"position": 1, "play_state": "x"}},
        "Field 'payload.play_state' must be 'playing' or 'paused'",
    ),
]


def test_error_table_lists_what_the_core_answers() -> None:
    rows = table_rows(PROTOCOL_RST.read_text(), "Errors and limits")
    documented = {message.strip("`") for _, message in rows}
    for message, expected in ERROR_INPUTS:
        s = Session()
        host = s.connect()
        s.send(host, {"type": "create_room"})
        room = s.server.room_of(host)
        assert room is not None
        text = message if isinstance(message, str) else json.dumps(message)
        text = text.replace(ROOM, room)
        answers = [json.loads(out.text) for out in s.server.receive(host, text, s.now)]
        assert answers == [
            {"type": "error", "payload": {"message": expected}, "ts": T0, "server_ts": T0}
        ]
        assert expected in documented, expected


def test_timings_table_matches_config_defaults() -> None:
    rows = table_rows(PROTOCOL_RST.read_text(), "Timings")
    config = Config()
    assert {name.strip("`") for name, _, _ in rows} == {f.name for f in attrs.fields(Config)}
    for name, default, _ in rows:
        value = getattr(config, name.strip("`"))
        if isinstance(value, str):
            assert default == f'"{value}"', name
        else:
            assert float(default.removesuffix(" s").replace(" ", "")) == value, name


LIMITS_RST = Path(__file__).parents[2] / "docs" / "limits.rst"


def test_limits_table_lists_every_core_limit_with_its_default() -> None:
    rows = table_rows(LIMITS_RST.read_text(), "Protocol limits (core)")
    config = Config()
    limits = {
        f.name
        for f in attrs.fields(Config)
        if f.name.startswith(("max_", "rate_limit")) and not f.name.endswith("_wait_ms")
    }
    assert {name.strip("`") for name, _, _ in rows} == limits
    for name, default, _ in rows:
        value = getattr(config, name.strip("`"))
        assert float(default.removesuffix(" s").replace(" ", "")) == value, name
