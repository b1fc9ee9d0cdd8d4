"""JWT authentication as upstream OpenWatchParty servers do it, over real sockets.

Tokens are made here with PyJWT, the way the Jellyfin plugin signs them
(HS256, audience "OpenWatchParty", issuer "Jellyfin").
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from opensyncparty_core import (
    AuthSuccess,
    ClientHello,
    CreateRoom,
    Error,
    InvalidToken,
    JoinRoom,
    Ping,
    Pong,
    RoomList,
    RoomState,
)
from opensyncparty_transports import ClientConnection, JwtVerifier, connect

from .support import receive_until, running_server

SECRET = "k" * 16 + "0123456789abcdef"  # 32 bytes, the shortest accepted
NOW_S = 1_700_000_000


def token(
    *,
    secret: str = SECRET,
    algorithm: str = "HS256",
    exp_in: float | None = 3600,
    now_s: float | None = None,
    **claims: Any,
) -> str:
    """A token like the Jellyfin plugin's, valid for ``exp_in`` seconds from ``now_s``."""
    issued = time.time() if now_s is None else now_s
    body: dict[str, Any] = {
        "sub": "jf-user-1",
        "name": "Alice",
        "aud": "OpenWatchParty",
        "iss": "Jellyfin",
        "iat": int(issued),
    }
    if exp_in is not None:
        body["exp"] = int(issued + exp_in)
    body.update(claims)
    return jwt.encode(body, secret, algorithm=algorithm)


def unsigned(**claims: Any) -> str:
    """An ``alg: none`` token: header and payload, no signature."""
    return jwt.encode(
        {
            "sub": "x",
            "name": "Mallory",
            "aud": "OpenWatchParty",
            "iss": "Jellyfin",
            "exp": int(time.time()) + 3600,
            **claims,
        },
        "",
        algorithm="none",
    )


async def send_auth(client: ClientConnection, **payload: Any) -> None:
    await client.send_text(json.dumps({"type": "auth", "payload": payload}))


# --------------------------------------------------------------------------
# The verifier alone, on an injected clock
# --------------------------------------------------------------------------

VERIFIER = JwtVerifier(SECRET)
NOW_MS = NOW_S * 1000


def test_verifier_returns_the_claims_of_a_valid_token() -> None:
    claims = VERIFIER(token(now_s=NOW_S), NOW_MS)
    assert (claims["sub"], claims["name"]) == ("jf-user-1", "Alice")


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(token(now_s=NOW_S, exp_in=-61), id="expired-beyond-leeway"),
        pytest.param(token(now_s=NOW_S, exp_in=None), id="no-exp"),
        pytest.param(token(now_s=NOW_S, aud="Other"), id="wrong-audience"),
        pytest.param(token(now_s=NOW_S, iss="Emby"), id="wrong-issuer"),
        pytest.param(token(now_s=NOW_S, secret="x" * 32), id="wrong-key"),
        pytest.param(
            token(now_s=NOW_S, algorithm="HS512", secret=SECRET * 2), id="other-algorithm"
        ),
        pytest.param(token(now_s=NOW_S, nbf=NOW_S + 120), id="not-before"),
        pytest.param(token(now_s=NOW_S, iat=NOW_S + 120), id="issued-in-future"),
        pytest.param(token(now_s=NOW_S, exp="soon"), id="exp-not-a-number"),
        pytest.param("", id="empty"),
        pytest.param("not-a-jwt", id="malformed"),
        pytest.param("a.b.c", id="garbage-segments"),
    ],
)
def test_verifier_refuses(bad: str) -> None:
    with pytest.raises(InvalidToken):
        VERIFIER(bad, NOW_MS)


def test_verifier_refuses_alg_none() -> None:
    with pytest.raises(InvalidToken):
        VERIFIER(unsigned(exp=NOW_S + 3600), NOW_MS)


@given(
    st.one_of(
        st.text(),
        st.lists(
            st.text(alphabet="ABCDEFabcdef0123456789-_=", max_size=40), min_size=3, max_size=3
        ).map(".".join),
    )
)
def test_any_text_is_a_token_or_an_invalid_token_never_a_crash(text: str) -> None:
    with pytest.raises(InvalidToken):
        VERIFIER(text, NOW_MS)


def test_expiry_has_sixty_seconds_of_leeway_on_the_given_now() -> None:
    fresh = token(now_s=NOW_S, exp_in=0)
    assert VERIFIER(fresh, NOW_MS + 59_000)["sub"] == "jf-user-1"
    with pytest.raises(InvalidToken):
        VERIFIER(fresh, NOW_MS + 60_000)


