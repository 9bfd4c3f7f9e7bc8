"""The names MCP tools are offered under: `server__tool`, within OpenAI's function-name rule.

The MCP tool's own name is the suffix and the server the prefix (`git__git_status`), so a name says
where a call goes and permission rules can name a whole server (`"git__*"`). Characters outside
`[A-Za-z0-9_-]` become `_`; a name longer than 64 characters keeps its start and ends in a short hash
of the full name; a name already taken (two servers whose names clean up alike) gets `_2`, `_3`….
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

SEPARATOR = "__"
MAX_LENGTH = 64
NAME_RULE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_HASH_LENGTH = 8


def clean(text: str) -> str:
    """`text` with every character OpenAI does not allow in a function name replaced by `_`."""
    return _UNSAFE.sub("_", text) or "_"


def _fit(name: str, original: str) -> str:
    if len(name) <= MAX_LENGTH:
        return name
    digest = hashlib.sha256(original.encode()).hexdigest()[:_HASH_LENGTH]
    return f"{name[: MAX_LENGTH - _HASH_LENGTH - 1]}_{digest}"


def offered_name(server: str, tool: str) -> str:
    """The name the model sees for `tool` of `server`, before collisions are resolved.

    Example:
        >>> offered_name("git", "git_status")
        'git__git_status'
        >>> offered_name("my docs", "search.v2")
        'my_docs__search_v2'
    """
    return _fit(f"{clean(server)}{SEPARATOR}{clean(tool)}", f"{server}\0{tool}")


def assign_names(tools: Iterable[tuple[str, str]], taken: Iterable[str] = ()) -> dict[tuple[str, str], str]:
    """A unique offered name for each (server, tool), in order; names in `taken` are avoided.

    The first (server, tool) keeps the plain name; later ones that clean up to the same name get a
    numbered suffix, so the assignment depends only on the order of the servers and their tools.
    """
    used = set(taken)
    names: dict[tuple[str, str], str] = {}
    for server, tool in tools:
        base = offered_name(server, tool)
        name, number = base, 1
        while name in used:
            number += 1
            suffix = f"_{number}"
            name = base[: MAX_LENGTH - len(suffix)] + suffix
        used.add(name)
        names[(server, tool)] = name
    return names
