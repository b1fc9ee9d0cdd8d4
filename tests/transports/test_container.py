"""The container's entry command, run the way the image runs it, outside Docker.

No Docker engine runs where the tests run, so this test reads the
``Dockerfile`` (its ``ENV``, ``CMD`` and ``HEALTHCHECK``) and the
``docker-compose.yml`` environment, and runs the same command with the same
environment as a subprocess; only the addresses change (loopback, free ports).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from .support import TIMEOUT, server_process
from .test_auth import SECRET
from .test_process import CONSOLE_SCRIPT, free_port

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE = (ROOT / "docker-compose.yml").read_text()

pytestmark = pytest.mark.anyio


def instructions(name: str) -> list[str]:
    """The arguments of every ``name`` instruction, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [m.group(1).strip() for m in re.finditer(rf"^{name}\s+(.*)$", joined, re.M)]


def image_environment() -> dict[str, str]:
    env: dict[str, str] = {}
    for line in instructions("ENV"):
        env.update(re.findall(r"(\w+)=(\S+)", line))
    return env


def compose_environment() -> dict[str, str]:
    block = COMPOSE.split("environment:", 1)[1]
    pairs = re.findall(r'^\s+(\w+): "(.*)"$', block, re.M)
    return {key: value.replace("${JWT_SECRET:-}", SECRET) for key, value in pairs}


def exec_form(text: str) -> list[str]:
    command = json.loads(text)
    assert isinstance(command, list)
    return [str(part) for part in command]


def test_the_image_is_slim_non_root_and_checks_its_health() -> None:
    assert instructions("FROM")[0].startswith("python:")
    assert "slim" in instructions("FROM")[0]
    assert instructions("USER") == ["party"]
    assert exec_form(instructions("CMD")[-1]) == ["opensyncparty-server"]
    assert "/health" in instructions("HEALTHCHECK")[0]


def test_compose_shows_every_upstream_variable() -> None:
    upstream = {"PORT", "HOST", "LOG_LEVEL", "ALLOWED_ORIGINS", "JWT_SECRET", "JWT_AUDIENCE",
                "JWT_ISSUER"}  # fmt: skip
    assert upstream <= compose_environment().keys()


@pytest.mark.skipif(not CONSOLE_SCRIPT.exists(), reason="package not installed with scripts")
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the child picks its own loop
async def test_the_entry_command_serves_passes_its_healthcheck_and_stops_on_sigterm() -> None:
    port, metrics_port = free_port(), free_port()
    environ = {
        **os.environ,
        **image_environment(),
        **compose_environment(),
        # What changes outside the container: loopback and free ports.
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "METRICS_ADDRESS": f"127.0.0.1:{metrics_port}",
    }
    (program,) = exec_form(instructions("CMD")[-1])
    assert program == CONSOLE_SCRIPT.name
    healthcheck = exec_form(instructions("HEALTHCHECK")[0].split(" CMD ", 1)[1])
    assert healthcheck[0] == "python"
    healthcheck[0] = sys.executable

    def check_health() -> int:
        return subprocess.run(healthcheck, env=environ, capture_output=True, timeout=10).returncode

    ready = f"listening on ws://127.0.0.1:{port}/ws"
    with anyio.fail_after(TIMEOUT):
        async with server_process([str(CONSOLE_SCRIPT)], environ, ready) as process:
            assert await anyio.to_thread.run_sync(check_health) == 0
            process.send_signal(signal.SIGTERM)
            assert await process.wait() == 0
        assert await anyio.to_thread.run_sync(check_health) != 0
