"""The command guard: refuse catastrophic shell commands before they run, even when a person approved them.

This is a seat belt, not the defence. A shell is too expressive for any pattern list to be complete
(a script written to a file first, then run, is invisible here); the bubblewrap sandbox in
`policy/sandbox.py` is what actually keeps a command from touching the machine. The guard catches the
obvious disasters and their common disguises, and says why:

- recursive deletion of `/`, `~`, top-level system folders or folders above the workspace
  (`rm`, `find … -delete`, `xargs rm`, Python's `shutil.rmtree`);
- formatting or overwriting disks (`mkfs`, `wipefs`, `dd of=/dev/sda`, `> /dev/sda`);
- fork bombs; killing every process; shutting the machine down;
- running downloaded or decoded code (`curl … | sh`, `base64 -d | sh`, `eval "$(…)"`);
- `chmod -R` / `chown -R` on `/` or `~`.

Disguises undone before the rules run: quotes and backslashes, `$IFS`, variables assigned in the same
command, `${X:-default}`, `$(echo …)`, brace expansion, `\\x..` and octal escapes, `$'…'`, base64 and hex
payloads (decoded and checked again).
"""

from __future__ import annotations

import base64
import binascii
import posixpath
import re
from dataclasses import dataclass

SYSTEM_FOLDERS = frozenset(
    "/bin /boot /dev /etc /home /lib /lib32 /lib64 /opt /proc /root /sbin /srv /sys /usr /var /Users /System".split()
)
DELETERS = frozenset({"rm", "unlink", "shred", "rmdir"})
RECURSIVE_CHANGERS = frozenset({"chmod", "chown", "chgrp", "setfacl"})
SHELLS = (
    r"(?:sudo\s+|doas\s+|env\s+)?(?:\S*/)?(?:ba|z|da|k|c|tc|fi|a)?sh\b|(?:\S*/)?(?:python[0-9.]*|perl|ruby|node|php)\b"
)
DOWNLOADERS = r"\b(?:curl|wget|fetch|aria2c|nc|ncat|lynx|links)\b"
DECODERS = r"\b(?:base64|base32|basenc|xxd|od|openssl|rev|gunzip|zcat|gzip|bzcat|xzcat|uudecode|printf)\b"
MAX_DECODE_DEPTH = 2


@dataclass(frozen=True)
class GuardVerdict:
    """The guard's answer: `allowed`, or the rule that refused the command and why."""

    allowed: bool
    rule: str = ""
    reason: str = ""


ALLOWED = GuardVerdict(True)

