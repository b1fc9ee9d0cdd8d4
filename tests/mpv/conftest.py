"""mpv tests: real mpv and ffmpeg, headless, on 127.0.0.1.

Tests that need them are marked ``mpv``. Without mpv or ffmpeg they are not
run and the summary says so in one line, unless ``OPENSYNCPARTY_REQUIRE_MPV``
is set (CI sets it): then they run and fail, because a CI without mpv is a
gap to fix, not a reason to skip.
"""

from __future__ import annotations

import os
import pathlib
import shutil

import pytest
from benchmarks.mpv_media import make_clip

MISSING = [tool for tool in ("mpv", "ffmpeg") if shutil.which(tool) is None]
REQUIRED = bool(os.environ.get("OPENSYNCPARTY_REQUIRE_MPV"))
_not_run: list[pytest.Item] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not MISSING or REQUIRED:
        return
    _not_run[:] = [item for item in items if item.get_closest_marker("mpv")]
    if _not_run:
        items[:] = [item for item in items if not item.get_closest_marker("mpv")]
        config.hook.pytest_deselected(items=_not_run)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _not_run:
        terminalreporter.write_line(
            f"{len(_not_run)} mpv tests not run: {' and '.join(MISSING)} not installed "
            "(apt-get install -y mpv ffmpeg)"
        )


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A 60 s test clip (25 fps, keyframe every 2 s, silent audio), made once per run."""
    return make_clip(tmp_path_factory.mktemp("media") / "clip.mp4", seconds=60.0)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
