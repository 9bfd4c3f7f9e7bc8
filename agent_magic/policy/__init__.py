"""Policy: what the agent may touch (workspace scoping) and, later, approvals and budgets."""
