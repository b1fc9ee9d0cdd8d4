"""Sphinx configuration for the opensyncparty documentation.

The build must be warning-free offline (CI has no network), so intersphinx
only fetches inventories when ``OPENSYNCPARTY_DOCS_INTERSPHINX=1`` is set;
without them, references to external names resolve through
``nitpick_ignore`` below and render as plain text.
"""

from __future__ import annotations

import contextlib
import os
from importlib.metadata import version as _dist_version

project = "opensyncparty"
author = "opensyncparty developers"
copyright = "2026, opensyncparty developers"
# The one place the version lives is pyproject.toml; read it from the installed metadata.
release = _dist_version("opensyncparty-core")
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
]

exclude_patterns = ["_build", "examples/README.rst"]
templates_path: list[str] = []

html_theme = "furo"
html_title = f"opensyncparty {release}"
html_static_path: list[str] = []

# -- autodoc ---------------------------------------------------------------

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = False
autodoc_default_options = {"members": True, "undoc-members": False}

# -- intersphinx -------------------------------------------------------------

_INTERSPHINX = {
    "python": ("https://docs.python.org/3", None),
    "attrs": ("https://www.attrs.org/en/stable", None),
    "anyio": ("https://anyio.readthedocs.io/en/stable", None),
}
intersphinx_mapping = _INTERSPHINX if os.environ.get("OPENSYNCPARTY_DOCS_INTERSPHINX") else {}
intersphinx_timeout = 10

# -- nitpicky ----------------------------------------------------------------

# Names defined outside this project. With intersphinx on they become links;
# offline they are plain text instead of a warning. Nothing of ours belongs here.
nitpick_ignore = [
    ("py:class", "attrs.Attribute"),
    ("py:class", "collections.abc.Callable"),
    ("py:class", "collections.abc.Mapping"),
    ("py:class", "collections.abc.Sequence"),
]

# -- public names live at the package root -----------------------------------

# The classes are defined in private modules (``opensyncparty_core._server``...)
# but documented, and imported, from the package. Point ``__module__`` at the
# package so signatures link to the documented names.


def _publish(package_name: str) -> None:
    import importlib

    package = importlib.import_module(package_name)
    for name in package.__all__:
        obj = getattr(package, name)
        if getattr(obj, "__module__", "").startswith(package_name + "._"):
            # Type aliases and other immutable objects keep their own.
            with contextlib.suppress(AttributeError, TypeError):
                obj.__module__ = package_name


_publish("opensyncparty_core")

# Keep the aliases' names in signatures instead of expanding the unions.
autodoc_type_aliases = {
    name: f"opensyncparty_core.{name}"
    for name in (
        "ClientMessage",
        "ServerMessage",
        "Message",
        "PlayerAction",
        "PlayState",
    )
}
