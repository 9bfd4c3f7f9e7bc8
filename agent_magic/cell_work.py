"""What an `%%agent` cell keeps of the agent's work besides its streamed answer (issue 12).

`CellWork.prepare` checks the cell's `-o NAME` and `--schema CLS` before anything is sent (one line
each when wrong), and gives the turn its answer format. While the turn runs, its subscribers build the
cell's provenance record (`notebook_provenance.py`), gather the code `run_python` ran
(`code_cells.py`), and mark replayed answers and repair rounds in the cell; when it ends, `finish`
binds `NAME`. `show_estimate` is `--estimate`: the next call's tokens and dollars, with nothing sent.
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.display import display

from agent_magic.code_cells import CodeCellCollector, TurnCode
from agent_magic.events import AnswerChecked, AssistantMessage, Event, EventSubscriber, TurnEnded, TurnState
from agent_magic.notebook_provenance import ProvenanceCollector

if TYPE_CHECKING:
    from agent_magic.runtime import AgentRuntime
    from agent_magic.structured import AnswerSchema
    from agent_magic.ui.lab_comm import LabCommPublisher


def _note(text: str) -> None:
    """A one-line note in the cell (Markdown, with a plain-text twin for terminals and saved notebooks)."""
    display({"text/markdown": text, "text/plain": text}, raw=True)


@dataclass
class CellWork:
    """One `%%agent` cell's `-o`/`--schema`, provenance, code cells and replay mark."""

    runtime: AgentRuntime
    namespace: dict[str, Any]
    provenance: ProvenanceCollector
    code: CodeCellCollector
    output: str | None = None
    schema: AnswerSchema | None = None
    _answer: str | None = None  # the latest assistant message's text
    _value: Any = None  # the value of the latest answer that passed --schema's check
    _valid: bool = False
    _replayed: int = 0

    @classmethod
    def prepare(
        cls, args: Any, runtime: AgentRuntime, namespace: dict[str, Any], publisher: LabCommPublisher | None
    ) -> CellWork:
        """Check `-o` and `--schema` (a `UsageError` / `AgentUsageError` of one line; nothing is sent)."""
        output, expression = args.output, args.schema
        if output is not None and (not output.isidentifier() or keyword.iskeyword(output)):
            raise UsageError(f"-o {output}: not a Python variable name; write e.g. -o answer")
        if expression is not None and output is None:
            raise UsageError(f"--schema {expression} needs -o NAME: the validated answer is bound to NAME")
        schema = None
        if expression is not None:
            from agent_magic.structured import resolve_schema

            schema = resolve_schema(expression, namespace)
        described = None if output is None else {"name": output, **({"schema": schema.label} if schema else {})}
        publish = None
        if publisher is not None and runtime.config.code_cells == "insert":
            publish = _insert_cells(publisher)
        return cls(
            runtime,
            namespace,
            ProvenanceCollector(output=described),
            CodeCellCollector(runtime.code_history, publish),
            output,
            schema,
        )

    def settings(self) -> dict[str, Any]:
        """The `TurnSettings` fields this cell sets: with `--schema`, the answer format, its check, and the
        schema in the system prompt."""
        if self.schema is None or self.output is None:
            return {}
        from agent_magic.structured import SchemaCheck

        return {
            "response_format": self.schema.response_format(),
            "answer_check": SchemaCheck(self.schema, self.output),
            "system_prompt": f"{self.runtime.config.system_prompt}\n\n{self.schema.instructions()}",
        }

    @property
    def subscribers(self) -> list[EventSubscriber]:
        """The cell's own subscribers to its turn's events."""
        return [self, self.provenance, self.code]

    def turn_metadata(self) -> dict[str, Any]:
        """The provenance record the renderer attaches to the cell's final output."""
        return self.provenance.record()

    def handle(self, event: Event) -> None:
        """Keep the final answer; note a repair round and replayed answers in the cell."""
        if isinstance(event, AssistantMessage):
            self._answer = event.text
            self._replayed += int(event.replayed)
        elif isinstance(event, AnswerChecked):
            self._valid, self._value = event.ok, event.value
            if event.repairing and self.schema is not None:
                label, problem = self.schema.label, event.problem
                _note(f"⟳ the answer does not match `{label}` ({problem}); the model was asked to fix it")
        elif isinstance(event, TurnEnded) and self._replayed:
            calls = "call" if self._replayed == 1 else "calls"
            _note(f"↺ replayed: {self._replayed} model {calls} answered from the recording, nothing was sent")

    def finish(self, ended: TurnEnded | None) -> None:
        """Bind `-o NAME` when the turn completed (to the validated value with `--schema`)."""
        if self.output is None or ended is None or ended.state is not TurnState.COMPLETED:
            return
        if self.schema is not None:
            if self._valid:
                self.namespace[self.output] = self._value
        elif self._answer is not None:
            self.namespace[self.output] = self._answer


def _insert_cells(publisher: LabCommPublisher) -> Any:
    """What hands a turn's code cells to the companion over the comm."""
    from agent_magic.ui.lab_protocol import insert_cells_message

    def publish(turn: TurnCode) -> None:
        publisher.broadcast(insert_cells_message(turn.turn_id, turn.cell_id, turn.cells()))

    return publish


async def show_estimate(runtime: AgentRuntime, args: Any, prompt: str, work: CellWork) -> None:
    """`%%agent --estimate`: print what the next model call of this cell would send for `prompt`, in tokens
    and dollars. Nothing is sent and nothing changes: not the conversation, nor which one is current (with
    `--new`, the first call of a fresh conversation is estimated)."""
    from agent_magic.estimate import calibrate, estimate

    current = runtime.conversations.current_name
    if args.session and args.session != current and not args.new:
        raise UsageError(
            f"--estimate previews the current conversation ({current}): run %agent session {args.session} "
            "first, or add --new to estimate a fresh one"
        )
    notices = await runtime.prepare_tools()  # the MCP servers' tools are part of what a call sends
    settings = runtime.turn_settings(
        model=args.model, max_steps=args.max_steps, max_cost=args.max_cost, **work.settings()
    )
    notices = [*notices, *runtime.instructions.take_notices()]  # e.g. AGENTS.md cut to its size cap
    if notices:
        print("\n".join(notices))
    request = runtime.session.preview_request(prompt, settings)
    if args.new:
        request = replace(request, messages=[request.messages[0], request.messages[-1]])
    calibration = calibrate(runtime.ledger.store, settings.model)
    print(estimate(request, calibration, runtime.cost, runtime.config.estimate_output_tokens).render())
