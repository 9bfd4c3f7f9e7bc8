"""An MCP server for the tests, built with the official SDK (`MCPServer`): tools that echo, sleep (and
record being cancelled), fail, crash the process, return an image, leak a configured secret, and start
a helper process. Run it over stdio (`python scripted_server.py`) or streamable HTTP
(`python scripted_server.py http PORT`).

`MARK_DIR` (environment) is where `slow` writes `cancelled` when the client cancels it; `whoami` checks
HTTP headers against `EXPECTED_TOKEN`.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import anyio
from mcp.server.mcpserver import Context, Image, MCPServer
from mcp.types import ToolAnnotations

READ_ONLY = ToolAnnotations(read_only_hint=True)
# The smallest valid PNG (1 x 1 pixel).
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)

server = MCPServer("scripted")


@server.tool(annotations=READ_ONLY)
def echo(text: str) -> str:
    """Echo the text back."""
    return text


@server.tool(annotations=READ_ONLY)
async def slow(seconds: float) -> str:
    """Sleep for a while, noting it if the client cancels the call."""
    try:
        await anyio.sleep(seconds)
    except anyio.get_cancelled_exc_class():
        Path(os.environ["MARK_DIR"], "cancelled").write_text("cancelled")
        raise
    return "done"


@server.tool(annotations=READ_ONLY)
def fail(reason: str) -> str:
    """Fail with the reason given (the client sees an isError result)."""
    raise ValueError(reason)


@server.tool()
def crash() -> str:
    """Crash the server process in the middle of the call."""
    print("fatal: lost the connection to the warehouse", file=sys.stderr, flush=True)
    os._exit(3)


@server.tool(annotations=READ_ONLY)
def picture() -> list:
    """A picture and a caption."""
    return ["a one-pixel picture", Image(data=PNG, format="png")]


@server.tool(annotations=READ_ONLY)
def token() -> str:
    """The SERVER_TOKEN the server was configured with (a server that leaks a secret)."""
    return f"my token is {os.environ.get('SERVER_TOKEN', '')}"


@server.tool(annotations=READ_ONLY)
def whoami(ctx: Context) -> dict:
    """Who the HTTP request says the client is: its X-Team header, and whether its bearer token is the
    one the server expects (EXPECTED_TOKEN)."""
    headers = ctx.headers or {}
    expected = f"Bearer {os.environ.get('EXPECTED_TOKEN', '')}"
    return {"team": headers.get("x-team"), "authorized": headers.get("authorization") == expected}


@server.tool()
def spawn_helper() -> int:
    """Start a long-running helper process (as servers launched through npx or uvx do); returns its pid."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]).pid


if __name__ == "__main__":
    print("scripted server: starting", file=sys.stderr, flush=True)
    if sys.argv[1:2] == ["http"]:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
