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
import re
from dataclasses import dataclass
from typing import Any

VERDICTS = ("deny", "allow", "ask")  # in order of precedence
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

    def match(self, tool_name: str, subject: str | None, *, alike: tuple[str, ...] = ()) -> Rule | None:
        """The rule that decides this call (deny beats allow beats ask), or None when no rule matches.

        `alike` names the tools whose deny and ask rules *with a subject* also apply to this one (file
        tools of one kind protect a path together); allow rules are never widened that way.
        """
        found = [
            rule
            for rule in self.rules
            if rule.matches(tool_name, subject)
            or (rule.verdict != "allow" and rule.subject is not None and any(rule.matches(a, subject) for a in alike))
        ]
        for verdict in VERDICTS:
            for rule in found:
                if rule.verdict == verdict:
                    return rule
        return None

    def denies(self, tool_name: str, subject: str) -> bool:
        """True when a deny rule matches this tool and subject."""
        return any(rule.verdict == "deny" and rule.matches(tool_name, subject) for rule in self.rules)


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
