"""Optional authentication (the ``auth`` message), as upstream OpenWatchParty servers do it.

The core takes a token verifier; here a table of known tokens stands in for
JWT, with an expiry checked against the ``now`` the server passes in.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from opensyncparty_core import (
    Auth,
    AuthSuccess,
    Config,
    InvalidToken,
    SessionServer,
    clean_user_name,
    decode_client_message,
    decode_server_message,
    encode,
    identity_from_claims,
    seeded_uuid4s,
)
from tests.core.harness import (
    T0,
    Party,
    Wire,
    create_room,
    errors,
    join_room,
    party,
    received,
    types,
)

ALICE = {"sub": "user-alice", "name": "Alice", "exp_ms": T0 + 60_000}


@attrs.define
class TableVerifier:
    """Accepts the tokens of its table until their ``exp_ms``; records the ``now`` it got."""

    tokens: dict[str, dict[str, Any]]
    calls: list[tuple[str, int]] = attrs.Factory(list)

    def __call__(self, token: str, now: int) -> Mapping[str, Any]:
        self.calls.append((token, now))
        claims = self.tokens.get(token)
        if claims is None:
            raise InvalidToken("unknown token")
        if now >= claims["exp_ms"]:
            raise InvalidToken("expired")
        return claims


def auth_party(**tokens: dict[str, Any]) -> tuple[Party, TableVerifier]:
    verifier = TableVerifier(tokens={"alice": ALICE, **tokens})
    server = SessionServer(id_source=seeded_uuid4s(0), token_verifier=verifier)
    return Party(server), verifier


def auth(token: str | None = None, **payload: Any) -> Wire:
    if token is not None:
        payload["token"] = token
    return {"type": "auth", "payload": payload}


# --------------------------------------------------------------------------
# Auth enabled
# --------------------------------------------------------------------------


def test_valid_token_gets_auth_success_with_the_name_claim_then_a_room_list() -> None:
    p, verifier = auth_party()
    c = p.connect()
    out = p.send(c, auth("alice"))
    success, listing = received(out, c)
    assert success["type"] == "auth_success"
    assert success["payload"] == {"user_name": "Alice"}
    assert success["client"] == c
    assert listing["type"] == "room_list"
    assert all(o.recipients == (c,) for o in out)
    assert verifier.calls == [("alice", T0)]


def test_valid_token_records_sub_and_name_as_the_clients_identity() -> None:
    p, _ = auth_party()
    c = p.connect()
    p.send(c, auth("alice"))
    snapshot = p.server.client(c)
    assert (snapshot.user_id, snapshot.user_name, snapshot.authenticated) == (
        "user-alice",
        "Alice",
        True,
    )


def test_verifier_is_given_the_servers_now_so_expiry_follows_the_injected_clock() -> None:
    p, verifier = auth_party()
    c = p.connect()
    p.advance(60_000)
    assert errors(p.send(c, auth("alice")), c) == ["Authentication failed"]
    assert verifier.calls == [("alice", T0 + 60_000)]
    assert not p.server.client(c).authenticated


@pytest.mark.parametrize(
    "token",
    ["nope", "", "alice.extra"],
    ids=["unknown", "empty", "tampered"],
)
def test_rejected_token_gets_authentication_failed_and_changes_nothing(token: str) -> None:
    p, _ = auth_party()
    c = p.connect()
    before = p.server.client(c)
    assert errors(p.send(c, auth(token)), c) == ["Authentication failed"]
    assert p.server.client(c) == before


@pytest.mark.parametrize(
    "claims",
    [
        {"name": "No sub"},
        {"sub": "", "name": "Empty sub"},
        {"sub": 7, "name": "Numeric sub"},
        {"sub": "u"},
        {"sub": "u", "name": 3},
        {"sub": "u", "name": " \x00\n "},
    ],
)
def test_token_without_a_usable_sub_and_name_fails(claims: dict[str, Any]) -> None:
    p, _ = auth_party(odd={**claims, "exp_ms": T0 + 1000})
    c = p.connect()
    assert errors(p.send(c, auth("odd")), c) == ["Authentication failed"]
    assert not p.server.client(c).authenticated


def test_create_and_join_before_auth_get_authentication_required_and_change_nothing() -> None:
    p, _ = auth_party()
    host, guest = p.connect(), p.connect()
    assert errors(p.send(host, create_room(name="Nope")), host) == ["Authentication required"]
    assert p.server.room_ids == ()
    p.send(host, auth("alice"))
    room = p.create(host)
    out = p.send(guest, join_room(room))
    assert errors(out, guest) == ["Authentication required"]
    assert [o.recipients for o in out] == [(guest,)]
    assert p.server.room(room).clients == (host,)


def test_ping_and_list_rooms_work_before_auth() -> None:
    p, _ = auth_party()
    c = p.connect()
    assert types(p.send(c, {"type": "ping", "payload": {"client_ts": 5}})) == ["pong"]
    assert types(p.send(c, {"type": "list_rooms"})) == ["room_list"]


def test_auth_without_token_when_required_gets_authentication_required() -> None:
    p, _ = auth_party()
    c = p.connect()
    assert errors(p.send(c, auth(user_name="Mallory")), c) == ["Authentication required"]
    assert p.server.client(c).user_name is None


def test_after_a_failed_auth_a_valid_token_still_works() -> None:
    p, _ = auth_party()
    c = p.connect()
    p.send(c, auth("bad"))
    assert types(p.send(c, auth("alice"))) == ["auth_success", "room_list"]
    p.create(c)


def test_token_sent_after_joining_updates_the_identity_and_keeps_the_room() -> None:
    bob = {"sub": "user-alice", "name": "Alice (renamed)", "exp_ms": T0 + 120_000}
    p, _ = auth_party(refreshed=bob)
    host = p.connect()
    p.send(host, auth("alice"))
    room = p.create(host)
    p.advance(30_000)
    out = p.send(host, auth("refreshed"))
    assert types(out) == ["auth_success", "room_list"]
    assert p.server.room_of(host) == room
    assert p.server.client(host).user_name == "Alice (renamed)"


def test_a_failed_token_after_joining_keeps_the_earlier_authentication() -> None:
    p, _ = auth_party()
    host = p.connect()
    p.send(host, auth("alice"))
    room = p.create(host)
    assert errors(p.send(host, auth("forged")), host) == ["Authentication failed"]
    assert p.server.client(host).authenticated
    assert p.server.room_of(host) == room


def test_name_claim_is_cleaned_and_cut() -> None:
    long_name = {"sub": "u", "name": "  Bob\x07" + "x" * 200, "exp_ms": T0 + 1000}
    p, _ = auth_party(long=long_name)
    c = p.connect()
    success = received(p.send(c, auth("long")), c)[0]
    name = success["payload"]["user_name"]
    assert name == ("Bob" + "x" * 200)[: Config().max_user_name_length]


# --------------------------------------------------------------------------
# Auth disabled (the default)
# --------------------------------------------------------------------------


def test_without_verifier_rooms_need_no_auth() -> None:
    p = party()
    c = p.connect()
    p.create(c)
    assert not p.server.auth_required


def test_without_verifier_user_name_sets_the_display_name_silently() -> None:
    p = party()
    c = p.connect()
    assert p.send(c, auth(user_name=" Carol\n", user_id="jf-carol")) == []
    snapshot = p.server.client(c)
    assert (snapshot.user_name, snapshot.user_id, snapshot.authenticated) == (
        "Carol",
        "jf-carol",
        False,
    )


def test_without_verifier_a_user_id_over_the_id_limit_is_refused() -> None:
    p = party()
    c = p.connect()
    long_id = "u" * (Config().max_id_length + 1)
    (message,) = errors(p.send(c, auth(user_name="Carol", user_id=long_id)), c)
    assert message == f"Field 'payload.user_id' is longer than {Config().max_id_length} characters"
    assert p.server.client(c).user_name is None


def test_without_verifier_an_empty_user_name_is_ignored() -> None:
    p = party()
    c = p.connect()
    p.send(c, auth(user_name="Carol"))
    assert p.send(c, auth(user_name="\x00 ")) == []
    assert p.server.client(c).user_name == "Carol"


def test_without_verifier_user_name_after_joining_keeps_the_room() -> None:
    p = party()
    host, guest = p.connect(), p.connect()
    room = p.create(host)
    p.send(guest, join_room(room))
    assert p.send(guest, auth(user_name="Dave")) == []
    assert p.server.room(room).clients == (host, guest)
    assert p.server.client(guest).user_name == "Dave"


def test_without_verifier_a_token_is_answered_with_the_anonymous_identity() -> None:
    p = party()
    c = p.connect()
    success, _ = received(p.send(c, auth("whatever")), c)
    assert success["payload"] == {"user_name": "Anonymous"}
    assert p.server.client(c).user_id == "anonymous"


# --------------------------------------------------------------------------
# protocol_version and features
# --------------------------------------------------------------------------


def test_supported_protocol_version_and_unknown_features_are_accepted() -> None:
    p, _ = auth_party()
    c = p.connect()
    out = p.send(c, auth("alice", protocol_version=1, features=["chat", "telepathy"]))
    assert types(out) == ["auth_success", "room_list"]


def test_unsupported_protocol_version_gets_a_clear_error_and_changes_nothing() -> None:
    p, verifier = auth_party()
    c = p.connect()
    (message,) = errors(p.send(c, auth("alice", protocol_version=99)), c)
    assert message == "Unsupported protocol version 99 (this server speaks 1)"
    assert not p.server.client(c).authenticated
    assert verifier.calls == []


def test_the_newest_protocol_version_is_configurable() -> None:
    server = SessionServer(id_source=seeded_uuid4s(0), config=Config(max_protocol_version=2))
    p = Party(server)
    c = p.connect()
    assert p.send(c, auth(user_name="Eve", protocol_version=2)) == []
    (message,) = errors(p.send(c, auth(user_name="Eve", protocol_version=0)), c)
    assert message == "Unsupported protocol version 0 (this server speaks 1 to 2)"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"token": 5}, "payload.token"),
        ({"user_name": ["x"]}, "payload.user_name"),
        ({"user_name": "x", "user_id": 1}, "payload.user_id"),
        ({"protocol_version": "1"}, "payload.protocol_version"),
        ({"protocol_version": True}, "payload.protocol_version"),
        ({"features": "chat"}, "payload.features"),
        ({"features": [1]}, "payload.features"),
    ],
)
def test_mistyped_auth_fields_get_an_error_naming_the_field(
    payload: dict[str, Any], field: str
) -> None:
    p = party()
    c = p.connect()
    (message,) = errors(p.send(c, {"type": "auth", "payload": payload}), c)
    assert f"'{field}'" in message
    assert p.server.client(c).user_name is None


# --------------------------------------------------------------------------
# Codec and pure rules
# --------------------------------------------------------------------------


def test_auth_and_auth_success_round_trip_through_the_codec() -> None:
    message = Auth(token="t", user_name="A", protocol_version=1, features=("chat",), ts=3)
    assert decode_client_message(encode(message)) == message
    success = AuthSuccess(client="c", user_name="A", ts=1, server_ts=2)
    assert decode_server_message(encode(success)) == success


def test_identity_from_claims_reads_sub_and_name() -> None:
    assert identity_from_claims({"sub": "s", "name": " N "}, Config()) == ("s", "N")
    with pytest.raises(InvalidToken):
        identity_from_claims({"sub": "s"}, Config())


@given(st.text())
def test_clean_user_name_never_returns_control_characters_or_overlong_names(name: str) -> None:
    cleaned = clean_user_name(name, Config())
    if cleaned is not None:
        assert cleaned == cleaned.strip()
        assert len(cleaned) <= Config().max_user_name_length
        assert not any(unicodedata.category(ch) == "Cc" for ch in cleaned)
