"""Permission rules: `{"allow": [...], "deny": [...], "ask": [...]}` matched on a tool name and a subject.

A rule is `tool` (every call of that tool) or `tool:glob` (calls whose *subject* matches the glob). The
subject is one argument of the call: the path for file tools, the command for `run_shell`, the code for
`run_python` (a tool declares it with `make_tool(..., subject_argument=...)`). Tool names may be globs
too (`*:*.env`). When several rules match, deny beats allow beats ask.

A rule with a subject glob cannot match a call whose subject cannot be read (arguments that are not
JSON, a missing argument): such a call is never allowed by that rule, it is asked about (fails closed).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_magic.tools.registry import Tool

VERDICTS = ("deny", "allow", "ask")  # in order of precedence
# Without a declared subject argument, the first of these the tool takes is its subject.
CONVENTIONAL_SUBJECTS = ("path", "command", "code")
RULE_SYNTAX = re.compile(r"^(?P<tool>[A-Za-z0-9_*?\[\]!-]+)(?::(?P<subject>.+))?$", re.DOTALL)
SYNTAX_HELP = (
    'expected {"allow": [...], "deny": [...], "ask": [...]} with rules like "read_file" or "run_shell:git status*"'
)


class PermissionRulesError(ValueError):
    """`AgentMagic.permissions` is malformed; the message says what to fix."""


@dataclass(frozen=True)
class Rule:
    """One rule: a verdict, a tool-name glob and an optional subject glob."""

    verdict: str
    tool: str
    subject: str | None
    text: str

    def matches(self, tool_name: str, subject: str | None) -> bool:
        """True when the tool name matches and, for a rule with a subject glob, the subject does too."""
        if not fnmatch.fnmatchcase(tool_name, self.tool):
            return False
        if self.subject is None:
            return True
        return subject is not None and fnmatch.fnmatchcase(subject, self.subject)


@dataclass(frozen=True)
class PermissionRules:
    """A parsed, validated set of rules; `match()` applies them."""

    rules: tuple[Rule, ...] = ()

    def match(self, tool_name: str, subject: str | None) -> Rule | None:
        """The rule that decides this call (deny beats allow beats ask), or None when no rule matches."""
        found = [rule for rule in self.rules if rule.matches(tool_name, subject)]
        for verdict in VERDICTS:
            for rule in found:
                if rule.verdict == verdict:
                    return rule
        return None

    def names_tool(self, tool_name: str) -> bool:
        """True when a deny or ask rule could apply to this tool (so even a read-only call is gated)."""
        return any(r.verdict in ("deny", "ask") and fnmatch.fnmatchcase(tool_name, r.tool) for r in self.rules)


def parse_permissions(value: Any) -> PermissionRules:
    """Validate `AgentMagic.permissions` and parse it; raises `PermissionRulesError` saying what is wrong.

    Example:
        >>> rules = parse_permissions({"allow": ["run_shell:git status*"], "deny": ["run_shell:rm *"]})
        >>> rules.match("run_shell", "rm -rf data").verdict
        'deny'
    """
    if not isinstance(value, dict):
        raise PermissionRulesError(f"AgentMagic.permissions must be a dict, got {type(value).__name__}; {SYNTAX_HELP}")
    unknown = sorted(str(k) for k in value if k not in VERDICTS)
    if unknown:
        raise PermissionRulesError(f"AgentMagic.permissions: unknown key(s) {unknown}; {SYNTAX_HELP}")
    rules: list[Rule] = []
    for verdict in VERDICTS:
        entries = value.get(verdict, [])
        if isinstance(entries, str) or not isinstance(entries, list | tuple):
            raise PermissionRulesError(
                f"AgentMagic.permissions[{verdict!r}] must be a list of rule strings; {SYNTAX_HELP}"
            )
        for entry in entries:
            match = RULE_SYNTAX.match(entry.strip()) if isinstance(entry, str) else None
            if match is None:
                raise PermissionRulesError(
                    f"AgentMagic.permissions[{verdict!r}]: {entry!r} is not a rule; write TOOL or TOOL:GLOB, "
                    'e.g. "write_file" or "write_file:*.csv"'
                )
            subject = match.group("subject")
            rules.append(Rule(verdict, match.group("tool"), subject.strip() if subject else None, entry.strip()))
    return PermissionRules(tuple(rules))


def subject_argument(tool: Tool | None, arguments: dict[str, Any]) -> str | None:
    """Which argument of `tool` is its subject: the declared one, else the first conventional one."""
    declared = getattr(tool, "subject_argument", None) if tool is not None else None
    if declared:
        return declared
    fields = tool.arguments_model.model_fields if tool is not None else arguments
    return next((name for name in CONVENTIONAL_SUBJECTS if name in fields), None)


def call_subject(tool: Tool | None, raw_arguments: str, workspace: Path) -> str | None:
    """The subject rules match for one call, or None when it cannot be read from the arguments.

    Paths are made comparable: relative to the workspace (posix separators) when inside it, absolute
    otherwise, so `./data/x.csv`, `data//x.csv` and `/ws/data/x.csv` all read `data/x.csv`.
    """
    try:
        arguments = json.loads(raw_arguments or "{}")
    except (json.JSONDecodeError, RecursionError):  # unreadable (or absurdly nested): rules fail closed
        return None
    if not isinstance(arguments, dict):
        return None
    name = subject_argument(tool, arguments)
    value = arguments.get(name) if name else None
    if not isinstance(value, str):
        return None
    if name == "path":
        return _comparable_path(value, workspace)
    return value.strip()


def _comparable_path(path: str, workspace: Path) -> str:
    root = workspace.resolve()
    candidate = Path(os.path.expanduser(path))
    resolved = (candidate if candidate.is_absolute() else root / candidate).resolve()
    try:
        return resolved.relative_to(root).as_posix()
    except ValueError:
        return resolved.as_posix()
