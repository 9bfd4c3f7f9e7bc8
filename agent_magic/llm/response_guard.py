"""Checks on the raw HTTP response of a model call, before the SDK parses it.

Installed as an httpx response hook on the model client's HTTP client:

- a `200` whose content type is not an event stream (an HTML login page of a proxy, a wrong `base_url`
  that serves a web app) fails at once with a line saying so, instead of "the stream ended without
  finishing";
- the decoded body is counted as the SDK reads it, and reading stops with `ResponseTooLargeError` past
  the cap: an endless stream or a gzip bomb costs at most the cap plus one decompressed network chunk,
  never gigabytes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from agent_magic.errors import NotAnEventStreamError, ResponseTooLargeError
from agent_magic.policy.secrets import mask_secrets

ACCEPTED_TYPES = ("text/event-stream", "application/json", "application/x-ndjson")


def response_guard(max_bytes: int, setting: str = "AgentMagic.max_response_mb") -> Callable[[Any], Awaitable[None]]:
    """An httpx async response hook enforcing the checks above on every response."""

    async def hook(response: Any) -> None:
        url = mask_secrets(str(response.request.url))
        content_type = response.headers.get("content-type", "").lower()
        if response.status_code == 200 and content_type and not content_type.startswith(ACCEPTED_TYPES):
            kind = "HTML" if "html" in content_type else content_type.split(";")[0]
            await response.aclose()
            raise NotAnEventStreamError(
                f"{url}: the server answered {kind}, not an event stream; is AgentMagic.base_url the API "
                "endpoint (usually ending in /v1)?"
            )
        read = response.aiter_bytes

        async def capped(*args: Any, **kwargs: Any) -> AsyncIterator[bytes]:
            seen = 0
            async for chunk in read(*args, **kwargs):
                seen += len(chunk)
                if seen > max_bytes:
                    raise ResponseTooLargeError(
                        f"the response from {url} passed {max_bytes / 1e6:g} MB ({setting}); stopped reading it"
                    )
                yield chunk

        response.aiter_bytes = capped

    return hook
