"""Tune the protocol's timings for a server whose clients you control."""

from __future__ import annotations

import uuid

import attrs

from opensyncparty_core import Config, SessionServer

# A LAN party on fast, similar devices: shorter lead times, and more
# patience with one slow TV before a play is forced.
LAN = attrs.evolve(
    Config(),
    play_schedule_ms=800,
    control_schedule_ms=150,
    max_ready_wait_ms=5_000,
    max_room_size=50,
)

server = SessionServer(id_source=lambda: str(uuid.uuid4()), config=LAN)
