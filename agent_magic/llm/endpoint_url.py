"""Checking an endpoint URL (`AgentMagic.base_url`, `$OPENAI_BASE_URL`) before anything uses it, so a typo
is one line saying what is wrong instead of a traceback from deep inside the HTTP client."""

from __future__ import annotations

from urllib.parse import urlsplit

from agent_magic.policy.secrets import mask_secrets

EXAMPLE = "e.g. http://localhost:11434/v1 or https://YOUR-RESOURCE.openai.azure.com/openai/v1"


def base_url_problem(url: str) -> str | None:
    """What is wrong with `url` as an OpenAI-compatible base URL, or None when it is usable.

    Example:
        >>> base_url_problem("localhost:11434/v1")
        'it has no http:// or https:// scheme'
    """
    if not url.strip():
        return "it is empty"
    if url != url.strip() or any(ch.isspace() for ch in url):
        return "it contains spaces"
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port that is not a number in 0-65535
    except ValueError as exc:
        return f"it cannot be read as a URL ({exc})"
    if "://" not in url:
        return "it has no http:// or https:// scheme"
    if parts.scheme not in ("http", "https"):
        return f"its scheme is {parts.scheme}://, not http:// or https://"
    if not parts.hostname:
        return "it names no host"
    if port == 0:
        return "its port is 0"
    return None


def check_base_url(url: str, source: str) -> str:
    """`url` unchanged if usable; else ValueError with one line naming `source` and the fix."""
    problem = base_url_problem(url)
    if problem:
        raise ValueError(f"{source} = {mask_secrets(url)!r} is not a usable endpoint URL: {problem}; {EXAMPLE}")
    return url
