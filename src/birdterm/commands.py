"""Slash-command registry: name, usage, help and handler, shared by the TUI and the CLI.

A line is split like a shell does (quotes keep spaces), then into positional arguments and
`--name VALUE` (or `--name=VALUE`) options the command declares. Handlers raise `UsageError`
for a bad argument: the registry turns it into one line that ends with the command's usage.
"""

from __future__ import annotations

import difflib
import json
import re
import shlex
import sqlite3
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from birdterm.engine.bot_config import BotConfig
from birdterm.engine.config import ConfigError, load_config, parse_toml, read_config_text
from birdterm.engine.engine import Engine, SessionView

REPO_CONFIGS = Path(__file__).resolve().parents[2] / "configs"  # the checkout's examples
HISTORY_DEFAULT = 20
HISTORY_MAX = 1000
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_PAIR = re.compile(r"^[A-Z0-9]+-[A-Z0-9]+$")
_TABLE = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_ID_LINE = re.compile(r"^(\s*id\s*=\s*)(\"(?:[^\"\\]|\\.)*\"|'[^']*')(.*)$")


class CommandError(Exception):
    """A command line that cannot run; the message names the command and its valid use."""


class UsageError(CommandError):
    """A bad argument; the registry adds the command's name and usage to the message."""


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
    headless: bool = False  # no app: commands that open a screen answer "needs the app"


@dataclass(frozen=True, slots=True)
class Option:
    """A `--name VALUE` option of a command."""

    name: str  # without the dashes
    metavar: str  # what the value is, as shown in the usage: N, DATE, PATH
    completes: str = ""  # what completion offers for the value: "config" | "path" | ""


@dataclass(frozen=True, slots=True)
class Args:
    """A parsed command line: positional arguments and the options given (name -> value)."""

    positional: tuple[str, ...] = ()
    options: Mapping[str, str] = field(default_factory=dict)

    def get(self, index: int, default: str | None = None) -> str | None:
        """The positional argument at `index`, or `default` when it was not given."""
        return self.positional[index] if index < len(self.positional) else default


Handler = Callable[[CommandContext, Args], CommandResult]


@dataclass(frozen=True, slots=True)
class Command:
    """One slash-command."""

    name: str
    args: tuple[str, ...]
    help: str
    handler: Handler
    optional: tuple[str, ...] = ()
    options: tuple[Option, ...] = ()
    synopsis: str = ""  # how the options combine, when "[--a A] [--b B]" would mislead
    details: str = ""  # the longer text of /help NAME
    completes: tuple[str, ...] = ()  # per positional: "config" | "controller" | "pair" | ...

    @property
    def usage(self) -> str:
        """'/name ARG [OPTIONAL] ...' as shown in help and errors."""
        opts = self.synopsis or " ".join(f"[--{o.name} {o.metavar}]" for o in self.options)
        parts = (f"/{self.name}", *self.args, *(f"[{a}]" for a in self.optional), opts)
        return " ".join(p for p in parts if p)

    def option(self, name: str) -> Option | None:
        """The option called `name` (without dashes), if the command has one."""
        return next((o for o in self.options if o.name == name), None)

    def parse(self, tokens: list[str]) -> Args:
        """Split tokens into positional arguments and options (UsageError when they do not fit
        this command)."""
        positional: list[str] = []
        options: dict[str, str] = {}
        i = 0
        while i < len(tokens):
            token = tokens[i]
            if token.startswith("--") and len(token) > 2:
                key, has_value, value = token[2:].partition("=")
                option = self.option(key)
                if option is None:
                    valid = ", ".join(f"--{o.name}" for o in self.options)
                    known = f"options: {valid}" if valid else "it takes no options"
                    raise UsageError(f"unknown option --{key} ({known})")
                if key in options:
                    raise UsageError(f"--{key} given twice")
                if not has_value:
                    i += 1
                    if i == len(tokens):
                        raise UsageError(f"--{key} needs a value ({option.metavar})")
                    value = tokens[i]
                options[key] = value
            else:
                positional.append(token)
            i += 1
        low, high = len(self.args), len(self.args) + len(self.optional)
        if not low <= len(positional) <= high:
            wanted = str(low) if low == high else f"{low} to {high}"
            raise UsageError(f"takes {wanted} argument(s), got {len(positional)}")
        return Args(tuple(positional), options)


