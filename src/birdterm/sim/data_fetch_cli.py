"""`birdterm data fetch`: download exchange history into the backtester's cache."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from birdterm.engine.connectors.binance.constants import REST_URL
from birdterm.paths import default_data_dir
from birdterm.sim.data import format_ts
from birdterm.sim.data_fetch_request import (
    KLINE_INTERVALS,
    BadArgument,
    FetchError,
    FetchReport,
    FetchRequest,
)

PROGRESS_EVERY_PAGES = 50


def parse_when(value: str, option: str) -> int:
    """'2026-01-01' or an ISO date-time (UTC unless it says otherwise) as ms since the epoch."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadArgument(f"{option} {value!r}: use a date or date-time such as 2026-01-01 or "
                          "2026-01-01T12:00:00 (UTC)") from None  # fmt: skip
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return round(parsed.timestamp() * 1000)


def parse_request(
    exchange: str, pair: str, interval: str, start: str, end: str | None, trades: bool = False,
    base_url: str = REST_URL,
) -> FetchRequest:  # fmt: skip
    """The command line as a FetchRequest; FetchError names the first bad argument."""
    start_ms = parse_when(start, "--start")
    end_ms = parse_when(end, "--end") if end is not None else None
    return FetchRequest(exchange.lower(), pair, interval, start_ms, end_ms, trades,
                        base_url.rstrip("/"))  # fmt: skip


def report_lines(report: FetchReport, max_gaps: int = 20) -> list[str]:
    """A human summary of a fetch; the gaps listed in time order (at most `max_gaps`)."""
    span = f"{format_ts(report.start_ms)} .. {format_ts(report.end_ms)} UTC"
    out = [
        f"{report.symbol} {report.interval} candles, {span}: {report.candles_total} in the cache "
        f"({report.candles_fetched} fetched now, {report.candles_cached} were there)"
    ]
    if report.with_trades:
        out.append(
            f"{report.symbol} aggTrades: {report.trades_total} in the cache "
            f"({report.trades_fetched} fetched now, {report.trades_cached} were there)"
        )
    out.append(f"{report.requests} requests, {report.pages} pages, {report.rate_limited} "
               f"rate-limit waits, {report.retried} retries")  # fmt: skip
    if not report.gaps:
        out.append("continuity: complete, no gaps")
        return out
    candles = sum(g.missing for g in report.gaps if g.kind == "candles")
    trades = sum(g.missing for g in report.gaps if g.kind == "trades")
    out.append(f"continuity: {len(report.gaps)} gap(s), {candles} candles and {trades} trades "
               "missing (the exchange has none there)")  # fmt: skip
    out += [f"  gap: {gap.describe()}" for gap in report.gaps[:max_gaps]]
    if len(report.gaps) > max_gaps:
        out.append(f"  ... and {len(report.gaps) - max_gaps} more")
    return out


def run_fetch(request: FetchRequest, cache: Path, echo: bool = True) -> FetchReport:
    """Run one fetch to the end (progress lines on stderr when `echo`)."""
    pages = 0

    def progress(kind: str, rows: int, last_ts: int) -> None:
        nonlocal pages
        pages += 1
        if echo and pages % PROGRESS_EVERY_PAGES == 0:
            typer.echo(f"  {kind}: up to {format_ts(last_ts)} UTC ({pages} pages)", err=True)

    from birdterm.sim.data_fetch import fetch_history  # aiohttp only when fetching

    return asyncio.run(fetch_history(request, cache, on_page=progress))


def data_fetch_command(
    exchange: Annotated[str, typer.Argument(help="Exchange to download from: binance.")],
    pair: Annotated[str, typer.Argument(help="Trading pair, e.g. BTC-USDT.")],
    start: Annotated[str, typer.Option("--start", help="First UTC date or date-time.")],
    end: Annotated[
        str | None,
        typer.Option("--end", help="UTC date or date-time, exclusive (default: now)."),
    ] = None,
    interval: Annotated[
        str, typer.Option("--interval", help=f"Candle interval: {', '.join(KLINE_INTERVALS)}.")
    ] = "1m",
    trades: Annotated[
        bool, typer.Option("--trades", help="Also download aggregate trades.")
    ] = False,
    base_url: Annotated[
        str, typer.Option("--base-url", help="REST base URL (e.g. a local emulator).")
    ] = REST_URL,
    cache: Annotated[
        Path | None,
        typer.Option("--cache", help="Cache folder (default: <data dir>/cache).", file_okay=False),
    ] = None,
) -> None:
    """Download candles (and trades) into the backtest cache; resumes what is already there."""
    folder = cache if cache is not None else default_data_dir() / "cache"
    try:
        report = run_fetch(parse_request(exchange, pair, interval, start, end, trades, base_url),
                           folder)  # fmt: skip
    except FetchError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2 if isinstance(exc, BadArgument) else 1) from exc
    except KeyboardInterrupt:
        typer.echo("interrupted: what was fetched is cached; run again to resume", err=True)
        raise typer.Exit(code=130) from None
    for line in report_lines(report):
        typer.echo(line)
