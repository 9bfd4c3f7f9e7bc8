"""Tools: a typed Python function plus the JSON schema the model sees, and the registry that holds them.

The schema comes from the function's signature and docstring through pydantic, and the same pydantic
model validates the arguments the model sends, so the two can never disagree.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, get_type_hints

from agent_magic.tools.context import ToolContext

if TYPE_CHECKING:
    from pydantic import BaseModel

_ARGS_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters):\s*$", re.MULTILINE)
_ARG_LINE = re.compile(r"^\s+(\w+)(?:\s*\([^)]*\))?:\s*(.+)$")


class ToolArgumentsError(ValueError):
    """The arguments the model sent do not match the tool's schema."""


@dataclass(frozen=True)
class Tool:
    """A callable the model may ask for.

    `destructive` is the tool's own declaration that it changes something (files, processes, the
    namespace): such calls go through the approval gate. Read-only tools may run in parallel.
    """

    name: str
    description: str
    function: Callable[..., Any]
    parameters: tuple[tuple[str, Any, Any, str | None], ...]  # (name, annotation, default, description)
    destructive: bool = False
    takes_context: bool = False
    # The argument approval rules match their glob against (e.g. "path", "command"); None: the first of
    # path / command / code the tool takes (see policy/subjects.py).
    subject_argument: str | None = None
    # Says why a person must see a call (e.g. a command the guard cannot read), or "" when nothing must:
    # such a call is never approved by a rule, --approve or "always allow" (see policy/approval.py).
    review: Callable[[dict[str, Any]], str] | None = None
    # -- MCP (issue 14): tools described by someone else come with a JSON schema instead of a signature
    # (`parameters` is then empty and `function` takes the arguments as keywords), and name their server.
    input_schema: dict[str, Any] | None = None
    server: str | None = None

    @property
    def argument_names(self) -> tuple[str, ...]:
        """The names of the arguments the tool takes."""
        if self.input_schema is not None:
            return tuple(self.input_schema.get("properties") or {})
        return tuple(name for name, *_ in self.parameters)

    @functools.cached_property
    def arguments_model(self) -> type[BaseModel]:
        """The pydantic model behind both the schema and validation, built on first use: importing
        pydantic costs more than everything else `%load_ext` does."""
        from pydantic import ConfigDict, Field, create_model

        fields = {
            name: (annotation, Field(default, description=description))
            for name, annotation, default, description in self.parameters
        }
        return create_model(  # type: ignore[call-overload]
            f"{self.name}_arguments", __config__=ConfigDict(extra="forbid"), **fields
        )

    @property
    def is_async(self) -> bool:
        """True when the function is a coroutine function."""
        return inspect.iscoroutinefunction(self.function)

    def openai_schema(self) -> dict[str, Any]:
        """The Chat Completions `tools` entry for this tool."""
        if self.input_schema is not None:
            parameters = self.input_schema
        else:
            parameters = self.arguments_model.model_json_schema()
            parameters.pop("title", None)
            for prop in parameters.get("properties", {}).values():
                prop.pop("title", None)
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": parameters},
        }

    @functools.cached_property
    def request_schema(self) -> dict[str, Any]:
        """`openai_schema()`, built once: a tool never changes (redefining one makes a new `Tool`), and
        building the schema through pydantic costs more than the rest of a short request. Shared by every
        request: read it, never change it."""
        return self.openai_schema()

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Check `arguments` against the schema and return them converted to the annotated types."""
        if self.input_schema is not None:
            return _validate_json_schema(self.input_schema, arguments)
        from pydantic import ValidationError

        try:
            model = self.arguments_model.model_validate(arguments)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'arguments'}: {err['msg']}" for err in exc.errors()
            )
            raise ToolArgumentsError(problems) from None
        return {name: getattr(model, name) for name in type(model).model_fields}


def _validate_json_schema(schema: dict[str, Any], arguments: dict[str, Any]) -> dict[str, Any]:
    """`arguments` unchanged when they satisfy `schema`; raises ToolArgumentsError listing what does not.

    A schema that is itself invalid (the describing server's bug) checks nothing: the server still
    validates what it receives.
    """
    import jsonschema  # a dependency of the `mcp` extra, the only source of such tools

    try:
        validator = jsonschema.validators.validator_for(schema)(schema)
        problems = [
            f"{'.'.join(str(p) for p in error.absolute_path) or 'arguments'}: {error.message}"
            for error in validator.iter_errors(arguments)
        ]
    except jsonschema.SchemaError:
        return arguments
    if problems:
        raise ToolArgumentsError("; ".join(sorted(problems)))
    return arguments


def _docstring_parts(function: Callable[..., Any]) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into the description and per-argument descriptions."""
    doc = inspect.getdoc(function) or ""
    match = _ARGS_SECTION.search(doc)
    if not match:
        return doc.strip(), {}
    description = doc[: match.start()].strip()
    arg_docs: dict[str, str] = {}
    current: str | None = None
    for line in doc[match.end() :].splitlines():
        arg = _ARG_LINE.match(line)
        if arg:
            current = arg.group(1)
            arg_docs[current] = arg.group(2).strip()
        elif current and line.startswith((" ", "\t")) and line.strip():
            arg_docs[current] += " " + line.strip()
        elif line.strip():
            current = None
    return description, arg_docs


def make_tool(
    function: Callable[..., Any],
    *,
    name: str | None = None,
    destructive: bool = False,
    subject_argument: str | None = None,
    review: Callable[[dict[str, Any]], str] | None = None,
) -> Tool:
    """Build a `Tool` from a typed function; its first parameter may be a `ToolContext`.

    `subject_argument` names the argument permission rules match on (`"run_shell:git status*"`).

    Example:
        >>> def add(a: int, b: int = 1) -> int:
        ...     '''Add two numbers.'''
        ...     return a + b
        >>> make_tool(add).openai_schema()["function"]["parameters"]["required"]
        ['a']
    """
    signature = inspect.signature(function)
    hints = get_type_hints(function)
    description, arg_docs = _docstring_parts(function)
    params = list(signature.parameters.values())
    takes_context = bool(params) and hints.get(params[0].name) is ToolContext
    if takes_context:
        params = params[1:]
    parameters = []
    for param in params:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"tool {function.__name__}: *args/**kwargs cannot be described to a model")
        default = ... if param.default is param.empty else param.default
        parameters.append((param.name, hints.get(param.name, Any), default, arg_docs.get(param.name)))
    tool_name = name or function.__name__
    return Tool(
        name=tool_name,
        description=description or tool_name,
        function=function,
        parameters=tuple(parameters),
        destructive=destructive,
        takes_context=takes_context,
        subject_argument=subject_argument,
        review=review,
    )


