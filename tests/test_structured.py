"""`--schema`: resolving the class, the strict response format, validating an answer, and the session's one
repair round (on a scripted in-memory model); the HTTP client's `response_format` against the loopback
server."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
import typing
from pathlib import Path

import pytest
import typing_extensions
from pydantic import BaseModel
from scripted_model import ScriptedModel

from agent_magic.contracts import TurnSettings
from agent_magic.errors import AgentUsageError, InvalidAnswer
from agent_magic.events import AnswerChecked, MessageAdded, MessageOrigin, ModelCallStarted, TurnEnded, TurnState
from agent_magic.llm.client import EndpointSettings, ModelClient
from agent_magic.llm.model import ModelResponse
from agent_magic.session import Session
from agent_magic.structured import SchemaCheck, resolve_schema
from agent_magic.tools.context import ToolContext
from agent_magic.tools.registry import ToolRegistry


class City(BaseModel):
    name: str
    population: int
    country: str | None = None


@dataclasses.dataclass
class Point:
    x: float
    y: float


class Row(typing_extensions.TypedDict):
    column: str
    missing: int


NAMESPACE = {"City": City, "Point": Point, "Row": Row, "json": json, "typing": typing}


def check(expression: str, output: str = "result") -> SchemaCheck:
    return SchemaCheck(resolve_schema(expression, NAMESPACE), output)


# -- resolving --schema ---------------------------------------------------------------------------------


def test_a_pydantic_model_gives_a_strict_json_schema_response_format():
    schema = resolve_schema("City", NAMESPACE)
    response_format = schema.response_format()
    assert response_format["type"] == "json_schema"
    body = response_format["json_schema"]
    assert body["name"] == "City" and body["strict"] is True
    assert body["schema"]["additionalProperties"] is False
    assert body["schema"]["required"] == ["name", "population", "country"], "strict mode requires every field"


def test_a_list_of_models_travels_as_an_object_with_items():
    schema = resolve_schema("list[City]", NAMESPACE)
    body = schema.response_format()["json_schema"]
    assert schema.label == "list[City]" and body["name"] == "list_of_City"
    assert body["schema"]["type"] == "object" and body["schema"]["required"] == ["items"]


def test_dataclasses_and_typeddicts_are_answer_classes():
    assert check("Point")('{"x": 1, "y": 2.5}').value == Point(1.0, 2.5)
    assert check("list[Row]")('[{"column": "a", "missing": 2}]').value == [{"column": "a", "missing": 2}]


def test_an_unknown_name_is_one_line_naming_it():
    with pytest.raises(AgentUsageError, match=r"^--schema Product: no such name in the notebook"):
        resolve_schema("Product", NAMESPACE)


def test_something_that_is_not_a_model_class_is_one_line_saying_what_it_is():
    with pytest.raises(AgentUsageError, match=r"^--schema json: that is a module, not a pydantic BaseModel"):
        resolve_schema("json", NAMESPACE)
    with pytest.raises(AgentUsageError, match="that is a class, not a pydantic BaseModel"):
        resolve_schema("int", NAMESPACE)


def test_a_malformed_expression_says_what_schema_takes():
    with pytest.raises(AgentUsageError, match=r"e\.g\. --schema Product or --schema list\[Product\]"):
        resolve_schema("dict[str, City]", NAMESPACE)


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="pydantic takes typing.TypedDict from Python 3.12")
def test_a_typing_typeddict_on_python_3_11_is_one_line_with_pydantics_advice():
    class Old(typing.TypedDict):
        a: int

    with pytest.raises(AgentUsageError, match="typing_extensions.TypedDict"):
        resolve_schema("Old", {"Old": Old})


# -- checking an answer -----------------------------------------------------------------------------------


def test_a_valid_answer_is_the_validated_instance():
    verdict = check("City")('{"name": "Oslo", "population": 709000, "country": null}')
    assert verdict.ok and verdict.value == City(name="Oslo", population=709000)


def test_an_answer_in_a_json_code_fence_is_accepted():
    assert check("City")('```json\n{"name": "Oslo", "population": 1, "country": "NO"}\n```').ok


def test_a_bare_list_is_accepted_for_a_list_schema():
    verdict = check("list[City]")('[{"name": "Oslo", "population": 1, "country": null}]')
    assert verdict.value == [City(name="Oslo", population=1)]


def test_field_errors_are_named_for_the_user_and_shown_with_their_input_to_the_model():
    verdict = check("list[City]", "cities")('{"items": [{"name": "Oslo", "population": "many"}]}')
    assert not verdict.ok
    assert verdict.problem.startswith("[0].population: Input should be a valid integer")
    assert '(got "many")' in verdict.repair_prompt and "only the corrected JSON" in verdict.repair_prompt
    assert verdict.failure.endswith("`cities` was not bound")
    assert "even after a repair round" in verdict.failure


def test_text_that_is_not_json_is_a_problem_not_a_crash():
    verdict = check("City")("Oslo has about 709,000 people.")
    assert not verdict.ok and verdict.problem.startswith("the answer is not JSON (expected value at line 1")


# -- the repair round in a turn -----------------------------------------------------------------------------


def run_turn(model: ScriptedModel, settings: TurnSettings) -> list:
    session = Session(client_for=lambda name: model, tools=ToolRegistry(), context=ToolContext(Path(".")))

    async def collect():
        return [event async for event in session.run_turn("Tell me about Oslo", settings)]

    return asyncio.run(collect())


def schema_settings(expression: str = "City") -> TurnSettings:
    schema = resolve_schema(expression, NAMESPACE)
    return TurnSettings(model="m", response_format=schema.response_format(), answer_check=SchemaCheck(schema, "city"))


def test_the_response_format_is_sent_with_every_model_call_of_the_turn():
    model = ScriptedModel()
    model.add_text('{"name": "Oslo"}')
    model.add_text('{"name": "Oslo", "population": 1, "country": null}')
    events = run_turn(model, schema_settings())
    assert [f["json_schema"]["name"] for f in model.response_formats] == ["City", "City"]
    started = [e for e in events if isinstance(e, ModelCallStarted)]
    assert all(e.request.response_format["type"] == "json_schema" for e in started)


def test_an_invalid_answer_gets_one_repair_round_that_shows_the_validation_error():
    model = ScriptedModel()
    model.add_text('{"name": "Oslo", "population": "many"}')
    model.add_text('{"name": "Oslo", "population": 709000, "country": "Norway"}')

    events = run_turn(model, schema_settings())

    checks = [e for e in events if isinstance(e, AnswerChecked)]
    assert [(c.ok, c.repairing) for c in checks] == [(False, True), (True, False)]
    assert checks[-1].value == City(name="Oslo", population=709000, country="Norway")
    repair = next(e for e in events if isinstance(e, MessageAdded) and e.origin is MessageOrigin.ANSWER_REPAIR)
    assert (
        repair.message["role"] == "user" and "population: Input should be a valid integer" in repair.message["content"]
    )
    assert model.requests[1][0][-1] == repair.message, "the model reads the error in its next request"
    assert events[-1].state is TurnState.COMPLETED


def test_an_answer_still_invalid_after_the_repair_round_fails_the_turn_keeping_the_raw_text():
    model = ScriptedModel()
    model.add_text('{"name": "Oslo"}')
    model.add_text("Sorry, I cannot answer in JSON.")

    events = run_turn(model, schema_settings())

    ended = events[-1]
    assert isinstance(ended, TurnEnded) and ended.state is TurnState.FAILED
    assert ended.message.startswith("the answer does not match City even after a repair round (the answer is not JSON")
    assert isinstance(ended.error, InvalidAnswer) and ended.error.answer == "Sorry, I cannot answer in JSON."
    assert len(model.requests) == 2, "one repair round, not more"


def test_a_turn_without_a_check_sends_no_response_format():
    model = ScriptedModel()
    model.add_text("plain")
    run_turn(model, TurnSettings(model="m"))
    assert model.response_formats == [None]


# -- the HTTP client --------------------------------------------------------------------------------------


async def _stream(client: ModelClient, response_format: dict) -> ModelResponse:
    items = [
        item async for item in client.stream([{"role": "user", "content": "x"}], [], response_format=response_format)
    ]
    return items[-1]


def test_the_client_sends_the_response_format_to_the_server(model_server, script):
    script.add_text('{"a": 1}')
    client = ModelClient(EndpointSettings(model="m", base_url=model_server.base_url, api_key="k"))
    response_format = resolve_schema("Point", NAMESPACE).response_format()

    asyncio.run(_stream(client, response_format))

    assert script.requests[0]["response_format"] == response_format


def test_a_server_that_refuses_response_format_is_asked_again_without_it_and_never_sent_it_again(model_server, script):
    script.add_error(400, message="response_format is not supported by this server")
    script.add_text('{"x": 1, "y": 2}')
    script.add_text('{"x": 3, "y": 4}')
    client = ModelClient(EndpointSettings(model="m", base_url=model_server.base_url, api_key="k"))
    response_format = resolve_schema("Point", NAMESPACE).response_format()

    async def twice():
        return await _stream(client, response_format), await _stream(client, response_format)

    first, second = asyncio.run(twice())

    assert (first.text, second.text) == ('{"x": 1, "y": 2}', '{"x": 3, "y": 4}')
    assert ["response_format" in r for r in script.requests] == [True, False, False]


def test_the_server_named_model_is_kept_on_the_response(model_server, script):
    script.add_text("hi")
    client = ModelClient(EndpointSettings(model="m", base_url=model_server.base_url, api_key="k"))
    response = asyncio.run(_stream(client, None))
    assert response.response_model == "m", "the loopback server answers with the model it was asked for"
