"""Sphinx configuration of the agent_magic documentation (`make docs`).

Pages are MyST Markdown, so they read on GitHub too; the reference pages (settings, magics, ledger
schema, events, module table) are generated from the code by the extensions in `_ext/`. The build
is offline: no intersphinx, no remote images, no link checking.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).parent
sys.path.insert(0, str(DOCS / "_ext"))

from agent_magic import __version__  # noqa: E402  (after the path set-up, like every Sphinx conf)

project = "agent_magic"
author = "the agent_magic authors"
copyright = "agent_magic authors"
version = release = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "config_reference",
    "magics_reference",
    "ledger_schema",
    "events_reference",
    "module_table",
]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext"]
# Help texts quote values ('auto'): typographic quotes would change what a reader copies.
smartquotes = False
# Code blocks without a language (cell text, ASCII pictures) are shown as they are.
highlight_language = "text"
# Our docstrings write `name` for code, as Markdown does.
default_role = "code"

# MyST: heading anchors, so `page.md#a-heading` links work here and on GitHub.
myst_heading_anchors = 3

# autodoc documents the public Python API from its docstrings (Google style: napoleon reads Args:).
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
napoleon_google_docstring = True
napoleon_numpy_docstring = False

html_theme = "furo"
html_title = f"agent_magic {release}"
html_static_path: list[str] = []
html_show_sourcelink = False
