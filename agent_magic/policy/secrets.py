"""Masking secrets: credentials never leave the kernel in tool results, errors, settings, the ledger or logs.

`mask_secrets` is the one masker; everything that shows or stores text the outside world wrote (tool
output, server error bodies, exception chains, event logs, ledger rows) goes through it. It replaces:

- values of environment variables named like credentials (`*_API_KEY`, `*_TOKEN`, `*_SECRET`, …);
- secrets registered at run time (`register_secret`: the configured API key, which need not be in the
  environment);
- the user-info part of URLs (`https://user:password@host` → `https://***@host`);
- values of credential headers and fields (`Authorization: Bearer …`, `api-key`, `x-api-key`, `Cookie`),
  however a server echoes them (header lines, JSON, Python reprs), and bare `Bearer …` tokens;
- strings shaped like OpenAI/Anthropic keys (`sk-…`, `sk-proj-…`, `sk-ant-…`).

Every pattern is linear (no nested quantifiers), so masking a large tool result costs one pass per rule.
"""

from __future__ import annotations

import os
import re

SECRET_NAME = re.compile(
    r"(_API_KEY|_KEY|_TOKEN|_SECRET|_PASSWORD|_PASSWD|_CREDENTIALS?)$|^(API_KEY|TOKEN|SECRET|PASSWORD)$", re.I
)
MASK = "***"
MIN_SECRET_LENGTH = 6  # shorter values ("1", "true") would mask ordinary text
URL_USERINFO = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]+@")
# A header line or a JSON / dict field (`Name: value`, `"name": "value"`), not an assignment in code.
CREDENTIAL_FIELD = re.compile(
    r"""((?:proxy-)?authorization|(?:x-|openai-|x-goog-)?api[-_]key|cookie|set-cookie)"""
    r"""(["']?[ \t]*:[ \t]*["']?)((?:bearer|basic|token)\s+)?(?!(?:bearer|basic|token)\b)[^\s"',;})\]*]{6,}""",
    re.I,
)
BEARER = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}", re.I)
KEY_SHAPED = re.compile(r"\bsk-(?:proj-|ant-|svcacct-)?[A-Za-z0-9_-]{20,}")
_registered: set[str] = set()


def register_secret(value: str | None) -> None:
    """Mask `value` from now on wherever text is masked (e.g. an API key set with `%config`)."""
    if value and len(value) >= MIN_SECRET_LENGTH:
        _registered.add(value)


def secret_values(environ: dict[str, str] | None = None) -> list[str]:
    """Values of credential-like variables in `environ` (default: os.environ) and registered secrets,
    longest first."""
    env = os.environ if environ is None else environ
    values = {v for k, v in env.items() if SECRET_NAME.search(k) and len(v) >= MIN_SECRET_LENGTH}
    return sorted(values | _registered, key=len, reverse=True)


def mask_secrets(text: str, environ: dict[str, str] | None = None) -> str:
    """Replace every secret inside `text` with `***` (see the module docstring for what counts).

    Example:
        >>> mask_secrets("key=sk-abcdef123", {"OPENAI_API_KEY": "sk-abcdef123"})
        'key=***'
        >>> mask_secrets("http://me:pw@llm.local/v1 said: Authorization: Bearer abc.def.ghi", {})
        'http://***@llm.local/v1 said: Authorization: Bearer ***'
    """
    text = URL_USERINFO.sub(r"\1" + MASK + "@", text)
    text = CREDENTIAL_FIELD.sub(lambda m: m.group(1) + m.group(2) + (m.group(3) or "") + MASK, text)
    text = BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
    text = KEY_SHAPED.sub(MASK, text)
    for value in secret_values(environ):
        text = text.replace(value, MASK)
    return text
