"""The client's view of the server clock: pings out, pongs in, conversions both ways.

Theory of operation. :class:`ServerClock` owns what :class:`SyncClient` needs of
time: when to ping, which pong answers which ping, and the estimate in force.
The estimate itself is a :class:`~opensyncparty_core.ClockModel` (the filter of
``_clock_sync``: minimum-RTT samples, skew). Until the first pong it falls back
on a *crude* offset, the first server message's ``ts`` minus its arrival:
late by one one-way delay, never of the wrong sign, enough to run a command
that arrives before any pong.

Rules of this module: it knows nothing of rooms or players; it reads no clock
(``now`` comes in); a lost pong costs at most 30 s of memory.
"""

from __future__ import annotations

from ._clock_sync import ClockModel, ClockSample
from ._messages import Ping, Pong

__all__ = ["ServerClock"]

# Unanswered pings are forgotten after this long (ms), so lost pongs never leak memory.
_PING_MEMORY_MS = 30_000.0


class ServerClock:
    """Ping schedule and server-time conversions around a :class:`ClockModel`."""

    def __init__(self, model: ClockModel) -> None:
        self.model = model
        self._crude_offset: float | None = None
        self._pings: dict[int, float] = {}
        self.next_ping: float | None = None
        """Local time of the next ping; ``None`` until the server has greeted us."""
        self._now = float("-inf")  # latest local time seen; seeds the conversion to local

    def tick(self, now: float) -> None:
        """Local time has reached ``now`` (every call of the client says so)."""
        self._now = max(self._now, now)

    def seen(self, server_ts: int | None, now: float) -> None:
        """A server message stamped ``server_ts`` (its ``ts``) arrived at ``now``."""
        if self._crude_offset is None and server_ts is not None:
            self._crude_offset = server_ts - now

    def start(self, now: float) -> None:
        """The server greeted us: ping at once (then as the model's schedule says)."""
        if self.next_ping is None:
            self.next_ping = now

    def on_pong(self, message: Pong, now: float) -> None:
        """Feed the answer to one of our pings to the model; others are ignored."""
        payload = message.payload
        client_ts = payload.get("client_ts") if isinstance(payload, dict) else None
        if type(client_ts) is not int:
            return
        sent = self._pings.pop(client_ts, None)
        if sent is not None:
            self.model.add(ClockSample(sent=sent, received=now, server_ts=message.server_ts))

    def poll(self, now: float) -> Ping | None:
        """The ping due at ``now``, if one is."""
        if self.next_ping is None or now < self.next_ping:
            return None
        client_ts = round(now)
        while client_ts in self._pings:  # two pings in one ms: keep them apart
            client_ts += 1
        self._pings[client_ts] = now
        self._pings = {k: v for k, v in self._pings.items() if now - v < _PING_MEMORY_MS}
        self.next_ping = now + self.model.ping_interval()
        return Ping(payload={"client_ts": client_ts}, ts=round(now))

    def server_time(self, now: float) -> float | None:
        """Estimated server clock (ms) at local ``now``; ``None`` before any message."""
        offset = self.model.offset(now)
        if offset is None:
            offset = self._crude_offset
        return None if offset is None else now + offset

    def to_local(self, server_ts: float) -> float | None:
        """The local instant at which the estimated server clock reads ``server_ts``."""
        offset = self.model.offset(self._now)
        if offset is None:
            return None if self._crude_offset is None else server_ts - self._crude_offset
        # The offset moves by ppm of the time between: one refinement is exact enough.
        refined = self.model.offset(server_ts - offset)
        return server_ts - (offset if refined is None else refined)

    def best_rtt(self) -> float | None:
        """The model's smallest round trip (ms), if any."""
        return self.model.best_rtt()
