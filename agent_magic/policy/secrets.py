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
Finding the environment's secrets means reading every variable, so it is done once per change, not per
string: `secret_masker()` keeps the masker built for the environment (and the registered secrets) it
last saw, and rebuilds it when a variable was set, changed or removed (a cell or a tool may do that at
any time; the check is one comparison of the environment with a copy, about a microsecond).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Mapping

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
# Every name CREDENTIAL_FIELD matches contains one of these (in lower case).
_FIELD_WORDS = ("authorization", "api-key", "api_key", "cookie")
_registered: set[str] = set()


def register_secret(value: str | None) -> None:
    """Mask `value` from now on wherever text is masked (e.g. an API key set with `%config`)."""
    if value and len(value) >= MIN_SECRET_LENGTH:
        _registered.add(value)


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of credential-like variables in `environ` (default: os.environ) and registered secrets,
    longest first."""
    env = os.environ if environ is None else environ
    values = {v for k, v in env.items() if SECRET_NAME.search(k) and len(v) >= MIN_SECRET_LENGTH}
    return sorted(values | _registered, key=len, reverse=True)


class SecretMasker:
    """Masks text by every rule of this module, for a fixed set of secret values; call it on a string.

    Longer values are replaced first, so a secret that contains another is masked whole.
    """

    def __init__(self, values: Iterable[str]) -> None:
        self.values = tuple(sorted(set(values), key=len, reverse=True))

    def __call__(self, text: str) -> str:
        """`text` with every secret replaced by `***`."""
        # Each rule runs only where it could match: a literal it needs is looked for first (in C, a few
        # microseconds for a page of text, where the case-insensitive patterns take milliseconds). For
        # those, the test is exact on ASCII text only; other text gets every pattern.
        lowered = text.lower() if text.isascii() else None
        if "://" in text and "@" in text:
            text = URL_USERINFO.sub(r"\1" + MASK + "@", text)
        if lowered is None or any(word in lowered for word in _FIELD_WORDS):
            text = CREDENTIAL_FIELD.sub(lambda m: m.group(1) + m.group(2) + (m.group(3) or "") + MASK, text)
        if lowered is None or "bearer" in lowered or "basic" in lowered:
            text = BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
        if "sk-" in text:
            text = KEY_SHAPED.sub(MASK, text)
        for value in self.values:
            text = text.replace(value, MASK)
        return text


class _EnvironmentMasker:
    """The masker for `os.environ` and the registered secrets, rebuilt only when either changed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # tools mask on worker threads
        self._seen: tuple[dict[object, object], frozenset[str]] | None = None
        self._masker = SecretMasker(())

    @staticmethod
    def _raw() -> Mapping[object, object]:
        # The encoded mapping behind os.environ: comparing it with a copy costs no decoding. Every
        # assignment to os.environ updates it (putenv alone does not, and os.environ misses it too).
        return getattr(os.environ, "_data", os.environ)

    def current(self) -> SecretMasker:
        raw = self._raw()
        with self._lock:
            seen = self._seen
            if seen is None or raw != seen[0] or _registered != seen[1]:
                self._seen = (dict(raw), frozenset(_registered))
                self._masker = SecretMasker(secret_values())
            return self._masker


_environment_masker = _EnvironmentMasker()


def secret_masker(environ: Mapping[str, str] | None = None) -> SecretMasker:
    """The masker for `environ` (default: the current os.environ, reused until the environment or the
    registered secrets change). Take it once to mask many strings: `mask = secret_masker()`."""
    if environ is not None:
        return SecretMasker(secret_values(environ))
    return _environment_masker.current()


def mask_secrets(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace every secret inside `text` with `***` (see the module docstring for what counts).

    Example:
        >>> mask_secrets("key=sk-abcdef123", {"OPENAI_API_KEY": "sk-abcdef123"})
        'key=***'
        >>> mask_secrets("http://me:pw@llm.local/v1 said: Authorization: Bearer abc.def.ghi", {})
        'http://***@llm.local/v1 said: Authorization: Bearer ***'
    """
    return secret_masker(environ)(text)
