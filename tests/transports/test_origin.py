"""The Origin allow-list: refused with HTTP 403 before the upgrade; the core never knows."""

from __future__ import annotations

import anyio
import pytest

from opensyncparty_core import ClientHello, seeded_uuid4s
from opensyncparty_transports import HandshakeError, connect

from .support import TIMEOUT, receive_until, running_server

pytestmark = pytest.mark.anyio

ALLOWED = ["https://jf.example", "http://localhost:8096"]


@pytest.mark.parametrize(
    "headers",
    [[], [("Origin", "https://evil.example")], [("Origin", "https://jf.example.evil")]],
    ids=["no-origin", "other-origin", "suffix-trick"],
)
async def test_an_unlisted_or_missing_origin_gets_403_and_no_core_event(
    headers: list[tuple[str, str]],
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(allowed_origins=ALLOWED, id_source=seeded_uuid4s(1)) as server:
            with pytest.raises(HandshakeError) as refused:
                async with connect(server.url, headers=headers):
                    pass
            assert refused.value.status_code == 403
            assert server.core.client_ids == ()
            assert server.core.received_by_type == {}
            assert server.stats.rejected_handshakes == {"origin": 1}
            # The refused request took no id: the next client gets the source's first.
            async with connect(server.url, headers=[("Origin", ALLOWED[0])]) as client:
                hello = await receive_until(client, ClientHello)
                assert hello.client_id == seeded_uuid4s(1)()


async def test_refusals_are_logged_once_per_interval_not_once_each(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(allowed_origins=ALLOWED) as server:
            for _ in range(5):
                with pytest.raises(HandshakeError):
                    async with connect(server.url, headers=[("Origin", "https://x.example")]):
                        pass
            assert server.stats.rejected_handshakes == {"origin": 5}
    refused = [r.getMessage() for r in caplog.records if "refused a WebSocket" in r.getMessage()]
    assert len(refused) == 1
    assert "Origin 'https://x.example' not allowed" in refused[0]


@pytest.mark.parametrize("origin", ["https://jf.example", "HTTPS://JF.EXAMPLE/", ALLOWED[1]])
async def test_a_listed_origin_is_accepted_whatever_its_case(origin: str) -> None:
    with anyio.fail_after(TIMEOUT):
        async with (
            running_server(allowed_origins=ALLOWED) as server,
            connect(server.url, headers=[("Origin", origin)]) as client,
        ):
            await receive_until(client, ClientHello)


async def test_without_an_allow_list_any_origin_connects_and_a_warning_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with (
            running_server() as server,
            connect(server.url, headers=[("Origin", "https://anywhere.example")]) as client,
        ):
            await receive_until(client, ClientHello)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == ["no Origin allow-list: web pages from any origin may connect"]
