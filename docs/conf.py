"""Sphinx configuration for the opensyncparty documentation.

The build must be warning-free offline (CI has no network), so intersphinx
only fetches inventories when ``OPENSYNCPARTY_DOCS_INTERSPHINX=1`` is set;
without them, references to external names resolve through
``nitpick_ignore`` below and render as plain text.
"""

from __future__ import annotations

import os
import re
from importlib.metadata import version as _dist_version
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from docutils.nodes import Element
    from sphinx.addnodes import pending_xref
    from sphinx.application import Sphinx
    from sphinx.environment import BuildEnvironment

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
    ("py:class", "collections.abc.AsyncIterator"),
    ("py:class", "anyio.abc.TaskStatus"),
    ("py:class", "anyio.Event"),
    ("py:class", "os.PathLike"),
    ("py:class", "collections.abc.Iterable"),
    ("py:class", "ssl.SSLContext"),
    ("py:class", "argparse.ArgumentParser"),
    ("py:class", "argparse.Namespace"),
]

# -- public names live at the package root -----------------------------------

# The classes are defined in private modules (``opensyncparty_core._server``...)
# and documented under the package, where users import them from. Signatures
# name the defining module, so a reference to ``pkg._module.Name`` that finds
# nothing is retried as ``pkg.Name``.

_PRIVATE_NAME = re.compile(r"(opensyncparty_\w+)\._\w+\.(\w+)")


def _resolve_private_name(
    app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: Element
) -> Element | None:
    match = _PRIVATE_NAME.fullmatch(node.get("reftarget", ""))
    if node.get("refdomain") != "py" or match is None:
        return None
    public = f"{match[1]}.{match[2]}"
    return env.get_domain("py").resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], public, node, contnode
    )


# Sphinx 9 leaves an alias inside a generic (``list[SyncOutput]``) as its repr.
_ALIAS_REPR = re.compile(r"TypeAliasForwardRef\('([\w.]+)'\)")
_OBJECT_REPR = re.compile(r"<(?:function (\w+)|[\w.]+\._IgnoredTaskStatus object)[^>]*>")


def _readable_defaults(
    app: Sphinx,
    what: str,
    name: str,
    obj: object,
    options: object,
    signature: str | None,
    return_annotation: str | None,
) -> tuple[str | None, str | None]:
    """Show ``clock=wall_clock_ms`` rather than ``clock=<function wall_clock_ms at 0x...>``,
    and ``list[SyncOutput]`` rather than the alias's repr."""
    if signature is not None:
        signature = _OBJECT_REPR.sub(lambda m: m[1] or "TASK_STATUS_IGNORED", signature)
        signature = _ALIAS_REPR.sub(r"\1", signature)
    if return_annotation is not None:
        return_annotation = _ALIAS_REPR.sub(r"\1", return_annotation)
    return signature, return_annotation


def setup(app: Sphinx) -> None:
    app.connect("missing-reference", _resolve_private_name)
    app.connect("autodoc-process-signature", _readable_defaults)


# Keep the aliases' names in signatures instead of expanding the unions.
autodoc_type_aliases = {
    name: f"opensyncparty_core.{name}"
    for name in (
        "ClientMessage",
        "ServerMessage",
        "Message",
        "PlayerAction",
        "PlayState",
        "DropReason",
        "PlayerCommand",
        "SyncOutput",
    )
}
