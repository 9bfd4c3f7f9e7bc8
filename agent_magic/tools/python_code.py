"""`run_python`: execute code in the user's namespace, capturing stdout, stderr, the result and a traceback.

Which thread runs the code matters:

- Not the kernel's main thread. The `%%agent` cell is an awaiting coroutine on the main thread's event
  loop; code run there synchronously would freeze the loop (no streaming, no widget clicks), and the
  kernel's interrupt would only cancel the awaiting task, never stop the code.
- So the code runs in a worker thread of its own, in a copy of the cell's context (ipykernel routes
  `print` and `display()` to the cell through context variables), against the very dict that is the
  user's namespace, so later cells see what it defined. Figures made with the inline backend appear
  when the cell ends, as for any cell.
- Cancellation (kernel interrupt, the tool timeout) raises `KeyboardInterrupt` inside that thread, the
  way an interrupted cell would see it (`interrupt_thread`). Python delivers it at the next bytecode, so
  code blocked inside one long C call (`time.sleep(600)`) stops when that call returns.

While the code runs, `sys.stdout` / `sys.stderr` are routed per thread: writes from the code's thread
are captured; everyone else's (the renderer, other threads) go where they always went.
"""

from __future__ import annotations

import ast
import asyncio
import contextvars
import ctypes
import itertools
import linecache
import sys
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any, TextIO

from agent_magic.tools.capture import HeadTailBuffer
from agent_magic.tools.context import ToolContext
from agent_magic.tools.result import ToolResult
from agent_magic.undo.bindings import records_namespace_change

INTERRUPT_GRACE_S = 2.0  # after KeyboardInterrupt was raised in the code's thread, how long to wait for it
MAX_RESULT_REPR = 5_000
_run_numbers = itertools.count(1)


def interrupt_thread(thread: threading.Thread, exception: type[BaseException] = KeyboardInterrupt) -> bool:
    """Raise `exception` asynchronously in `thread` (as an interrupted cell would see it).

    Returns False when the thread was not running. Used on cancellation of `run_python`.
    """
    if thread.ident is None or not thread.is_alive():
        return False
    changed = ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(exception))
    return changed == 1


class _ThreadRoutedStream:
    """Stands in for sys.stdout / sys.stderr: writes from registered threads go to their buffer."""

    def __init__(self, original: TextIO) -> None:
        self.original = original
        self.buffers: dict[int, HeadTailBuffer] = {}

    def write(self, text: str) -> int:
        buffer = self.buffers.get(threading.get_ident())
        return buffer.write(text) if buffer is not None else self.original.write(text)

    def flush(self) -> None:
        if threading.get_ident() not in self.buffers:
            self.original.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)


class _OutputRouting:
    """Installs the routed streams while at least one run_python call is active."""

    lock = threading.Lock()
    streams: dict[str, _ThreadRoutedStream] = {}

    @classmethod
    def capture(cls, ident: int, out: HeadTailBuffer, err: HeadTailBuffer) -> None:
        with cls.lock:
            for name, buffer in (("stdout", out), ("stderr", err)):
                stream = cls.streams.get(name)
                if stream is None or getattr(sys, name) is not stream:
                    stream = cls.streams[name] = _ThreadRoutedStream(getattr(sys, name))
                    setattr(sys, name, stream)
                stream.buffers[ident] = buffer

    @classmethod
    def release(cls, ident: int) -> None:
        with cls.lock:
            for name, stream in list(cls.streams.items()):
                stream.buffers.pop(ident, None)
                if not stream.buffers:
                    if getattr(sys, name) is stream:
                        setattr(sys, name, stream.original)
                    del cls.streams[name]


def _split_last_expression(code: str, filename: str) -> tuple[Any, Any | None]:
    """Compile `code`; a final expression statement is compiled apart so its value can be returned."""
    tree = ast.parse(code, filename=filename, mode="exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    body = compile(tree, filename, "exec")
    return body, (compile(last, filename, "eval") if last is not None else None)


@dataclass
class _PythonJob:
    """One execution of code in a namespace, run on its own thread."""

    body: Any
    last: Any | None
    namespace: dict[str, Any]
    stdout: HeadTailBuffer
    stderr: HeadTailBuffer
    value: Any = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        ident = threading.get_ident()
        _OutputRouting.capture(ident, self.stdout, self.stderr)
        try:
            exec(self.body, self.namespace)
            if self.last is not None:
                self.value = eval(self.last, self.namespace)
        except BaseException as exc:  # the user's code may raise anything, KeyboardInterrupt included
            self.error = exc
        finally:
            _OutputRouting.release(ident)
            self.done.set()


def _traceback_text(error: BaseException) -> str:
    # Drop the first frame: it is this module's exec() call, not the user's code.
    tb = error.__traceback__.tb_next if error.__traceback__ else None
    return "".join(traceback.format_exception(type(error), error, tb))


@records_namespace_change
async def run_python(ctx: ToolContext, code: str) -> ToolResult:
    """Execute Python code in the notebook's namespace; variables it defines stay for later cells.

    Returns what it printed (stdout, stderr), the value of a final expression (like a cell's Out), or
    the traceback if it raised.

    Args:
        code: Python source, one or more statements; a final expression's value is returned.
    """
    filename = f"<run_python-{next(_run_numbers)}>"
    try:
        body, last = _split_last_expression(code, filename)
    except SyntaxError as exc:
        return ToolResult.failure("syntax_error", f"line {exc.lineno}: {exc.msg}", retryable=True)
    # Tracebacks can then show the lines of the code, as for a cell.
    linecache.cache[filename] = (len(code), None, code.splitlines(keepends=True), filename)
    half = ctx.max_output_chars // 2
    job = _PythonJob(body, last, ctx.namespace, HeadTailBuffer(half), HeadTailBuffer(half // 2))
    loop = asyncio.get_running_loop()
    finished: asyncio.Future[None] = loop.create_future()

    def run_and_signal() -> None:
        job.run()
        if not loop.is_closed():
            loop.call_soon_threadsafe(lambda: finished.done() or finished.set_result(None))

    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(run_and_signal,), name="agent-run-python", daemon=True)
    thread.start()
    try:
        await asyncio.shield(finished)
    except asyncio.CancelledError:
        # Interrupted or timed out: stop the code as a kernel interrupt would, and give it a moment so
        # the namespace is not changed behind the next cell's back.
        interrupt_thread(thread)
        await loop.run_in_executor(None, job.done.wait, INTERRUPT_GRACE_S)
        raise
    data: dict[str, Any] = {"stdout": job.stdout.text(), "stderr": job.stderr.text()}
    if job.error is not None:
        data["traceback"] = _traceback_text(job.error)
        message = "".join(traceback.format_exception_only(type(job.error), job.error)).strip()
        return ToolResult(ok=False, data=data, error_code="python_error", error_message=message, retryable=True)
    if last is not None and job.value is not None:  # like a cell: a None result shows nothing
        text = repr(job.value)
        data["result"] = (
            text if len(text) <= MAX_RESULT_REPR else text[:MAX_RESULT_REPR] + f"… [{len(text)} characters]"
        )
        data["result_type"] = type(job.value).__qualname__
    return ToolResult.success(data)
