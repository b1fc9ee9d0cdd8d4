"""``--backend``: which event loop the server runs on."""

from __future__ import annotations

import importlib.util

import pytest

from opensyncparty_transports import resolve_backend


def test_uvloop_is_asyncio_on_uvloops_event_loop() -> None:
    assert resolve_backend("uvloop") == ("asyncio", {"use_uvloop": True})


def test_auto_is_uvloop_when_it_is_installed() -> None:
    assert importlib.util.find_spec("uvloop") is not None  # a dev dependency
    assert resolve_backend("auto") == ("asyncio", {"use_uvloop": True})


def test_auto_is_plain_asyncio_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert resolve_backend("auto") == ("asyncio", {})
    with pytest.raises(ValueError, match="speedups"):
        resolve_backend("uvloop")


@pytest.mark.parametrize("name", ["asyncio", "trio"])
def test_asyncio_and_trio_are_anyios_own(name: str) -> None:
    assert resolve_backend(name) == (name, {})
