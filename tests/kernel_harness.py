"""Drive a real IPython kernel over ZeroMQ (jupyter_client), the way a frontend does.

`RealKernel.execute()` sends one execute_request and collects every iopub message until the kernel is
idle again, applying display updates the way JupyterLab does, so tests can assert on what a person would
see in the cell and on the traffic a frontend receives.
"""

from __future__ import annotations

import os
import queue
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.manager import KernelManager


@dataclass
class Execution:
    """Everything one execute_request produced."""

    reply: dict[str, Any]
    messages: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.reply["content"]["status"]

    @property
    def error(self) -> dict[str, Any] | None:
        errors = [o for o in self.outputs if o["output_type"] == "error"]
        return errors[-1] if errors else None

    def count(self, msg_type: str) -> int:
        return sum(1 for m in self.messages if m["header"]["msg_type"] == msg_type)

    @property
    def text(self) -> str:
        """What the cell shows, as text: streams, the final state of every display, errors."""
        parts = []
        for out in self.outputs:
            if out["output_type"] == "stream":
                parts.append(out["text"])
            elif out["output_type"] in ("display_data", "execute_result"):
                data = out["data"]
                parts.append(data.get("text/markdown") or data.get("text/plain", ""))
                parts.append("\n")
            elif out["output_type"] == "error":
                parts.append(f"{out['ename']}: {out['evalue']}\n" + "\n".join(out["traceback"]))
        return "".join(parts)


class RealKernel:
    """A python3 kernel in its own process, with the given environment and working directory."""

    def __init__(self, *, env: dict[str, str], cwd: Path) -> None:
        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(env={**os.environ, **env}, cwd=str(cwd))
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def execute(
        self,
        code: str,
        *,
        allow_stdin: bool = False,
        timeout: float = 60,
        on_message: Any = None,
        on_input: Any = None,
        cell_id: str | None = None,
    ) -> Execution:
        """Run `code`; `on_message(msg, kernel)` sees each iopub message as it arrives (to click, interrupt…).

        `on_input(prompt) -> str` answers the kernel's `input()` requests (needs `allow_stdin=True`).
        `cell_id` is sent in the request's metadata, as JupyterLab sends the running cell's id.
        """
        if cell_id is None:
            msg_id = self.client.execute(code, allow_stdin=allow_stdin, stop_on_error=False)
        else:
            content = {"code": code, "silent": False, "store_history": True, "user_expressions": {}}
            request = self.client.session.msg(
                "execute_request", {**content, "allow_stdin": allow_stdin, "stop_on_error": False}
            )
            request["metadata"]["cellId"] = cell_id
            self.client.shell_channel.send(request)
            msg_id = request["header"]["msg_id"]
        execution = Execution(reply={})
        displays: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout
        idle = False
        while not idle:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"cell did not finish in {timeout} s; got {execution.text!r}")
            try:
                if on_input is not None:
                    self._answer_input(on_input)
                msg = self.client.get_iopub_msg(timeout=min(remaining, 0.05 if on_input else 1.0))
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            execution.messages.append(msg)
            kind, content = msg["header"]["msg_type"], msg["content"]
            if on_message is not None:
                on_message(msg, self)
            if kind == "status" and content["execution_state"] == "idle":
                idle = True
            elif kind == "stream":
                execution.outputs.append({"output_type": "stream", "name": content["name"], "text": content["text"]})
            elif kind in ("display_data", "execute_result"):
                output = {"output_type": kind, "data": dict(content["data"]), "metadata": content.get("metadata", {})}
                execution.outputs.append(output)
                display_id = content.get("transient", {}).get("display_id")
                if display_id:
                    displays[display_id] = output
            elif kind == "update_display_data":
                display_id = content.get("transient", {}).get("display_id")
                if display_id in displays:
                    displays[display_id]["data"] = dict(content["data"])
                    displays[display_id]["metadata"] = content.get("metadata", {})
            elif kind == "error":
                execution.outputs.append({"output_type": "error", **content})
        # The shell channel may still hold replies to other requests (wait_for_ready's kernel_info
        # requests, for one): take this request's own execute_reply, or the status is a stranger's.
        while True:
            reply = self.client.get_shell_msg(timeout=10)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        execution.reply = reply
        return execution

    def _answer_input(self, on_input: Any) -> None:
        try:
            request = self.client.get_stdin_msg(timeout=0)
        except queue.Empty:
            return
        if request["header"]["msg_type"] == "input_request":
            self.client.input(on_input(request["content"]["prompt"]))

    def send_comm(self, comm_id: str, data: dict[str, Any]) -> None:
        """Send a comm_msg on the shell channel, as a widget frontend does (e.g. a button click)."""
        msg = self.client.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
        self.client.shell_channel.send(msg)

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


def run_saved_notebook(workspace: Path, *sources: str, allow_errors: bool = False) -> Any:
    """Execute a notebook of these code cells headless, as papermill and nbconvert do (nbclient, in
    `workspace`), save it, and return the notebook read back from the file: what a user opens later."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(workspace)}},
    ).execute()
    saved = workspace / "saved.ipynb"
    nbformat.write(notebook, saved)
    return nbformat.read(saved, as_version=4)
