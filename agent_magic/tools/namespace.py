"""Namespace tools: what the user's notebook variables are, without changing them and without running them.

These tools are read-only and run without approval, so they must not run the notebook's own code: a
class defined in a cell may do anything in its `__repr__`, `__len__`, a property or `__getattr__`. So:

- a method is called only when the class that defines it comes from Python itself or a trusted library
  (`TRUSTED_PACKAGES`: numpy, pandas, …), found by walking the type's MRO, never by attribute access;
- builtin containers are shown by our own bounded repr, element by element under the same rule, so a
  list holding a user object does not call that object's `__repr__`;
- any other object is described by its type and the names of its attributes, read from its `__dict__`
  without calling anything.

Where this does not hold: a trusted library's own repr of a container of user objects (a pandas column of
dtype object, a numpy object array) still calls the elements' `__repr__`. IPython's own history variables
(`In`, `Out`, `_`, `_i3`, …) are never shown: they hold every cell typed, secrets included.
"""

from __future__ import annotations

import re
import sys
import types
from typing import Any

from agent_magic.tools.context import ToolContext
from agent_magic.tools.result import ToolResult

MAX_REPR_CHARS = 2_000
MAX_ITEMS_SHOWN = 20
MAX_DEPTH = 3
HEAD_ROWS = 5
MAX_LISTED_VARIABLES = 300
# Names IPython puts into every user namespace; they are not the user's variables (In/Out are histories).
IPYTHON_NAMES = frozenset({"In", "Out", "exit", "quit", "get_ipython", "open"})
HISTORY_NAME = re.compile(r"^_+\d*$|^_i{1,3}\d*$|^_[iod]h$")  # _, __, _7, _i, _ii3, _ih, _oh, _dh
TRUSTED_PACKAGES = frozenset(
    {"builtins", "collections", "datetime", "decimal", "fractions", "pathlib", "uuid", "re", "enum", "ipaddress"}
    | {"numpy", "pandas", "polars", "pyarrow", "scipy", "xarray", "torch", "zoneinfo", "array"}
)
CONTAINERS = (list, tuple, set, frozenset, dict)


def _defined_by(kind: type, name: str) -> str | None:
    """The module of the class in `kind`'s MRO that defines `name`, read from class dicts (no lookups)."""
    for klass in type.__getattribute__(kind, "__mro__"):
        if name in type.__getattribute__(klass, "__dict__"):
            return str(type.__getattribute__(klass, "__module__"))
    return None


def _trusted(value: object, name: str) -> bool:
    """True when `type(value).<name>` is Python's or a trusted library's code, not the notebook's."""
    module = _defined_by(type(value), name)
    return module is not None and module.split(".")[0] in TRUSTED_PACKAGES


def _type_name(value: object) -> str:
    kind = type(value)
    module, name = type.__getattribute__(kind, "__module__"), type.__getattribute__(kind, "__qualname__")
    return name if module == "builtins" else f"{module}.{name}"


def _attribute_names(value: object) -> list[str]:
    """The names in an object's own `__dict__`, read without running its code (None if it has none)."""
    try:
        attributes = object.__getattribute__(value, "__dict__")
    except (AttributeError, TypeError):
        return []
    return sorted(str(k) for k in dict.keys(attributes))[:MAX_ITEMS_SHOWN] if isinstance(attributes, dict) else []


def safe_repr(value: object, depth: int = 0) -> str:
    """A repr that never calls the notebook's code: builtin containers element by element (bounded),
    trusted types by their own repr, anything else as `<Type object with attributes a, b>`."""
    base = _builtin_container(value)
    if base is not None:
        if depth >= MAX_DEPTH:
            return "[…]" if base is list else "{…}" if base in (dict, set, frozenset) else "(…)"
        # The base type's own C methods: a subclass's __iter__ or items() is not called.
        if base is dict:
            pairs = list(dict.items(value))  # type: ignore[arg-type]
            shown = [f"{safe_repr(k, depth + 1)}: {safe_repr(v, depth + 1)}" for k, v in pairs[:MAX_ITEMS_SHOWN]]
            count = len(pairs)
        else:
            elements = list(base.__iter__(value))  # type: ignore[attr-defined]
            shown = [safe_repr(item, depth + 1) for item in elements[:MAX_ITEMS_SHOWN]]
            count = len(elements)
        more = [f"… {count - MAX_ITEMS_SHOWN} more"] if count > MAX_ITEMS_SHOWN else []
        body = ", ".join(shown + more)
        return {list: f"[{body}]", tuple: f"({body})", dict: f"{{{body}}}"}.get(base, f"{base.__name__}({{{body}}})")
    if _trusted(value, "__repr__"):
        text = repr(value)
        return text if len(text) <= MAX_REPR_CHARS else text[:MAX_REPR_CHARS] + f"… [{len(text)} characters]"
    names = _attribute_names(value)
    return f"<{_type_name(value)} object" + (f" with attributes {', '.join(names)}>" if names else ">")


