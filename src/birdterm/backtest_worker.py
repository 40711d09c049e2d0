"""Backtests for the app, in a separate process: they hold the GIL, the UI must not freeze.

`BacktestJob` starts one spawned process running `run_job`, which loads the controller file the
way `birdterm backtest` does, runs BacktestEngine with a progress callback and sends back, over
a pipe, progress fractions and then either a `BacktestView` (what the backtest screen draws:
candles and P&L series on a shared time grid, executor entries/exits, the metrics as rows) or
one line of error. Cancelling terminates the process. Nothing here imports Textual.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing
import os
import sys
import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

# A chart never needs more points than this; data is bucketed onto a coarser grid beyond it.
MAX_BUCKETS = 10_000
BUCKET_SECONDS = (1, 5, 15, 30, 60, 300, 900, 1800, 3600, 7200, 14_400, 21_600, 43_200, 86_400)
POLL_SECONDS = 0.05
EXIT_GRACE_SECONDS = 2.0  # a child that has answered gets this long to exit by itself


@dataclass(frozen=True)
class BacktestRequest:
    """What to run: one controller file, optionally a shorter span or other data."""

    config_path: Path
    days: float | None = None
    start: str | None = None
    end: str | None = None
    data: str | None = None


@dataclass(frozen=True)
class MetricRow:
    """One line of the metrics table; `close_type` colours a close-type count row."""

    label: str
    value: str
    close_type: str | None = None
    strong: bool = False


@dataclass(frozen=True)
class BacktestView:
    """A finished backtest, compact and picklable: everything the screen shows.

    Time is measured in buckets of `bucket_ms` from `origin_ms` (x = (ts - origin) / bucket),
    so every chart shares one x axis. Candles exist only for buckets that had data.
    """

    title: str
    trading_pair: str
    quote_asset: str
    fill_model: str
    origin_ms: int
    bucket_ms: int
    n_buckets: int
    candle_x: np.ndarray  # int bucket index per candle
    ohlc: np.ndarray  # (n, 4) open, high, low, close
    series_x: np.ndarray  # float x of each P&L sample
    series: dict[str, np.ndarray]  # total, executors_realized, ..., volume, hold_base, ...
    close_types: tuple[str, ...]  # names, indexed by entry_type / exit_type
    entry_x: np.ndarray
    entry_price: np.ndarray
    entry_buy: np.ndarray  # bool: a buy entry (else a sell)
    entry_type: np.ndarray  # int index into close_types
    exit_x: np.ndarray
    exit_price: np.ndarray
    exit_type: np.ndarray
    rows: list[MetricRow] = field(default_factory=list)

    def x_of(self, ts_ms: float) -> float:
        """A timestamp on the shared x axis."""
        return (ts_ms - self.origin_ms) / self.bucket_ms

    def ts_of(self, x: float) -> int:
        """The time at an x position (epoch ms)."""
        return round(self.origin_ms + x * self.bucket_ms)


SERIES_SHOWN = (
    "total", "executors_realized", "executors_unrealized", "position_realized",
    "position_unrealized", "volume", "hold_base", "hold_break_even", "price",
)  # fmt: skip


def one_line(exc: BaseException) -> str:
    """An exception as one line a trader can read (a ConfigError lists issues, joined)."""
    from birdterm.backtest_cli import BacktestUsageError
    from birdterm.engine.config import ConfigError

    text = "; ".join(part.strip() for part in str(exc).splitlines() if part.strip())
    if isinstance(exc, ConfigError | BacktestUsageError):
        return text or type(exc).__name__
    return f"backtest: {text or type(exc).__name__}"


def load_and_run(
    request: BacktestRequest,
    progress: Callable[[float], None] | None = None,
) -> tuple[Any, list[Any]]:
    """Load the file and data as `birdterm backtest` does, run; (BacktestResult, markets)."""
    from birdterm.backtest_cli import prepare_backtest

    engine, markets = prepare_backtest(
        [request.config_path], request.data, request.start, request.end, request.days
    )
    return engine.run(progress=progress), markets


def bucket_ms_for(span_ms: int, interval_ms: int) -> int:
    """The finest chart bucket no finer than the data that keeps the grid within MAX_BUCKETS."""
    for seconds in BUCKET_SECONDS:
        step = seconds * 1000
        if step >= interval_ms and span_ms / step <= MAX_BUCKETS:
            return step
    return max(interval_ms, math.ceil(span_ms / MAX_BUCKETS / 86_400_000) * 86_400_000)


def build_view(request: BacktestRequest, result: Any, markets: list[Any]) -> BacktestView:
    """The chart and table data of a result (the first pair is the one charted)."""
    from birdterm.sim.data import candles_from_trades

    market = markets[0]
    if market.kind == "trades":
        candles, interval = candles_from_trades(market.data, "1s"), 1000
    else:
        candles, interval = market.data, market.interval_ms
    ts = candles["ts"]
    first, last = int(ts[0]), int(ts[-1]) + interval
    bucket = bucket_ms_for(last - first, interval)
    origin = first // bucket * bucket
    n_buckets = max(1, math.ceil((last - origin) / bucket))
    ids = (ts - origin) // bucket
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], ts.size]
    ohlc = np.column_stack(
        (
            candles["open"][starts],
            np.maximum.reduceat(candles["high"], starts),
            np.minimum.reduceat(candles["low"], starts),
            candles["close"][ends - 1],
        )
    ).astype(np.float64)

    series_ts = np.asarray(result.timeseries["ts_ms"], dtype=np.int64)
    if len(series_ts) > MAX_BUCKETS:  # the last sample of each bucket
        edges = origin + (np.arange(n_buckets) + 1) * bucket
        pick = np.unique(np.clip(np.searchsorted(series_ts, edges, "right") - 1, 0, None))
    else:
        pick = np.arange(len(series_ts))
    series = {k: np.asarray(result.timeseries[k], dtype=np.float64)[pick] for k in SERIES_SHOWN}
    series_x = (series_ts[pick] - origin) / bucket

    first_fill: dict[str, tuple[float, float]] = {}
    for owner, fill in result.raw_fills:
        first_fill.setdefault(owner, (fill.timestamp, float(fill.price)))
    names: list[str] = []
    entries: list[tuple[float, float, bool, int]] = []
    exits: list[tuple[float, float, int]] = []
    closes = candles["ts"] + interval
    for report in result.executors:
        if report.volume_quote <= 0:
            continue  # never filled: nothing happened on the chart
        kind = report.close_type or "ACTIVE"
        if kind not in names:
            names.append(kind)
        code = names.index(kind)
        fill_ts, fill_price = first_fill.get(report.id, (report.created_ts, math.nan))
        price = float(report.entry_price) if report.entry_price is not None else fill_price
        if math.isfinite(price):
            entries.append(((fill_ts * 1000 - origin) / bucket, price, report.side == "BUY", code))
        if report.close_ts is None:
            continue
        close_ms = report.close_ts * 1000
        if report.exit_price is not None:
            out = float(report.exit_price)
        else:  # handed to the position hold (or closed with no exit): mark at the market
            row = max(0, int(np.searchsorted(closes, close_ms, "right")) - 1)
            out = float(candles["close"][row])
        exits.append(((close_ms - origin) / bucket, out, code))
    entry = np.array(entries, dtype=np.float64).reshape(-1, 4)
    exit_ = np.array(exits, dtype=np.float64).reshape(-1, 3)
    return BacktestView(
        title=_title(request, result, market),
        trading_pair=market.trading_pair,
        quote_asset=result.quote_asset,
        fill_model=result.fill_model,
        origin_ms=origin,
        bucket_ms=bucket,
        n_buckets=n_buckets,
        candle_x=ids[starts].astype(np.int64),
        ohlc=ohlc,
        series_x=series_x,
        series=series,
        close_types=tuple(names),
        entry_x=entry[:, 0],
        entry_price=entry[:, 1],
        entry_buy=entry[:, 2].astype(bool),
        entry_type=entry[:, 3].astype(np.int64),
        exit_x=exit_[:, 0],
        exit_price=exit_[:, 1],
        exit_type=exit_[:, 2].astype(np.int64),
        rows=metric_rows(result),
    )


def _title(request: BacktestRequest, result: Any, market: Any) -> str:
    controllers = ", ".join(f"{c['id']} ({c['type']})" for c in result.controllers)
    start = datetime.fromtimestamp(result.start_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")
    end = datetime.fromtimestamp(result.end_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")
    source = request.data or result.settings.get("data") or "synthetic market"
    return f"{controllers} {market.trading_pair} · {start} → {end} UTC · {source}"


def metric_rows(result: Any) -> list[MetricRow]:
    """The metrics table: the P&L split, the report's figures, close types, the hold."""
    quote = result.quote_asset
    rows = [MetricRow("Total P&L", f"{float(result.pnl.total):,.4f} {quote}", strong=True)]
    for label, key in (
        ("Executors realized", "executors_realized"),
        ("Executors unrealized", "executors_unrealized"),
        ("Position realized", "position_realized"),
        ("Position unrealized", "position_unrealized"),
    ):
        rows.append(MetricRow(label, f"{float(getattr(result.pnl, key)):,.4f} {quote}"))
    revaluation = result.metrics.net_pnl_quote - float(result.pnl.total)
    rows.append(MetricRow("Start balances revalued", f"{revaluation:,.4f} {quote}"))
    for label, value in result.metrics.summary_rows(quote):
        if label == "Period":  # the dates are in the title; the span fits here
            rows.append(MetricRow("Duration", value.rsplit("(", 1)[-1].rstrip(")")))
        elif label == "Executors":
            rows.append(MetricRow("Executors", str(result.metrics.executors)))
            for kind, count in result.metrics.close_types.items():
                rows.append(MetricRow(f"  {close_label(kind)}", str(count), close_type=kind))
        else:
            rows.append(MetricRow(label, value, strong=label in ("Net P&L", "Max drawdown")))
    for hold in result.holds:
        even = hold["break_even_price"]
        rows += [
            MetricRow(f"Hold {hold['trading_pair']}", f"{float(hold['base_amount']):,.8f} base"),
            MetricRow("  break-even", f"{float(even):,.2f}" if even else "-"),
            MetricRow("  unrealized", f"{float(hold['unrealized_pnl_quote']):,.4f} {quote}"),
        ]
    return rows


