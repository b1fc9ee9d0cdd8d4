"""Clear messages for optional dependencies that are not installed.

This module imports nothing outside the standard library, so that the
``opensyncparty-server`` command can start, see what is missing and say
which extra to install, in one line, instead of a traceback.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence

__all__ = ["TRANSPORTS_MODULES", "main", "missing_message", "missing_transports"]

TRANSPORTS_MODULES = ("anyio", "wsproto", "h11", "jwt", "prometheus_client")
"""Top-level modules the ``transports`` extra brings."""


def missing_message(module: str, extra: str, what: str) -> str:
    return (
        f"{what} needs the '{extra}' extra ({module} is not installed): "
        f"pip install 'opensyncparty-core[{extra}]'"
    )


def missing_transports() -> str | None:
    """The one-line message if a module of the ``transports`` extra is missing, else None."""
    for module in TRANSPORTS_MODULES:
        if importlib.util.find_spec(module) is None:
            return missing_message(module, "transports", "opensyncparty_transports")
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``opensyncparty-server``: check the extra, then run the command."""
    message = missing_transports()
    if message is not None:
        sys.stderr.write(f"opensyncparty-server: error: {message}\n")
        return 2
    from ._cli import main as cli_main

    return cli_main(argv)
