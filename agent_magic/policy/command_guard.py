"""The command guard: refuse catastrophic shell commands before they run, even when a person approved them.

This is a seat belt, not the defence. A shell is too expressive for any rule list to be complete (a
script written to a file first, then run, is invisible here); the bubblewrap sandbox in
`policy/sandbox.py` is what actually keeps a command from touching the machine. The guard reads the
command as the shell will (`shell_words.parse_script`: a real bash parser, variables, aliases, `$IFS`,
substitutions, braces and `cd` resolved) and refuses, saying why:

- recursive deletion of `/`, `~`, top-level system folders or folders above the workspace (`rm`,
  `find … -delete`, `xargs rm`, `tar --remove-files`, `rsync --delete`, `mv` away, Python's `rmtree`),
  also through `/proc/self/root` and `..`;
- formatting or overwriting disks (`mkfs`, `wipefs`, `dd of=/dev/sda`, `> /dev/sda`, `tar -f /dev/sda`)
  and system account files (`> /etc/passwd`, `truncate /etc/shadow`);
- fork bombs; killing every process (`kill -1`, `kill -- -1`); shutting down (`shutdown`, `telinit 0`);
- running downloaded or decoded code (`curl … | sudo -E bash`, `base64 -d | sh`, `eval "$(…)"`,
  `bash <(curl …)`), and commands hidden in `sh -c`, `eval`, here-strings, `echo … | sh` and base64 or
  hex payloads, which are checked as commands in turn;
- `chmod -R` / `chown -R` on `/`, `~` or system folders.

A command the parser cannot read, or one longer than `MAX_GUARD_CHARS`, is judged by a plain word scan
only, and its verdict carries `review`: a person must see it (the approval gate never lets a rule,
`--approve` or "always allow" run it unseen). Parsing is linear in the command's length (bashlex is an
LALR parser) and bounded by `MAX_GUARD_CHARS`; no regular expression here can backtrack.
"""

from __future__ import annotations

import base64
import binascii
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass

from agent_magic.policy.shell_words import (
    UNKNOWN,
    SimpleCommand,
    UnparsableCommand,
    decode_escapes,
    parse_script,
    unquote,
)

MAX_GUARD_CHARS = 20_000  # parsing costs ~1 s per 20 KB; longer commands are scanned and shown to a person
MAX_DECODE_DEPTH = 2
SYSTEM_FOLDERS = frozenset(
    "/bin /boot /dev /etc /home /lib /lib32 /lib64 /opt /proc /root /sbin /srv /sys /usr /var /Users /System".split()
)
SYSTEM_FILES = frozenset({"/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow", "/etc/sudoers", "/etc/fstab"})
DELETERS = frozenset({"rm", "unlink", "shred", "rmdir"})
RECURSIVE_CHANGERS = frozenset({"chmod", "chown", "chgrp", "setfacl"})
SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "csh", "tcsh", "fish", "ash", "busybox"})
INTERPRETERS = frozenset({"python", "perl", "ruby", "node", "php", "nodejs", "pypy", "pypy3"})
DOWNLOADERS = frozenset({"curl", "wget", "fetch", "aria2c", "nc", "ncat", "netcat", "lynx", "links", "socat"})
DECODERS = frozenset(
    {"base64", "base32", "basenc", "xxd", "od", "openssl", "rev", "gunzip", "zcat", "gzip", "bzcat", "xzcat"}
    | {"uudecode", "printf", "tr", "unxz", "bunzip2"}
)
WRAPPERS = frozenset(
    {"sudo", "doas", "env", "nice", "nohup", "timeout", "stdbuf", "ionice", "command", "builtin", "exec"}
    | {"time", "chrt", "taskset", "setsid", "unbuffer", "fakeroot", "su"}
)
# Options of wrappers that take a value (`sudo -u user`, `timeout -s KILL 5`, `env -u NAME`).
WRAPPER_VALUE_OPTIONS = frozenset({"-u", "-g", "-h", "-p", "-C", "-r", "-t", "-s", "-k", "-n", "-c", "-D", "-U"})
POWER = frozenset({"shutdown", "reboot", "halt", "poweroff"})
DEVICE = re.compile(r"^/dev/(?:sd|hd|vd|xvd|nvme|mmcblk|disk|mapper|loop|md|dm-|k?mem|port|root)")
HARMLESS_DEVICE = re.compile(r"^/dev/(?:null|zero|stdout|stderr|stdin|tty|fd/|urandom|random)")
RMTREE = re.compile(
    r"rmtree\(\s*['\"]?(?:/|~|\$HOME|/home|/etc|/usr|/var)['\"]?\s*[,)]|"
    r"rmtree\(\s*(?:os\.path\.expanduser\(\s*['\"]~['\"]\s*\)|(?:pathlib\.)?Path\.home\(\))\s*[,)]"
)
FORK_LOOP = re.compile(r"fork\s+while\s+fork|while\s*\(?\s*(?:true|1)\s*\)?\s*:?[^\n]{0,40}\bos\.fork\s*\(", re.I)
STRING_LITERAL = re.compile(r"\"([^\"\n]*)\"|'([^'\n]*)'")  # no escapes: each attempt ends at the next quote
_B64_TOKEN = re.compile(r"[A-Za-z0-9+/]{8,}={0,2}")
_HEX_TOKEN = re.compile(r"\b(?:[0-9a-fA-F]{2}){4,}\b")
_NAIVE_SPLIT = re.compile(r"\|\||&&|[;&|\n()`{}]|\$\(")