class CommandRegistry:
    """Looks commands up by name, runs a typed line and completes a partial one."""

    def __init__(self, commands: list[Command]) -> None:
        self._commands = {c.name: c for c in commands}

    @property
    def commands(self) -> tuple[Command, ...]:
        """All commands, sorted by name."""
        return tuple(self._commands[n] for n in sorted(self._commands))

    def get(self, name: str) -> Command | None:
        """The command called `name` ('start' or '/start'), if any."""
        return self._commands.get(name.removeprefix("/"))

    def run(self, line: str, context: CommandContext) -> CommandResult:
        """Parse and run one line such as '/validate configs/x.toml'."""
        text = line.strip()
        if not text.startswith("/"):
            raise CommandError(f"commands start with '/': try /help (got {text!r})")
        try:
            name, *tokens = shlex.split(text[1:]) or [""]
        except ValueError as exc:
            raise CommandError(f"cannot read {text!r}: {exc}") from exc
        command = self._commands.get(name)
        if command is None:
            close = difflib.get_close_matches(name, self._commands, n=1)
            hint = f" Did you mean /{close[0]}?" if close else ""
            raise CommandError(f"unknown command /{name}.{hint} Commands: {self._names()}")
        try:
            args = command.parse(tokens)
            result = command.handler(replace(context, commands=self.commands), args)
        except UsageError as exc:
            raise CommandError(f"/{name}: {exc}; usage: {command.usage}") from exc
        if result.screen is not None and context.headless:
            raise CommandError(f"/{name} needs the app (run `birdterm` to open it)")
        return result

    def _names(self) -> str:
        return ", ".join(f"/{n}" for n in sorted(self._commands))

    def complete(self, text: str, context: CommandContext) -> list[str]:
        """Whole lines that `text` may become by completing its last word: command names,
        config names, running controller ids, pairs, option names and paths."""
        if not text.startswith("/"):
            return []
        if " " not in text:
            return [f"/{n}" for n in sorted(self._commands) if n.startswith(text[1:])]
        name, rest = text[1:].split(" ", 1)
        command = self._commands.get(name)
        if command is None:
            return []
        words = rest.split(" ")
        current, before = words[-1], [w for w in words[:-1] if w]
        head = text[: len(text) - len(current)]
        if current.startswith("--"):
            given = {w[2:].partition("=")[0] for w in before if w.startswith("--")}
            names = [f"--{o.name}" for o in command.options if o.name not in given]
            return [head + n for n in names if n.startswith(current)]
        kind = _completion_kind(command, before)
        return [head + c for c in _candidates(kind, current, context, self)]


def _completion_kind(command: Command, before: list[str]) -> str:
    """What the word being typed is: the value of an option, or the next positional."""
    if before and before[-1].startswith("--") and "=" not in before[-1]:
        option = command.option(before[-1][2:])
        if option is not None:
            return option.completes
    position = 0
    skip = False
    for word in before:
        if skip:
            skip = False
        elif word.startswith("--"):
            skip = "=" not in word and command.option(word[2:]) is not None
        else:
            position += 1
    return command.completes[position] if position < len(command.completes) else ""


def _candidates(
    kind: str, current: str, context: CommandContext, registry: CommandRegistry
) -> list[str]:
    if kind == "config" and ("/" in current or current.startswith(("~", "."))):
        kind = "path"
    if kind == "config":
        names = config_names(context)
    elif kind == "controller":
        names = [*sorted(context.engine.sessions), "all"]
    elif kind == "pair":
        names = sorted({s.trading_pair for s in context.engine.view().sessions})
    elif kind == "command":
        names = [c.name for c in registry.commands]
    elif kind == "path":
        return _path_candidates(current)
    else:
        return []
    return [n for n in names if n.startswith(current)]


