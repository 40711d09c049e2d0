"""Slash-command registry: name, usage, help and handler, shared by the TUI and the CLI."""

from __future__ import annotations

import difflib
import shlex
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from birdterm.engine.bot_config import BotConfig
from birdterm.engine.config import ConfigError, load_config
from birdterm.engine.engine import Engine


class CommandError(Exception):
    """A command line that cannot run; the message names the command and its valid use."""


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What a command produced: text for the log pane, and whether the app should exit."""

    text: str
    quit: bool = False


@dataclass(frozen=True, slots=True)
class CommandContext:
    """What a command handler may use."""

    engine: Engine
    commands: tuple[Command, ...] = ()  # filled in by the registry that runs the command


Handler = Callable[[CommandContext, list[str]], CommandResult]


@dataclass(frozen=True, slots=True)
class Command:
    """One slash-command."""

    name: str
    args: tuple[str, ...]
    help: str
    handler: Handler

    @property
    def usage(self) -> str:
        """'/name ARG ...' as shown in help and errors."""
        return " ".join((f"/{self.name}", *self.args))


class CommandRegistry:
    """Looks commands up by name and runs a typed line."""

    def __init__(self, commands: list[Command]) -> None:
        self._commands = {c.name: c for c in commands}

    @property
    def commands(self) -> tuple[Command, ...]:
        """All commands, sorted by name."""
        return tuple(self._commands[n] for n in sorted(self._commands))

    def run(self, line: str, context: CommandContext) -> CommandResult:
        """Parse and run one line such as '/validate configs/x.toml'."""
        text = line.strip()
        if not text.startswith("/"):
            raise CommandError(f"commands start with '/': try /help (got {text!r})")
        try:
            name, *args = shlex.split(text[1:]) or [""]
        except ValueError as exc:
            raise CommandError(f"cannot read {text!r}: {exc}") from exc
        command = self._commands.get(name)
        if command is None:
            close = difflib.get_close_matches(name, self._commands, n=1)
            hint = f" Did you mean /{close[0]}?" if close else ""
            known = ", ".join(f"/{n}" for n in sorted(self._commands))
            raise CommandError(f"unknown command /{name}.{hint} Commands: {known}")
        if len(args) != len(command.args):
            raise CommandError(
                f"/{name} takes {len(command.args)} argument(s), got {len(args)}; "
                f"usage: {command.usage}"
            )
        return command.handler(replace(context, commands=self.commands), args)


def _help(context: CommandContext, args: list[str]) -> CommandResult:
    width = max(len(c.usage) for c in context.commands)
    lines = [f"{c.usage:<{width}}  {c.help}" for c in context.commands]
    return CommandResult("\n".join(lines))


def _status(context: CommandContext, args: list[str]) -> CommandResult:
    v = context.engine.view()
    pairs = ", ".join(v.trading_pairs) or "none"
    return CommandResult(
        f"{v.name}: clock {v.clock_mode} every {v.tick_size:g}s, {v.tick_count} ticks, "
        f"{v.missed_ticks} missed, {v.errors} errors; connector {v.connector or 'none'}; "
        f"pairs {pairs}; store {v.store_path} (schema v{v.store_schema_version})"
    )


def _validate(context: CommandContext, args: list[str]) -> CommandResult:
    path = Path(args[0])
    try:
        config = load_config(path, BotConfig)
    except ConfigError as exc:
        raise CommandError(str(exc)) from exc
    return CommandResult(
        f"{path}: valid ({config.market.connector}, {', '.join(config.market.trading_pairs)})"
    )


def _quit(context: CommandContext, args: list[str]) -> CommandResult:
    return CommandResult("stopping", quit=True)


DEFAULT_COMMANDS: list[Command] = [
    Command("help", (), "list the commands", _help),
    Command("status", (), "clock, connector and store of this instance", _status),
    Command("validate", ("PATH",), "check a bot config file and list its errors", _validate),
    Command("quit", (), "stop the engine and leave", _quit),
]


def default_registry() -> CommandRegistry:
    """The registry the app and the CLI use."""
    return CommandRegistry(DEFAULT_COMMANDS)