@dataclass(frozen=True)
class GuardVerdict:
    """The guard's answer: `allowed`, or the rule that refused the command and why.

    `review` is set when the guard could not read the command (unparsable, too long): it may run, but
    only after a person has seen it.
    """

    allowed: bool
    rule: str = ""
    reason: str = ""
    review: str = ""


ALLOWED = GuardVerdict(True)


class _Refused(Exception):
    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(reason)
        self.verdict = GuardVerdict(False, rule, reason)


def _name(word: str) -> str:
    """A command word's program name: `/usr/bin/python3.11` → `python`."""
    base = posixpath.basename(word)
    return re.sub(r"[0-9.]+$", "", base) if base.startswith(("python", "pypy", "perl", "ruby", "php")) else base


def _unwrap(argv: list[str]) -> list[str]:
    """The command a wrapper runs: `sudo -E -u x env A=1 nice -n 5 rm …` → `rm …`."""
    while argv and _name(argv[0]) in WRAPPERS:
        wrapper, rest = _name(argv[0]), argv[1:]
        while rest and (rest[0].startswith("-") or ("=" in rest[0] and wrapper == "env")):
            option = rest.pop(0)
            if option == "--":
                break
            if option in WRAPPER_VALUE_OPTIONS and rest and wrapper != "env" or option == "-u" and wrapper == "env":
                rest.pop(0)
        if wrapper == "timeout" and rest and re.fullmatch(r"[0-9.]+[smhd]?", rest[0]):
            rest.pop(0)
        argv = rest
    return argv


def _target_kind(token: str, cwd: str | None) -> str | None:
    """Why deleting (or recursively changing) `token` would be catastrophic, or None if it is not."""
    token = token.strip("()[]{};,")
    if not token or token.startswith("-") or UNKNOWN in token:
        return None
    if cwd is not None and not token.startswith(("/", "~")):
        token = posixpath.join(cwd, token)
    token = re.sub(r"^/proc/(?:self|thread-self|\d+)/root(?=/|$)", "/", token)
    if token.startswith("/proc/self/cwd") or token.startswith("/proc/thread-self/cwd"):
        token = "." + token.split("cwd", 1)[1]
    if token.startswith("~"):
        rest = token[1:].split("/", 1)
        if rest[0]:  # ~user
            return "the home folder" if len(rest) == 1 or rest[1] in ("", "*", ".*") else None
        below = posixpath.normpath(rest[1]) if len(rest) > 1 and rest[1] else "."
        if below in (".", "..", "*", ".*") or below.startswith("../"):
            return "the home folder"
        return None
    if token.startswith("/"):
        path = re.sub(r"/+", "/", token)
        while path.endswith(("/*", "/.*", "/.")):
            path = path.rsplit("/", 1)[0] or "/"
        path = posixpath.normpath(path)
        if path.startswith("//"):
            path = path[1:]
        if path == "/":
            return "the root folder /"
        top = "/" + path.split("/")[1]
        if re.search(r"[*?\[]", top):
            return f"a glob over top-level folders ({token})"
        if path in SYSTEM_FOLDERS:
            return f"the system folder {path}"
        if re.fullmatch(r"/(?:home|Users)/[^/]+", path):
            return f"the home folder {path}"
        return None
    parts = [p for p in posixpath.normpath(token).split("/") if p not in ("", ".")]
    while parts and parts[-1] in ("*", ".*"):
        parts.pop()
    if parts and all(p == ".." for p in parts):
        return "a folder above the workspace"
    if cwd is not None and not parts:
        return _target_kind(cwd, None)
    return None