def _path_candidates(current: str) -> list[str]:
    """Files and folders whose path starts with `current` (folders end with '/')."""
    folder, _, stem = current.rpartition("/")
    base = Path(folder or ".").expanduser() if folder or not current.startswith("/") else Path("/")
    try:
        entries = sorted(p for p in base.iterdir() if p.name.startswith(stem))
    except OSError:
        return []
    prefix = f"{folder}/" if folder or current.startswith("/") else ""
    return [
        prefix + p.name + ("/" if p.is_dir() else "")
        for p in entries
        if not p.name.startswith(".") or stem.startswith(".")
    ]


# -- configs ----------------------------------------------------------------------------------


def configs_folder(context: CommandContext) -> Path:
    """Where /configs lists and /new writes: the context's folder, else the checkout's."""
    return context.configs_dir if context.configs_dir.is_dir() else REPO_CONFIGS


def config_names(context: CommandContext) -> list[str]:
    """Names /start NAME and /config NAME accept (the context's folder, then the checkout's)."""
    names: set[str] = set()
    for folder in (context.configs_dir, REPO_CONFIGS):
        if folder.is_dir():
            names.update(p.stem for p in folder.glob("*.toml"))
    return sorted(names)


def resolve_config_name(context: CommandContext, name: str) -> Path:
    """NAME as configs/NAME.toml (the context's folder first), or a path (UsageError if none)."""
    from birdterm.runner.session import SessionError, resolve_config

    given = Path(name).expanduser()
    if given.suffix != ".toml" and len(given.parts) == 1:
        local = context.configs_dir / f"{name}.toml"
        if local.is_file():
            return local
    try:
        return resolve_config(name)
    except SessionError as exc:
        raise UsageError(str(exc)) from exc


def _controller_sections() -> dict[str, tuple[Any, Any]]:
    from birdterm.engine.run_settings import RUN_SECTIONS
    from birdterm.sim.backtest_config import BacktestSettings

    return {"backtest": (BacktestSettings, BacktestSettings()), **RUN_SECTIONS}


def validate_controller_text(text: str, path: Path) -> Any:
    """The whole controller file validated from text (ConfigError lists each problem)."""
    from birdterm.engine.config import validate_text
    from birdterm.engine.controllers.registry import file_schema

    sections = _controller_sections()
    return validate_text(text, file_schema(text, path, sections), path)


def _describe_config(path: Path) -> str:
    """'type id pair' of a controller file, 'bot config ...', or INVALID and its first problem."""
    try:
        text = read_config_text(path)
        if "controller" not in parse_toml(text, path):
            bot = load_config(path, BotConfig)
            return f"bot config      {bot.market.connector} {', '.join(bot.market.trading_pairs)}"
        controller = validate_controller_text(text, path).controller
    except ConfigError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "invalid"
        more = f" (+{len(exc.issues) - 1} more)" if len(exc.issues) > 1 else ""
        return f"INVALID         {first}{more}"
    return f"{controller.type:<15} {controller.id} on {controller.trading_pair}"


def with_controller_id(text: str, new_id: str) -> str:
    """The file's text with [controller] id set to `new_id`; comments and layout kept."""
    lines = text.splitlines(keepends=True)
    table = None
    header_at = None
    for i, line in enumerate(lines):
        header = _TABLE.match(line)
        if header:
            table = header.group(1)
            if table == "controller":
                header_at = i
            continue
        if table == "controller":
            match = _ID_LINE.match(line.rstrip("\r\n"))
            if match:
                ending = line[len(line.rstrip("\r\n")) :]
                lines[i] = f'{match.group(1)}"{new_id}"{match.group(3)}{ending}'
                return "".join(lines)
    if header_at is None:
        raise ValueError("no [controller] table")
    lines.insert(header_at + 1, f'id = "{new_id}"\n')
    return "".join(lines)


# -- the store, read on its own read-only connection -------------------------------------------


