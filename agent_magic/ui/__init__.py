"""Renderers: turn events into what a person sees (notebook displays, terminal text)."""
