"""Every error type agent_magic raises, in one place.

Three families:
- `AgentUsageError`: the user can fix it (bad option, missing configuration). Shown as one line.
- `ModelCallError` and subclasses: talking to the model failed. Shown as one line naming the cause.
- `LimitReached`: a budget or step limit stopped the turn. Control flow, not a failure.
"""

from __future__ import annotations


class AgentError(Exception):
    """Base class of agent_magic's own errors."""


class AgentUsageError(AgentError):
    """A mistake the user can fix; the notebook shows it as a single line."""


class ModelCallError(AgentError):
    """A model call failed; `retryable` says whether trying again could help.

    `attempts` is the call's attempt history (`llm.retry.AttemptRecord`s), filled in by the retry loop
    so `%agent last-error` can show every try, not only the last.
    """

    retryable: bool = False
    attempts: tuple = ()

    def __init__(self, message: str, *, retryable: bool | None = None) -> None:
        super().__init__(message)
        if retryable is not None:
            self.retryable = retryable


class StreamCutError(ModelCallError):
    """The server closed the stream before a `finish_reason`: the answer is incomplete."""

    retryable = True


class ModelTimeoutError(ModelCallError):
    """The server did not answer in time (connect, first byte, between chunks or overall)."""

    retryable = True


class ModelHTTPError(ModelCallError):
    """The server answered with an HTTP error status."""

    def __init__(self, message: str, *, status: int, retry_after: float | None = None) -> None:
        super().__init__(message, retryable=status in (408, 409, 429) or status >= 500)
        self.status = status
        self.retry_after = retry_after


class ModelConnectionError(ModelCallError):
    """The endpoint could not be reached."""

    retryable = True


class RetriesExhausted(ModelCallError):
    """Every allowed attempt of a model call failed (or the next wait would pass the total-wait cap);
    the cause is the last attempt's error."""


class CircuitOpenError(ModelCallError):
    """The endpoint failed too many times in a row: calls fail fast until its cool-down ends."""


class LimitReached(AgentError):
    """A step, tool, token or cost limit was reached; the message says which and by how much."""


class TurnStopped(AgentError):
    """The user chose Stop at an approval prompt: the turn ends like a cancellation."""


class ContextWindowExceeded(ModelHTTPError):
    """The server refused the request as longer than the model's context window. `window` is the limit it
    named and `prompt_tokens` the size it counted, when it said (see `llm.context_errors`)."""

    def __init__(self, message: str, *, status: int, window: int | None, prompt_tokens: int | None) -> None:
        super().__init__(message, status=status)
        self.window = window
        self.prompt_tokens = prompt_tokens


class StreamStalledError(StreamCutError):
    """An answer that had started went silent longer than `AgentMagic.stream_idle_timeout`: it is
    abandoned and retried like a cut stream."""


class MalformedStreamError(ModelCallError):
    """The server sent an event that is not a valid chunk. Retried when nothing was shown yet; after
    text was shown it ends the call, since silently skipping the event could lose text."""


class ResponseTooLargeError(ModelCallError):
    """The response passed `AgentMagic.max_response_mb` (an endless stream, a compression bomb)."""


class NotAnEventStreamError(ModelCallError):
    """The server answered 200 with something other than Server-Sent Events (an HTML page, say)."""


class InvalidAnswer(AgentUsageError):
    """A final answer failed its check (`--schema`) even after the repair round; `answer` keeps the raw
    text for `%agent last-error`."""

    def __init__(self, message: str, *, answer: str) -> None:
        super().__init__(message)
        self.answer = answer

    @property
    def details(self) -> str:
        """What `%agent last-error` shows besides the message: the raw answer."""
        return f"the raw answer:\n{self.answer}"


class ReplayMiss(ModelCallError):
    """Strict replay found no recording for a model call; the message names the cell and the reason, and
    nothing was sent."""


class ReplayFileError(AgentUsageError):
    """A replay file next to the notebook cannot be read; the message names the file and the line."""
