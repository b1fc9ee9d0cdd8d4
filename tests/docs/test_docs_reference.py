"""The API reference covers every public name, and the version has one source."""

from __future__ import annotations

import importlib
import re
from importlib.metadata import version
from pathlib import Path

import pytest

import opensyncparty_core

DOCS = Path(__file__).parents[2] / "docs"
DIRECTIVE = re.compile(
    r"^\.\. (?:auto(?:class|function|exception|data)|py:type|data)::\s+([\w.]+)", re.M
)


@pytest.mark.parametrize(
    ("package", "page"),
    [
        ("opensyncparty_core", "api/core.rst"),
        ("opensyncparty_transports", "api/transports.rst"),
        ("opensyncparty_transports.mpv", "api/mpv.rst"),
    ],
)
def test_every_public_name_has_an_entry(package: str, page: str) -> None:
    public = set(importlib.import_module(package).__all__)
    documented = set(DIRECTIVE.findall((DOCS / page).read_text()))
    assert public - documented == set(), f"undocumented in {page}"
    assert documented - public == set(), f"documented but not exported by {package}"


def test_version_comes_from_the_package_metadata() -> None:
    assert opensyncparty_core.__version__ == version("opensyncparty-core")


def test_changelog_has_a_section_for_the_current_version() -> None:
    changelog = (DOCS / "changelog.rst").read_text()
    headings = re.findall(r"^(\S.*)\n-{3,}$", changelog, re.M)
    assert headings[0] == "Unreleased"
    assert headings[1] == version("opensyncparty-core")


def test_sync_client_page_states_the_sync_config_defaults() -> None:
    from opensyncparty_core import SyncConfig

    from .test_docs_protocol import table_rows

    text = (DOCS / "howto" / "sync-client.rst").read_text()
    rows = table_rows(text, "What it does")
    config = SyncConfig()
    assert len(rows) >= 9
    for name, default, _ in rows:
        assert getattr(config, name.strip("`")) == float(default), name
