"""A state machine test of authentication: nobody gets into a room without a good token.

Clients connect, send good, expired, forged or missing tokens, create and join
rooms, leave and disconnect, while the clock moves. The verifier is a table
with expiry times, checked against the ``now`` the server hands it. After
every step: every room member has authenticated; a client's identity is the
one of the last token that was good when it was sent; refused messages
changed no room.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from opensyncparty_core import InvalidToken, SessionServer, seeded_uuid4s
from tests.core.harness import T0

TOKENS: dict[str, dict[str, Any]] = {
    "ann": {"sub": "u-ann", "name": "Ann", "exp": T0 + 5_000},
    "bob": {"sub": "u-bob", "name": "Bob", "exp": T0 + 20_000},
    "nameless": {"sub": "u-x", "exp": T0 + 20_000},
}


def verify(token: str, now: int) -> Mapping[str, Any]:
    claims = TOKENS.get(token)
    if claims is None or now >= claims["exp"]:
        raise InvalidToken(token)
    return claims


class AuthMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.server = SessionServer(id_source=seeded_uuid4s(0), token_verifier=verify)
        self.now = T0
        self.clients: list[str] = []
        self.identity: dict[str, tuple[str, str] | None] = {}

    def send(self, client: str, message: dict[str, Any]) -> list[str]:
        out = self.server.receive(client, json.dumps(message), self.now)
        return [json.loads(o.text)["type"] for o in out if client in o.recipients]

    @rule()
    def connect(self) -> None:
        client, _ = self.server.connect(self.now)
        self.clients.append(client)
        self.identity[client] = None

    @rule(ms=st.integers(0, 8_000))
    def advance(self, ms: int) -> None:
        self.now += ms

    @precondition(lambda self: self.clients)
    @rule(data=st.data(), token=st.sampled_from([*TOKENS, "forged", None]))
    def auth(self, data: st.DataObject, token: str | None) -> None:
        client = data.draw(st.sampled_from(self.clients))
        payload = {} if token is None else {"token": token}
        answer = self.send(client, {"type": "auth", "payload": payload})
        claims = TOKENS.get(token or "")
        good = claims is not None and "name" in claims and self.now < claims["exp"]
        if good:
            assert claims is not None
            assert answer == ["auth_success", "room_list"]
            self.identity[client] = (claims["sub"], claims["name"])
        else:
            assert answer == ["error"]

    @precondition(lambda self: self.clients)
    @rule(data=st.data())
    def create_or_join(self, data: st.DataObject) -> None:
        client = data.draw(st.sampled_from(self.clients))
        rooms_before = self.server.room_ids
        message: dict[str, Any] = {"type": "create_room", "payload": {"name": "R"}}
        wants_join = data.draw(st.booleans())
        if rooms_before and wants_join:
            message = {"type": "join_room", "room": data.draw(st.sampled_from(rooms_before))}
        answer = self.send(client, message)
        if self.identity[client] is None:
            assert answer == ["error"]
            assert self.server.room_ids == rooms_before

    @precondition(lambda self: self.clients)
    @rule(data=st.data(), leave=st.booleans())
    def go(self, data: st.DataObject, leave: bool) -> None:
        client = data.draw(st.sampled_from(self.clients))
        if leave:
            self.send(client, {"type": "leave_room"})
        else:
            self.server.disconnect(client, self.now)
            self.clients.remove(client)
            del self.identity[client]

    @invariant()
    def every_member_has_authenticated(self) -> None:
        connected = set(self.server.client_ids)
        for room_id in self.server.room_ids:
            for member in self.server.room(room_id).clients:
                # A member away in its resume grace was checked while connected.
                if member in connected:
                    assert self.server.client(member).authenticated

    @invariant()
    def identity_is_the_last_good_tokens(self) -> None:
        for client in self.clients:
            snapshot = self.server.client(client)
            expected = self.identity[client]
            assert snapshot.authenticated == (expected is not None)
            if expected is not None:
                assert (snapshot.user_id, snapshot.user_name) == expected


AuthMachine.TestCase.settings = settings(
    AuthMachine.TestCase.settings, max_examples=40, stateful_step_count=25
)
TestAuthMachine = AuthMachine.TestCase
