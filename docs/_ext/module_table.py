"""The module table of the architecture page, generated from the modules' own docstrings.

`{agent-module-table} agent_magic` lists every module of the package (read with `ast`, nothing is
imported) with the first paragraph of its docstring, which by house rule says the module's one job.
A module added to the code appears here with no edit to the docs.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path
from typing import Any

from doc_nodes import code, inline, table
from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx.application import Sphinx


def package_root(package: str) -> Path:
    """The folder of `package`, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"{package!r} is not an importable package")
    return Path(next(iter(spec.submodule_search_locations)))


def modules(package: str) -> list[tuple[str, str]]:
    """(path relative to the package, first docstring paragraph) for every module of `package`."""
    root = package_root(package)
    result = []
    for path in sorted(root.rglob("*.py"), key=lambda p: (len(p.relative_to(root).parts), str(p))):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        summary = " ".join(doc.split("\n\n")[0].split())
        result.append((path.relative_to(root).as_posix(), summary))
    return result


class ModuleTable(Directive):
    """`{agent-module-table} PACKAGE`: one row per module, its path and its job."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        """Build the table; a module without a docstring is a build warning."""
        package = self.arguments[0]
        env = self.state.document.settings.env
        rows = []
        for path, summary in modules(package):
            env.note_dependency(str(package_root(package) / path))
            if not summary:
                self.state.document.reporter.warning(f"{package}/{path} has no module docstring", line=self.lineno)
            rows.append([code(path), inline(summary)])
        return [table(["module", "its job"], rows, widths=[28, 72])]


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the directive."""
    app.add_directive("agent-module-table", ModuleTable)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
