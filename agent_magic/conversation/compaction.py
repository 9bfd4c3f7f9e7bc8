"""Compaction: keeping a conversation inside its model's context window.

The session owns its transcript; it asks this strategy for a shorter one when the next request would pass
`threshold` of the window, when a server refused a request as too long, or on `%agent compact`. Until the
estimate is under half the window, in this order:

1. tool results of the older turns are shortened to their head and tail around a marker;
2. the oldest turns are replaced by one summary message, written by the model in normal (recorded) model
   calls; a part too long for one summary request is summarised in pieces, each folded into the summary
   so far, so every summary request fits the window too;
3. if that is not enough, fewer turns are kept verbatim, and then the tool results of the kept turns are
   shortened too, except those the model has not read yet.

Turns are summarised or kept whole, and the latest turns (`keep_turns`, and the running turn) are kept,
so every assistant tool call keeps its result: the transcript stays valid for any server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from agent_magic.config import setting
from agent_magic.conversation.tokens import CHARS_PER_TOKEN, estimate_tokens
from agent_magic.events import CompactionTrigger
from agent_magic.llm.context_windows import ContextWindows
from agent_magic.llm.model import ChatModel, ModelResponse
from agent_magic.llm.retry import RetryScheduled
from agent_magic.prompts import COMPACTION_PROMPT, SUMMARY_HEADER
from agent_magic.tools.framing import cap_text

TARGET_SHARE = 0.5  # a compaction aims at half the window, so it is not needed again at the next call
SUMMARY_SHARE = 0.1  # a summary may take a tenth of the window…
MIN_SUMMARY_TOKENS, MAX_SUMMARY_TOKENS = 150, 1_500  # …within these bounds
PIECE_SHARE = 0.5  # one summary request carries at most half the window
KEPT_RESULT_CHARS = 2_000  # a shortened tool result keeps this much of its head and tail
RENDERED_RESULT_CHARS = 1_500  # what a summary request shows of one tool result
RENDERED_ARGUMENT_CHARS = 300


@dataclass(frozen=True)
class CompactionPolicy:
    """When to compact (`threshold`: the share of the window the next request may fill) and how many of
    the latest turns are always kept verbatim (`keep_turns`)."""

    threshold: float = setting("compaction_threshold")
    keep_turns: int = setting("compaction_keep_turns")


@dataclass(frozen=True)
class CompactionRequest:
    """What the session hands the strategy: its transcript (and the turn of each message), the model that
    writes summaries, the request's other text (`fixed_chars`: system prompt, tool schemas), its size
    estimate, the window (None when unknown) and the running turn, which is always kept. On demand
    (`%agent compact`) every turn but the latest `keep_turns` is summarised, whatever the size."""

    model: ChatModel
    messages: Sequence[dict[str, Any]]
    turn_ids: Sequence[str]
    fixed_chars: int
    tokens_before: int
    window: int | None
    running_turn: str | None = None
    trigger: CompactionTrigger = CompactionTrigger.PROACTIVE


@dataclass(frozen=True)
class SummaryCallStarting:
    """A summary request is about to be sent (the session runs its guards and says so)."""

    request: list[dict[str, Any]]


@dataclass(frozen=True)
class SummaryCall:
    """A summary request and the model's answer: a model call like any other, to be counted."""

    request: list[dict[str, Any]]
    response: ModelResponse


@dataclass(frozen=True)
class Compacted:
    """The new transcript and what was done to get it; the sizes are estimates of the request before and
    after, made the same way."""

    messages: list[dict[str, Any]]
    turn_ids: list[str]
    tokens_before: int
    tokens_after: int
    summarised_turns: int
    shortened_results: int

    @property
    def changed(self) -> bool:
        """False when nothing could be shortened or summarised."""
        return bool(self.summarised_turns or self.shortened_results)

    def notice(self, trigger: CompactionTrigger) -> str:
        """The one line the cell shows, e.g. "🗜 compacted the conversation (…): about 9,800 → 3,100 tokens; …"."""
        if not self.changed:
            return "🗜 nothing to compact: the conversation is only its latest turns"
        done = [
            f"{count} {what}{'s' * (count != 1)} {verb}"
            for count, what, verb in (
                (self.summarised_turns, "turn", "summarised"),
                (self.shortened_results, "tool result", "shortened"),
            )
            if count
        ]
        return (
            f"🗜 compacted the conversation ({trigger.value}): about {self.tokens_before:,} → "
            f"{self.tokens_after:,} tokens; {', '.join(done)}"
        )


CompactionItem = SummaryCallStarting | SummaryCall | RetryScheduled | Compacted


