"""`birdterm backtest`: run controller files over history, show a summary, export results."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from birdterm.engine.clock import ClockChildError
from birdterm.engine.config import ConfigError
from birdterm.sim.backtest import BacktestEngine, BacktestError, MarketData
from birdterm.sim.backtest_config import BacktestSettings, load_backtest_file
from birdterm.sim.backtest_data import load_market_data
from birdterm.sim.backtest_result import BacktestResult
from birdterm.sim.data import DataError, format_ts
from birdterm.sim.data_quality import data_report


class BacktestUsageError(ValueError):
    """A command-line value that cannot be used (the message says which and what is valid)."""


def parse_when(value: str | None, option: str) -> datetime | None:
    """'2024-01-02' or an ISO date-time (UTC unless it says otherwise)."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BacktestUsageError(
            f"{option} {value!r}: use a date or date-time such as 2024-01-02 or 2024-01-02T12:00:00"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def prepare_backtest(
    configs: list[Path],
    data: str | None = None,
    start: str | None = None,
    end: str | None = None,
    days: float | None = None,
    console: Console | None = None,
) -> tuple[BacktestEngine, list[MarketData]]:
    """Load the files and data into a ready engine (errors are raised, not printed); the CLI
    and the app's backtest worker both start here."""
    if not configs:
        raise BacktestUsageError(
            "give at least one controller file, e.g. configs/pmm_inventory.toml"
        )
    if days is not None and days <= 0:
        raise BacktestUsageError(f"--days {days:g}: must be > 0")
    loaded = [load_backtest_file(path) for path in configs]
    controllers = [c for c, _ in loaded]
    settings = loaded[0][1]
    for path, (_, other) in zip(configs[1:], loaded[1:], strict=True):
        if other != settings and console is not None:
            console.print(f"note: {path}'s [backtest] table differs; {configs[0]}'s is used "
                          "(one run has one wallet and one market)", markup=False)  # fmt: skip
    start_at, end_at = parse_when(start, "--start"), parse_when(end, "--end")
    if days is not None:
        settings = settings.model_copy(
            update={"synthetic": settings.synthetic.model_copy(update={"days": days})}
        )
        if start_at is not None:
            end_at = start_at + timedelta(days=days)
    pairs = sorted({c.trading_pair for c in controllers})
    markets = [load_market_data(p, settings, data, start_at, end_at) for p in pairs]
    if days is not None and start_at is None and (data or settings.data):
        first = int(markets[0].data["ts"][0])
        cut = datetime.fromtimestamp(first / 1000, UTC) + timedelta(days=days)
        markets = [load_market_data(p, settings, data, None, cut) for p in pairs]
    return BacktestEngine(controllers, markets, settings), markets


def run_backtest(
    configs: list[Path],
    data: str | None = None,
    start: str | None = None,
    end: str | None = None,
    days: float | None = None,
    console: Console | None = None,
    progress: bool = True,
) -> BacktestResult:
    """Load the files and data, run, and return the result (errors are raised, not printed)."""
    engine, markets = prepare_backtest(configs, data, start, end, days, console)
    if console is not None:
        for market in markets:
            console.print(describe_data(market), markup=False, highlight=False)
    if not progress:
        return engine.run()
    with Progress(
        TextColumn("backtest"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task("run", total=1.0)
        return engine.run(progress=lambda done: bar.update(task, completed=done))


def describe_data(market: MarketData) -> str:
    """What the run reads: rows and span, and for candles the gaps and outliers (reported,
    never filled)."""
    if market.kind == "trades":
        first, last = int(market.data["ts"][0]), int(market.data["ts"][-1])
        return (f"{market.trading_pair} trades: {len(market.data):,} rows, {format_ts(first)} "
                f"to {format_ts(last)} UTC")  # fmt: skip
    return f"{market.trading_pair} " + data_report(market.data, market.interval).summary(limit=3)


def summary_table(result: BacktestResult) -> Table:
    """The P&L split, the metrics and the close types as one table."""
    table = Table(title="Backtest result", show_header=False, title_justify="left")
    table.add_column("figure", style="bold")
    table.add_column("value", justify="right")
    quote = result.quote_asset
    table.add_row("Fill model", result.fill_model)
    for label, key in (
        ("Executors realized", "executors_realized"),
        ("Executors unrealized", "executors_unrealized"),
        ("Position realized", "position_realized"),
        ("Position unrealized", "position_unrealized"),
        ("Total P&L", "total"),
    ):
        table.add_row(label, f"{float(getattr(result.pnl, key)):,.4f} {quote}")
    # the metrics' net P&L is the wallet's change in value, holding the start balances included
    revaluation = result.metrics.net_pnl_quote - float(result.pnl.total)
    table.add_row("Start balances revalued", f"{revaluation:,.4f} {quote}")
    for label, value in result.metrics.summary_rows(quote):
        table.add_row(label, value)
    for hold in result.holds:
        even = hold["break_even_price"]
        even_text = f"{float(even):,.2f}" if even else "-"
        table.add_row(
            f"Position hold {hold['trading_pair']}",
            f"{hold['base_amount']} base, break-even {even_text}, "
            f"unrealized {float(hold['unrealized_pnl_quote']):,.4f}",
        )
    closes = ", ".join(f"{k} {v}" for k, v in result.metrics.close_types.items()) or "none"
    table.add_row("Close types", closes)
    return table


def backtest_command(
    configs: list[Path],
    data: str | None,
    start: str | None,
    end: str | None,
    days: float | None,
    json_out: Path | None,
    csv_dir: Path | None,
) -> int:
    """The CLI command body: returns the exit code (2 on bad input)."""
    console, errors = Console(), Console(stderr=True, soft_wrap=True)
    try:
        result = run_backtest(configs, data, start, end, days, console=errors)
    except ConfigError as exc:
        errors.print(str(exc), markup=False, highlight=False)
        return 2
    except (BacktestUsageError, BacktestError, DataError) as exc:
        errors.print(f"backtest: {exc}", markup=False, highlight=False)
        return 2
    except ClockChildError as exc:  # a controller or executor raised: a bug, said plainly
        errors.print(f"backtest: {exc}", markup=False, highlight=False)
        return 1
    console.print(summary_table(result))
    if json_out is not None:
        result.write_json(json_out)
        console.print(f"wrote {json_out}", markup=False, highlight=False)
    if csv_dir is not None:
        for path in result.write_csv(csv_dir):
            console.print(f"wrote {path}", markup=False, highlight=False)
    return 0


__all__ = ["BacktestSettings", "backtest_command", "run_backtest", "summary_table"]