# Rules on the whole text (raw and de-obfuscated): (rule name, pattern, reason).
_TEXT_RULES: list[tuple[str, re.Pattern[str], str]] = [
    (
        "fork_bomb",
        re.compile(r"([\w:.]+)\s*\(\s*\)\s*\{[^}]*\1\s*\|\s*&?\s*\1|function\s+(\w+)[^{]*\{[^}]*\2\s*\|\s*\2"),
        "a fork bomb (a function that pipes into itself in the background) would exhaust the machine",
    ),
    (
        "fork_bomb",
        re.compile(r"fork\s+while\s+fork|while\s*\(?\s*(?:true|1)\s*\)?\s*:?.{0,40}\bos\.fork\s*\(", re.I | re.S),
        "an endless fork loop would exhaust the machine",
    ),
    (
        "remote_code",
        re.compile(DOWNLOADERS + r"[^;&\n]*\|\s*(?:" + SHELLS + ")"),
        "piping downloaded content into an interpreter runs code nobody has read",
    ),
    (
        "remote_code",
        re.compile(r"(?:" + SHELLS + r"|\bsource\b|(?:^|[;&|]\s*)\.)\s*(?:-c\s*)?\S*\s*<?\(\s*" + DOWNLOADERS),
        "running downloaded content runs code nobody has read",
    ),
    (
        "remote_code",
        re.compile(r"(?:\beval\b|(?:" + SHELLS + r")\s+-c)\s*[\"']?\s*(?:\$\(|`)[^)`]*" + DOWNLOADERS),
        "evaluating downloaded content runs code nobody has read",
    ),
    (
        "decoded_code",
        re.compile(DECODERS + r"[^;&\n]*\|\s*(?:" + SHELLS + ")"),
        "piping decoded or transformed text into an interpreter hides what runs",
    ),
    (
        "decoded_code",
        re.compile(r"(?:\beval\b|(?:" + SHELLS + r")\s+-c)\s*[\"']?\s*(?:\$\(|`)[^)`]*" + DECODERS),
        "evaluating decoded or transformed text hides what runs",
    ),
    (
        "disk_format",
        re.compile(r"\b(?:mkfs(?:\.\w+)?|mke2fs|mkswap|mkntfs|mkdosfs|wipefs|blkdiscard)\b"),
        "formatting or wiping a file system destroys a disk",
    ),
    (
        "disk_format",
        re.compile(r"\b(?:fdisk|sfdisk|cfdisk|sgdisk|parted|shred)\b[^;&|\n]*/dev/"),
        "rewriting a device destroys a disk",
    ),
    (
        "disk_write",
        re.compile(r"\bdd\b[^;&|\n]*\bof\s*=\s*/dev/(?!null\b|zero\b|stdout\b|stderr\b|tty\b|fd/)"),
        "dd onto a device overwrites a disk",
    ),
    (
        "disk_write",
        re.compile(
            r"(?:>|\btee\b(?:\s+-\w+)*|\bcp\b[^;&|\n]*)\s*/dev/(?:sd|hd|vd|xvd|nvme|mmcblk|disk|mapper|loop|md|dm-|k?mem|port)"
        ),
        "writing onto a device overwrites a disk",
    ),
    (
        "system_file",
        re.compile(r">\s*/etc/(?:passwd|shadow|group|sudoers|fstab)\b"),
        "overwriting a system account file locks everyone out",
    ),
    (
        "kill_all",
        re.compile(r"\bkill\s+(?:-(?:9|KILL|SIGKILL|s\s+\w+)\s+)?-1\b|\bkillall5\b"),
        "signalling process -1 kills every process you may signal",
    ),
    (
        "power",
        re.compile(
            r"\b(?:shutdown|reboot|halt|poweroff)\b|\binit\s+[06]\b|\bsystemctl\s+(?:poweroff|reboot|halt|kexec)\b"
        ),
        "shutting down or rebooting the machine",
    ),
    (
        "recursive_delete",
        re.compile(
            r"rmtree\(\s*(?:/|~|\$HOME|/home|/etc|/usr|/var|os\.path\.expanduser\(\s*~\s*\)|(?:pathlib\.)?Path\.home\(\))\s*[,)]"
        ),
        "shutil.rmtree of / or the home folder",
    ),
]

_ASSIGNMENT = re.compile(r"""(?<![\w$])([A-Za-z_]\w*)=("[^"]*"|'[^']*'|[^\s;&|]*)""")
_ALIAS = re.compile(r"""\balias\s+([A-Za-z_][\w-]*)=("[^"]*"|'[^']*'|\S*)""")
_ECHO_SUBSTITUTION = re.compile(r"""\$\(\s*(?:echo|printf)\s+([^)]*)\)|`\s*(?:echo|printf)\s+([^`]*)`""")
_BRACES = re.compile(r"\{([^{}\s]*,[^{}\s]*)\}")
_SEGMENT_SPLIT = re.compile(r"\|\||&&|[;&|\n()`{}]|\$\(")
_B64_TOKEN = re.compile(r"[A-Za-z0-9+/]{8,}={0,2}")
_HEX_TOKEN = re.compile(r"\b(?:[0-9a-fA-F]{2}){4,}\b")


