"""Who may open a WebSocket, and logging that a flood cannot turn into a log flood.

:class:`Admission` is the one place where an upgrade request is accepted or
refused before the ``101``: HTTP version, then the global and per-address
connection caps. A new handshake rule (e.g. an Origin check) is one more
step in :meth:`Admission.admit`. An admitted connection holds its slot until
the server calls :meth:`Admission.release`.

:class:`ThrottledLog` reports the first event of a kind at once, then at most
one line per interval carrying the count of what it did not report.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable

import attrs

__all__ = ["Admission", "Refusal", "ThrottledLog"]


class ThrottledLog:
    """One log line per ``interval`` seconds at most, with the count of skipped events."""

    __slots__ = ("_clock", "_last", "_skipped", "interval", "level", "logger", "total")

    def __init__(
        self,
        logger: logging.Logger,
        level: int,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.level = level
        self.interval = interval
        self.total = 0
        """Events so far, reported or not."""
        self._clock = clock
        self._last: float | None = None
        self._skipped = 0

    def __call__(self, message: str, *args: object, exc_info: bool = False) -> None:
        """Count one event; log ``message % args`` unless one was logged within the interval."""
        self.total += 1
        now = self._clock()
        if self._last is not None and now - self._last < self.interval:
            self._skipped += 1
            return
        if self._skipped:
            message += " (and %d more like it in the last %.0f s)"
            args = (*args, self._skipped, now - self._last if self._last is not None else 0.0)
        self._last = now
        self._skipped = 0
        self.logger.log(self.level, message, *args, exc_info=exc_info)


@attrs.frozen
class Refusal:
    """An upgrade request refused with an HTTP ``status`` and a one-line ``reason``."""

    status: int
    reason: str


class Admission:
    """Connection caps per server and per client address; ``0`` means unlimited."""

    __slots__ = ("_per_address", "_total", "max_connections", "max_connections_per_ip")

    def __init__(self, max_connections: int, max_connections_per_ip: int) -> None:
        for name, value in (
            ("max_connections", max_connections),
            ("max_connections_per_ip", max_connections_per_ip),
        ):
            if value < 0:
                raise ValueError(f"{name} must be >= 0 (0: unlimited), got {value!r}")
        self.max_connections = max_connections
        self.max_connections_per_ip = max_connections_per_ip
        self._per_address: collections.Counter[str] = collections.Counter()
        self._total = 0

    @property
    def admitted(self) -> int:
        """Connections holding a slot now."""
        return self._total

    def admit(self, http_version: bytes | None, address: str) -> Refusal | None:
        """Refuse the upgrade, or take a slot for ``address`` and return ``None``."""
        if http_version != b"HTTP/1.1":
            # RFC 6455 4.1: the opening handshake is an HTTP/1.1 (or later) request.
            return Refusal(400, "WebSocket upgrades need HTTP/1.1")
        if self.max_connections and self._total >= self.max_connections:
            return Refusal(503, f"server full ({self.max_connections} connections)")
        per_address = self._per_address[address]
        if self.max_connections_per_ip and per_address >= self.max_connections_per_ip:
            return Refusal(
                429, f"too many connections from one address ({self.max_connections_per_ip})"
            )
        self._per_address[address] = per_address + 1
        self._total += 1
        return None

    def release(self, address: str) -> None:
        """Give back the slot an admitted connection from ``address`` held."""
        self._total -= 1
        left = self._per_address[address] - 1
        if left:
            self._per_address[address] = left
        else:
            del self._per_address[address]
