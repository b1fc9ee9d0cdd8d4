"""Settings from the environment (upstream's names) and flags; bad values exit 2 in one line."""

from __future__ import annotations

import inspect
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from opensyncparty_core import AuthSuccess, ClientHello, CreateRoom, RoomState
from opensyncparty_transports import HandshakeError, WebSocketServer, connect
from opensyncparty_transports._cli import build_parser
from opensyncparty_transports._settings import Settings, SettingsError, resolve, server_options

from .support import TIMEOUT, receive_until, server_process
from .test_auth import SECRET, token
from .test_http import get, http_exchange
from .test_process import CONSOLE_SCRIPT, free_port

needs_script = pytest.mark.skipif(
    not CONSOLE_SCRIPT.exists(), reason="package not installed with scripts"
)


def settings(*argv: str, **environ: str) -> Settings:
    return resolve(build_parser().parse_args(argv), environ)


def test_defaults_are_upstreams() -> None:
    assert settings() == Settings(
        host="0.0.0.0",
        port=3000,
        log_level="INFO",
        allowed_origins=None,
        jwt_secret="",
        jwt_audience="OpenWatchParty",
        jwt_issuer="Jellyfin",
        metrics=True,
        metrics_address=None,
    )


def test_every_variable_is_read() -> None:
    got = settings(
        PORT="8080",
        HOST="127.0.0.1",
        LOG_LEVEL="debug",
        ALLOWED_ORIGINS="https://jf.example, https://other.example/",
        JWT_SECRET=SECRET,
        JWT_AUDIENCE="Aud",
        JWT_ISSUER="Iss",
        METRICS="off",
        METRICS_ADDRESS="127.0.0.1:9100",
    )
    assert (got.port, got.host, got.log_level) == (8080, "127.0.0.1", "DEBUG")
    assert got.allowed_origins == frozenset({"https://jf.example", "https://other.example"})
    assert (got.jwt_secret, got.jwt_audience, got.jwt_issuer) == (SECRET, "Aud", "Iss")
    assert (got.metrics, got.metrics_address) == (False, ("127.0.0.1", 9100))


def test_flags_override_the_environment() -> None:
    got = settings(
        "--port", "4000", "--host", "::1", "--log-level", "error", "--allowed-origins", "https://a",
        PORT="8080", HOST="127.0.0.1", LOG_LEVEL="debug", ALLOWED_ORIGINS="https://b",
    )  # fmt: skip
    assert (got.port, got.host, got.log_level) == (4000, "::1", "ERROR")
    assert got.allowed_origins == frozenset({"https://a"})


def test_an_empty_secret_means_auth_off_and_star_means_any_origin() -> None:
    got = settings(JWT_SECRET="", ALLOWED_ORIGINS="*")
    assert got.allowed_origins is None
    assert "token_verifier" not in server_options(got)
    assert "token_verifier" in server_options(settings(JWT_SECRET=SECRET))


def test_every_access_keyword_of_the_server_has_a_setting(tmp_path: Path) -> None:
    from .test_tls import write_certificate

    certfile, keyfile = write_certificate(tmp_path)
    everything = settings(
        "--certfile", str(certfile), "--keyfile", str(keyfile),
        JWT_SECRET=SECRET, ALLOWED_ORIGINS="https://a", METRICS_ADDRESS="127.0.0.1:0",
    )  # fmt: skip
    keywords = set(inspect.signature(WebSocketServer).parameters)
    access = {"token_verifier", "allowed_origins", "ssl_context", "metrics"}
    access |= {"metrics_host", "metrics_port"}
    assert set(server_options(everything)) == access
    assert access <= keywords
    WebSocketServer(**server_options(everything))


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        ((), {"PORT": "abc"}, "PORT must be an integer from 0 to 65535, got 'abc'"),
        ((), {"PORT": "70000"}, "PORT must be an integer from 0 to 65535, got '70000'"),
        (("--port", "x"), {}, "--port must be an integer from 0 to 65535, got 'x'"),
        ((), {"LOG_LEVEL": "loud"}, "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR"),
        ((), {"JWT_SECRET": "short"}, "JWT_SECRET must be at least 32 bytes"),
        ((), {"METRICS": "maybe"}, "METRICS must be on or off, got 'maybe'"),
        ((), {"METRICS_ADDRESS": "9100"}, "METRICS_ADDRESS must be HOST:PORT, got '9100'"),
        ((), {"TLS_KEYFILE": "k.pem"}, "a TLS key file needs a certificate file"),
    ],
)
def test_bad_values_name_the_setting(
    argv: tuple[str, ...], environ: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        settings(*argv, **environ)


@needs_script
@pytest.mark.parametrize(
    ("args", "environ", "message"),
    [
        ([], {"PORT": "abc"}, b"PORT must be an integer from 0 to 65535, got 'abc'"),
        (["--log-level", "chatty"], {}, b"argument --log-level: invalid choice: 'CHATTY'"),
        (["--certfile", "/nonexistent.pem"], {}, b"cannot load the TLS certificate"),
    ],
)
def test_the_command_exits_2_with_one_line_and_no_traceback(
    args: list[str], environ: dict[str, str], message: bytes
) -> None:
    result = subprocess.run(
        [str(CONSOLE_SCRIPT), *args],
        env={**os.environ, **environ},
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.count(b"\n") == 1, result.stderr
    assert result.stderr.startswith(b"opensyncparty-server: error: ")
    assert message in result.stderr


@needs_script
@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the child picks its own loop
async def test_a_server_configured_by_the_environment_alone() -> None:
    port, metrics_port = free_port(), free_port()
    url = f"ws://127.0.0.1:{port}/ws"
    environ = {
        **os.environ,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "LOG_LEVEL": "info",
        "JWT_SECRET": SECRET,
        "ALLOWED_ORIGINS": "https://jf.example",
        "METRICS_ADDRESS": f"127.0.0.1:{metrics_port}",
    }
    origin = [("Origin", "https://jf.example")]
    with anyio.fail_after(TIMEOUT):
        command = [str(CONSOLE_SCRIPT)]
        async with server_process(command, environ, f"listening on {url}") as process:
            with pytest.raises(HandshakeError) as refused:
                async with connect(url):
                    pass
            assert refused.value.status_code == 403
            async with connect(url, headers=origin) as client:
                await receive_until(client, ClientHello)
                await client.send(CreateRoom(name="Too early"))
                await client.send_text(json.dumps({"type": "auth", "payload": {"token": token()}}))
                assert (await receive_until(client, AuthSuccess)).user_name == "Alice"
                await client.send(CreateRoom(name="Now"))
                await receive_until(client, RoomState)
                status, _, body = await http_exchange(metrics_port, get("/metrics"))
                assert status == 200
                assert b'opensyncparty_errors_total{reason="authentication_required"} 1.0' in body
                assert (await http_exchange(port, get("/metrics")))[0] == 404
            process.send_signal(signal.SIGTERM)
            assert await process.wait() == 0


def test_the_trio_backend_without_trio_names_the_extra() -> None:
    """Trio is hidden from the import system in a child interpreter."""
    # None in sys.modules is the import system's own "this module is not there".
    child = (
        "import sys\n"
        "sys.modules['trio'] = None\n"
        "from opensyncparty_transports._extras import main\n"
        "sys.exit(main(['--backend', 'trio']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, timeout=TIMEOUT, check=False
    )
    assert result.returncode == 2
    assert result.stderr == (
        b"opensyncparty-server: error: --backend trio needs the 'trio' extra "
        b"(trio is not installed): pip install 'opensyncparty-core[trio]'\n"
    )