def _is(value: object, classes: type | tuple[type, ...]) -> bool:
    """isinstance without asking the object: `isinstance` may read a `__class__` property it defines."""
    return issubclass(type(value), classes)


def _builtin_container(value: object) -> type | None:
    """list, tuple, set, frozenset or dict when `value` is one (or a subclass keeping the builtin repr)."""
    kind = type(value)
    if not issubclass(kind, CONTAINERS) or _defined_by(kind, "__repr__") != "builtins":
        return None
    return next(base for base in CONTAINERS if issubclass(kind, base))


def _dataframe_type() -> type | None:
    pandas = sys.modules.get("pandas")  # a DataFrame exists only if pandas was imported
    return getattr(pandas, "DataFrame", None) if pandas is not None else None


def _is_dataframe(value: object) -> bool:
    frame = _dataframe_type()
    return frame is not None and _is(value, frame) and _trusted(value, "isna")


def _hidden_names() -> set[str]:
    """Names IPython itself defined at startup (`%who` hides them too), when running under IPython."""
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return set(getattr(shell, "user_ns_hidden", {}) or {})


def _is_history(name: str) -> bool:
    return name in ("In", "Out") or bool(HISTORY_NAME.match(name))


def _user_names(namespace: dict[str, Any]) -> list[str]:
    hidden = _hidden_names() | IPYTHON_NAMES
    return sorted(
        name
        for name, value in namespace.items()
        if not name.startswith("_") and name not in hidden and not _is(value, types.ModuleType)
    )


def _describe_dataframe(frame: Any) -> dict[str, Any]:
    nulls = frame.isna().sum()
    return {
        "shape": list(frame.shape),
        "columns": [str(c) for c in frame.columns],
        "dtypes": {str(c): str(t) for c, t in frame.dtypes.items()},
        "null_counts": {str(c): int(n) for c, n in nulls.items()},
        "head": frame.head(HEAD_ROWS).to_string(max_colwidth=40),
    }


def _size_facts(value: object) -> dict[str, Any]:
    """Shape, length and memory size, whichever the value has, asked of trusted code only (never raising)."""
    facts: dict[str, Any] = {}
    try:
        shape = value.shape if _trusted(value, "shape") else None  # type: ignore[attr-defined]
        if isinstance(shape, tuple):
            facts["shape"] = list(shape)
        elif not _is(value, (str, bytes)) and _trusted(value, "__len__"):
            facts["length"] = len(value)  # type: ignore[arg-type]
        if _is_dataframe(value):
            facts["bytes"] = int(value.memory_usage(deep=False).sum())  # type: ignore[attr-defined]
        elif _trusted(value, "nbytes"):
            facts["bytes"] = int(value.nbytes)  # type: ignore[attr-defined]
        elif _trusted(value, "__sizeof__"):
            facts["bytes"] = sys.getsizeof(value)
    except Exception:  # an exotic object whose size cannot be read: leave it out
        pass
    return facts


def inspect_variable(ctx: ToolContext, name: str) -> ToolResult:
    """Summarise a variable of the user's notebook: type, size, and for DataFrames dtypes, nulls and head.

    Objects of classes defined in the notebook are described by type and attribute names, without running
    their code.

    Args:
        name: the variable's name in the notebook namespace.
    """
    if _is_history(name) or name in IPYTHON_NAMES:
        return ToolResult.failure(
            "not_available", f"{name} is IPython's own (input/output history), not a notebook variable"
        )
    if name not in ctx.namespace or name.startswith("_"):
        visible = _user_names(ctx.namespace)[:50]
        return ToolResult.failure("not_found", f"no variable {name!r}; some names: {visible}", retryable=True)
    value = ctx.namespace[name]
    summary: dict[str, Any] = {"name": name, "type": _type_name(value)}
    if _is_dataframe(value):
        summary.update(_describe_dataframe(value))
        return ToolResult.success(summary)
    facts = _size_facts(value)
    facts.pop("bytes", None)
    summary.update(facts)
    summary["repr"] = safe_repr(value)
    if not _trusted(value, "__repr__") and _builtin_container(value) is None:
        summary["note"] = "a class defined outside Python and its trusted libraries: its own code was not run"
    return ToolResult.success(summary)


def list_variables(ctx: ToolContext, include_functions: bool = False) -> ToolResult:
    """List the user's notebook variables with their types and sizes (no modules, private or IPython names).

    Args:
        include_functions: also list functions and classes the notebook defined.
    """
    rows: list[dict[str, Any]] = []
    for name in _user_names(ctx.namespace):
        value = ctx.namespace[name]
        if not include_functions and _is(value, (types.FunctionType, type)):
            continue
        rows.append({"name": name, "type": _type_name(value), **_size_facts(value)})
    more = len(rows) > MAX_LISTED_VARIABLES
    return ToolResult.success({"variables": rows[:MAX_LISTED_VARIABLES], "more_not_listed": more})
