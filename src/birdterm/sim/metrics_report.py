"""A backtest's metrics report: executor outcomes in, one Metrics record (dict / table rows) out.

The figures come from the pure functions in `birdterm.sim.metrics`, whose docstrings define them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from birdterm.sim.metrics import (
    MetricsError,
    _finite,
    _floats,
    _positive,
    _same_length,
    _timestamps,
    annualised_return_pct,
    calmar,
    expectancy,
    infer_periods_per_year,
    max_drawdown,
    profit_factor,
    returns_from_equity,
    sharpe,
    sortino,
    sqn,
    time_in_market,
    turnover,
    win_rate,
)


@dataclass(frozen=True, slots=True)
class ExecutorOutcome:
    """One executor's result, as the backtest reports it (an executor still open: close = end)."""

    net_pnl_quote: float
    net_pnl_pct: float  # in percent of the executor's filled amount (1.5 = 1.5 %)
    close_type: str
    open_timestamp_ms: int
    close_timestamp_ms: int
    filled_volume_quote: float  # 0 when it never filled: then it is no trade
    fees_quote: float

    def __post_init__(self) -> None:
        for name in ("open_timestamp_ms", "close_timestamp_ms"):
            if not isinstance(getattr(self, name), int | np.integer):
                raise MetricsError(f"ExecutorOutcome.{name}: expected integer epoch milliseconds")
        for name in ("net_pnl_quote", "net_pnl_pct", "filled_volume_quote", "fees_quote"):
            _finite(f"ExecutorOutcome.{name}", getattr(self, name))
        if self.filled_volume_quote < 0.0:
            raise MetricsError("ExecutorOutcome.filled_volume_quote: must be >= 0")
        if self.close_timestamp_ms < self.open_timestamp_ms:
            raise MetricsError(
                f"ExecutorOutcome.close_timestamp_ms: {self.close_timestamp_ms} is before "
                f"open_timestamp_ms {self.open_timestamp_ms}"
            )


@dataclass(frozen=True, slots=True)
class Metrics:
    """Every figure of one backtest (definitions: the functions in birdterm.sim.metrics)."""

    start_ms: int  # first equity sample
    end_ms: int  # last equity sample
    initial_value: float  # portfolio value in quote at the start
    final_value: float  # last equity sample
    net_pnl_quote: float  # final_value - initial_value
    net_pnl_pct: float  # net_pnl_quote in percent of initial_value
    annualised_return_pct: float | None  # simple, per 365-day year; None for a single sample
    max_drawdown_quote: float  # positive number; the episode deepest in percent
    max_drawdown_pct: float  # positive, percent of the running peak
    max_drawdown_peak_ms: int | None  # None when there was no drawdown
    max_drawdown_trough_ms: int | None
    max_drawdown_recovery_ms: int | None  # None when not recovered by the end
    periods_per_year: float | None  # used for Sharpe / Sortino; inferred from the sampling step
    sharpe: float | None  # risk-free rate 0
    sortino: float | None  # target 0
    calmar: float | None  # None when there was no drawdown
    executors: int  # all executors, filled or not
    close_types: dict[str, int]  # executors per close type, sorted by name
    trades: int  # executors that filled something
    wins: int  # trades with net P&L > 0
    losses: int  # trades with net P&L < 0 (break-even trades are neither)
    win_rate: float | None  # wins / trades, a fraction; None with no trades
    gross_profit_quote: float  # sum of winning trades' P&L
    gross_loss_quote: float  # positive number
    profit_factor: float | None  # None when there are no losing trades
    expectancy_quote: float | None  # mean net P&L per trade
    expectancy_pct: float | None  # mean of the trades' net_pnl_pct
    sqn: float | None  # sqrt(min(trades, 100)) * mean / std of the trades' quote P&L
    fees_quote: float  # fees of all executors
    volume_quote: float  # filled volume of all executors
    turnover: float  # volume_quote / initial_value
    time_in_market: float | None  # fraction of the period some trade's executor was open

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (int, float, None, dict) keyed in field order."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, dict):
                value = {str(k): int(v) for k, v in sorted(value.items())}
            elif isinstance(value, int | np.integer):
                value = int(value)
            elif isinstance(value, float | np.floating):
                value = float(value) + 0.0
            out[f.name] = value
        return out

    def summary_rows(self, quote_asset: str = "USDT", decimals: int = 2) -> list[tuple[str, str]]:
        """(label, formatted value) rows for a results table, e.g. ("Sharpe", "1.23")."""
        return summary_rows(self, quote_asset, decimals)


