"""Masking secrets: values of environment variables that look like credentials never leave the kernel
in tool results or logs.

Finding those values means reading every variable of the environment, so it is done once per change of
the environment, not per string: `secret_masker()` keeps the masker built for the environment it last
saw and rebuilds it when a variable was set, changed or removed (a cell or a tool may do that at any
time; the check is one comparison of the environment with a copy, about a microsecond).
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


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of credential-like variables in `environ` (default: os.environ), longest first."""
    env = os.environ if environ is None else environ
    values = {v for k, v in env.items() if SECRET_NAME.search(k) and len(v) >= MIN_SECRET_LENGTH}
    return sorted(values, key=len, reverse=True)


class SecretMasker:
    """Replaces each of a fixed set of secret values with `***`; call it on a string.

    Longer values are replaced first, so a secret that contains another is masked whole.
    """

    def __init__(self, values: Iterable[str]) -> None:
        self.values = tuple(sorted(set(values), key=len, reverse=True))

    def __call__(self, text: str) -> str:
        """`text` with every secret value replaced by `***`."""
        for value in self.values:
            text = text.replace(value, MASK)
        return text


class _EnvironmentMasker:
    """The masker for `os.environ`, rebuilt only when the environment changed since it was built."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # tools mask on worker threads
        self._seen: dict[object, object] | None = None
        self._masker = SecretMasker(())

    @staticmethod
    def _raw() -> Mapping[object, object]:
        # The encoded mapping behind os.environ: comparing it with a copy costs no decoding. Every
        # assignment to os.environ updates it (putenv alone does not, and os.environ misses it too).
        return getattr(os.environ, "_data", os.environ)

    def current(self) -> SecretMasker:
        raw = self._raw()
        with self._lock:
            if self._seen is None or raw != self._seen:
                self._seen = dict(raw)
                self._masker = SecretMasker(secret_values())
            return self._masker


_environment_masker = _EnvironmentMasker()


def secret_masker(environ: Mapping[str, str] | None = None) -> SecretMasker:
    """The masker for `environ` (default: the current os.environ, reused until the environment changes).

    Take it once to mask many strings: `mask = secret_masker(); [mask(s) for s in strings]`.
    """
    if environ is not None:
        return SecretMasker(secret_values(environ))
    return _environment_masker.current()


def mask_secrets(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace every credential-like environment value inside `text` with `***`.

    Example:
        >>> mask_secrets("key=sk-abcdef123", {"OPENAI_API_KEY": "sk-abcdef123"})
        'key=***'
    """
    return secret_masker(environ)(text)
