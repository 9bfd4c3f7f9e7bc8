"""The configuration reference, generated from the traits themselves.

`{agent-config-reference} agent_magic.config` renders one table per `Configurable` defined in that
module: every trait tagged `config=True`, in the order the class declares them, with its type,
bounds or choices, default, the environment variable its help names, and the help. A trait added to
the code appears here with no edit to the docs.
"""

from __future__ import annotations

import importlib
import inspect
import math
import re
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from doc_nodes import code, inline, table
from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx.application import Sphinx
from traitlets import Bool, Dict, Enum, Float, Int, List, TraitType, Unicode
from traitlets.config import Configurable

# The default of a trait whose default is computed when the extension loads (from the environment or
# the working directory); its help says how.
COMPUTED = "computed when loaded"
# Defaults longer than this are cut (the system prompt is several paragraphs).
MAX_DEFAULT_CHARS = 60
_ENV_VARIABLE = re.compile(r"\$([A-Z][A-Z0-9_]+)")
_TYPE_NAMES: dict[type[TraitType], str] = {
    Bool: "bool",
    Int: "int",
    Float: "float",
    Unicode: "str",
    Dict: "dict",
    List: "list",
}


@dataclass(frozen=True)
class TraitDoc:
    """What the reference says about one setting."""

    owner: str
    name: str
    type: str
    bounds: str
    default: str
    environment: tuple[str, ...]
    help: str


def configurables(module: ModuleType) -> list[type[Configurable]]:
    """The `Configurable` classes defined in `module` (not imported into it), in source order."""
    found = [
        value
        for value in vars(module).values()
        if inspect.isclass(value) and issubclass(value, Configurable) and value.__module__ == module.__name__
    ]
    return sorted(found, key=lambda cls: inspect.getsourcelines(cls)[1])


def _declaration_order(cls: type[Configurable]) -> list[str]:
    """Configurable trait names in the order the class (then its bases) declares them."""
    traits = cls.class_traits(config=True)
    ordered: list[str] = []
    for klass in cls.__mro__:
        ordered += [name for name in vars(klass) if name in traits and name not in ordered]
    return ordered


def _type_name(trait: TraitType) -> str:
    name = next((label for kind, label in _TYPE_NAMES.items() if isinstance(trait, kind)), type(trait).__name__)
    if isinstance(trait, Enum):
        name = "str" if all(isinstance(value, str) for value in trait.values) else "enum"
    return f"{name} or None" if trait.allow_none else name


def _bounds(trait: TraitType) -> str:
    if isinstance(trait, Enum):
        return "one of " + ", ".join(repr(value) for value in trait.values)
    parts = []
    low, high = getattr(trait, "min", None), getattr(trait, "max", None)
    if low is not None and not (isinstance(low, float) and math.isinf(low)):
        parts.append(f"≥ {low}")
    if high is not None and not (isinstance(high, float) and math.isinf(high)):
        parts.append(f"≤ {high}")
    return ", ".join(parts)


def _default(cls: type[Configurable], name: str, trait: TraitType) -> str:
    if name in getattr(cls, "_trait_default_generators", {}):
        return COMPUTED
    text = trait.default_value_repr()
    return text if len(text) <= MAX_DEFAULT_CHARS else text[: MAX_DEFAULT_CHARS - 1] + "…"


def trait_docs(cls: type[Configurable]) -> list[TraitDoc]:
    """One `TraitDoc` per configurable trait of `cls`, in declaration order."""
    traits = cls.class_traits(config=True)
    docs = []
    for name in _declaration_order(cls):
        trait = traits[name]
        help_text = " ".join((trait.help or "").split())
        docs.append(
            TraitDoc(
                owner=cls.__name__,
                name=name,
                type=_type_name(trait),
                bounds=_bounds(trait),
                default=_default(cls, name, trait),
                environment=tuple(dict.fromkeys(_ENV_VARIABLE.findall(help_text))),
                help=help_text,
            )
        )
    return docs


def _rows(docs: list[TraitDoc]) -> list[list[Any]]:
    rows = []
    for doc in docs:
        setting = [nodes.paragraph("", "", code(doc.name))]
        setting.append(nodes.paragraph("", doc.type + (f" ({doc.bounds})" if doc.bounds else "")))
        if doc.environment:
            variables: list[nodes.Node] = [nodes.Text("environment: ")]
            for index, variable in enumerate(doc.environment):
                variables += ([nodes.Text(", ")] if index else []) + [code(f"${variable}")]
            setting.append(nodes.paragraph("", "", *variables))
        default = code(doc.default) if doc.default != COMPUTED else COMPUTED
        rows.append([setting, default, doc.help])
    return rows


class ConfigReference(Directive):
    """`{agent-config-reference} MODULE`: the settings of every Configurable in MODULE."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        """Build one section per Configurable, each with its table of settings."""
        module = importlib.import_module(self.arguments[0])
        self.state.document.settings.env.note_dependency(module.__file__)
        result: list[nodes.Node] = []
        for cls in configurables(module):
            docs = trait_docs(cls)
            result.append(nodes.rubric(cls.__name__, cls.__name__))
            result.append(nodes.paragraph("", "", *inline(" ".join((inspect.getdoc(cls) or "").split()))))
            ids = [f"{doc.owner}.{doc.name}" for doc in docs]
            result.append(table(["setting", "default", "description"], _rows(docs), widths=[34, 20, 46], ids=ids))
        return result


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the directive."""
    app.add_directive("agent-config-reference", ConfigReference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
