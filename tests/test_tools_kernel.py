"""The new tools in a real kernel: run_python results visible to later cells, custom tools offered and
listed, run_shell through the approval gate. The tests share one kernel, reset before each."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.kernel


def test_run_python_defines_names_later_cells_see(shared_kernel, script):
    script.add_tool_calls(
        ("run_python", json.dumps({"code": "import math\nradius = 2\narea = math.pi * radius**2\nround(area, 2)"}))
    )
    script.add_text("The area is 12.57.")

    run = shared_kernel.execute("%%agent --approve run_python\nCompute the area of a circle of radius 2.")

    assert run.status == "ok", run.text
    assert '"result": "12.57"' in script.requests[1]["messages"][-1]["content"]
    later = shared_kernel.execute("print(area > 12, radius)")
    assert "True 2" in later.text


def test_run_python_output_does_not_leak_into_the_cell_stream(shared_kernel, script):
    script.add_tool_calls(("run_python", json.dumps({"code": "print('captured-by-tool')"})))
    script.add_text("ok")
    run = shared_kernel.execute("%%agent --approve run_python\nprint something")
    streamed = "".join(o["text"] for o in run.outputs if o["output_type"] == "stream")
    assert "captured-by-tool" not in streamed
    assert '"stdout": "captured-by-tool\\n"' in script.requests[1]["messages"][-1]["content"]


def test_a_notebook_tool_is_listed_and_called(shared_kernel, script):
    defined = shared_kernel.execute(
        "import agent_magic\n"
        "@agent_magic.tool\n"
        "def fahrenheit(celsius: float) -> float:\n"
        "    '''Convert Celsius to Fahrenheit.'''\n"
        "    return celsius * 9 / 5 + 32\n"
        "@agent_magic.tool(destructive=True)\n"
        "async def page_oncall(message: str) -> str:\n"
        "    '''Page the on-call engineer.'''\n"
        "    return 'paged'\n"
    )
    assert defined.status == "ok", defined.text
    listing = shared_kernel.execute("%agent tools").text
    assert "fahrenheit" in listing and "Convert Celsius to Fahrenheit." in listing
    assert any("page_oncall" in line and "needs approval" in line for line in listing.splitlines())

    script.add_tool_calls(("fahrenheit", '{"celsius": 100}'), ("page_oncall", '{"message": "hot"}'))
    script.add_text("It is 212 °F.")
    run = shared_kernel.execute("%%agent\nHow hot is 100 C?")

    assert run.status == "ok", run.text
    results = [m["content"] for m in script.requests[1]["messages"] if m["role"] == "tool"]
    assert '"data": 212.0' in results[0]
    assert '"ok": false' in results[1], "a destructive notebook tool is not run without approval"


def test_run_shell_approved_runs_in_the_sandboxed_workspace(shared_kernel, script, workspace):
    script.add_tool_calls(("run_shell", json.dumps({"command": "echo from-shell > shell.txt && cat shell.txt"})))
    script.add_text("done")
    run = shared_kernel.execute("%%agent --approve run_shell\nrun it")
    assert run.status == "ok", run.text
    assert (workspace / "shell.txt").read_text() == "from-shell\n"
    assert "from-shell" in script.requests[1]["messages"][-1]["content"]