@dataclass(frozen=True)
class _Budget:
    target: int  # tokens the compacted request should stay under
    summary_tokens: int
    piece_chars: int  # characters of conversation one summary request may carry

    @classmethod
    def of(cls, request: CompactionRequest) -> _Budget:
        # Unknown window (a refusal that named none): the refused request was too long, aim at half of it.
        scale = request.window or request.tokens_before
        summary = min(MAX_SUMMARY_TOKENS, max(MIN_SUMMARY_TOKENS, int(scale * SUMMARY_SHARE)))
        prompt = len(COMPACTION_PROMPT) // CHARS_PER_TOKEN
        piece_tokens = int(scale * PIECE_SHARE) - 2 * summary - prompt
        return cls(int(scale * TARGET_SHARE), summary, max(2_000, piece_tokens * CHARS_PER_TOKEN))


def _groups(turn_ids: Sequence[str]) -> list[tuple[str, int, int]]:
    """Runs of consecutive messages of one turn: (turn id, start, end)."""
    groups: list[tuple[str, int, int]] = []
    for index, turn_id in enumerate(turn_ids):
        if groups and groups[-1][0] == turn_id:
            groups[-1] = (turn_id, groups[-1][1], index + 1)
        else:
            groups.append((turn_id, index, index + 1))
    return groups


def _kept_from(turn_ids: Sequence[str], keep_turns: int, running_turn: str | None) -> int:
    """The index of the first message kept verbatim: the latest `keep_turns` turns and the running turn."""
    kept, start = 0, len(turn_ids)
    for turn_id, group_start, _ in reversed(_groups(turn_ids)):
        if kept >= keep_turns and turn_id != running_turn:
            break
        if turn_id:
            kept += 1
        start = group_start
    return start


def _is_summary(message: dict[str, Any]) -> bool:
    content = message.get("content")
    return message.get("role") == "user" and isinstance(content, str) and content.startswith(SUMMARY_HEADER)


def _shorten_results(messages: list[dict[str, Any]], indexes: range) -> int:
    """Cut long tool results at `indexes` to head and tail; returns how many were cut."""
    shortened = 0
    for index in indexes:
        message = messages[index]
        content = message.get("content")
        # Some slack over the kept size: a result shortened before (marker included) is left alone.
        if message.get("role") == "tool" and isinstance(content, str) and len(content) > KEPT_RESULT_CHARS * 1.2:
            messages[index] = {**message, "content": cap_text(content, KEPT_RESULT_CHARS)[0]}
            shortened += 1
    return shortened


def _render(messages: Sequence[dict[str, Any]]) -> list[str]:
    """The conversation as plain text for a summary request, one block per turn."""
    names = {
        call.get("id"): call.get("function", {}).get("name", "tool")
        for message in messages
        for call in message.get("tool_calls") or ()
    }
    blocks: list[list[str]] = []
    for message in messages:
        role, content = message.get("role"), message.get("content")
        text = content if isinstance(content, str) else ""
        if role == "user" or not blocks:
            blocks.append([])
        if role == "user":
            blocks[-1].append(f"User: {text}")
        elif role == "assistant":
            if text:
                blocks[-1].append(f"Assistant: {text}")
            for call in message.get("tool_calls") or ():
                function = call.get("function", {})
                arguments = cap_text(function.get("arguments", ""), RENDERED_ARGUMENT_CHARS)[0]
                blocks[-1].append(f"Assistant called {function.get('name', 'tool')}({arguments})")
        elif role == "tool":
            name = names.get(message.get("tool_call_id"), "tool")
            blocks[-1].append(f"Result of {name}: {cap_text(text, RENDERED_RESULT_CHARS)[0]}")
    return ["\n".join(block) for block in blocks if block]


def _pieces(blocks: list[str], piece_chars: int) -> list[str]:
    """Blocks packed into pieces of at most `piece_chars` (a block longer than that is cut to fit)."""
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for block in blocks:
        block = cap_text(block, piece_chars)[0]
        if current and size + len(block) > piece_chars:
            pieces.append("\n\n---\n\n".join(current))
            current, size = [], 0
        current.append(block)
        size += len(block) + 7
    if current:
        pieces.append("\n\n---\n\n".join(current))
    return pieces