def test_audience_and_issuer_are_configurable() -> None:
    verifier = JwtVerifier(SECRET, audience="Party", issuer="Me")
    assert verifier(token(now_s=NOW_S, aud="Party", iss="Me"), NOW_MS)["name"] == "Alice"
    with pytest.raises(InvalidToken):
        verifier(token(now_s=NOW_S), NOW_MS)


def test_a_short_secret_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        JwtVerifier("s" * 31)


# --------------------------------------------------------------------------
# Over the wire
# --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_valid_token_gets_auth_success_and_then_may_create_a_room() -> None:
    async with (
        running_server(token_verifier=JwtVerifier(SECRET)) as server,
        connect(server.url) as client,
    ):
        hello = await receive_until(client, ClientHello)
        await send_auth(client, token=token())
        success = await receive_until(client, AuthSuccess)
        assert (success.user_name, success.client) == ("Alice", hello.client_id)
        await receive_until(client, RoomList)
        await client.send(CreateRoom(name="Private"))
        await receive_until(client, RoomState)
        assert server.core.client(hello.client_id).user_id == "jf-user-1"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "bad",
    [
        token(exp_in=-3600),
        token(aud="Other"),
        token(iss="Other"),
        token(secret="w" * 32),
        unsigned(),
        "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln",
    ],
    ids=["expired", "wrong-audience", "wrong-issuer", "wrong-key", "alg-none", "malformed"],
)
async def test_bad_token_gets_authentication_failed_and_rooms_stay_closed(bad: str) -> None:
    async with (
        running_server(token_verifier=JwtVerifier(SECRET)) as server,
        connect(server.url) as client,
    ):
        await send_auth(client, token=bad)
        assert (await receive_until(client, Error)).message == "Authentication failed"
        await client.send(CreateRoom(name="Nope"))
        assert (await receive_until(client, Error)).message == "Authentication required"
        assert server.core.room_ids == ()


@pytest.mark.anyio
async def test_before_auth_ping_and_list_rooms_work_but_join_does_not() -> None:
    async with (
        running_server(token_verifier=JwtVerifier(SECRET)) as server,
        connect(server.url) as host,
        connect(server.url) as guest,
    ):
        await send_auth(host, token=token())
        await receive_until(host, AuthSuccess)
        await host.send(CreateRoom(name="R"))
        room = (await receive_until(host, RoomState)).room
        await guest.send(Ping(payload={"client_ts": 1}))
        assert (await receive_until(guest, Pong)).payload == {"client_ts": 1}
        await guest.send_text('{"type":"list_rooms"}')
        listing = await receive_until(guest, RoomList)
        assert [r.id for r in listing.rooms] == [room]
        await guest.send(JoinRoom(room=room))
        assert (await receive_until(guest, Error)).message == "Authentication required"
        assert server.core.room(room).clients == (server.core.room(room).host_id,)


@pytest.mark.anyio
async def test_a_token_sent_after_joining_renews_the_identity_in_place() -> None:
    async with (
        running_server(token_verifier=JwtVerifier(SECRET)) as server,
        connect(server.url) as client,
    ):
        hello = await receive_until(client, ClientHello)
        await send_auth(client, token=token())
        await receive_until(client, AuthSuccess)
        await client.send(CreateRoom(name="R"))
        room = (await receive_until(client, RoomState)).room
        await send_auth(client, token=token(name="Alice B."), protocol_version=1)
        assert (await receive_until(client, AuthSuccess)).user_name == "Alice B."
        assert server.core.room_of(hello.client_id) == room


@pytest.mark.anyio
async def test_without_a_secret_user_name_names_the_client_and_rooms_are_open() -> None:
    async with running_server() as server, connect(server.url) as client:
        hello = await receive_until(client, ClientHello)
        await send_auth(client, user_name="Bob", features=["chat", "future-thing"])
        await client.send(CreateRoom(name="Open"))
        await receive_until(client, RoomState)
        assert server.core.client(hello.client_id).user_name == "Bob"


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_cli_client_authenticates_with_a_token_and_an_origin() -> None:
    cli_client = str(Path(__file__).resolve().parents[2] / "examples" / "cli_client.py")
    origin = "https://jf.example"
    verifier = JwtVerifier(SECRET)
    async with running_server(token_verifier=verifier, allowed_origins=[origin]) as server:
        options = ["--url", server.url, "--pause", "0.05", "--origin", origin]
        commands = ["create Early", f"auth {token()}", "create Late"]
        result = await anyio.run_process([sys.executable, cli_client, *options, *commands])
    output = result.stdout.decode()
    assert '"message":"Authentication required"' in output
    assert '"type":"auth_success"' in output
    assert '"name":"Late"' in output
