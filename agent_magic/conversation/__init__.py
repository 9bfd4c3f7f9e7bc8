"""Conversations that last: named sessions, project instructions (AGENTS.md) and compaction."""