class Compactor:
    """The session's compaction strategy (see the module docstring), with the context windows it knows.

    Example:
        >>> compactor = Compactor(ContextWindows({"llama3.1": 8192}))
        >>> compactor.should_compact("llama3.1", 7000)
        True
    """

    def __init__(self, windows: ContextWindows, policy: CompactionPolicy | None = None) -> None:
        self.windows = windows
        self.policy = policy or CompactionPolicy()

    def window_for(self, model: str) -> int | None:
        """The prompt tokens `model` accepts, or None when unknown."""
        return self.windows.window_for(model)

    def learn(self, model: str, tokens: int) -> None:
        """Remember the window a server named when it refused a request."""
        self.windows.learn(model, tokens)

    def should_compact(self, model: str, estimate: int) -> bool:
        """True when a request of `estimate` tokens would fill more than `threshold` of the known window."""
        window = self.window_for(model)
        return window is not None and estimate > window * self.policy.threshold

    async def compact(self, request: CompactionRequest) -> AsyncIterator[CompactionItem]:
        """Shorten the transcript; yields each summary call (announced, then with its answer) and the retry
        notices of those calls, and finally one `Compacted`."""
        budget = _Budget.of(request)
        messages = [dict(m) for m in request.messages]
        turn_ids = list(request.turn_ids)

        def size() -> int:
            return estimate_tokens(messages, request.fixed_chars)

        on_demand = request.trigger is CompactionTrigger.ON_DEMAND
        target = 0 if on_demand else budget.target
        # Keep fewer turns verbatim only when keeping `keep_turns` cannot make the request fit.
        keeps = (self.policy.keep_turns,) if on_demand else tuple(dict.fromkeys((self.policy.keep_turns, 1)))
        shortened = summarised = 0
        for keep in keeps:
            kept_from = _kept_from(turn_ids, keep, request.running_turn)
            shortened += _shorten_results(messages, range(kept_from))
            if size() <= target:
                break
            cut = self._cut(messages, turn_ids, kept_from, target - budget.summary_tokens, request.fixed_chars)
            # A part shorter than a summary's floor would come back no shorter: leave it as it is.
            worth_it = estimate_tokens(messages[:cut]) > MIN_SUMMARY_TOKENS
            if worth_it and not (cut == 1 and _is_summary(messages[0])):
                summary = ""
                async for item in self._summarise(request.model, messages[:cut], budget):
                    if isinstance(item, str):
                        summary = item
                    else:
                        yield item
                summarised += len({turn_id for turn_id in turn_ids[:cut] if turn_id})
                messages[:cut] = [{"role": "user", "content": f"{SUMMARY_HEADER}\n\n{summary}"}]
                turn_ids[:cut] = [""]
            if size() <= target:
                break
        if not on_demand and size() > target:
            # Last resort: the kept turns' results too, except those the model has not read yet.
            unread = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=0)
            shortened += _shorten_results(messages, range(unread))
        # Both sizes are estimated the same way (the server's count of the old request may differ from it).
        before = estimate_tokens(request.messages, request.fixed_chars)
        yield Compacted(messages, turn_ids, before, size(), summarised, shortened)

    @staticmethod
    def _cut(messages: list[dict[str, Any]], turn_ids: list[str], kept_from: int, room: int, fixed_chars: int) -> int:
        """How many of the oldest messages to summarise: the fewest whole turns before `kept_from` that leave
        the rest within `room` tokens; all of them when nothing less does."""
        for _, _, end in _groups(turn_ids[:kept_from]):
            if estimate_tokens(messages[end:], fixed_chars) <= room:
                return end
        return kept_from

    @staticmethod
    async def _summarise(
        model: ChatModel, part: list[dict[str, Any]], budget: _Budget
    ) -> AsyncIterator[CompactionItem | str]:
        """Summarise `part` piece by piece, folding each piece into the summary so far (a previous
        compaction's summary message starts it); yields the calls, then the summary text."""
        summary = ""
        if part and _is_summary(part[0]):
            summary = part[0]["content"].removeprefix(SUMMARY_HEADER).strip()
            part = part[1:]
        words = budget.summary_tokens * 3 // 4
        instructions = COMPACTION_PROMPT.format(words=words)
        for piece in _pieces(_render(part), budget.piece_chars):
            request = [
                {"role": "system", "content": instructions},
                {
                    "role": "user",
                    "content": f"Summary so far:\n{summary or '(none yet)'}\n\nConversation to add:\n{piece}",
                },
            ]
            yield SummaryCallStarting(request)
            response: ModelResponse | None = None
            async for item in model.stream(request, []):
                if isinstance(item, ModelResponse):
                    response = item
                elif isinstance(item, RetryScheduled):
                    yield item
            assert response is not None  # a model's stream always ends with its response or raises
            yield SummaryCall(request, response)
            text = response.text.strip() or f"{summary}\n(a part of the conversation could not be summarised)"
            summary = cap_text(text, budget.summary_tokens * CHARS_PER_TOKEN)[0]
        yield summary
