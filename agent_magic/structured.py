"""`%%agent --schema CLS`: the answer format a turn asks for, and the check of its final answer.

`CLS` names a pydantic `BaseModel`, a dataclass or a `TypedDict` defined in the notebook, or `list[CLS]`.
pydantic's `TypeAdapter` validates all of them one way. The model is asked for JSON twice over: in the
request's `response_format` (OpenAI's strict `json_schema`, which many OpenAI-compatible servers also
honour; `llm/client.py` drops it for a server that refuses it) and in the turn's instructions, so a server
that ignores `response_format` still knows the schema. The session gives the model one round to repair an
answer that does not validate (`contracts.AnswerCheck`).

Strict mode wants an object at the root, so `list[CLS]` answers travel as `{"items": [...]}`; a bare JSON
list is accepted too.
"""

from __future__ import annotations

import builtins
import dataclasses
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent_magic.contracts import AnswerVerdict
from agent_magic.errors import AgentUsageError

if TYPE_CHECKING:
    from pydantic import TypeAdapter

# `Name`, `module.Name`, `list[Name]`: what --schema accepts.
_EXPRESSION = re.compile(r"^\s*(?:list\[\s*(?P<inner>[A-Za-z_][\w.]*)\s*\]|(?P<plain>[A-Za-z_][\w.]*))\s*$")
_FENCE = re.compile(r"^```[\w-]*\s*\n(.*?)\n?```\s*$", re.DOTALL)
MAX_LISTED_ERRORS = 5
LIST_KEY = "items"
SCHEMA_HELP = "--schema takes a class defined in the notebook, e.g. --schema Product or --schema list[Product]"


@dataclass(frozen=True)
class AnswerSchema:
    """The answer format of one `--schema`: its label (`City`, `list[City]`), the adapter that validates an
    answer, and the strict JSON schema of what the model sends (wrapped for lists)."""

    label: str
    adapter: TypeAdapter[Any]
    json_schema: dict[str, Any]
    wrapped: bool = False

    @property
    def name(self) -> str:
        """The schema's name as `response_format` takes it (letters, digits, `_` and `-`, at most 64)."""
        return re.sub(r"[^A-Za-z0-9_-]", "_", self.label.replace("[", "_of_").rstrip("]"))[:64]

    def response_format(self) -> dict[str, Any]:
        """The Chat Completions `response_format`: a strict JSON schema."""
        return {"type": "json_schema", "json_schema": {"name": self.name, "schema": self.json_schema, "strict": True}}

    def instructions(self) -> str:
        """What the system prompt adds for this turn, for servers that ignore `response_format`."""
        shape = f'a JSON object {{"{LIST_KEY}": [...]}}' if self.wrapped else "one JSON value"
        schema = json.dumps(self.json_schema, separators=(",", ":"))
        return (
            f"Your final answer in this turn must be {shape} and nothing else (no prose, no code fence), "
            f"valid against this JSON schema named {self.name}: {schema}"
        )

    def validate(self, text: str) -> Any:
        """The value `text` stands for; raises pydantic's `ValidationError` when it does not match."""
        body = _json_body(text)
        if self.wrapped:
            try:
                parsed = json.loads(body)
            except json.JSONDecodeError:
                parsed = None
            if isinstance(parsed, list):  # the bare list a model without response_format may send
                body = json.dumps({LIST_KEY: parsed})
            return getattr(self.adapter.validate_json(body), LIST_KEY)
        return self.adapter.validate_json(body)


def _json_body(text: str) -> str:
    """The JSON inside an answer: the text itself, or the inside of one Markdown code fence around it."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    return fenced.group(1).strip() if fenced else stripped


def _lookup(dotted: str, namespace: dict[str, Any]) -> Any:
    """The object `dotted` names in the notebook's namespace (`Name` or `module.Name`)."""
    head, *rest = dotted.split(".")
    if head in namespace:
        value = namespace[head]
    elif hasattr(builtins, head):
        value = getattr(builtins, head)
    else:
        raise AgentUsageError(f"--schema {dotted}: no such name in the notebook; define the class first")
    path = head
    for part in rest:
        if not hasattr(value, part):
            raise AgentUsageError(f"--schema {dotted}: {path} has no attribute {part}")
        value, path = getattr(value, part), f"{path}.{part}"
    return value


