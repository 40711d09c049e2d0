"""The `birdterm` command: the TUI by default, plus subcommands that share the same core."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from birdterm import __version__
from birdterm.engine.bot_config import BotConfig
from birdterm.engine.config import ConfigError, load_config
from birdterm.logs import SecretRedactor, configure_logging
from birdterm.paths import default_data_dir, ensure_data_dir
from birdterm.sim.data_fetch_cli import data_fetch_command
from birdterm.sim.emulator.cli import emulator_command

app = typer.Typer(
    name="birdterm",
    help="A crypto trading bot in one terminal app. With no command, opens the TUI.",
    no_args_is_help=False,
    add_completion=False,
    rich_markup_mode=None,
)
config_app = typer.Typer(help="Work with bot config files.", no_args_is_help=True)
app.add_typer(config_app, name="config")
data_app = typer.Typer(help="Download market history into the backtester's cache.",
                       no_args_is_help=True)  # fmt: skip
app.add_typer(data_app, name="data")
data_app.command("fetch")(data_fetch_command)
app.command("emulator")(emulator_command)

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Where logs and the store live (default: $BIRDTERM_DATA_DIR or XDG data dir).",
        file_okay=False,
    ),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"birdterm {__version__}")
        raise typer.Exit()


def _load_bot_config(path: Path) -> BotConfig:
    try:
        return load_config(path, BotConfig)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=2) from exc


@app.callback(invoke_without_command=True)
def main_callback(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Bot config (TOML) to load.")
    ] = None,
    data_dir: DataDirOption = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Open the terminal app (when no command is given) running configs/demo.toml, or the
    controller file given with --config."""
    ctx.obj = {"data_dir": data_dir}
    if ctx.invoked_subcommand is not None:
        return
    directory = ensure_data_dir(data_dir or default_data_dir())
    raise typer.Exit(code=_open_tui(config, directory))


def _open_tui(config: Path | None, directory: Path) -> int:
    from birdterm.app import create_app  # Textual is only imported when the TUI is wanted
    from birdterm.engine.config import parse_toml, read_config_text
    from birdterm.engine.engine import Engine
    from birdterm.runner.session import SessionError, resolve_config

    redactor = SecretRedactor()
    bot_config: BotConfig | None = None
    startup: str | None = None
    name, tick = "birdterm", 1.0
    try:
        path = config or resolve_config("demo")
        is_controller = "controller" in parse_toml(read_config_text(path), path)
    except (SessionError, ConfigError) as exc:
        typer.echo(str(exc), err=True)
        return 2
    if is_controller:
        from birdterm.sim.backtest_config import load_controller_document

        try:
            document = load_controller_document(path)
        except ConfigError as exc:
            typer.echo(str(exc), err=True)
            return 2
        name, tick = document.bot.name, document.bot.tick_size
        startup = f"/start {path}"
    else:
        bot_config = _load_bot_config(path)
    level = bot_config.bot.log_level if bot_config else "INFO"
    configure_logging(directory / "logs", redactor, level=level)
    engine = Engine(directory, bot_config, name=name if is_controller else None, tick_size=tick)
    tui = create_app(directory, engine=engine, redactor=redactor, startup_command=startup)
    tui.run()
    return tui.return_code or 0


@app.command("run")
def run(
    ctx: typer.Context,
    config: Annotated[Path, typer.Argument(help="Controller file, e.g. configs/demo.toml.")],
    headless: Annotated[
        bool, typer.Option("--headless", help="No UI: log to stdout and the log file.")
    ] = False,
) -> None:
    """Run a controller file live or on paper (in the app, or --headless for systemd)."""
    data_dir = ctx.obj["data_dir"] if ctx.obj else None
    directory = ensure_data_dir(data_dir or default_data_dir())
    if not headless:
        raise typer.Exit(code=_open_tui(config, directory))
    from birdterm.runner.headless import headless_main
    from birdterm.sim.backtest_config import load_controller_document

    try:
        load_controller_document(config)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=2) from exc
    raise typer.Exit(code=headless_main(config, directory))


@config_app.command("check")
def config_check(
    path: Annotated[Path, typer.Argument(help="The TOML file to validate.")],
) -> None:
    """Validate a bot or controller config: print every problem with file:line: field, exit 2
    if any."""
    from birdterm.engine.config import parse_toml, read_config_text

    try:
        is_controller = "controller" in parse_toml(read_config_text(path), path)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=2) from exc
    if is_controller:
        from birdterm.sim.backtest_config import load_backtest_file

        try:
            controller, _ = load_backtest_file(path)
        except ConfigError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(code=2) from exc
        typer.echo(f"{path}: valid ({controller.type} {controller.id!r} on "
                   f"{controller.trading_pair})")  # fmt: skip
        return
    config = _load_bot_config(path)
    typer.echo(
        f"{path}: valid ({config.market.connector}, {', '.join(config.market.trading_pairs)})"
    )


@app.command("backtest")
def backtest(
    configs: Annotated[
        list[Path], typer.Argument(help="Controller file(s), e.g. configs/pmm_inventory.toml.")
    ],
    data: Annotated[
        str | None,
        typer.Option("--data", help="Candles/trades CSV or cache folder (default: the file's)."),
    ] = None,
    start: Annotated[str | None, typer.Option("--start", help="UTC date or date-time.")] = None,
    end: Annotated[str | None, typer.Option("--end", help="UTC date or date-time.")] = None,
    days: Annotated[
        float | None, typer.Option("--days", help="Length of the run, from --start or the data.")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the whole result as JSON here.")
    ] = None,
    csv_dir: Annotated[
        Path | None, typer.Option("--csv", help="Write executors/fills/timeseries CSVs here.")
    ] = None,
) -> None:
    """Backtest controller files on history; prints the P&L split and the metrics."""
    from birdterm.backtest_cli import backtest_command

    raise typer.Exit(code=backtest_command(configs, data, start, end, days, json_out, csv_dir))


@app.command("info")
def info(ctx: typer.Context) -> None:
    """Show the version, the data dir and the compiled extensions in use."""
    import birdterm.sim as sim

    data_dir = ctx.obj["data_dir"] if ctx.obj else None
    typer.echo(f"birdterm {__version__}")
    typer.echo(f"data dir   {data_dir or default_data_dir()}")
    typer.echo(f"extension  {sim.price_levels.__file__}")


def main() -> None:
    """Console-script entry point."""
    app()
