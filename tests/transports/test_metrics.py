"""``GET /metrics``: Prometheus text that a scraper parses, and counters that follow a session."""

from __future__ import annotations

import json

import anyio
import pytest
from prometheus_client.parser import text_string_to_metric_families

from opensyncparty_core import CreateRoom, Error, JoinRoom, PlayerEvent, RoomState
from opensyncparty_transports import HandshakeError, WebSocketServer, connect

from .support import TIMEOUT, receive_until, running_server
from .test_http import get, http_exchange

pytestmark = pytest.mark.anyio

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(port: int) -> Samples:
    status, headers, body = await http_exchange(port, get("/metrics"))
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_counters_move_as_a_scripted_session_runs() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server() as server:
            before = await scrape(server.port)
            assert value(before, "opensyncparty_clients") == 0
            assert value(before, "opensyncparty_fanout_seconds_count") == 0
            async with connect(server.url) as host, connect(server.url) as guest:
                await host.send(CreateRoom(name="Metrics"))
                room = (await receive_until(host, RoomState)).room
                await guest.send(JoinRoom(room=room))
                await receive_until(guest, RoomState)
                await host.send(PlayerEvent(room=room, action="pause", position=3.0))
                await receive_until(guest, PlayerEvent)
                await guest.send(JoinRoom(room="no-such-room"))
                await receive_until(guest, Error)
                await guest.send_text("not json")
                await receive_until(guest, Error)
                during = await scrape(server.port)
            with pytest.raises(HandshakeError):
                async with connect(server.url.replace("/ws", "/nope")):
                    pass
            after = await scrape(server.port)

    assert value(during, "opensyncparty_clients") == 2
    assert value(during, "opensyncparty_rooms") == 1
    received = "opensyncparty_messages_received_total"
    assert value(during, received, type="create_room") == 1
    assert value(during, received, type="join_room") == 2
    assert value(during, received, type="player_event") == 1
    assert value(during, received, type="invalid") == 1
    sent = "opensyncparty_messages_sent_total"
    assert value(during, sent, type="client_hello") == 2
    assert value(during, sent, type="room_state") == 2
    assert value(during, sent, type="player_event") == 1  # the pause, to the guest only
    assert value(during, sent, type="error") == 2
    errors = "opensyncparty_errors_total"
    assert value(during, errors, reason="room_not_found") == 1
    assert value(during, errors, reason="invalid_message_format") == 1
    assert value(during, "opensyncparty_fanout_seconds_count") >= 7
    assert value(during, "opensyncparty_fanout_seconds_sum") > 0
    assert value(during, "opensyncparty_queued_bytes") == 0
    assert value(during, "opensyncparty_evictions_total") == 0
    assert value(after, "opensyncparty_clients") == 0
    assert value(after, "opensyncparty_rooms") == 0


async def test_rejected_handshakes_are_counted_by_reason() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(allowed_origins=["https://jf.example"]) as server:
            for _ in range(2):
                with pytest.raises(HandshakeError):
                    async with connect(server.url, headers=[("Origin", "https://x.example")]):
                        pass
            samples = await scrape(server.port)
    assert value(samples, "opensyncparty_handshakes_rejected_total", reason="origin") == 2


async def test_capacity_refusals_and_timeouts_are_counted_too() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(max_connections=1, handshake_timeout=0.2) as server:
            async with connect(server.url):
                with pytest.raises(HandshakeError) as refused:
                    async with connect(server.url):
                        pass
                assert refused.value.status_code == 503
            async with await anyio.connect_tcp("127.0.0.1", server.port) as silent:
                with pytest.raises(anyio.EndOfStream):
                    await silent.receive()  # the server gives up on the silent client
            samples = await scrape(server.port)
    rejected = "opensyncparty_handshakes_rejected_total"
    assert value(samples, rejected, reason="capacity") == 1
    assert value(samples, rejected, reason="timeout") == 1


async def test_metrics_can_be_turned_off() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(metrics=False) as server:
            status, _, _ = await http_exchange(server.port, get("/metrics"))
    assert status == 404


async def test_metrics_on_a_separate_address_are_not_on_the_public_port() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(metrics_host="127.0.0.1", metrics_port=0) as server:
            assert server.metrics_port is not None
            assert server.metrics_port != server.port
            public, _, _ = await http_exchange(server.port, get("/metrics"))
            assert public == 404
            async with connect(server.url):
                samples = await scrape(server.metrics_port)
            assert value(samples, "opensyncparty_clients") == 1
            other, _, _ = await http_exchange(server.metrics_port, get("/ws"))
            assert other == 404


def test_metrics_host_without_port_is_refused() -> None:
    with pytest.raises(ValueError, match="go together"):
        WebSocketServer(metrics_host="127.0.0.1")


def test_error_reasons_are_slugs_without_names_or_numbers_and_stay_bounded() -> None:
    from opensyncparty_transports._metrics import MAX_ERROR_REASONS, ServerStats, error_reason

    def error(message: str) -> str:
        # As the core encodes: compact, ``type`` first.
        return json.dumps({"type": "error", "payload": {"message": message}}, separators=(",", ":"))

    assert error_reason(error("Room 'abc' not found")) == "room_not_found"
    assert error_reason(error("Room is full (20 members)")) == "room_is_full"
    assert error_reason(error("Field 'payload.name' must be a string")) == "field_must_be_a_string"
    coded = json.dumps({"type": "error", "payload": {"code": "ROOM_FULL", "message": "x"}})
    assert error_reason(coded) == "ROOM_FULL"
    stats = ServerStats()
    for i in range(MAX_ERROR_REASONS + 5):
        stats.sent(error(f"Problem {chr(65 + i % 26)} {chr(65 + i // 26)} here"), 1)
    assert len(stats.errors_by_reason) == MAX_ERROR_REASONS + 1
    assert stats.errors_by_reason["other"] == 5
