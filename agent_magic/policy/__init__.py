"""Policy: what the agent may touch and do (workspace scoping, sandbox, command guard, permission rules,
approvals, budgets). It decides through the interfaces of `agent_magic.contracts` and never imports the loop."""
