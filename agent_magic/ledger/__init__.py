"""The usage ledger: SQLite records of every turn, model call, tool call, approval and message, read back
as pandas DataFrames (`agent_magic.usage()`, `tool_calls()`, `transcript()`), plus the JSON-lines log.

Submodules import only the standard library at load; pandas is imported by `views` on first use.
"""
