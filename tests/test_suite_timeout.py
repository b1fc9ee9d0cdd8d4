"""Every test has a timeout, so that a hang fails one test instead of stalling CI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_the_project_gives_every_test_a_timeout(pytestconfig: pytest.Config) -> None:
    assert float(pytestconfig.getini("timeout")) == 120


def test_a_hanging_test_fails_with_the_project_configuration(tmp_path: Path) -> None:
    hang = tmp_path / "test_hang.py"
    hang.write_text("def test_hang():\n    while True:\n        pass\n", encoding="utf-8")
    # The project's own configuration, with the timeout shortened to keep this quick.
    command = [sys.executable, "-m", "pytest", "-c", str(PYPROJECT), "-o", "timeout=1"]
    done = subprocess.run(
        [*command, "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(hang)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Timeout" in done.stdout
