"""An in-memory transport: the whole transport contract, without sockets.

Useful in tests of code that talks to the protocol (a client, a bot): every
client is an inbox, and time only moves when the test says so.
"""

from __future__ import annotations

import json
from typing import Any

from opensyncparty_core import Config, Outgoing, SessionServer, seeded_uuid4s


class MemoryNetwork:
    """Carries text between a :class:`SessionServer` and in-process clients."""

    def __init__(self, *, now: int = 0, config: Config | None = None, seed: int = 0) -> None:
        self.now = now
        self.server = SessionServer(id_source=seeded_uuid4s(seed), config=config)
        self.inboxes: dict[str, list[str]] = {}

    def _deliver(self, outgoing: list[Outgoing]) -> None:
        # Contract 1: deliver in list order, the same text to every recipient.
        for out in outgoing:
            for client_id in out.recipients:
                self.inboxes[client_id].append(out.text)

    def connect(self) -> MemoryClient:
        client_id, outgoing = self.server.connect(self.now)
        self.inboxes[client_id] = []
        self._deliver(outgoing)
        return MemoryClient(self, client_id)

    def advance(self, ms: int) -> None:
        """Let ``ms`` milliseconds pass, firing every deadline due on the way, in order."""
        end = self.now + ms
        # Contract 2: call handle_timer at each deadline, with the clock reading then.
        while (deadline := self.server.next_deadline()) is not None and deadline <= end:
            self.now = max(self.now, deadline)
            self._deliver(self.server.handle_timer(self.now))
        self.now = end


class MemoryClient:
    def __init__(self, network: MemoryNetwork, client_id: str) -> None:
        self.network = network
        self.id = client_id

    def send(self, message: dict[str, Any] | str) -> None:
        text = message if isinstance(message, str) else json.dumps(message)
        net = self.network
        net._deliver(net.server.receive(self.id, text, net.now))

    def receive_text(self) -> list[str]:
        """Every message received since the last call, as sent, oldest first."""
        inbox = self.network.inboxes[self.id]
        texts = inbox.copy()
        inbox.clear()
        return texts

    def receive(self) -> list[dict[str, Any]]:
        """Every message received since the last call, parsed, oldest first."""
        return [json.loads(text) for text in self.receive_text()]

    def close(self) -> None:
        # Contract 3: report the disconnect once; the client gets nothing afterwards.
        net = self.network
        del net.inboxes[self.id]
        net._deliver(net.server.disconnect(self.id, net.now))


def demo() -> dict[str, Any]:
    net = MemoryNetwork(now=1_000)
    host, guest = net.connect(), net.connect()
    host.send({"type": "create_room", "payload": {"start_pos": 12}})
    room = next(m["room"] for m in host.receive() if m["type"] == "room_state")
    guest.send({"type": "join_room", "room": room})
    host.send({"type": "player_event", "room": room, "payload": {"action": "play"}})
    net.advance(2_000)  # the guest never said ready: the play is forced
    play: dict[str, Any] = guest.receive()[-1]["payload"]
    return play  # {"action": "play", "position": 12, "target_server_ts": 4500}
