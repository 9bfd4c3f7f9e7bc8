"""The events reference, generated from `agent_magic.events`.

`{agent-events}` renders every event dataclass (subclasses of `Event`) in source order with its
docstring and its own fields, then the values of every enum the module defines (e.g. the turn's
states). An event added to the code appears here with no edit to the docs.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
from types import ModuleType
from typing import Any

from doc_nodes import code, inline, table
from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx.application import Sphinx

EVENTS_MODULE = "agent_magic.events"


def _events_module() -> ModuleType:
    import importlib

    return importlib.import_module(EVENTS_MODULE)


def _defined_here(module: ModuleType, predicate: Any) -> list[type]:
    found = [
        value
        for value in vars(module).values()
        if inspect.isclass(value) and value.__module__ == module.__name__ and predicate(value)
    ]
    return sorted(found, key=lambda cls: inspect.getsourcelines(cls)[1])


def events(module: ModuleType) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(name, docstring, [(field, type)]) of each event class, the base class's common fields first."""
    base = module.Event
    classes = _defined_here(module, lambda cls: dataclasses.is_dataclass(cls) and issubclass(cls, base))
    common = {field.name for field in dataclasses.fields(base)}
    result = []
    for cls in classes:
        own = [(f.name, str(f.type)) for f in dataclasses.fields(cls) if cls is base or f.name not in common]
        result.append((cls.__name__, " ".join((inspect.getdoc(cls) or "").split()), own))
    return result


def value_types(module: ModuleType) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """The other dataclasses and the enums of the module (what events carry), with fields or values."""
    base = module.Event
    result = []
    for cls in _defined_here(module, lambda c: dataclasses.is_dataclass(c) or issubclass(c, enum.Enum)):
        if dataclasses.is_dataclass(cls) and issubclass(cls, base):
            continue
        doc = " ".join((inspect.getdoc(cls) or "").split())
        if issubclass(cls, enum.Enum):
            result.append((cls.__name__, doc, [(member.name, repr(member.value)) for member in cls]))
        else:
            result.append((cls.__name__, doc, [(f.name, str(f.type)) for f in dataclasses.fields(cls)]))
    return result


def _section(name: str, doc: str, rows: list[tuple[str, str]], headers: list[str]) -> list[nodes.Node]:
    parts: list[nodes.Node] = [nodes.rubric("", "", code(name)), nodes.paragraph("", "", *inline(doc))]
    if rows:
        parts.append(table(headers, [[code(a), code(b)] for a, b in rows], widths=[30, 70]))
    return parts


class EventsReference(Directive):
    """`{agent-events}`: every event and the types events carry."""

    def run(self) -> list[nodes.Node]:
        """One rubric, docstring and field table per class."""
        module = _events_module()
        self.state.document.settings.env.note_dependency(module.__file__)
        result: list[nodes.Node] = []
        for name, doc, fields in events(module):
            result += _section(name, doc, fields, ["field", "type"])
        result.append(nodes.rubric(text="What events carry"))
        for name, doc, members in value_types(module):
            result += _section(name, doc, members, ["name", "type or value"])
        return result


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the directive."""
    app.add_directive("agent-events", EventsReference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
