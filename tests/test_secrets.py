"""The one secret masker: environment secrets, registered keys, URL credentials, credential headers and
fields as servers echo them, bare bearer tokens and key-shaped strings; ordinary text left alone."""

from __future__ import annotations

import pytest

from agent_magic.policy.secrets import mask_secrets, register_secret


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("https://alice:hunter2@llm.example/v1", "https://***@llm.example/v1"),
        ("proxy at http://token@10.0.0.1:3128", "proxy at http://***@10.0.0.1:3128"),
        ("Authorization: Bearer abc.def.ghi", "Authorization: Bearer ***"),
        ('{"authorization": "Bearer abcdefgh12"}', '{"authorization": "Bearer ***"}'),
        ("{'api-key': 'zzzzzzzzzz', 'x': 1}", "{'api-key': '***', 'x': 1}"),
        ("X-Api-Key: k-1234567890", "X-Api-Key: ***"),
        ("Cookie: session=abcdef123", "Cookie: ***"),
        ("(you sent Authorization: Bearer abcdefgh12)", "(you sent Authorization: Bearer ***)"),
        ("curl -H 'Authorization: Basic dXNlcjpwYXNz'", "curl -H 'Authorization: Basic ***'"),
        ("key sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX leaked", "key *** leaked"),
    ],
)
def test_credentials_are_masked_however_they_are_written(text, masked):
    assert mask_secrets(text, {}) == masked


@pytest.mark.parametrize(
    "text",
    [
        'api_key = os.environ["OPENAI_API_KEY"]',  # code that names a key is not a key
        "see https://example.com/docs and sk-learn",
        "the authorization step failed",
        "Bearer of bad news",
    ],
)
def test_ordinary_text_is_left_alone(text):
    assert mask_secrets(text, {}) == text


def test_environment_secrets_are_masked():
    assert mask_secrets("token=abcdef123456", {"GITHUB_TOKEN": "abcdef123456"}) == "token=***"


def test_a_registered_secret_is_masked_even_if_not_in_the_environment():
    register_secret("configured-key-0987654321")
    assert mask_secrets("oops configured-key-0987654321", {}) == "oops ***"
