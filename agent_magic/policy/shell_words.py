"""Reading a shell command the way the shell will run it, for the command guard.

`parse_script()` parses with `bashlex` (a real bash grammar) and resolves what can be known without
running anything: quotes and backslashes, `$'…'` escapes, variables and aliases assigned earlier in the
same command, `${X:-default}`, `$IFS` and a custom `IFS=`, `$HOME` and `~`, `$(echo …)` / `` `printf …` ``,
brace expansion and `cd`. What cannot be known (a variable from the environment, the output of another
program) becomes `UNKNOWN`, never a guess. The result is a small structure of pipelines of simple
commands (argv, redirections, here-documents, the commands inside substitutions), which
`command_guard` judges.

Anything bashlex cannot parse (it lacks `case`, `[[ ]]`, arithmetic, some here-documents) raises
`UnparsableCommand`: the guard then cannot vouch for the command and a person must look at it.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

UNKNOWN = "\0"  # stands for text only known when the command runs
MAX_NESTING = 4  # `sh -c "sh -c '…'"` and substitutions inside substitutions, at most this deep
_ANSI_C = re.compile(r"\$'((?:[^'\\]|\\.)*)'")
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|u[0-9a-fA-F]{4}|.)", re.S)
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "v": "\v"}
_PARAMETER = re.compile(r"^([A-Za-z_]\w*|[0-9@*#?$!-])(?:(:?[-=+?])(.*))?$", re.S)
_BRACES = re.compile(r"\{([^{}\s]*,[^{}\s]*)\}")
# Arithmetic expansion, which bashlex cannot parse: its value is a number, never a path or a command.
_ARITHMETIC = re.compile(r"\$\(\(([^()]|\([^()]*\))*\)\)")


class UnparsableCommand(ValueError):
    """bashlex could not parse the command (or it nests too deep): it cannot be judged."""


def decode_escapes(text: str) -> str:
    """Undo backslash escapes as `$'…'`, `echo -e` and `printf` do (`\\x72`, `\\162`, `\\n`…)."""

    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if code[0] == "x":
            return chr(int(code[1:], 16))
        if code[0] == "u":
            return chr(int(code[1:], 16))
        if code[0] in "01234567":
            return chr(int(code, 8) & 0xFF)
        return _SIMPLE_ESCAPES.get(code, code)

    return _ESCAPE.sub(one, text)


def _quote_single(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def preprocess(command: str) -> str:
    """Rewrite what bashlex misreads into equivalents it reads: `$'…'` strings become plain quoted
    strings with their escapes decoded, and arithmetic expansions become `0`."""
    text = _ANSI_C.sub(lambda m: _quote_single(decode_escapes(m.group(1))), command)
    return _ARITHMETIC.sub("0", text)


def unquote(text: str) -> str:
    """Remove the shell's quoting (after expansion): quotes and backslashes."""
    return re.sub(r"\\(.)", r"\1", text, flags=re.S).replace('"', "").replace("'", "")


def expand_braces(word: str) -> list[str]:
    """`{rm,-rf,/}` → ["rm", "-rf", "/"]; `a{b,c}` → ["ab", "ac"] (one level, the first group)."""
    match = _BRACES.search(word)
    if not match:
        return [word]
    head, tail = word[: match.start()], word[match.end() :]
    return [head + choice + tail for choice in match.group(1).split(",")]


@dataclass
class SimpleCommand:
    """One command as it will run: its words, redirections, text fed to its stdin, and the commands
    that run inside its substitutions (`$(…)`, `<(…)`)."""

    argv: list[str]
    redirects: list[tuple[str, str]] = field(default_factory=list)  # (operator, target)
    stdin_texts: list[str] = field(default_factory=list)  # here-strings and here-documents
    substitutions: list[Script] = field(default_factory=list)
    process_substitutions: list[Script] = field(default_factory=list)
    cwd: str | None = None  # where an earlier `cd` in the same command line went


