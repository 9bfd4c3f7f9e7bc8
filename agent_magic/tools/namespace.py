"""Namespace tools: what the user's notebook variables are, without changing them."""

from __future__ import annotations

import sys
import types
from typing import Any

from agent_magic.tools.context import ToolContext
from agent_magic.tools.result import ToolResult

MAX_REPR_CHARS = 2_000
HEAD_ROWS = 5
MAX_LISTED_VARIABLES = 300
# Names IPython puts into every user namespace; they are not the user's variables.
IPYTHON_NAMES = frozenset({"In", "Out", "exit", "quit", "get_ipython", "open"})


def _is_dataframe(value: object) -> bool:
    return hasattr(value, "isna") and hasattr(value, "dtypes") and hasattr(value, "columns")


def _type_name(value: object) -> str:
    kind = type(value)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _hidden_names() -> set[str]:
    """Names IPython itself defined at startup (`%who` hides them too), when running under IPython."""
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return set(getattr(shell, "user_ns_hidden", {}) or {})


def _user_names(namespace: dict[str, Any]) -> list[str]:
    hidden = _hidden_names() | IPYTHON_NAMES
    return sorted(
        name
        for name, value in namespace.items()
        if not name.startswith("_") and name not in hidden and not isinstance(value, types.ModuleType)
    )


def _capped_repr(value: object) -> str:
    text = repr(value)
    return text if len(text) <= MAX_REPR_CHARS else text[:MAX_REPR_CHARS] + f"… [{len(text)} characters]"


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
    """Shape, length and memory size, whichever the value has (never raising)."""
    facts: dict[str, Any] = {}
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple):
        facts["shape"] = list(shape)
    elif not isinstance(value, (str, bytes)) and hasattr(value, "__len__"):
        try:
            facts["length"] = len(value)  # type: ignore[arg-type]
        except TypeError:
            pass
    try:
        if _is_dataframe(value):
            facts["bytes"] = int(value.memory_usage(deep=False).sum())  # type: ignore[attr-defined]
        else:
            facts["bytes"] = int(getattr(value, "nbytes", None) or sys.getsizeof(value))
    except Exception:  # an exotic object whose size cannot be read: leave it out
        pass
    return facts


def inspect_variable(ctx: ToolContext, name: str) -> ToolResult:
    """Summarise a variable of the user's notebook: type, size, and for DataFrames dtypes, nulls and head.

    Args:
        name: the variable's name in the notebook namespace.
    """
    if name not in ctx.namespace or name.startswith("_"):
        visible = _user_names(ctx.namespace)[:50]
        return ToolResult.failure("not_found", f"no variable {name!r}; some names: {visible}", retryable=True)
    value = ctx.namespace[name]
    summary: dict[str, Any] = {"name": name, "type": f"{type(value).__module__}.{type(value).__qualname__}"}
    if _is_dataframe(value):
        summary.update(_describe_dataframe(value))
        return ToolResult.success(summary)
    facts = _size_facts(value)
    facts.pop("bytes", None)
    summary.update(facts)
    summary["repr"] = _capped_repr(value)
    return ToolResult.success(summary)


def list_variables(ctx: ToolContext, include_functions: bool = False) -> ToolResult:
    """List the user's notebook variables with their types and sizes (no modules, private or IPython names).

    Args:
        include_functions: also list functions and classes the notebook defined.
    """
    rows: list[dict[str, Any]] = []
    for name in _user_names(ctx.namespace):
        value = ctx.namespace[name]
        if not include_functions and isinstance(value, (types.FunctionType, type)):
            continue
        rows.append({"name": name, "type": _type_name(value), **_size_facts(value)})
    more = len(rows) > MAX_LISTED_VARIABLES
    return ToolResult.success({"variables": rows[:MAX_LISTED_VARIABLES], "more_not_listed": more})