def _short_flags(token: str) -> str:
    return token[1:] if token.startswith("-") and not token.startswith("--") else ""


def _check_argv(argv: list[str], cwd: str | None) -> None:
    """Rules on one command's words (raises `_Refused`)."""
    if "--no-preserve-root" in argv:
        raise _Refused("recursive_delete", "--no-preserve-root asks to delete the root folder")
    argv = _unwrap(argv)
    if not argv:
        return
    name, args = _name(argv[0]), argv[1:]
    flags = "".join(_short_flags(a) for a in args)
    hits = [(a, kind) for a in args if (kind := _target_kind(a, cwd))]
    recursive = "r" in flags or "R" in flags or "--recursive" in args
    if name in DELETERS and hits:
        raise _Refused("recursive_delete", f"{name} {hits[0][0]} would delete {hits[0][1]}")
    if name == "find" and ("-delete" in args or any(_name(a) in DELETERS for a in args)):
        roots = args[: next((i for i, a in enumerate(args) if a[:1] in "-!("), len(args))]
        kinds = [kind for root in roots if (kind := _target_kind(root, cwd))]
        if kinds:
            raise _Refused("recursive_delete", f"find … -delete would delete {kinds[0]}")
    if name in RECURSIVE_CHANGERS and recursive and hits:
        raise _Refused("recursive_chmod", f"{name} -R on {hits[0][1]} breaks the system's permissions")
    if name == "mv" and len(args) > 1 and (moved := [k for a in args[:-1] if (k := _target_kind(a, cwd))]):
        raise _Refused("recursive_delete", f"mv would move away {moved[0]}")
    if name == "tar" and any(a.startswith("--remove-files") for a in args) and hits:
        raise _Refused("recursive_delete", f"tar --remove-files would delete {hits[0][1]}")
    if name == "rsync" and any(a.startswith("--delete") for a in args) and args and _target_kind(args[-1], cwd):
        raise _Refused("recursive_delete", f"rsync --delete into {_target_kind(args[-1], cwd)} would empty it")
    if any({"r", "f"} <= set(_short_flags(a).lower()) for a in args) and hits:
        raise _Refused("recursive_delete", f"-rf on {hits[0][1]}")
    if re.fullmatch(r"mkfs(?:\.\w+)?|mke2fs|mkswap|mkntfs|mkdosfs|wipefs|blkdiscard", name):
        raise _Refused("disk_format", "formatting or wiping a file system destroys a disk")
    if name in ("fdisk", "sfdisk", "cfdisk", "sgdisk", "parted", "shred") and any(a.startswith("/dev/") for a in args):
        raise _Refused("disk_format", "rewriting a device destroys a disk")
    if name == "dd" and any(a.startswith("of=") and _is_disk(a[3:]) for a in args):
        raise _Refused("disk_write", "dd onto a device overwrites a disk")
    written = args[-1:] if name in ("cp", "install", "ln", "mv") else args if name in ("tee", "truncate", "tar") else []
    if name == "sed" and any(a.startswith("-i") or a == "--in-place" for a in args):
        written = args
    if any(_is_disk(a) for a in written):
        raise _Refused("disk_write", f"{name} onto a device overwrites a disk")
    if any(posixpath.normpath(a) in SYSTEM_FILES for a in written):
        raise _Refused("system_file", "changing a system account file can lock everyone out")
    if name == "kill" and "-1" in _kill_targets(args):
        raise _Refused("kill_all", "signalling process -1 kills every process you may signal")
    if name in ("killall5",) or (name == "pkill" and any(a in (".", ".*", "-1") for a in args)):
        raise _Refused("kill_all", "killing every process")
    if name in POWER or (name in ("init", "telinit") and args[:1] and args[0] in ("0", "6")):
        raise _Refused("power", "shutting down or rebooting the machine")
    if name == "systemctl" and any(a in ("poweroff", "reboot", "halt", "kexec", "emergency", "rescue") for a in args):
        raise _Refused("power", "shutting down or rebooting the machine")