class ToolRegistry:
    """An ordered set of tools by name.

    `linked` registries are consulted live, after this one's own tools: the session's registry links
    the notebook's `@agent_magic.tool` registry, so a tool defined in a later cell is offered at once.
    A tool of this registry shadows a linked one of the same name.
    """

    def __init__(self, tools: Iterable[Tool] = (), *, linked: Iterable[ToolRegistry] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        self._linked = list(linked)
        # The request's `tools` list for the tool set it was built from (see openai_schemas).
        self._schemas: tuple[tuple[Tool, ...], list[dict[str, Any]]] | None = None
        for tool in tools:
            self.add(tool)

    def add(self, tool: Tool) -> None:
        """Add or replace a tool (a notebook may redefine a custom tool while iterating on it)."""
        self._tools[tool.name] = tool

    def _all(self) -> dict[str, Tool]:
        merged: dict[str, Tool] = {}
        for registry in self._linked:
            merged.update(registry._all())
        return {**self._tools, **{name: tool for name, tool in merged.items() if name not in self._tools}}

    def get(self, name: str) -> Tool | None:
        """The tool called `name`, or None."""
        return self._all().get(name)

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._all().values())

    def __len__(self) -> int:
        return len(self._all())

    def __contains__(self, name: object) -> bool:
        return name in self._all()

    def names(self) -> list[str]:
        """Tool names in registration order (own tools first, then linked ones)."""
        return list(self._all())

    def openai_schemas(self) -> list[dict[str, Any]]:
        """The `tools` list for a Chat Completions request (its entries are shared: do not change them).

        Built again only when the tool set changed: the tools are looked up live every time (a linked
        registry may change in any way), and compared with the ones the list was built from.
        """
        tools = tuple(self._all().values())
        if self._schemas is None or self._schemas[0] != tools:
            self._schemas = (tools, [tool.request_schema for tool in tools])
        return list(self._schemas[1])
