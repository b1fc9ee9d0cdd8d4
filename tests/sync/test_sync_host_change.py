"""SyncClient follows ``host_changed`` (extension): the host role can move to this client."""

from __future__ import annotations

from opensyncparty_core import HostChanged, PlayerEvent
from tests.sync.test_sync_client import HOST, ME, ROOM, server, synced


def test_host_changed_to_this_client_makes_it_the_host_and_its_actions_are_sent() -> None:
    client, now = synced()
    assert not client.is_host
    assert client.player_event("pause", 10.0, now) == []
    changed = HostChanged(room=ROOM, host_id=ME, ts=server(now), server_ts=server(now))
    assert client.receive(changed, now) == []
    assert client.is_host
    now += 3_000
    sent = [o for o in client.player_event("pause", 10.0, now) if isinstance(o, PlayerEvent)]
    assert [(e.room, e.action) for e in sent] == [(ROOM, "pause")]


def test_host_changed_away_from_this_client_makes_it_a_viewer() -> None:
    client, now = synced(host=True)
    changed = HostChanged(room=ROOM, host_id=HOST, ts=server(now), server_ts=server(now))
    client.receive(changed, now)
    assert (client.host_id, client.is_host) == (HOST, False)


def test_host_changed_for_another_room_is_ignored() -> None:
    client, now = synced()
    changed = HostChanged(room="elsewhere", host_id=ME, ts=server(now), server_ts=server(now))
    client.receive(changed, now)
    assert (client.host_id, client.is_host) == (HOST, False)
