"""The core on its own: events in, with the clock reading; messages out."""

import json

from opensyncparty_core import PlayerEvent, SessionServer, seeded_uuid4s

server = SessionServer(id_source=seeded_uuid4s(seed=1))
host, hello = server.connect(now=1_000)  # client_hello and room_list, for the host
guest, _ = server.connect(now=1_000)

server.receive(host, json.dumps({"type": "create_room", "payload": {"name": "Film"}}), now=1_100)
room = server.room_of(host)
server.receive(guest, json.dumps({"type": "join_room", "room": room}), now=1_200)
server.receive(guest, json.dumps({"type": "ready", "room": room}), now=1_300)

play = {"type": "player_event", "room": room, "payload": {"action": "play", "position": 0}}
(out,) = server.receive(host, json.dumps(play), now=1_400)

assert out.recipients == (host, guest)  # everyone, host included: send out.text to each
assert isinstance(out.message, PlayerEvent)
assert out.message.target_server_ts == 1_400 + 1_500  # start together, 1.5 s from now
# The join's room_list is coalesced with the create's: one timer, 250 ms after the last list.
assert server.next_deadline() == 1_100 + 250
assert server.handle_timer(now=1_350)[0].recipients == (host, guest)
