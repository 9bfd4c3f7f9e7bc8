"""Masking secrets: values of environment variables that look like credentials never leave the kernel
in tool results or logs."""

from __future__ import annotations

import os
import re

SECRET_NAME = re.compile(
    r"(_API_KEY|_KEY|_TOKEN|_SECRET|_PASSWORD|_PASSWD|_CREDENTIALS?)$|^(API_KEY|TOKEN|SECRET|PASSWORD)$", re.I
)
MASK = "***"
MIN_SECRET_LENGTH = 6  # shorter values ("1", "true") would mask ordinary text


def secret_values(environ: dict[str, str] | None = None) -> list[str]:
    """Values of credential-like variables in `environ` (default: os.environ), longest first."""
    env = os.environ if environ is None else environ
    values = {v for k, v in env.items() if SECRET_NAME.search(k) and len(v) >= MIN_SECRET_LENGTH}
    return sorted(values, key=len, reverse=True)


def mask_secrets(text: str, environ: dict[str, str] | None = None) -> str:
    """Replace every credential-like environment value inside `text` with `***`.

    Example:
        >>> mask_secrets("key=sk-abcdef123", {"OPENAI_API_KEY": "sk-abcdef123"})
        'key=***'
    """
    for value in secret_values(environ):
        text = text.replace(value, MASK)
    return text