def compute_metrics(
    timestamps_ms: npt.ArrayLike,
    equity: npt.ArrayLike,
    initial_value: float,
    outcomes: Sequence[ExecutorOutcome],
    periods_per_year: float | None = None,
) -> Metrics:
    """All metrics of a backtest; trade statistics count only executors with filled volume > 0."""
    ts = _timestamps("timestamps_ms", timestamps_ms)
    eq = _floats("equity", equity, positive=True)
    _same_length(eq, ts)
    if eq.size == 0:
        raise MetricsError("equity: needs at least one value")
    initial = _positive("initial_value", initial_value)
    ppy = (
        infer_periods_per_year(ts)
        if periods_per_year is None
        else _positive("periods_per_year", periods_per_year)
    )
    for i, outcome in enumerate(outcomes):
        if not isinstance(outcome, ExecutorOutcome):
            raise MetricsError(f"outcomes: item {i} is a {type(outcome).__name__}")

    n = len(outcomes)
    pnl = np.fromiter((o.net_pnl_quote for o in outcomes), np.float64, n)
    pnl_pct = np.fromiter((o.net_pnl_pct for o in outcomes), np.float64, n)
    volume = np.fromiter((o.filled_volume_quote for o in outcomes), np.float64, n)
    fees = np.fromiter((o.fees_quote for o in outcomes), np.float64, n)
    spans = np.array(
        [(o.open_timestamp_ms, o.close_timestamp_ms) for o in outcomes], dtype=np.int64
    ).reshape(n, 2)
    names, counts = np.unique(
        np.array([o.close_type for o in outcomes], dtype=str), return_counts=True
    )
    traded = volume > 0.0
    trade_pnl = pnl[traded]

    dd = max_drawdown(eq)
    returns = returns_from_equity(eq)
    has_dd = dd.pct > 0.0
    total_volume = float(np.sum(volume))
    return Metrics(
        start_ms=int(ts[0]),
        end_ms=int(ts[-1]),
        initial_value=initial,
        final_value=float(eq[-1]),
        net_pnl_quote=float(eq[-1] - initial) + 0.0,
        net_pnl_pct=(float(eq[-1]) / initial - 1.0) * 100.0 + 0.0,
        annualised_return_pct=annualised_return_pct(eq, ts, initial),
        max_drawdown_quote=dd.amount,
        max_drawdown_pct=dd.pct,
        max_drawdown_peak_ms=int(ts[dd.peak_index]) if has_dd else None,
        max_drawdown_trough_ms=int(ts[dd.trough_index]) if has_dd else None,
        max_drawdown_recovery_ms=(
            int(ts[dd.recovery_index]) if dd.recovery_index is not None else None
        ),
        periods_per_year=ppy,
        sharpe=sharpe(returns, ppy) if ppy is not None else None,
        sortino=sortino(returns, ppy) if ppy is not None else None,
        calmar=calmar(eq, ts, initial),
        executors=n,
        close_types={str(k): int(c) for k, c in zip(names, counts, strict=True)},
        trades=int(trade_pnl.size),
        wins=int(np.count_nonzero(trade_pnl > 0.0)),
        losses=int(np.count_nonzero(trade_pnl < 0.0)),
        win_rate=win_rate(trade_pnl),
        gross_profit_quote=float(np.sum(trade_pnl[trade_pnl > 0.0])),
        gross_loss_quote=float(-np.sum(trade_pnl[trade_pnl < 0.0])) + 0.0,
        profit_factor=profit_factor(trade_pnl),
        expectancy_quote=expectancy(trade_pnl),
        expectancy_pct=expectancy(pnl_pct[traded]),
        sqn=sqn(trade_pnl),
        fees_quote=float(np.sum(fees)) + 0.0,
        volume_quote=total_volume,
        turnover=turnover(total_volume, initial),
        time_in_market=time_in_market(spans[traded], int(ts[0]), int(ts[-1])),
    )


def summary_rows(m: Metrics, quote_asset: str = "USDT", decimals: int = 2) -> list[tuple[str, str]]:
    """(label, formatted value) rows for a results table; undefined figures read "n/a"."""

    def money(value: float, sign: bool = False) -> str:
        return f"{value:{'+' if sign else ''},.{decimals}f} {quote_asset}"

    def num(value: float | None, spec: str = ",.2f", unit: str = "") -> str:
        return "n/a" if value is None else f"{value:{spec}}{unit}"

    dd = "-" if m.max_drawdown_quote > 0.0 else ""
    by_type = ", ".join(f"{name} {count}" for name, count in m.close_types.items())
    if m.trades == 0:
        pf = "n/a (no trades)"
    elif m.profit_factor is None:
        pf = "n/a (no losing trades)"
    else:
        pf = num(m.profit_factor)
    expect = (
        "n/a"
        if m.expectancy_quote is None or m.expectancy_pct is None
        else f"{money(m.expectancy_quote, True)} ({m.expectancy_pct:+.2f} %) per trade"
    )
    return [
        (
            "Period",
            f"{_utc(m.start_ms)} -> {_utc(m.end_ms)} UTC ({_duration(m.end_ms - m.start_ms)})",
        ),
        ("Initial value", money(m.initial_value)),
        ("Final value", money(m.final_value)),
        ("Net P&L", f"{money(m.net_pnl_quote, True)} ({m.net_pnl_pct:+.2f} %)"),
        ("Annualised return", num(m.annualised_return_pct, "+,.2f", " %")),
        (
            "Max drawdown",
            f"{dd}{money(m.max_drawdown_quote)} ({dd}{m.max_drawdown_pct:.2f} %)",
        ),
        ("Sharpe", num(m.sharpe)),
        ("Sortino", num(m.sortino)),
        ("Calmar", num(m.calmar)),
        ("Executors", f"{m.executors} ({by_type})" if by_type else "0"),
        ("Trades", f"{m.trades} ({m.wins} won, {m.losses} lost)"),
        ("Win rate", num(None if m.win_rate is None else m.win_rate * 100.0, ".1f", " %")),
        ("Profit factor", pf),
        ("Expectancy", expect),
        ("SQN", num(m.sqn)),
        ("Fees paid", money(m.fees_quote)),
        ("Volume", money(m.volume_quote)),
        ("Turnover", f"{m.turnover:,.2f}x"),
        (
            "Time in market",
            num(None if m.time_in_market is None else m.time_in_market * 100.0, ".1f", " %"),
        ),
    ]


def _utc(ms: int) -> str:
    """Epoch milliseconds as "YYYY-MM-DD HH:MM" in UTC."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _duration(ms: int) -> str:
    """A span as "D d HH:MM:SS" (days only when there are any)."""
    days, rest = divmod(ms // 1000, 86_400)
    hours, rest = divmod(rest, 3_600)
    clock = f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    return f"{days} d {clock}" if days else clock
