"""The `shared_kernel` fixture: the tests of a module share one kernel process, and nothing one test leaves
in it is seen by the next."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.kernel

PIDS: list[int] = []

LEAVE_STATE_BEHIND = """
import os, sys, agent_magic
leftover = 'left by an earlier test'
os.environ['LEFT_BEHIND'] = '1'
sys.modules['matplotlib'] = None
@agent_magic.tool
def left_behind_tool(x: int) -> int:
    '''A tool an earlier test defined.'''
    return x
os.chdir('/')
"""


def value(kernel, expression: str):
    """Evaluate `expression` in the kernel and return it, through JSON."""
    run = kernel.execute(f"import json as _json\nprint(_json.dumps({expression}, default=str))")
    assert run.status == "ok", run.text
    return json.loads(run.text.strip().splitlines()[-1])


def assert_as_new(kernel, model_server, workspace, tmp_path) -> None:
    """The kernel looks like a fresh one started for this test."""
    assert "NameError" in kernel.execute("leftover").text
    state = value(
        kernel,
        "{'cwd': __import__('os').getcwd(), 'env': dict(__import__('os').environ), "
        "'matplotlib_blocked': 'matplotlib' in __import__('sys').modules "
        "and __import__('sys').modules['matplotlib'] is None, "
        "'log_handlers': len(__import__('logging').getLogger('agent_magic.events').handlers), "
        "'model': get_ipython().magics_manager.registry['AgentMagics'].runtime.config.model}",
    )
    assert state["cwd"] == str(workspace)
    assert "LEFT_BEHIND" not in state["env"]
    assert state["env"]["OPENAI_BASE_URL"] == model_server.base_url
    assert state["env"]["AGENT_MAGIC_HOME"] == str(tmp_path / ".agent")
    assert state["matplotlib_blocked"] is False
    assert state["log_handlers"] == 0, "no JSONL log of an earlier test's agent home"
    assert state["model"] == "test-model", "%config changes are forgotten"
    assert "left_behind_tool" not in kernel.execute("%agent tools").text
    assert "The conversation is empty." in kernel.execute("%agent history").text
    assert value(kernel, "len(__import__('agent_magic').usage())") == 0, "a new, empty ledger"


@pytest.mark.parametrize("order", ["first", "second"])
def test_nothing_a_test_leaves_in_the_shared_kernel_is_seen_by_the_next(
    shared_kernel, script, model_server, workspace, tmp_path, order
):
    assert_as_new(shared_kernel, model_server, workspace, tmp_path)
    PIDS.append(value(shared_kernel, "__import__('os').getpid()"))

    script.add_text("Remembered.")
    assert shared_kernel.execute("%%agent\nremember this").status == "ok"
    assert shared_kernel.execute('%config AgentMagic.model = "left-behind-model"').status == "ok"
    assert shared_kernel.execute(LEAVE_STATE_BEHIND).status == "ok"

    assert len(set(PIDS)) == 1, "one kernel process serves every test of the module"
