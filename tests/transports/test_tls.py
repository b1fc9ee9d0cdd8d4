"""``wss://``: the server speaks TLS itself, with a certificate made for the test."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

import anyio
import anyio.abc
import pytest
from anyio.streams.tls import TLSStream
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from opensyncparty_core import CreateRoom, JoinRoom, PlayerEvent, RoomState
from opensyncparty_transports import connect

from .support import TIMEOUT, receive_until, running_server

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1: (certfile, keyfile)."""
    return write_certificate(tmp_path_factory.mktemp("tls"))


def write_certificate(folder: Path) -> tuple[Path, Path]:
    """Write a self-signed certificate for 127.0.0.1 and its key in ``folder``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "opensyncparty test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certfile, keyfile


async def read_to_the_end(stream: anyio.abc.SocketStream) -> None:
    while True:
        await stream.receive()


def contexts(certificate: tuple[Path, Path]) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    certfile, keyfile = certificate
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(certfile, keyfile)
    client = ssl.create_default_context(cafile=str(certfile))
    return server, client


async def test_a_whole_session_over_wss(certificate: tuple[Path, Path]) -> None:
    server_context, client_context = contexts(certificate)
    with anyio.fail_after(TIMEOUT):
        async with running_server(ssl_context=server_context) as server:
            assert server.url.startswith("wss://127.0.0.1:")
            async with (
                connect(server.url, ssl_context=client_context) as host,
                connect(server.url, ssl_context=client_context) as guest,
            ):
                await host.send(CreateRoom(name="Encrypted"))
                room = (await receive_until(host, RoomState)).room
                await guest.send(JoinRoom(room=room))
                await receive_until(guest, RoomState)
                # Frames in a burst (under the rate limit): all through the TLS stream, in order.
                for i in range(20):
                    await host.send(PlayerEvent(room=room, action="seek", position=float(i)))
                positions = [(await receive_until(guest, PlayerEvent)).position for _ in range(20)]
                assert positions == [float(i) for i in range(20)]


async def test_tls_connections_read_and_write_through_anyio_tls_stream(
    certificate: tuple[Path, Path],
) -> None:
    # Plain TCP is read from the raw socket (_rawsocket); TLS records never are.
    server_context, client_context = contexts(certificate)
    with anyio.fail_after(TIMEOUT):
        async with (
            running_server(ssl_context=server_context) as server,
            connect(server.url, ssl_context=client_context),
        ):
            while not server._connections:
                await anyio.sleep(0.01)
            (conn,) = server._connections.values()
            assert isinstance(conn.stream, TLSStream)
            assert conn.raw_socket is None


async def test_a_plain_client_on_the_tls_port_is_dropped_and_others_go_on(
    certificate: tuple[Path, Path],
) -> None:
    server_context, client_context = contexts(certificate)
    with anyio.fail_after(TIMEOUT):
        async with running_server(ssl_context=server_context) as server:
            async with await anyio.connect_tcp("127.0.0.1", server.port) as plain:
                await plain.send(b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n")
                with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                    await read_to_the_end(plain)
            assert server.stats.rejected_handshakes == {"tls": 1}
            async with connect(server.url, ssl_context=client_context) as client:
                await client.send(CreateRoom(name="Still here"))
                await receive_until(client, RoomState)