@dataclass
class Script:
    """A parsed command line: its pipelines in order (a lone command is a pipeline of one), and the
    functions it defines, each with how often its body calls itself."""

    pipelines: list[list[SimpleCommand]] = field(default_factory=list)
    functions: dict[str, int] = field(default_factory=dict)


class _Reader:
    """Walks bashlex's tree in source order, keeping what the command itself defines."""

    def __init__(self, source: str, env: dict[str, str], aliases: dict[str, str], cwd: str | None, depth: int) -> None:
        self.source = source
        self.env = env
        self.aliases = aliases
        self.cwd = cwd
        self.depth = depth
        self.script = Script()
        self._function: str | None = None

    # -- words ----------------------------------------------------------------------------------------

    def _parameter(self, value: str) -> str:
        match = _PARAMETER.match(value or "")
        if not match:
            return UNKNOWN
        name, operator, default = match.groups()
        if name == "IFS":
            return " "
        if name in self.env:
            return self.env[name]
        if name == "HOME":
            return "~"
        if name == "PWD":
            return self.cwd or "."
        if operator and operator.lstrip(":") in "-=":
            return self.expand_text(default or "")
        return UNKNOWN

    def expand_text(self, text: str) -> str:
        """Expand a fragment that is not a bashlex node (a default value): variables only."""
        return re.sub(
            r"\$\{([^}]*)\}|\$([A-Za-z_]\w*)", lambda m: self._parameter(m.group(1) or m.group(2)), unquote(text)
        )

    def _substitution_output(self, script: Script) -> str:
        """What `$(echo …)` / `$(printf …)` prints; UNKNOWN for anything else."""
        if len(script.pipelines) != 1 or len(script.pipelines[0]) != 1:
            return UNKNOWN
        argv = script.pipelines[0][0].argv
        if not argv or posixpath.basename(argv[0]) not in ("echo", "printf"):
            return UNKNOWN
        words = [w for w in argv[1:] if not re.fullmatch(r"-[neE]+", w)]
        return decode_escapes(" ".join(words))

    def words(self, node: Any, command: SimpleCommand | None = None) -> list[str]:
        """A word node as the words it becomes (braces and IFS can make several)."""
        parts = getattr(node, "parts", None) or []
        if not parts:  # bashlex has already removed the quoting of a plain word
            return expand_braces(node.word)
        start, end = node.pos
        text = self.source[start:end]
        for part in sorted(parts, key=lambda p: p.pos[0], reverse=True):
            first, last = part.pos[0] - start, part.pos[1] - start
            if part.kind == "parameter":
                value = self._parameter(getattr(part, "value", ""))
            elif part.kind in ("commandsubstitution", "processsubstitution"):
                inner = self.nested(part.command)
                if command is not None:
                    target = (
                        command.substitutions if part.kind == "commandsubstitution" else command.process_substitutions
                    )
                    target.append(inner)
                value = self._substitution_output(inner) if part.kind == "commandsubstitution" else UNKNOWN
            elif part.kind == "tilde":
                value = "~"
            else:
                continue
            text = text[:first] + value + text[last:]
        # An expansion's result is split into words on IFS (also when quoted: the guard errs on the side
        # of seeing more words, never fewer).
        separators = re.escape(self.env.get("IFS", "") + " \t\n")
        words: list[str] = []
        for piece in expand_braces(unquote(text)):
            words += [w for w in re.split(f"[{separators}]+", piece) if w]
        return words or [""]

    # -- structure ------------------------------------------------------------------------------------

    def nested(self, node: Any) -> Script:
        """The commands inside a substitution, read with what is known so far."""
        if self.depth + 1 > MAX_NESTING:
            raise UnparsableCommand("substitutions nest too deep")
        reader = _Reader(self.source, dict(self.env), dict(self.aliases), self.cwd, self.depth + 1)
        reader.visit(node)
        return reader.script

    def visit(self, node: Any) -> None:
        kind = node.kind
        if kind == "pipeline":
            commands = [self.command(p) for p in node.parts if p.kind == "command"]
            for part in node.parts:
                if part.kind not in ("command", "pipe"):
                    self.visit(part)
            if commands:
                self.script.pipelines.append(commands)
        elif kind == "command":
            self.script.pipelines.append([self.command(node)])
        elif kind == "function":
            name = node.parts[0].word
            outer, self._function = self._function, name
            self.script.functions.setdefault(name, 0)
            for part in node.parts[1:]:
                self.visit(part)
            self._function = outer
        elif kind == "compound":
            for part in node.list:
                self.visit(part)
        elif kind == "for":
            # The loop variable takes each listed value: `for d in / ~; do rm -rf $d; done` reads as both.
            words = [p for p in node.parts if p.kind == "word"]
            if words:
                self.env[words[0].word] = " ".join(w for part in words[1:] for w in self.words(part))
            for part in node.parts:
                if part.kind != "word":
                    self.visit(part)
        elif kind in ("list", "if", "while", "until"):
            for part in node.parts:
                self.visit(part)
        elif kind in ("reservedword", "operator", "pipe", "word", "redirect", "heredoc"):
            return
        else:
            raise UnparsableCommand(f"unsupported shell construct: {kind}")

    def command(self, node: Any) -> SimpleCommand:
        """One simple command: assignments are remembered, words expanded, aliases applied, `cd` followed."""
        command = SimpleCommand(argv=[], cwd=self.cwd)
        for part in node.parts:
            if part.kind == "assignment":
                name, _, value = part.word.partition("=")
                value_text = self.source[part.pos[0] : part.pos[1]].partition("=")[2]
                expanded = self.expand_text(value_text) if "$" in value_text else unquote(value)
                self.env[name] = expanded
            elif part.kind == "word":
                command.argv += self.words(part, command)
            elif part.kind == "redirect":
                self.redirect(part, command)
        if command.argv and command.argv[0] in self.aliases:
            command.argv = self.aliases[command.argv[0]].split() + command.argv[1:]
        argv = command.argv
        if argv and argv[0] == "alias":
            for definition in argv[1:]:
                name, equals, value = definition.partition("=")
                if equals:
                    self.aliases[name] = value
        if argv and argv[0] in ("cd", "pushd"):
            target = argv[1] if len(argv) > 1 else "~"
            self.cwd = target if target.startswith(("/", "~")) or self.cwd is None else posixpath.join(self.cwd, target)
        if self._function and argv and argv[0] == self._function:
            self.script.functions[self._function] += 1
        return command

    def redirect(self, node: Any, command: SimpleCommand) -> None:
        operator = getattr(node, "type", "")
        output = getattr(node, "output", None)
        heredoc = getattr(node, "heredoc", None)
        if heredoc is not None:
            command.stdin_texts.append(str(getattr(heredoc, "value", "")).rsplit("\n", 1)[0])
        elif operator == "<<<" and output is not None and hasattr(output, "pos"):
            command.stdin_texts.append(" ".join(self.words(output, command)))
        elif output is not None and hasattr(output, "pos"):
            command.redirects.append((operator, " ".join(self.words(output, command))))


def parse_script(command: str, *, env: dict[str, str] | None = None, cwd: str | None = None, depth: int = 0) -> Script:
    """Parse and resolve `command` (see the module docstring); raises `UnparsableCommand`.

    Example:
        >>> parse_script("X=/; rm -rf $X").pipelines[-1][0].argv
        ['rm', '-rf', '/']
    """
    if depth > MAX_NESTING:
        raise UnparsableCommand("commands nest too deep")
    import bashlex  # deferred: only run_shell needs it

    source = preprocess(command)
    try:
        trees = bashlex.parse(source)
    except RecursionError:
        raise UnparsableCommand("the command nests too deep to parse") from None
    except Exception as exc:  # bashlex raises ParsingError, NotImplementedError and others
        raise UnparsableCommand(f"{type(exc).__name__}: {exc}") from None
    reader = _Reader(source, dict(env or {}), {}, cwd, depth)
    try:
        for tree in trees:
            reader.visit(tree)
    except RecursionError:
        raise UnparsableCommand("the command nests too deep to read") from None
    return reader.script
