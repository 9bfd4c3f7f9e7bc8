"""MCP servers as tools (issue 14): the configuration (`config`), the names tools are offered under
(`naming`), an MCP tool and result in our shapes (`adapter`), one server's connection (`connection`) on
the MCP loop (`loop`), the kernel's set of servers (`manager`), the process guard that ties a stdio
server to the kernel (`guard`) and the `%agent mcp` report (`report`).

Only `config` and the manager's bookkeeping load at `%load_ext`; the `mcp` package (about a second to
import) loads when a configured server is first started.
"""
