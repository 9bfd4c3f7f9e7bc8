"""Permission rules: syntax, validation at config time, precedence, and the per-tool subject."""

from __future__ import annotations

import pytest
from traitlets import TraitError

from agent_magic.config import AgentMagic
from agent_magic.events import ToolCall
from agent_magic.policy.permissions import PermissionRulesError, parse_permissions
from agent_magic.policy.subjects import call_subject
from agent_magic.tools.registry import make_tool


def run_shell(command: str) -> str:
    """Run a command."""
    return command


def write_file(path: str, content: str) -> str:
    """Write a file."""
    return path


def custom(target: str, path: str = "") -> str:
    """A tool that declares its subject."""
    return target


@pytest.mark.parametrize(
    ("rules", "tool", "subject", "verdict"),
    [
        ({"allow": ["run_shell:git status*"]}, "run_shell", "git status --short", "allow"),
        ({"allow": ["run_shell:git status*"]}, "run_shell", "git push", None),
        ({"deny": ["run_shell:rm *"], "allow": ["run_shell"]}, "run_shell", "rm -rf data", "deny"),
        ({"allow": ["write_file"], "ask": ["write_file:*.csv"]}, "write_file", "out/x.csv", "allow"),
        ({"ask": ["write_file:*.csv"]}, "write_file", "out/x.csv", "ask"),
        ({"deny": ["*:*.env"]}, "read_file", ".env", "deny"),
        ({"allow": ["write_file:*.txt"]}, "write_file", None, None),
    ],
)
def test_deny_beats_allow_beats_ask_and_unreadable_subjects_match_no_subject_rule(rules, tool, subject, verdict):
    rule = parse_permissions(rules).match(tool, subject)
    assert (rule.verdict if rule else None) == verdict


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"alow": ["read_file"]}, "unknown key(s) ['alow']"),
        ({"allow": "read_file"}, "must be a list of rule strings"),
        ({"deny": [""]}, "'' is not a rule"),
        ({"deny": ["run shell:rm *"]}, "'run shell:rm *' is not a rule"),
        ({"deny": [42]}, "42 is not a rule"),
        (["read_file"], "must be a dict"),
    ],
)
def test_malformed_rules_are_rejected_with_a_clear_message(value, message):
    with pytest.raises(PermissionRulesError, match=None) as caught:
        parse_permissions(value)
    assert message in str(caught.value)


def test_config_rejects_malformed_rules_when_they_are_set():
    config = AgentMagic()
    with pytest.raises(TraitError, match="write TOOL or TOOL:GLOB"):
        config.permissions = {"deny": ["rm -rf:*"]}
    config.permissions = {"deny": ["run_shell:rm *"]}
    assert config.permissions == {"deny": ["run_shell:rm *"]}


def test_headless_policy_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("AGENT_MAGIC_HEADLESS_APPROVAL", "allow")
    assert AgentMagic().headless_approval == "allow"


def test_a_bad_headless_policy_in_the_environment_is_one_line_and_denies(monkeypatch, capsys):
    monkeypatch.setenv("AGENT_MAGIC_HEADLESS_APPROVAL", "yes")
    assert AgentMagic().headless_approval == "deny"
    warning = capsys.readouterr().err
    assert warning.count("\n") == 1 and "AGENT_MAGIC_HEADLESS_APPROVAL='yes' is not deny, allow or error" in warning


def test_subject_is_the_command_for_shell_and_a_workspace_relative_path_for_files(tmp_path):
    shell, files = make_tool(run_shell), make_tool(write_file)
    assert call_subject(shell, ToolCall("c", "x", '{"command": "  git status"}'), tmp_path) == "git status"
    assert call_subject(files, ToolCall("c", "x", '{"path": "./data//x.csv", "content": ""}'), tmp_path) == "data/x.csv"
    absolute = str(tmp_path / "data" / "x.csv")
    assert call_subject(files, ToolCall("c", "x", f'{{"path": "{absolute}", "content": ""}}'), tmp_path) == "data/x.csv"
    assert call_subject(files, ToolCall("c", "x", '{"path": "../x.csv", "content": ""}'), tmp_path) == str(
        tmp_path.parent / "x.csv"
    )


def test_declared_subject_argument_wins_and_unreadable_arguments_have_no_subject(tmp_path):
    tool = make_tool(custom, subject_argument="target")
    assert call_subject(tool, ToolCall("c", "x", '{"target": "db", "path": "x"}'), tmp_path) == "db"
    assert call_subject(tool, ToolCall("c", "x", '{"target": '), tmp_path) is None
    assert call_subject(tool, ToolCall("c", "x", '["db"]'), tmp_path) is None
    assert call_subject(make_tool(write_file), ToolCall("c", "x", '{"path": 3, "content": ""}'), tmp_path) is None