def _read_store(
    engine: Engine, queries: dict[str, str], limit: int | None = None
) -> dict[str, Any]:
    """Rows (as dicts) of each query in one snapshot; the engine's connection is not touched."""
    uri = Path(engine.store.path).resolve().as_uri() + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=5)
    except sqlite3.Error as exc:
        raise CommandError(f"cannot read the store {engine.store.path}: {exc}") from exc
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("BEGIN")
        out: dict[str, Any] = {}
        for key, sql in queries.items():
            params = (limit,) if limit is not None and "?" in sql else ()
            out[key] = [dict(row) for row in conn.execute(sql, params)]
        conn.execute("COMMIT")
        return out
    except sqlite3.Error as exc:
        raise CommandError(f"cannot read the store {engine.store.path}: {exc}") from exc
    finally:
        conn.close()


def _decoded_json(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """*_json columns parsed (the export is one JSON document, not JSON in strings)."""
    out = []
    for row in rows:
        item = {}
        for key, value in row.items():
            if key.endswith("_json") and isinstance(value, str):
                try:
                    item[key.removesuffix("_json")] = json.loads(value)
                    continue
                except ValueError:
                    pass
            item[key] = value
        out.append(item)
    return out


# -- handlers ---------------------------------------------------------------------------------


def _help(context: CommandContext, args: Args) -> CommandResult:
    wanted = args.get(0)
    if wanted is None:
        width = max(len(c.usage) for c in context.commands)
        lines = [f"{c.usage:<{width}}  {c.help}" for c in context.commands]
        lines.append("/help CMD for more; Tab completes, Up/Down recall earlier lines")
        return CommandResult("\n".join(lines))
    command = next((c for c in context.commands if c.name == wanted.removeprefix("/")), None)
    if command is None:
        known = ", ".join(c.name for c in context.commands)
        raise UsageError(f"no command {wanted!r}; commands: {known}")
    lines = [f"usage: {command.usage}", command.help]
    if command.details:
        lines.append(command.details)
    return CommandResult("\n".join(lines))


def _status(context: CommandContext, args: Args) -> CommandResult:
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


def _validate(context: CommandContext, args: Args) -> CommandResult:
    path = Path(args.positional[0])
    try:
        text = read_config_text(path)
        if "controller" in parse_toml(text, path):
            controller = validate_controller_text(text, path).controller
            return CommandResult(
                f"{path}: valid ({controller.type} {controller.id!r} on {controller.trading_pair})"
            )
        config = load_config(path, BotConfig)
    except ConfigError as exc:
        raise CommandError(str(exc)) from exc
    return CommandResult(
        f"{path}: valid ({config.market.connector}, {', '.join(config.market.trading_pairs)})"
    )


def _quit(context: CommandContext, args: Args) -> CommandResult:
    return CommandResult("stopping", quit=True)


def _start(context: CommandContext, args: Args) -> CommandResult:
    from birdterm.runner.session import SessionError, start_session

    path = resolve_config_name(context, args.get(0, "demo") or "demo")

    async def start() -> str:
        try:
            return await start_session(context.engine, path)
        except SessionError as exc:
            raise CommandError(str(exc)) from exc

    return CommandResult(f"starting {path} ...", background=start())


def _running(context: CommandContext) -> None:
    if not context.engine.sessions:
        raise CommandError("nothing is running; start a config with /start CONFIG")


def _stop(context: CommandContext, args: Args) -> CommandResult:
    engine = context.engine
    target = args.get(0, "all") or "all"
    _running(context)
    if target == "all":
        ids = list(engine.sessions)
    elif target in engine.sessions:
        ids = [target]
    else:
        running = ", ".join(sorted(engine.sessions))
        raise UsageError(f"no running controller {target!r}; running: {running}")

    async def stop_all() -> str:
        return "\n".join([await engine.stop_session(i) for i in ids])

    return CommandResult(f"stopping {', '.join(ids)} ...", background=stop_all())


def _parse_date(value: str, option: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"{option} {value!r} is not a date: use 2024-01-02 or 2024-01-02T12:00:00 (UTC)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _backtest(context: CommandContext, args: Args) -> CommandResult:
    from birdterm.sim.backtest_config import load_backtest_file

    opts = args.options
    path = resolve_config_name(context, args.positional[0])
    days: float | None = None
    if "days" in opts:
        try:
            days = float(opts["days"])
        except ValueError:
            raise UsageError(f"--days {opts['days']!r} is not a number") from None
        if not days > 0 or days == float("inf"):
            raise UsageError(f"--days must be > 0, got {opts['days']}")
        if "end" in opts:
            raise UsageError("--days and --end cannot be combined (--days counts from --start)")
    start = _parse_date(opts["start"], "--start") if "start" in opts else None
    end = _parse_date(opts["end"], "--end") if "end" in opts else None
    if start is not None and end is not None and end <= start:
        raise UsageError(f"--end {opts['end']} must be after --start {opts['start']}")
    data = opts.get("data")
    if data is not None and not Path(data).expanduser().exists():
        raise UsageError(f"--data {data!r}: no such file or folder")
    try:
        load_backtest_file(path)
    except ConfigError as exc:
        raise CommandError(str(exc)) from exc
    span = (
        f"{days:g} day(s)"
        if days is not None and start is None
        else " to ".join(x for x in (opts.get("start"), opts.get("end")) if x) or "its [backtest]"
    )
    request = ScreenRequest(
        "backtest",
        {
            "config_path": path,
            "days": days,
            "start": opts.get("start"),
            "end": opts.get("end"),
            "data": data,
        },
    )
    return CommandResult(f"backtest {path} over {span}", screen=request)


def _config(context: CommandContext, args: Args) -> CommandResult:
    name = args.get(0)
    if name is not None:
        path = resolve_config_name(context, name)
    else:
        running = [getattr(s, "path", None) for s in context.engine.sessions.values()]
        paths = [p for p in running if isinstance(p, Path)]
        path = paths[0] if paths else resolve_config_name(context, "demo")
    return CommandResult(f"editing {path}", screen=ScreenRequest("config_editor", {"path": path}))


def _configs(context: CommandContext, args: Args) -> CommandResult:
    folder = configs_folder(context)
    files = sorted(folder.glob("*.toml")) if folder.is_dir() else []
    if not files:
        raise CommandError(f"no config files in {folder}; create one with /new NAME --from demo")
    running = {
        str(Path(p).resolve())
        for s in context.engine.sessions.values()
        if (p := getattr(s, "path", None)) is not None
    }
    width = max(len(p.stem) for p in files)
    lines = [f"{len(files)} config(s) in {folder}:"]
    for path in files:
        mark = "  (running)" if str(path.resolve()) in running else ""
        lines.append(f"  {path.stem:<{width}}  {_describe_config(path)}{mark}")
    return CommandResult("\n".join(lines))


def _new(context: CommandContext, args: Args) -> CommandResult:
    name = args.positional[0]
    template = args.options.get("from")
    if template is None:
        raise UsageError("--from TEMPLATE is required (e.g. --from demo)")
    if not _NAME.match(name) or name.endswith(".toml"):
        raise UsageError(
            f"{name!r} is not a config name: letters, digits, '_', '-', '.' (no path, no .toml)"
        )
    folder = configs_folder(context)
    target = folder / f"{name}.toml"
    if target.exists():
        raise UsageError(f"{target} already exists; pick another NAME or edit it with /config")
    source = resolve_config_name(context, template)
    try:
        text = read_config_text(source)
        if "controller" not in parse_toml(text, source):
            raise UsageError(f"{source} is not a controller file (no [controller] table)")
        new_text = with_controller_id(text, name)
        document = validate_controller_text(new_text, target)
    except ConfigError as exc:
        raise CommandError(f"{source} is not valid, nothing written:\n{exc}") from exc
    from birdterm.engine.config import atomic_write_text

    if target.exists():  # created meanwhile
        raise UsageError(f"{target} already exists")
    atomic_write_text(target, new_text)
    controller = document.controller
    return CommandResult(
        f"created {target} from {source}: {controller.type} {controller.id!r} on "
        f"{controller.trading_pair} (edit it with /config {name})"
    )


def _sessions(context: CommandContext) -> tuple[SessionView, ...]:
    _running(context)
    return context.engine.view().sessions


def _balance(context: CommandContext, args: Args) -> CommandResult:
    lines = []
    for s in _sessions(context):
        if not s.balances:
            lines.append(f"{s.controller_id} ({s.connector}): no balances yet [{s.health}]")
            continue
        lines.append(f"{s.controller_id} ({s.connector}, {s.trading_pair}):")
        pair_assets = s.trading_pair.split("-")
        for asset, (total, free) in sorted(s.balances.items()):
            if total or asset in pair_assets:
                lines.append(
                    f"  {asset:<6} total {total:f}  free {free:f}  locked {total - free:f}"
                )
    return CommandResult("\n".join(lines))


def _history(context: CommandContext, args: Args) -> CommandResult:
    raw = args.get(0)
    count = HISTORY_DEFAULT
    if raw is not None:
        try:
            count = int(raw)
        except ValueError:
            raise UsageError(f"N must be a whole number, got {raw!r}") from None
        if not 0 < count <= HISTORY_MAX:
            raise UsageError(f"N must be 1 to {HISTORY_MAX}, got {count}")
    sql = (
        "SELECT client_order_id, connector, trading_pair, order_type, trade_type, price, amount, "
        "state, executed_base, created_ts FROM orders "
        "ORDER BY created_ts DESC, client_order_id DESC LIMIT ?"
    )
    rows = _read_store(context.engine, {"orders": sql}, limit=count)["orders"]
    if not rows:
        return CommandResult(f"no orders in the store {context.engine.store.path}")
    lines = [f"last {len(rows)} order(s), newest first:"]
    for r in rows:
        when = time.strftime("%m-%d %H:%M:%S", time.gmtime(r["created_ts"]))
        price = r["price"] if r["price"] is not None else "market"
        lines.append(
            f"  {when}  {r['trading_pair']} {r['trade_type']:<4} {r['state']:<16} "
            f"price {price} filled {r['executed_base']}/{r['amount']}  {r['client_order_id']} "
            f"({r['connector']})"
        )
    return CommandResult("\n".join(lines))


def _book(context: CommandContext, args: Args) -> CommandResult:
    pair = args.positional[0].upper()
    if not _PAIR.match(pair):
        raise UsageError(f"{args.positional[0]!r} is not a pair: BASE-QUOTE such as BTC-USDT")
    pairs = sorted({s.trading_pair for s in _sessions(context)})
    if pair not in pairs:
        raise UsageError(f"no running controller trades {pair}; pairs: {', '.join(pairs)}")
    return CommandResult(
        f"showing the {pair} book", screen=ScreenRequest("book", {"trading_pair": pair})
    )


def _export(context: CommandContext, args: Args) -> CommandResult:
    from birdterm.engine.config import atomic_write_text

    engine = context.engine
    if (given := args.get(0)) is not None:
        path = Path(given).expanduser()
        if path.is_dir():
            raise UsageError(f"{path} is a folder; give a file name such as {path}/export.json")
    else:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        path = engine.data_dir / f"export-{stamp}.json"
    rows = _read_store(
        engine,
        {
            "orders": "SELECT * FROM orders ORDER BY created_ts, client_order_id",
            "fills": "SELECT * FROM fills ORDER BY ts, client_order_id, trade_id",
            "executors": "SELECT * FROM executors ORDER BY created_ts, id",
        },
    )
    document = {
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "store": engine.store.path,
        **{key: _decoded_json(value) for key, value in rows.items()},
    }
    try:
        atomic_write_text(path, json.dumps(document, indent=2, sort_keys=True) + "\n")
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc}") from exc
    counts = ", ".join(f"{len(rows[k])} {k}" for k in ("orders", "fills", "executors"))
    return CommandResult(f"exported {counts} to {path}")


def _update(context: CommandContext, args: Args) -> CommandResult:
    try:
        from birdterm.update import run_update
    except ImportError as exc:
        raise CommandError(f"updating is not available in this install: {exc}") from exc
    return CommandResult("checking for an update ...", background=run_update())


DEFAULT_COMMANDS: list[Command] = [
    Command(
        "help",
        (),
        "list the commands, or show one in full",
        _help,
        optional=("CMD",),
        completes=("command",),
        details="/help alone lists every command with its usage; /help start shows /start.",
    ),
    Command(
        "status",
        (),
        "clock, connector and store of this instance",
        _status,
        details="One line for the engine, then one per running controller: connector health, "
        "executors, open orders and P&L.",
    ),
    Command(
        "validate",
        ("PATH",),
        "check a bot or controller config file and list its errors",
        _validate,
        completes=("config",),
        details="Every problem is listed as file:line: field: message.",
    ),
    Command(
        "start",
        (),
        "run a controller file live or on paper (default: demo)",
        _start,
        optional=("CONFIG",),
        completes=("config",),
        details="CONFIG is a name (configs/NAME.toml) or a path. The file says where it trades "
        "([controller] connector, [live] endpoint); demo needs no account or internet.",
    ),
    Command(
        "stop",
        (),
        "stop controllers: cancel their orders and wait for confirmation",
        _stop,
        optional=("CONTROLLER|all",),
        completes=("controller",),
        details="Without an argument every running controller stops. Open orders are "
        "cancelled and confirmed; inventory is kept.",
    ),
    Command(
        "backtest",
        ("CONFIG",),
        "backtest a controller file and chart the result",
        _backtest,
        options=(
            Option("days", "N"),
            Option("start", "DATE"),
            Option("end", "DATE"),
            Option("data", "PATH", completes="path"),
        ),
        synopsis="[--days N | --start DATE --end DATE] [--data PATH]",
        completes=("config",),
        details="Dates are ISO (2024-01-02 or 2024-01-02T12:00, UTC); --days N runs N days "
        "from --start or from the start of the data; --data is a candles/trades CSV or a cache "
        "folder (default: the file's [backtest] data, else its seeded synthetic market). "
        "Esc cancels a run.",
    ),
    Command(
        "config",
        (),
        "edit a config file (default: the running controller's)",
        _config,
        optional=("NAME",),
        completes=("config",),
        details="Ctrl+S validates and saves (an invalid file is never written).",
    ),
    Command(
        "configs",
        (),
        "list the config files with their type, id and pair",
        _configs,
        details="Files that do not validate are marked INVALID with their first problem.",
    ),
    Command(
        "new",
        ("NAME",),
        "create configs/NAME.toml from a template",
        _new,
        options=(Option("from", "TEMPLATE", completes="config"),),
        synopsis="--from TEMPLATE",
        details="Copies the template with its comments; [controller] id becomes NAME. An "
        "existing file is never replaced.",
    ),
    Command(
        "balance",
        (),
        "balances of the running controllers' accounts",
        _balance,
        details="Total, free and locked per asset (the pair's assets and any non-zero one).",
    ),
    Command(
        "history",
        (),
        f"the last N orders in the store, newest first (default {HISTORY_DEFAULT})",
        _history,
        optional=("N",),
        details="State, side, price and filled amount of each order, from the store (orders of "
        "earlier runs too).",
    ),
    Command(
        "book",
        ("PAIR",),
        "show the order book of a running pair",
        _book,
        completes=("pair",),
    ),
    Command(
        "export",
        (),
        "write the store's orders, fills and executors to a JSON file",
        _export,
        optional=("PATH",),
        completes=("path",),
        details="Default: export-<UTC time>.json in the data dir. The file is written atomically.",
    ),
    Command(
        "update",
        (),
        "update birdterm (git pull or pip upgrade); restart afterwards",
        _update,
        details="A git checkout is fast-forwarded and reinstalled; a package install is "
        "upgraded with pip. Offline or a modified checkout: nothing changes.",
    ),
    Command("quit", (), "stop the engine and leave", _quit),
]


def default_registry() -> CommandRegistry:
    """The registry the app and the CLI use."""
    return CommandRegistry(DEFAULT_COMMANDS)
