"""The built-in tool set, in the order it is offered to the model, each with its declared destructiveness.

Whether a tool is destructive is declared here, on the tool, and read by the approval gate: read-only
tools run without asking (and in parallel); destructive ones are approved call by call.
"""

from __future__ import annotations

import functools

from agent_magic.tools.files import delete_file, edit_file, list_files, read_file, search_files, write_file
from agent_magic.tools.namespace import inspect_variable, list_variables
from agent_magic.tools.python_code import run_python
from agent_magic.tools.registry import Tool, make_tool
from agent_magic.tools.shell import run_shell, shell_review

READ_ONLY = (list_files, read_file, search_files, inspect_variable, list_variables)
DESTRUCTIVE = (write_file, edit_file, delete_file, run_shell, run_python)


@functools.cache
def builtin_tools() -> tuple[Tool, ...]:
    """The built-in tools: the read-only ones first, then the ones that need approval.

    Made once per process and shared by every session (a `Tool` is immutable), so each tool's pydantic
    model and JSON schema are built once, not once per conversation.
    """
    reviews = {run_shell: shell_review}
    return tuple(make_tool(f) for f in READ_ONLY) + tuple(
        make_tool(f, destructive=True, review=reviews.get(f)) for f in DESTRUCTIVE
    )
