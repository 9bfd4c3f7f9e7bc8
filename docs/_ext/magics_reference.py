"""The magics reference, generated from the magics themselves.

`{agent-magic-options}` renders the options of `%%agent` (and of `%agent`, when the line magic has a
parser of its own) from their IPython `magic_arguments` parsers; `{agent-subcommands}` renders the
`%agent` subcommands. Both read the code through the small functions below, so a change in how the
magics declare themselves is one edit here.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from doc_nodes import code, table
from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx.application import Sphinx

MAGIC_NAME = "agent"


def magic_parser(kind: str) -> argparse.ArgumentParser | None:
    """The `magic_arguments` parser of the `kind` ("cell" or "line") agent magic, None if it has none."""
    from agent_magic.magic import AgentMagics as magics

    method_name = magics.magics[kind].get(MAGIC_NAME)
    method = getattr(magics, method_name, None) if method_name else None
    return getattr(method, "parser", None)


def subcommands(table: Any = None) -> list[tuple[str, str]]:
    """The `%agent` subcommands as (name, help), in the order `%agent help` lists them: `help` first,
    then `agent_magic.commands.SUBCOMMANDS` (objects with `name`, `help` and `usage()`), or `table`
    (a mapping of name to help text, or such objects). A subcommand with arguments shows its usage."""
    if table is None:
        from agent_magic.commands import SUBCOMMANDS as table

        return [("help", "show this help"), *subcommands(table)]
    if isinstance(table, Mapping):
        return [(str(name), str(text)) for name, text in table.items()]
    rows = []
    for entry in table:
        usage = entry.usage() if hasattr(entry, "usage") else entry.name
        rows.append((str(entry.name), str(entry.help) + (f" (`%agent {usage}`)" if usage != entry.name else "")))
    return rows


def option_rows(parser: argparse.ArgumentParser) -> list[tuple[str, str, str]]:
    """(option, value, help) for every argument of `parser` but `-h`, with argparse's help expansion
    applied (so `%%` reads `%` and `%(default)s` is filled in, as `%%agent?` shows them)."""
    # argparse's own expansion (private, but what `%%agent?` prints through), not a copy of it.
    formatter = parser._get_formatter()
    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        help_text = formatter._expand_help(action) if action.help else ""
        if action.option_strings:
            option = ", ".join(action.option_strings)
            takes_value = action.nargs != 0
            value = (action.metavar or action.dest.upper()) if takes_value else ""
        else:
            option = action.metavar or action.dest
            value = "…" if action.nargs in ("*", "+") else ""
        if action.type in (int, float) and value:
            value += f" ({action.type.__name__})"
        rows.append((option, value, help_text))
    return rows


def _options_table(parser: argparse.ArgumentParser) -> nodes.table:
    rows = [[code(option), code(value) if value else "", help_text] for option, value, help_text in option_rows(parser)]
    return table(["option", "value", "meaning"], rows, widths=[20, 16, 64])


def _note_magic_source(directive: Directive) -> None:
    import agent_magic.magic

    directive.state.document.settings.env.note_dependency(agent_magic.magic.__file__)


class MagicOptions(Directive):
    """`{agent-magic-options}`: the options of `%%agent`, and of `%agent` when it parses its own."""

    def run(self) -> list[nodes.Node]:
        """One table when both magics share a parser, else one table each."""
        _note_magic_source(self)
        cell, line = magic_parser("cell"), magic_parser("line")
        if cell is None:
            raise self.error("%%agent has no magic_arguments parser: update docs/_ext/magics_reference.py")
        if line is None or line is cell:
            return [_options_table(cell)]
        return [
            nodes.rubric("", "", code("%%agent")),
            _options_table(cell),
            nodes.rubric("", "", code("%agent")),
            _options_table(line),
        ]


class Subcommands(Directive):
    """`{agent-subcommands}`: the `%agent` subcommands and what each does."""

    def run(self) -> list[nodes.Node]:
        """A table of `%agent NAME` and its help text."""
        _note_magic_source(self)
        rows = [[code(f"%agent {name}"), text] for name, text in subcommands()]
        return [table(["you write", "what happens"], rows, widths=[30, 70])]


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the directives."""
    app.add_directive("agent-magic-options", MagicOptions)
    app.add_directive("agent-subcommands", Subcommands)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
