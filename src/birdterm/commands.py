"""Slash-command registry: name, usage, help and handler, shared by the TUI and the CLI."""

from __future__ import annotations

import difflib
import shlex
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from birdterm.engine.bot_config import BotConfig
from birdterm.engine.config import ConfigError, load_config
from birdterm.engine.engine import Engine


class CommandError(Exception):
    """A command line that cannot run; the message names the command and its valid use."""


@dataclass(frozen=True, slots=True)
class ScreenRequest:
    """A command's ask to show a screen: "backtest", "config_editor" or "book" (select a pair)."""

    name: str
    args: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What a command produced: text for the log pane, and whether the app should exit."""

    text: str
    quit: bool = False
    # Work that takes a while (connecting, cancelling): the app or the headless runner awaits
    # it in the event loop and shows the line it returns, or its error.
    background: Coroutine[Any, Any, str] | None = None
    screen: ScreenRequest | None = None  # the app pushes it; the CLI says it needs the app


@dataclass(frozen=True, slots=True)
class CommandContext:
    """What a command handler may use."""

    engine: Engine
    commands: tuple[Command, ...] = ()  # filled in by the registry that runs the command
    configs_dir: Path = Path("configs")  # where /configs, /config NAME and /new look


Handler = Callable[[CommandContext, list[str]], CommandResult]


@dataclass(frozen=True, slots=True)
class Command:
    """One slash-command."""

    name: str
    args: tuple[str, ...]
    help: str
    handler: Handler
    optional: tuple[str, ...] = ()

    @property
    def usage(self) -> str:
        """'/name ARG [OPTIONAL] ...' as shown in help and errors."""
        return " ".join((f"/{self.name}", *self.args, *(f"[{a}]" for a in self.optional)))


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
        low, high = len(command.args), len(command.args) + len(command.optional)
        if not low <= len(args) <= high:
            wanted = str(low) if low == high else f"{low} to {high}"
            raise CommandError(
                f"/{name} takes {wanted} argument(s), got {len(args)}; usage: {command.usage}"
            )
        return command.handler(replace(context, commands=self.commands), args)


def _help(context: CommandContext, args: list[str]) -> CommandResult:
    width = max(len(c.usage) for c in context.commands)
    lines = [f"{c.usage:<{width}}  {c.help}" for c in context.commands]
    return CommandResult("\n".join(lines))


def _status(context: CommandContext, args: list[str]) -> CommandResult:
    v = context.engine.view()
    pairs = ", ".join(v.trading_pairs) or "none"
    lines = [
        f"{v.name}: clock {v.clock_mode} every {v.tick_size:g}s, {v.tick_count} ticks, "
        f"{v.missed_ticks} missed, {v.errors} errors; connector {v.connector or 'none'}; "
        f"pairs {pairs}; store {v.store_path} (schema v{v.store_schema_version})"
    ]
    for s in v.sessions:
        lines.append(
            f"{s.controller_id} ({s.controller_type}) {s.trading_pair} on {s.connector} "
            f"[{s.health}]: {s.active_executors} active, {s.closed_executors} closed executors, "
            f"{s.open_orders} open orders, P&L {s.pnl_total:.4f} (fees {s.fees:.4f}, "
            f"volume {s.volume:.2f})"
        )
    if not v.sessions:
        lines.append("no controller running (/start CONFIG)")
    return CommandResult("\n".join(lines))


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


def _start(context: CommandContext, args: list[str]) -> CommandResult:
    from birdterm.runner.session import SessionError, resolve_config, start_session

    try:
        path = resolve_config(args[0] if args else "demo")
    except SessionError as exc:
        raise CommandError(f"{exc}; usage: /start [CONFIG]") from exc

    async def start() -> str:
        try:
            return await start_session(context.engine, path)
        except SessionError as exc:
            raise CommandError(str(exc)) from exc

    return CommandResult(f"starting {path} ...", background=start())


def _stop(context: CommandContext, args: list[str]) -> CommandResult:
    engine = context.engine
    target = args[0] if args else "all"
    if not engine.sessions:
        raise CommandError("nothing is running; start a config with /start CONFIG")
    if target == "all":
        ids = list(engine.sessions)
    elif target in engine.sessions:
        ids = [target]
    else:
        running = ", ".join(sorted(engine.sessions))
        raise CommandError(f"no running controller {target!r}; running: {running}; usage: "
                           "/stop [CONTROLLER|all]")  # fmt: skip

    async def stop_all() -> str:
        return "\n".join([await engine.stop_session(i) for i in ids])

    return CommandResult(f"stopping {', '.join(ids)} ...", background=stop_all())


DEFAULT_COMMANDS: list[Command] = [
    Command("help", (), "list the commands", _help),
    Command("status", (), "clock, connector and store of this instance", _status),
    Command("validate", ("PATH",), "check a bot config file and list its errors", _validate),
    Command(
        "start",
        (),
        "run a controller file live or on paper (default: demo)",
        _start,
        optional=("CONFIG",),
    ),
    Command(
        "stop",
        (),
        "stop controllers: cancel their orders and wait for confirmation",
        _stop,
        optional=("CONTROLLER|all",),
    ),
    Command("quit", (), "stop the engine and leave", _quit),
]


def default_registry() -> CommandRegistry:
    """The registry the app and the CLI use."""
    return CommandRegistry(DEFAULT_COMMANDS)
