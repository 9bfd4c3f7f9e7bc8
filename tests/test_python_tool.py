"""run_python: the user's namespace, captured output, results, tracebacks, and KeyboardInterrupt on cancel."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path

import pytest
from tool_helpers import call_tool

from agent_magic.tools.context import ToolContext
from agent_magic.tools.python_code import interrupt_thread, run_python


@pytest.fixture
def ctx(workspace: Path) -> ToolContext:
    return ToolContext(workspace, namespace={"n": 20})


def test_code_runs_in_the_user_namespace_and_its_names_stay(ctx):
    result = call_tool("run_python", ctx, code="total = n * 2\nsquares = [i * i for i in range(3)]")
    assert result.ok
    assert ctx.namespace["total"] == 40 and ctx.namespace["squares"] == [0, 1, 4]


def test_stdout_stderr_and_the_last_expression_are_returned(ctx):
    code = "import sys\nprint('hello')\nprint('careful', file=sys.stderr)\nn + 1"
    data = call_tool("run_python", ctx, code=code).data
    assert data == {"stdout": "hello\n", "stderr": "careful\n", "result": "21", "result_type": "int"}


def test_a_none_result_is_not_shown(ctx):
    assert "result" not in call_tool("run_python", ctx, code="print('x')").data


def test_an_exception_returns_the_traceback_with_the_code_line(ctx):
    result = call_tool("run_python", ctx, code="a = 1\nprint('before')\n1 / 0")
    assert not result.ok and result.error_code == "python_error"
    assert result.error_message == "ZeroDivisionError: division by zero"
    assert result.data["stdout"] == "before\n"
    assert "1 / 0" in result.data["traceback"] and "python_code.py" not in result.data["traceback"]
    assert ctx.namespace["a"] == 1  # what ran before the error stays, as in a cell


def test_a_syntax_error_is_retryable_and_runs_nothing(ctx):
    result = call_tool("run_python", ctx, code="x = 1\nif True print(2)")
    assert result.error_code == "syntax_error" and result.retryable
    assert "x" not in ctx.namespace


def test_output_of_other_threads_is_not_captured(ctx, capsys):
    code = "import threading\nt = threading.Thread(target=print, args=('from elsewhere',))\nt.start(); t.join()\nprint('mine')"
    data = call_tool("run_python", ctx, code=code).data
    assert data["stdout"] == "mine\n"
    assert "from elsewhere" in capsys.readouterr().out
    assert not type(sys.stdout).__name__.startswith("_ThreadRouted")


def test_long_output_is_capped_with_head_and_tail(workspace):
    ctx = ToolContext(workspace, max_output_chars=2_000)
    out = call_tool("run_python", ctx, code="for i in range(50_000): print(i)").data["stdout"]
    assert out.startswith("0\n1\n") and out.rstrip().endswith("49999") and "lines truncated" in out


def test_secrets_printed_by_code_are_masked(ctx, monkeypatch):
    monkeypatch.setenv("DB_PASSWORD", "hunter2-hunter2")
    data = call_tool("run_python", ctx, code="import os\nprint(os.environ['DB_PASSWORD'])").data
    assert data["stdout"] == "***\n"


def test_cancellation_raises_keyboard_interrupt_in_the_code(ctx):
    code = (
        "import time\nstate = 'running'\n"
        "try:\n    while True:\n        time.sleep(0.01)\n"
        "except KeyboardInterrupt:\n    state = 'interrupted'\n    raise\n"
    )

    async def cancel_midway() -> None:
        task = asyncio.ensure_future(run_python(ctx, code))
        while ctx.namespace.get("state") != "running":
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_midway())
    assert ctx.namespace["state"] == "interrupted"


def test_the_tool_timeout_interrupts_the_code(ctx):
    code = "import time\ntry:\n    while True: time.sleep(0.01)\nexcept KeyboardInterrupt:\n    stopped = True\n"
    result = call_tool("run_python", ctx, runner_timeout=0.5, code=code)
    assert result.error_code == "timeout"
    assert ctx.namespace.get("stopped") is True


def test_interrupt_thread_says_whether_there_was_anything_to_interrupt():
    done = threading.Event()
    seen = []

    def spin() -> None:
        try:
            while not done.is_set():
                time.sleep(0.001)
        except KeyboardInterrupt:
            seen.append("interrupted")

    thread = threading.Thread(target=spin)
    thread.start()
    assert interrupt_thread(thread) is True
    thread.join(5)
    done.set()
    assert seen == ["interrupted"] and interrupt_thread(thread) is False