def close_label(close_type: str) -> str:
    """TAKE_PROFIT -> 'take profit'."""
    return close_type.lower().replace("_", " ")


def run_job(request: BacktestRequest, conn: Connection) -> None:
    """The child process: progress fractions, then ("result", view) or ("error", line, detail)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # nothing the child prints may land on the app's terminal
    os.dup2(devnull, 2)
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (lives as long as the process)
    try:
        from birdterm.backtest_cli import BacktestUsageError
        from birdterm.engine.clock import ClockChildError
        from birdterm.engine.config import ConfigError
        from birdterm.sim.backtest import BacktestError
        from birdterm.sim.data import DataError

        expected = (ConfigError, BacktestUsageError, BacktestError, DataError, ClockChildError)
        try:
            conn.send(("phase", "loading data"))
            result, markets = load_and_run(request, lambda done: conn.send(("progress", done)))
            conn.send(("phase", "preparing the charts"))
            conn.send(("result", build_view(request, result, markets)))
        except expected as exc:
            conn.send(("error", one_line(exc), None))
        except Exception as exc:
            conn.send(("error", f"backtest failed: {exc!r}", traceback.format_exc()))
    finally:
        conn.close()


@contextlib.contextmanager
def _usable_stderr() -> Iterator[None]:
    """Textual replaces sys.stderr with an object whose fileno() is -1, and multiprocessing
    hands that number to the resource tracker it starts ("bad value(s) in fds_to_keep"):
    give it /dev/null instead while the process starts."""
    try:
        usable = sys.stderr is not None and sys.stderr.fileno() >= 0
    except (AttributeError, OSError, ValueError):
        usable = False
    if usable:
        yield
        return
    saved = sys.stderr
    with open(os.devnull, "w") as sink:
        sys.stderr = sink
        try:
            yield
        finally:
            sys.stderr = saved


class BacktestJob:
    """One backtest in a spawned process; iterate `events()` for its messages."""

    def __init__(self, request: BacktestRequest) -> None:
        self.request = request
        context = multiprocessing.get_context("spawn")  # no threads or app state inherited
        self._conn, child = context.Pipe(duplex=False)
        self.process = context.Process(
            target=run_job, args=(request, child), name="birdterm-backtest", daemon=True
        )
        self._child = child
        self.cancelled = False

    @property
    def pid(self) -> int | None:
        """The child's process id once started."""
        return self.process.pid

    def start(self) -> None:
        """Start the child (the parent's copy of the child's end is closed: EOF = it died)."""
        with _usable_stderr():
            self.process.start()
        self._child.close()

    async def events(self) -> AsyncIterator[tuple[Any, ...]]:
        """Messages from the child until it ends; ("died", exitcode) if it ends without an
        answer. Nothing here blocks the event loop: the pipe is polled, the child reaped."""
        try:
            while True:
                ended = False
                while self._conn.poll():
                    try:
                        message = self._conn.recv()
                    except EOFError:  # the child's end closed: it is gone
                        ended = True
                        break
                    yield message
                    if message[0] in ("result", "error"):
                        await self._reaped(EXIT_GRACE_SECONDS)
                        return
                if not ended and not self.process.is_alive() and self._conn.poll():
                    continue  # it exited just now: its last words are still in the pipe
                if ended or not self.process.is_alive():
                    await self._reaped(EXIT_GRACE_SECONDS)
                    yield ("died", self.process.exitcode)
                    return
                await asyncio.sleep(POLL_SECONDS)
        finally:
            self.close(grace=0.0)

    async def _reaped(self, timeout: float) -> None:
        """Wait (without blocking) for a child that has answered to exit on its own."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.process.is_alive() and loop.time() < deadline:
            await asyncio.sleep(0.02)

    def cancel(self) -> None:
        """Stop the child now (terminate, then kill if it lingers) and reap it."""
        self.cancelled = True
        self.close(grace=0.0)

    def close(self, grace: float = 0.0) -> None:
        """End the child if it is still running (after `grace` seconds); release the pipe."""
        if self.process.pid is not None:
            self.process.join(grace)
            if self.process.is_alive():
                self.process.terminate()
                self.process.join(1.0)
            if self.process.is_alive():
                self.process.kill()
                self.process.join(1.0)
        with contextlib.suppress(OSError):
            self._conn.close()
