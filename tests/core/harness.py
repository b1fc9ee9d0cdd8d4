"""A fake clock and a few helpers so that core tests read like the specification.

:class:`Party` wraps a :class:`SessionServer` with an integer clock that only
moves when a test says so, and records what each call sent. Messages are given
as plain dicts (what a web client would put on the wire) and sent as JSON text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import attrs

from opensyncparty_core import Config, Outgoing, SessionServer, seeded_uuid4s

T0 = 1_700_000_000_000
"""A realistic epoch-milliseconds start, far from the specification's 0 ("never")."""

Wire = dict[str, Any]


def wire(out: Outgoing) -> Wire:
    """The JSON object a recipient of ``out`` receives."""
    obj = json.loads(out.text)
    assert isinstance(obj, dict)
    return obj


def received(outs: Sequence[Outgoing], client_id: str) -> list[Wire]:
    """What ``client_id`` receives from ``outs``, in order."""
    return [wire(o) for o in outs if client_id in o.recipients]


def types(outs: Sequence[Outgoing]) -> list[str]:
    return [wire(o)["type"] for o in outs]


def errors(outs: Sequence[Outgoing], client_id: str) -> list[str]:
    """The texts of the ``error`` messages ``client_id`` receives from ``outs``."""
    return [m["payload"]["message"] for m in received(outs, client_id) if m["type"] == "error"]


@attrs.define
class Party:
    """A session server, its clock and the output of the last call."""

    server: SessionServer
    now: int = T0
    last: list[Outgoing] = attrs.Factory(list)

    def advance(self, ms: int) -> None:
        self.now += ms

    def connect(self) -> str:
        client_id, self.last = self.server.connect(self.now)
        return client_id

    def send(self, client_id: str, message: Wire | str) -> list[Outgoing]:
        """Deliver ``message`` (a dict, sent as JSON, or raw text) from ``client_id``."""
        text = message if isinstance(message, str) else json.dumps(message)
        self.last = self.server.receive(client_id, text, self.now)
        return self.last

    def disconnect(self, client_id: str) -> list[Outgoing]:
        self.last = self.server.disconnect(client_id, self.now)
        return self.last

    def timer(self) -> list[Outgoing]:
        self.last = self.server.handle_timer(self.now)
        return self.last

    def create(self, host: str, **payload: Any) -> str:
        """``host`` creates a room; returns its id."""
        self.send(host, create_room(**payload))
        room_id = self.server.room_of(host)
        assert room_id is not None, self.last
        return room_id

    def room_with(self, guests: int, *, ready: bool = True) -> tuple[str, str, list[str]]:
        """A room with a host and ``guests`` guests; returns (room, host, guests)."""
        host = self.connect()
        room = self.create(host, name="Movie night")
        others = [self.connect() for _ in range(guests)]
        for guest in others:
            self.send(guest, join_room(room))
            if ready:
                self.send(guest, ready_msg(room))
        return room, host, others


EVERY_CHANGE = Config(room_list_interval_ms=0)
"""The default timings, but a ``room_list`` on every change: the tests of the room
rules check each change's own list. Coalescing is tested in ``test_room_list.py``."""


def party(config: Config | None = None, *, seed: int = 0) -> Party:
    if config is None:
        config = EVERY_CHANGE
    return Party(SessionServer(id_source=seeded_uuid4s(seed), config=config))


# Client messages, as an existing web client sends them.


def create_room(*, name: Any = "Room", start_pos: Any = 0, **extra: Any) -> Wire:
    return {"type": "create_room", "payload": {"name": name, "start_pos": start_pos, **extra}}


def join_room(room: Any) -> Wire:
    return {"type": "join_room", "room": room}


def ready_msg(room: Any) -> Wire:
    return {"type": "ready", "room": room, "payload": {}}


def leave_room(room: Any = "") -> Wire:
    return {"type": "leave_room", "room": room}


def player_event(room: Any, action: Any, position: Any = None, **extra: Any) -> Wire:
    payload: dict[str, Any] = {"action": action, **extra}
    if position is not None:
        payload["position"] = position
    return {"type": "player_event", "room": room, "payload": payload}


def state_update(room: Any, position: Any, play_state: Any = "paused", **extra: Any) -> Wire:
    return {
        "type": "state_update",
        "room": room,
        "payload": {"position": position, "play_state": play_state, **extra},
    }
