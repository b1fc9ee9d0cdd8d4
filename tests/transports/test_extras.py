"""Without the ``transports`` extra, the command says which extra to install, in one line.

The test builds a real virtual environment holding only what the core needs
(``attrs`` and this package's own metadata, with ``src`` on its path), so the
transports' dependencies are truly absent, then runs the console script as
its installed entry point says. It takes about a second.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

import opensyncparty_core

from .support import TIMEOUT

SRC = Path(opensyncparty_core.__file__).resolve().parents[1]

RUN_ENTRY_POINT = """
import sys
from importlib.metadata import entry_points
(script,) = entry_points(group="console_scripts", name="opensyncparty-server")
sys.exit(script.load()())
"""


@pytest.fixture(scope="module")
def python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with attrs and opensyncparty-core but none of the extras; returns its python."""
    root = tmp_path_factory.mktemp("core-only") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    site = Path(purelib)
    attrs_root = Path(attrs.__file__).resolve().parents[1]
    for name in ("attr", "attrs"):
        shutil.copytree(attrs_root / name, site / name)
    for dist in ("attrs", "opensyncparty-core"):
        info = importlib.metadata.distribution(dist)._path  # type: ignore[attr-defined]
        shutil.copytree(info, site / Path(info).name)
    (site / "opensyncparty-src.pth").write_text(f"{SRC}\n")
    return python


def test_the_command_without_the_transports_extra_names_the_extra(python: Path) -> None:
    probe = subprocess.run(
        [str(python), "-c", "import opensyncparty_core, importlib.util as u; "
         "print(u.find_spec('anyio'), u.find_spec('attrs') is not None)"],
        capture_output=True, text=True, timeout=TIMEOUT, check=True,
    )  # fmt: skip
    assert probe.stdout.split() == ["None", "True"]

    result = subprocess.run(
        [str(python), "-c", RUN_ENTRY_POINT], capture_output=True, timeout=TIMEOUT, check=False
    )
    assert result.returncode == 2
    assert result.stderr == (
        b"opensyncparty-server: error: opensyncparty_transports needs the 'transports' extra "
        b"(anyio is not installed): pip install 'opensyncparty-core[transports]'\n"
    )


def test_importing_a_transport_name_without_the_extra_says_which_extra(python: Path) -> None:
    result = subprocess.run(
        [str(python), "-c", "from opensyncparty_transports import WebSocketServer"],
        capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "ModuleNotFoundError: opensyncparty_transports needs the 'transports' extra "
        "(anyio is not installed): pip install 'opensyncparty-core[transports]'"
    )