def _is_answer_class(value: Any) -> bool:
    from pydantic import BaseModel
    from typing_extensions import is_typeddict

    if not isinstance(value, type):
        return False
    return issubclass(value, BaseModel) or dataclasses.is_dataclass(value) or is_typeddict(value)


def resolve_schema(expression: str, namespace: dict[str, Any]) -> AnswerSchema:
    """The answer schema `--schema expression` names in `namespace`; one-line `AgentUsageError` otherwise.

    Example:
        >>> class City(BaseModel):
        ...     name: str
        >>> resolve_schema("list[City]", {"City": City}).label
        'list[City]'
    """
    match = _EXPRESSION.match(expression)
    if match is None:
        raise AgentUsageError(f"--schema {expression}: {SCHEMA_HELP}")
    dotted = match.group("inner") or match.group("plain")
    target = _lookup(dotted, namespace)
    if not _is_answer_class(target):
        kind = "a class" if isinstance(target, type) else f"a {type(target).__name__}"
        raise AgentUsageError(
            f"--schema {dotted}: that is {kind}, not a pydantic BaseModel, dataclass or TypedDict; {SCHEMA_HELP}"
        )
    from openai.lib._pydantic import to_strict_json_schema  # the SDK's own strict-mode conversion (.parse())
    from pydantic import BaseModel, PydanticUserError, TypeAdapter, create_model

    try:
        if match.group("inner"):
            fields: dict[str, Any] = {LIST_KEY: (list[target], ...)}  # type: ignore[valid-type]
            wrapper = create_model(f"{target.__name__}List", **fields)
            return AnswerSchema(f"list[{dotted}]", TypeAdapter(wrapper), to_strict_json_schema(wrapper), wrapped=True)
        adapter = TypeAdapter(target)
        strict = to_strict_json_schema(target if issubclass(target, BaseModel) else adapter)
        return AnswerSchema(dotted, adapter, strict)
    except PydanticUserError as exc:  # e.g. typing.TypedDict on Python < 3.12
        raise AgentUsageError(f"--schema {dotted}: {str(exc).splitlines()[0]}") from None


def _location(loc: tuple[Any, ...], wrapped: bool) -> str:
    """`population`, `[2].name`: where in the answer an error is."""
    parts = list(loc[1:] if wrapped and loc[:1] == (LIST_KEY,) else loc)
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")
    return text or "the answer"


def _errors(exc: Any, wrapped: bool, *, with_input: bool) -> list[str]:
    lines = []
    for error in exc.errors():
        if error.get("type") == "json_invalid":
            lines.append(f"the answer is not JSON ({error.get('ctx', {}).get('error', error['msg'])})")
            continue
        line = f"{_location(error['loc'], wrapped)}: {error['msg']}"
        if with_input and error.get("loc") and error.get("type") != "missing" and "input" in error:
            line += f" (got {json.dumps(error['input'], default=str)[:80]})"
        lines.append(line)
    return lines


@dataclass(frozen=True)
class SchemaCheck:
    """The `AnswerCheck` of a `--schema` turn whose answer is bound to `output` (`-o NAME`)."""

    schema: AnswerSchema
    output: str

    def __call__(self, text: str) -> AnswerVerdict:
        """Validate the final answer; on failure, the field errors for the model and for the user."""
        from pydantic import ValidationError

        try:
            return AnswerVerdict(value=self.schema.validate(text))
        except ValidationError as exc:
            shown = _errors(exc, self.schema.wrapped, with_input=False)
            more = len(shown) - MAX_LISTED_ERRORS
            problem = "; ".join(shown[:MAX_LISTED_ERRORS]) + (f"; and {more} more" if more > 0 else "")
            for_model = "\n".join(f"- {line}" for line in _errors(exc, self.schema.wrapped, with_input=True))
            return AnswerVerdict(
                problem=problem,
                repair_prompt=(
                    f"Your answer does not match the JSON schema {self.schema.name}:\n{for_model}\n"
                    "Answer again with only the corrected JSON, nothing else."
                ),
                failure=(
                    f"the answer does not match {self.schema.label} even after a repair round ({problem}); "
                    f"`{self.output}` was not bound"
                ),
            )
