"""Talking to models: the streaming client, chunk assembly, the loopback SSE server and the demo model."""
