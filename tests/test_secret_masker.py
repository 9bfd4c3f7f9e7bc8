"""The secret masker follows the environment (built once per change, never stale) and masks exactly what
its rules say, however fast it finds there is nothing to mask."""

from __future__ import annotations

import threading

import pytest

from agent_magic.policy.secrets import (
    BEARER,
    CREDENTIAL_FIELD,
    KEY_SHAPED,
    MASK,
    URL_USERINFO,
    mask_secrets,
    secret_masker,
)


@pytest.fixture(autouse=True)
def fresh_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAREHOUSE_API_KEY", "wh-secret-000001")


def test_a_secret_in_the_environment_is_masked():
    assert mask_secrets("token wh-secret-000001 here") == "token *** here"


def test_the_masker_is_reused_while_the_environment_is_unchanged():
    assert secret_masker() is secret_masker()


def test_a_variable_set_after_the_masker_was_built_is_masked_at_once(monkeypatch):
    mask = secret_masker()
    monkeypatch.setenv("NEW_SERVICE_TOKEN", "tok-added-later-42")
    assert secret_masker() is not mask
    assert mask_secrets("tok-added-later-42") == "***"


def test_a_changed_value_is_masked_and_the_old_one_no_longer_is(monkeypatch):
    secret_masker()
    monkeypatch.setenv("WAREHOUSE_API_KEY", "wh-secret-000002")
    assert mask_secrets("wh-secret-000001 wh-secret-000002") == "wh-secret-000001 ***"


def test_a_removed_variable_is_no_longer_masked(monkeypatch):
    secret_masker()
    monkeypatch.delenv("WAREHOUSE_API_KEY")
    assert mask_secrets("wh-secret-000001") == "wh-secret-000001"


def test_variables_not_named_like_credentials_are_left_alone(monkeypatch):
    monkeypatch.setenv("WAREHOUSE_REGION", "eu-central-000001")
    assert mask_secrets("eu-central-000001") == "eu-central-000001"


def test_a_secret_containing_another_is_masked_whole(monkeypatch):
    monkeypatch.setenv("SHORT_TOKEN", "abcdef")
    monkeypatch.setenv("LONG_TOKEN", "abcdef-and-more")
    assert mask_secrets("abcdef-and-more") == "***"


def test_an_explicit_environment_is_masked_without_touching_the_kernels(monkeypatch):
    assert mask_secrets("pw-123456 wh-secret-000001", {"DB_PASSWORD": "pw-123456"}) == "*** wh-secret-000001"


def test_threads_masking_while_the_environment_changes_all_see_the_new_secret(monkeypatch):
    secret_masker()
    monkeypatch.setenv("LATE_TOKEN", "late-token-1234")
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(mask_secrets("late-token-1234"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["***"] * 8


def every_rule(text: str) -> str:
    """The rules applied one after the other with no shortcut: what the masker must always agree with."""
    text = URL_USERINFO.sub(r"\1" + MASK + "@", text)
    text = CREDENTIAL_FIELD.sub(lambda m: m.group(1) + m.group(2) + (m.group(3) or "") + MASK, text)
    text = BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
    return KEY_SHAPED.sub(MASK, text)


@pytest.mark.parametrize(
    "text",
    [
        "AUTHORIZATION: Bearer abcdef123456",
        "authorization: basic dXNlcjpwYXNzd29yZA==",
        '{"X-Api-Key": "k-1234567890", "cookie": "session=abcdef123"}',
        "Set-Cookie: id=a3fWa; Expires=Wed",
        "https://user:pa55word@host.example/v1 and sk-proj-abcdefghijklmnopqrstuvwxyz",
        "café Authorization: Bearer abcdef123456",  # not ASCII: every rule runs
        "authorİzation: value-123456",  # a dotless/dotted i the case-insensitive rules also match
        "plain text with no credential at all, 200 lines of it\n" * 200,
        "BEARER token-abcdefgh and Basic YWxhZGRpbjpvcGVu",
        "api_key = 'not a field'  # code, not a header",
    ],
)
def test_the_masker_agrees_with_every_rule_applied_in_full(text):
    assert secret_masker({})(text) == every_rule(text)