def _kill_targets(args: list[str]) -> list[str]:
    """The process ids `kill` is given: `kill -9 -1`, `kill -s KILL -- -1`, `kill -- -1` all target -1."""
    rest = list(args)
    if rest[:1] in (["-s"], ["-n"]) and len(rest) > 1:
        rest = rest[2:]
    elif rest[:1] != ["--"] and rest[:1] and rest[0].startswith("-") and len(rest) > 1:
        rest = rest[1:]  # the signal
    return rest[1:] if rest[:1] == ["--"] else rest


def _reads_code_from_stdin(argv: list[str]) -> bool:
    """`sh`, `bash -s`, `python3 -`: an interpreter with no script or inline code reads its code from stdin."""
    if any(a in ("-c", "-e", "-E", "-r") for a in argv[1:]):
        return False
    operands = [a for a in argv[1:] if not a.startswith("-") or a == "-"]
    return not operands or operands[0] == "-"


def _is_disk(path: str) -> bool:
    return bool(DEVICE.match(path)) and not HARMLESS_DEVICE.match(path)


class _Judge:
    """Applies the rules to a parsed script, recursing into code hidden in strings (bounded depth)."""

    def __init__(self, depth: int = 0) -> None:
        self.depth = depth

    def text(self, command: str, cwd: str | None = None) -> None:
        """Parse `command` and judge it; raises `_Refused` or `UnparsableCommand`."""
        script = parse_script(command, cwd=cwd, depth=self.depth)
        for name, calls in script.functions.items():
            if calls >= 2:
                raise _Refused("fork_bomb", f"a fork bomb: {name} calls itself {calls} times at once")
        for pipeline in script.pipelines:
            self.pipeline(pipeline)
        self.payloads(command)

    def nested(self, command: str, cwd: str | None) -> None:
        """Judge code hidden in a string (`sh -c`, `eval`, echo'd into a shell) as a command of its own."""
        if self.depth >= MAX_DECODE_DEPTH + 2:
            return
        try:
            _Judge(self.depth + 1).text(command, cwd)
        except UnparsableCommand:
            _naive(command)

    def pipeline(self, commands: list[SimpleCommand]) -> None:
        for index, command in enumerate(commands):
            self.command(command)
            argv = _unwrap(list(command.argv))
            name = _name(argv[0]) if argv else ""
            before = [_unwrap(list(c.argv)) for c in commands[:index]]
            if name in SHELLS | INTERPRETERS and before and _reads_code_from_stdin(argv):
                sources = {_name(b[0]) for b in before if b}
                if sources & DOWNLOADERS:
                    raise _Refused(
                        "remote_code", "piping downloaded content into an interpreter runs code nobody has read"
                    )
                if sources & DECODERS:
                    raise _Refused(
                        "decoded_code", "piping decoded or transformed text into an interpreter hides what runs"
                    )
                for earlier in before:
                    if earlier and _name(earlier[0]) == "echo" and name in SHELLS:
                        self.nested(" ".join(a for a in earlier[1:] if not re.fullmatch(r"-[neE]+", a)), command.cwd)
            if name == "xargs" and any(_name(a) in DELETERS for a in argv[1:]):
                fed = [kind for words in before for a in words[1:] if (kind := _target_kind(a, command.cwd))]
                if fed:
                    raise _Refused("recursive_delete", f"xargs rm fed with {fed[0]}")

    def command(self, command: SimpleCommand) -> None:
        _check_argv(command.argv, command.cwd)
        for operator, target in command.redirects:
            if operator.startswith(">") or operator == "&>":
                if _is_disk(target):
                    raise _Refused("disk_write", "writing onto a device overwrites a disk")
                if posixpath.normpath(target) in SYSTEM_FILES:
                    raise _Refused("system_file", "overwriting a system account file locks everyone out")
        argv = _unwrap(list(command.argv))
        name = _name(argv[0]) if argv else ""
        inner = [
            c for script in command.substitutions + command.process_substitutions for p in script.pipelines for c in p
        ]
        inner_names = {_name(_unwrap(list(c.argv))[0]) for c in inner if _unwrap(list(c.argv))}
        runs_code = name in SHELLS | INTERPRETERS | {"eval", "source", "."}
        if runs_code and inner_names & DOWNLOADERS:
            raise _Refused("remote_code", "running downloaded content runs code nobody has read")
        if runs_code and inner_names & DECODERS and (name in ("eval", "source", ".") or "-c" in argv):
            raise _Refused("decoded_code", "evaluating decoded or transformed text hides what runs")
        for script in command.substitutions + command.process_substitutions:
            for pipeline in script.pipelines:
                self.pipeline(pipeline)
        if name == "eval":
            self.nested(" ".join(argv[1:]), command.cwd)
        elif name in SHELLS:
            for text in command.stdin_texts:
                self.nested(text, command.cwd)
            if "-c" in argv[1:-1]:
                self.nested(argv[argv.index("-c") + 1], command.cwd)
        elif name in INTERPRETERS:
            code = " ".join(argv[1:] + command.stdin_texts)
            self.code(code, command.cwd)

    def code(self, code: str, cwd: str | None) -> None:
        """Python / Perl / Ruby code: rmtree of / or ~, fork loops, and shell commands in its strings."""
        if RMTREE.search(code):
            raise _Refused("recursive_delete", "shutil.rmtree of / or the home folder")
        if FORK_LOOP.search(code):
            raise _Refused("fork_bomb", "an endless fork loop would exhaust the machine")
        for match in STRING_LITERAL.finditer(code):
            literal = match.group(1) or match.group(2) or ""
            if " " in literal:
                self.nested(decode_escapes(literal), cwd)

    def payloads(self, command: str) -> None:
        """Base64 and hex strings that decode to readable text are judged as commands too."""
        if self.depth >= MAX_DECODE_DEPTH:
            return
        for payload in _decoded_payloads(command):
            try:
                self.nested(payload, None)
            except _Refused as refused:
                verdict = refused.verdict
                raise _Refused(verdict.rule, f"{verdict.reason} (hidden in an encoded string)") from None


