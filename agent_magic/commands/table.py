"""What a `%agent` subcommand is: a name, a one-line help, its arguments, and the function that runs it."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from IPython.core.magic_arguments import MagicArgumentParser

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

    from agent_magic.runtime import AgentRuntime


@dataclass(frozen=True)
class CommandContext:
    """What a subcommand may use: the kernel's agent runtime and the IPython shell."""

    runtime: AgentRuntime
    shell: InteractiveShell


@dataclass(frozen=True)
class Argument:
    """One `argparse` argument of a subcommand: `Argument("--plot", action="store_true", help=...)`."""

    flags: tuple[str, ...]
    options: dict[str, Any]

    @classmethod
    def of(cls, *flags: str, **options: Any) -> Argument:
        """Declare an argument the way `ArgumentParser.add_argument` takes it."""
        return cls(flags, options)


@dataclass(frozen=True)
class Subcommand:
    """One `%agent NAME ...` subcommand."""

    name: str
    help: str
    run: Callable[[CommandContext, argparse.Namespace], None]
    arguments: tuple[Argument, ...] = ()

    def parser(self) -> MagicArgumentParser:
        """Its argument parser (errors become one-line `UsageError`s, as for every magic)."""
        return self._with_arguments(MagicArgumentParser(prog=f"%agent {self.name}", add_help=False))

    def usage(self) -> str:
        """`name [--plot]`: how it is written."""
        plain = self._with_arguments(argparse.ArgumentParser(prog=self.name, add_help=False))
        return " ".join(plain.format_usage().removeprefix("usage: ").split())

    def _with_arguments(self, parser: argparse.ArgumentParser) -> Any:
        for argument in self.arguments:
            parser.add_argument(*argument.flags, **argument.options)
        return parser