def _decode_escapes(text: str) -> str:
    """Undo `\\xNN`, `\\NNN` (octal) and `$'…'` escapes, as printf, echo -e and bash would."""
    text = re.sub(r"\$'([^']*)'", r"\1", text)
    text = re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), text)
    return re.sub(r"\\0?([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def _substitute_variables(text: str) -> str:
    """Replace variables and aliases defined in the command itself, `${X:-default}`, `$HOME`, `$IFS`,
    and `$(echo x)`."""
    values = {name: value.strip("\"'") for name, value in _ASSIGNMENT.findall(text)}
    aliases = {name: value.strip("\"'") for name, value in _ALIAS.findall(text)}
    text = re.sub(r"\$\{?IFS(?:[%#][^}]*)?\}?", " ", text)
    for _ in range(3):  # a few rounds, for chains: a=r; b=${a}m; $b -rf /
        for name, value in values.items():
            text = re.sub(r"\$\{" + name + r"\}|\$" + name + r"\b", lambda _m, v=value: v, text)
    for name, value in aliases.items():
        text = re.sub(r"(^|[;&|]\s*)" + re.escape(name) + r"(?=\s|$)", lambda m, v=value: m.group(1) + v, text)
    text = re.sub(r"\$\{\w+:?[-=]([^}]*)\}", r"\1", text)
    text = re.sub(r"\$\{?HOME\}?", "~", text)
    return _ECHO_SUBSTITUTION.sub(lambda m: m.group(1) or m.group(2) or "", text)


def normalize(command: str) -> str:
    """The command with its common disguises removed (see the module docstring)."""
    text = _decode_escapes(command)
    text = _substitute_variables(text)
    text = _BRACES.sub(lambda m: " " + m.group(1).replace(",", " ") + " ", text)
    text = text.replace('"', "").replace("'", "").replace("\\", "")
    return re.sub(r"[ \t]+", " ", text).strip()


def _decoded_payloads(text: str) -> list[str]:
    """Base64 and hex strings in the command that decode to readable text."""
    payloads = []
    for token in _B64_TOKEN.findall(text):
        try:
            raw = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
        except (binascii.Error, ValueError):
            continue
        payloads.append(raw)
    for token in _HEX_TOKEN.findall(text):
        payloads.append(bytes.fromhex(token))
    readable = []
    for raw in payloads:
        decoded = raw.decode("utf-8", errors="replace")
        printable = sum(ch.isprintable() or ch in "\n\t" for ch in decoded)
        if len(decoded) >= 4 and printable >= 0.9 * len(decoded):
            readable.append(decoded)
    return readable


def _target_kind(token: str, cwd: str | None) -> str | None:
    """Why deleting (or recursively changing) `token` would be catastrophic, or None if it is not."""
    token = token.strip("()[]{};,")
    if not token or token.startswith("-"):
        return None
    if token.startswith("~"):
        rest = token[1:].split("/", 1)
        below = posixpath.normpath(rest[1]) if len(rest) > 1 and rest[1] else "."
        if below in (".", "..", "*", ".*") or below.startswith("../"):
            return "the home folder"
        return None
    if token.startswith("/"):
        path = re.sub(r"/+", "/", token)
        if path.endswith(("/*", "/.*")):
            path = path.rsplit("/", 1)[0] or "/"
        path = posixpath.normpath(path)
        if path.startswith("//"):
            path = path[1:]
        top = "/" + path.split("/")[1] if path != "/" else "/"
        if path == "/":
            return "the root folder /"
        if re.search(r"[*?\[]", top):
            return f"a glob over top-level folders ({token})"
        if path in SYSTEM_FOLDERS:
            return f"the system folder {path}"
        if re.fullmatch(r"/(?:home|Users)/[^/]+", path):
            return f"the home folder {path}"
        return None
    parts = [p for p in posixpath.normpath(token).split("/") if p]
    if parts and all(p == ".." for p in parts):
        return "a folder above the workspace"
    if cwd is not None and token in ("*", ".", "./*", ".*", "./"):
        return _target_kind(cwd.rstrip("/") + "/*" if cwd != "/" else "/", None)
    return None


def _short_flags(token: str) -> str:
    return token[1:] if token.startswith("-") and not token.startswith("--") else ""


def _check_segment(tokens: list[str], cwd: str | None, whole: list[str]) -> GuardVerdict | None:
    """Token rules for one simple command (a piece between ; && || | and parentheses)."""
    if "--no-preserve-root" in tokens:
        return GuardVerdict(False, "recursive_delete", "--no-preserve-root asks to delete the root folder")
    names = [posixpath.basename(t) for t in tokens]
    for index, name in enumerate(names):
        after = tokens[index + 1 :]
        flags = "".join(_short_flags(t) for t in after)
        recursive = "r" in flags or "R" in flags or "--recursive" in after
        targets = [(t, _target_kind(t, cwd)) for t in after]
        hits = [(t, kind) for t, kind in targets if kind]
        if name in DELETERS and hits:
            return GuardVerdict(False, "recursive_delete", f"{name} {hits[0][0]} would delete {hits[0][1]}")
        if name == "find" and ("-delete" in after or any(n in DELETERS for n in names[index + 1 :])):
            roots = [
                (t, _target_kind(t, cwd))
                for t in after[: next((i for i, t in enumerate(after) if t[:1] in "-!"), len(after))]
            ]
            if any(kind for _, kind in roots):
                return GuardVerdict(
                    False, "recursive_delete", f"find … -delete would delete {next(k for _, k in roots if k)}"
                )
        if name == "xargs" and any(n in DELETERS for n in names[index + 1 :]):
            mentioned = [kind for t in whole if (kind := _target_kind(t, cwd))]
            if mentioned:
                return GuardVerdict(False, "recursive_delete", f"xargs rm fed with {mentioned[0]}")
        if name in RECURSIVE_CHANGERS and recursive and hits:
            return GuardVerdict(False, "recursive_chmod", f"{name} -R on {hits[0][1]} breaks the system's permissions")
        if name == "mv" and any(kind for _, kind in targets[:-1]):
            kind = next(k for _, k in targets[:-1] if k)
            return GuardVerdict(False, "recursive_delete", f"mv would move away {kind}")
        if _short_flags(tokens[index]) and {"r", "f"} <= set(_short_flags(tokens[index]).lower()) and hits:
            # Whatever the command is called (it may be hidden in a variable), -rf on / or ~ is a wipe.
            return GuardVerdict(False, "recursive_delete", f"-rf on {hits[0][1]}")
    return None


def _check_tokens(text: str) -> GuardVerdict | None:
    segments = [s.split() for s in _SEGMENT_SPLIT.split(text)]
    whole = text.split()
    cwd: str | None = None
    for tokens in segments:
        if not tokens:
            continue
        if tokens[0] in ("cd", "pushd"):
            cwd = tokens[1] if len(tokens) > 1 else "~"
            continue
        verdict = _check_segment(tokens, cwd, whole)
        if verdict:
            return verdict
    return None


def _check_text(text: str, depth: int) -> GuardVerdict | None:
    normalized = normalize(text)
    for view in dict.fromkeys([text, normalized]):
        for rule, pattern, reason in _TEXT_RULES:
            if pattern.search(view):
                return GuardVerdict(False, rule, reason)
    verdict = _check_tokens(normalized)
    if verdict or depth >= MAX_DECODE_DEPTH:
        return verdict
    for payload in _decoded_payloads(normalized):
        verdict = _check_text(payload, depth + 1)
        if verdict:
            return GuardVerdict(False, verdict.rule, f"{verdict.reason} (hidden in an encoded string)")
    return None


def check_command(command: str) -> GuardVerdict:
    """Decide whether `command` may run; a refusal names the rule and the reason.

    Example:
        >>> check_command("rm -rf build/").allowed
        True
        >>> check_command("r''m -rf ~").reason
        'rm ~ would delete the home folder'
    """
    return _check_text(command, 0) or ALLOWED