def _decoded_payloads(text: str) -> list[str]:
    """Base64 and hex strings in the command that decode to readable text."""
    raws: list[bytes] = []
    for token in _B64_TOKEN.findall(text):
        try:
            raws.append(base64.b64decode(token + "=" * (-len(token) % 4), validate=True))
        except (binascii.Error, ValueError):
            continue
    raws += [bytes.fromhex(token) for token in _HEX_TOKEN.findall(text)]
    readable = []
    for raw in raws:
        decoded = raw.decode("utf-8", errors="replace")
        printable = sum(ch.isprintable() or ch in "\n\t" for ch in decoded)
        if len(decoded) >= 4 and printable >= 0.9 * len(decoded) and " " in decoded:
            readable.append(decoded)
    return readable


def _naive(command: str) -> None:
    """The word scan for what the parser cannot read: each piece between operators, unquoted, through the
    word rules, with `cd` followed, and downloads piped into a shell. Linear in the command's length."""
    cwd: str | None = None
    previous: Iterable[str] = ()
    for piece in _NAIVE_SPLIT.split(decode_escapes(command)):
        words = unquote(piece).split()
        if not words:
            continue
        if words[0] in ("cd", "pushd"):
            cwd = words[1] if len(words) > 1 else "~"
            continue
        _check_argv(words, cwd)
        unwrapped = _unwrap(list(words))
        if unwrapped and _name(unwrapped[0]) in SHELLS and {_name(w) for w in previous} & DOWNLOADERS:
            raise _Refused("remote_code", "piping downloaded content into an interpreter runs code nobody has read")
        previous = words


def check_command(command: str) -> GuardVerdict:
    """Decide whether `command` may run; a refusal names the rule and the reason.

    Example:
        >>> check_command("rm -rf build/").allowed
        True
        >>> check_command("r''m -rf ~").reason
        'rm ~ would delete the home folder'
    """
    try:
        if len(command) > MAX_GUARD_CHARS:
            _naive(command)
            return GuardVerdict(
                True, review=f"the command is {len(command):,} characters long, too long for the guard to read"
            )
        try:
            _Judge().text(command)
        except UnparsableCommand as exc:
            _naive(command)
            return GuardVerdict(True, review=f"the command guard cannot parse this command ({exc}); review it")
    except _Refused as refused:
        return refused.verdict
    return ALLOWED
