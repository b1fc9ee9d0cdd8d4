"""What the server counts, and its rendering in the Prometheus text format.

Theory of operation. The hot path only bumps plain integers in
:class:`ServerStats` (a dict increment per message, two clock reads per
fan-out); nothing of ``prometheus_client`` runs there. A scrape builds the
metric families from those counters and from the live server state (clients,
rooms, queued bytes) through a custom collector, so that several servers in
one process (tests) never share a registry.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Protocol

import anyio
import anyio.abc
import h11
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

__all__ = ["METRICS_PATH", "ServerStats", "error_reason", "render", "serve_metrics_connection"]

METRICS_PATH = "/metrics"

# Seconds; a fan-out to one client takes microseconds, to hundreds a millisecond or so.
FANOUT_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1)

MAX_ERROR_REASONS = 100
"""Distinct ``reason`` labels kept; later new ones count as ``other`` (bounded memory)."""

_PREFIX = '{"type":"'
_QUOTED = re.compile(r"'[^']*'|\([^)]*\)|\d+")
_NON_WORD = re.compile(r"[^a-z]+")


def error_reason(text: str) -> str:
    """A bounded label for an ``error`` message: its ``code`` if it has one, else
    the message with quoted names, numbers and asides left out, as a slug."""
    try:
        payload = json.loads(text).get("payload") or {}
    except (ValueError, AttributeError):
        return "unknown"
    code = payload.get("code")
    if isinstance(code, str) and code:
        return code
    message = payload.get("message")
    if not isinstance(message, str):
        return "unknown"
    return _NON_WORD.sub("_", _QUOTED.sub("", message).lower()).strip("_")[:64] or "unknown"


def message_type(text: str) -> str:
    """The ``type`` of a message the core encoded (``type`` is always its first key)."""
    if text.startswith(_PREFIX):
        end = text.find('"', len(_PREFIX))
        if end > 0:
            return text[len(_PREFIX) : end]
    return "other"


def _bump(counts: dict[str, int], key: str, by: int = 1) -> None:
    counts[key] = counts.get(key, 0) + by


class ServerStats:
    """Counters a :class:`~opensyncparty_transports.WebSocketServer` keeps while it runs."""

    def __init__(self) -> None:
        self.sent_by_type: dict[str, int] = {}
        """Frames sent, by message ``type`` (one per recipient)."""
        self.errors_by_reason: dict[str, int] = {}
        """``error`` messages sent, by :func:`error_reason`."""
        self.rejected_handshakes: dict[str, int] = {}
        """Connections refused before the upgrade, by reason (``origin``, ``tls``...)."""
        self.fanout_buckets = [0] * (len(FANOUT_BUCKETS) + 1)
        self.fanout_sum = 0.0

    def sent(self, text: str, recipients: int) -> None:
        kind = message_type(text)
        _bump(self.sent_by_type, kind, recipients)
        if kind == "error":
            reasons = self.errors_by_reason
            reason = error_reason(text)
            if reason not in reasons and len(reasons) >= MAX_ERROR_REASONS:
                reason = "other"
            _bump(reasons, reason, recipients)

    def rejected(self, reason: str) -> None:
        _bump(self.rejected_handshakes, reason)

    def fanout(self, seconds: float) -> None:
        self.fanout_buckets[bisect.bisect_left(FANOUT_BUCKETS, seconds)] += 1
        self.fanout_sum += seconds


class Observed(Protocol):
    """What a scrape reads from the server."""

    stats: ServerStats
    evictions: int

    @property
    def metrics_view(self) -> tuple[int, int, int, Mapping[str, int]]:
        """Clients, rooms, queued bytes and messages received by type, right now."""
        ...


def _labelled(name: str, doc: str, label: str, counts: Mapping[str, int]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=[label])
    for value, count in sorted(counts.items()):
        family.add_metric([value], count)
    return family


class _Collector(Collector):
    def __init__(self, server: Observed) -> None:
        self._server = server

    def collect(self) -> Iterator[Metric]:
        server = self._server
        stats = server.stats
        clients, rooms, queued, received = server.metrics_view
        p = "opensyncparty_"
        yield GaugeMetricFamily(p + "clients", "Connected WebSocket clients.", value=clients)
        yield GaugeMetricFamily(p + "rooms", "Existing rooms.", value=rooms)
        yield GaugeMetricFamily(
            p + "queued_bytes", "Bytes waiting in outbound queues.", value=queued
        )
        yield _labelled(p + "messages_received", "Messages received, by type.", "type", received)
        yield _labelled(
            p + "messages_sent", "Frames sent, by message type.", "type", stats.sent_by_type
        )
        yield _labelled(
            p + "errors", "error messages sent, by reason.", "reason", stats.errors_by_reason
        )
        yield _labelled(
            p + "handshakes_rejected",
            "Connections refused before the WebSocket upgrade, by reason.",
            "reason",
            stats.rejected_handshakes,
        )
        yield CounterMetricFamily(
            p + "evictions",
            "Clients disconnected for a full outbound queue.",
            value=server.evictions,
        )
        cumulative, buckets = 0, []
        for bound, count in zip(
            (*map(str, FANOUT_BUCKETS), "+Inf"), stats.fanout_buckets, strict=True
        ):
            cumulative += count
            buckets.append((bound, cumulative))
        yield HistogramMetricFamily(
            p + "fanout_seconds",
            "Time to hand the messages of one read or timer to every recipient's socket or queue.",
            buckets=buckets,
            sum_value=stats.fanout_sum,
        )


def registry_for(server: Observed) -> CollectorRegistry:
    """A registry of its own for ``server`` (never the process-wide default)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(server))
    return registry


def render(registry: CollectorRegistry) -> tuple[bytes, bytes]:
    """The body and content type of a ``GET /metrics`` answer."""
    return generate_latest(registry), CONTENT_TYPE_LATEST.encode()


async def serve_metrics_connection(
    stream: anyio.abc.ByteStream,
    answer: Callable[[], tuple[bytes, bytes]],
    timeout: float,
) -> None:
    """Answer one request on the separate metrics listener: ``GET /metrics`` or 404."""
    conn = h11.Connection(h11.SERVER)
    async with stream:
        with anyio.move_on_after(timeout):
            while True:
                try:
                    event = conn.next_event()
                except h11.RemoteProtocolError:
                    return
                if event is h11.NEED_DATA:
                    try:
                        conn.receive_data(await stream.receive(65_536))
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        return
                    continue
                if isinstance(event, h11.Request):
                    target = event.target.split(b"?", 1)[0]
                    if event.method == b"GET" and target == METRICS_PATH.encode():
                        status, (body, content_type) = 200, answer()
                    else:
                        status, body, content_type = 404, b"Not Found\n", b"text/plain"
                    headers = [
                        (b"content-type", content_type),
                        (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close"),
                    ]
                    data = conn.send(h11.Response(status_code=status, headers=headers))
                    data += conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage())
                    with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                        await stream.send(data)
                return
