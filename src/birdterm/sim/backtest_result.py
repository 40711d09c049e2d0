"""BacktestResult: executors, fills, the per-minute P&L time series and metrics; JSON/CSV export.

The time series is computed from P&L snapshots taken whenever a fill or an executor's end
changed the books. Between snapshots each part of the P&L is linear in the price
(base held x price - cost), so sampling it every minute needs only the snapshot in force and
the price then. Every sample is checked: executors realized + executors unrealized + position
realized + position unrealized must equal the wallet's change in value (balances now minus
initial balances, valued at the sample's prices).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from birdterm.engine.config import atomic_write_text
from birdterm.engine.connectors.base import Fill
from birdterm.engine.connectors.wallet import Wallet
from birdterm.engine.executors.base import ExecutorReport
from birdterm.engine.executors.orchestrator import ExecutorOrchestrator, PnlBreakdown
from birdterm.sim.metrics_report import ExecutorOutcome, Metrics, compute_metrics

if TYPE_CHECKING:
    from birdterm.engine.connectors.sim import SimConnector
    from birdterm.engine.controllers.base import ControllerConfig
    from birdterm.sim.backtest import MarketData
    from birdterm.sim.backtest_config import BacktestSettings

ZERO = Decimal(0)
SERIES_COLUMNS = (
    "executors_realized", "executors_unrealized", "position_realized", "position_unrealized",
    "total", "equity_change", "portfolio_value", "fees", "volume", "hold_base",
    "hold_break_even", "base_pct", "price",
)  # fmt: skip
IDENTITY_TOLERANCE = 1e-6  # quote, relative to the portfolio's value (float sampling error)


class PnlIdentityError(AssertionError):
    """The P&L parts do not add up to the wallet's change in value: a bookkeeping bug."""


class StateLog:
    """P&L snapshots (floats) per pair, taken when the books changed."""

    def __init__(self, pairs: list[str], quote_asset: str) -> None:
        self.pairs = pairs
        self.quote_asset = quote_asset
        self.ts_ms: list[int] = []
        # per snapshot, per pair: realized_exec, base_exec, cost_exec, realized_pos, base_pos,
        # cost_pos, then fees and volume (all pairs), then wallet balances per asset
        self.rows: list[list[float]] = []
        self.assets: list[str] = []

    def record(self, timestamp: float, orchestrator: ExecutorOrchestrator, wallet: Wallet) -> None:
        """Snapshot the books now (replacing a snapshot taken at the same moment)."""
        # per pair, exact until stored: executors realized/base/cost, hold realized/base/cost
        books = {p: [ZERO, ZERO, ZERO, ZERO, ZERO, ZERO] for p in self.pairs}
        fees = volume = ZERO
        for pair, (pair_realized, pair_fees, pair_volume) in orchestrator.closed_totals.items():
            books[pair][0] += pair_realized
            fees += pair_fees
            volume += pair_volume
        for executor in orchestrator.active.values():
            book, ledger = books[executor.trading_pair], executor.ledger
            book[0] += ledger.realized_pnl_quote
            book[1] += ledger.base_amount
            book[2] += ledger.cost_quote
            fees += executor.fees_quote
            volume += executor.bought_quote + executor.sold_quote
        for hold in orchestrator.holds.values():
            book = books[hold.trading_pair]
            book[3] += hold.realized_pnl_quote
            book[4] += hold.base_amount
            book[5] += hold.cost_quote
        for asset in wallet.total:
            if asset not in self.assets:
                self.assets.append(asset)
                for old in self.rows:
                    old.append(0.0)
        values = [float(v) for p in self.pairs for v in books[p]]
        values += [float(fees), float(volume)]
        values += [float(wallet.balance(a)) for a in self.assets]
        ts = round(timestamp * 1000)
        if self.ts_ms and self.ts_ms[-1] == ts:
            self.rows[-1] = values
        else:
            self.ts_ms.append(ts)
            self.rows.append(values)


@dataclass
class BacktestResult:
    """Everything a backtest produced; `to_json` is byte-identical for identical inputs."""

    controllers: list[dict[str, Any]]
    settings: dict[str, Any]
    fill_model: str
    start_ms: int
    end_ms: int
    pnl: PnlBreakdown
    initial_balances: dict[str, Decimal]
    final_balances: dict[str, Decimal]
    holds: list[dict[str, Any]]
    executors: list[ExecutorReport]
    raw_fills: list[tuple[str, Fill]]  # (executor id, fill); `fills` gives them as rows
    timeseries: dict[str, np.ndarray]
    metrics: Metrics
    assets: list[str] = field(default_factory=list)
    quote_asset: str = "USDT"
    _fill_rows: list[dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def fills(self) -> list[dict[str, Any]]:
        """Every fill as a JSON-ready row (built on first use: a long run has many)."""
        if self._fill_rows is None:
            self._fill_rows = [_fill_row(owner, f) for owner, f in self.raw_fills]
        return self._fill_rows

    def summary(self) -> dict[str, str]:
        """The P&L split (exact decimals as strings)."""
        p = self.pnl
        return {
            "executors_realized": str(p.executors_realized),
            "executors_unrealized": str(p.executors_unrealized),
            "position_realized": str(p.position_realized),
            "position_unrealized": str(p.position_unrealized),
            "total": str(p.total),
            "fees": str(p.fees),
            "volume": str(p.volume),
        }

    def to_dict(self) -> dict[str, Any]:
        """The whole result as JSON-ready data."""
        return {
            "controllers": self.controllers,
            "settings": self.settings,
            "fill_model": self.fill_model,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "summary": self.summary(),
            "initial_balances": {k: str(v) for k, v in sorted(self.initial_balances.items())},
            "final_balances": {k: str(v) for k, v in sorted(self.final_balances.items())},
            "position_holds": self.holds,
            "metrics": self.metrics.to_dict(),
            "executors": [r.to_dict() for r in self.executors],
            "fills": self.fills,
            "timeseries": {k: _json_floats(v) for k, v in self.timeseries.items()},
        }

    def to_json(self) -> str:
        """Deterministic JSON (sorted keys, no wall-clock values)."""
        text = json.dumps(self.to_dict(), sort_keys=True, indent=1, default=str, allow_nan=False)
        return text + "\n"

    def write_json(self, path: Path | str) -> None:
        """Write the JSON atomically."""
        atomic_write_text(path, self.to_json())

    def write_csv(self, folder: Path | str) -> list[Path]:
        """executors.csv, fills.csv and timeseries.csv in `folder` (created); returns the paths."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        executors = [r.to_dict() for r in self.executors]
        for row in executors:
            row["extra"] = json.dumps(row["extra"], sort_keys=True)
        series_rows = [
            dict(zip(self.timeseries, values, strict=True))
            for values in zip(*(v.tolist() for v in self.timeseries.values()), strict=True)
        ]
        written = []
        for name, rows, columns in (
            ("executors.csv", executors, list(ExecutorReport.__dataclass_fields__)),
            ("fills.csv", self.fills, list(self.fills[0]) if self.fills else ["ts_ms"]),
            ("timeseries.csv", series_rows, list(self.timeseries)),
        ):
            path = out / name
            atomic_write_text(path, _csv_text(columns, rows))
            written.append(path)
        return written


def _fill_row(owner: str, f: Fill) -> dict[str, Any]:
    return {
        "ts_ms": round(f.timestamp * 1000), "executor_id": owner, "order_id": f.order_id,
        "trading_pair": f.trading_pair, "side": f.side.value, "price": str(f.price),
        "amount": str(f.amount), "fee_quote": str(f.fee_quote), "is_maker": f.is_maker,
        "trade_id": f.trade_id,
    }  # fmt: skip


def _json_floats(values: np.ndarray) -> list[Any]:
    """A column as a list, NaN (no value, e.g. break-even of a flat hold) as null."""
    return [None if isinstance(x, float) and x != x else x for x in values.tolist()]


def _csv_text(columns: list[str], rows: list[dict[str, Any]]) -> str:
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _prices_at(market: MarketData, sample_ms: np.ndarray) -> np.ndarray:
    """The last known price at each sample time (close of the last closed candle / last trade)."""
    known = market.row_close_ms()
    prices = market.data["close"] if market.kind == "candles" else market.data["price"]
    idx = np.searchsorted(known, sample_ms, side="right") - 1
    return np.asarray(prices, dtype=np.float64)[np.clip(idx, 0, len(prices) - 1)]


def build_series(
    log: StateLog, markets: list[MarketData], initial: dict[str, Decimal],
    start: float, end: float, sample_s: float, exit_fee: float = 0.0,
) -> dict[str, np.ndarray]:  # fmt: skip
    """Sample the snapshots every `sample_s` (and at the end); checks the P&L identity."""
    start_ms, end_ms, step = round(start * 1000), round(end * 1000), round(sample_s * 1000)
    samples = np.arange(start_ms, end_ms + 1, step, dtype=np.int64)
    if samples[-1] != end_ms:
        samples = np.append(samples, end_ms)
    # one contiguous array per snapshot column, gathered at the samples column by column
    columns = np.ascontiguousarray(np.asarray(log.rows, dtype=np.float64).T)
    at = np.searchsorted(np.asarray(log.ts_ms), samples, side="right") - 1

    def column(j: int) -> np.ndarray:
        return columns[j][at]

    n_pairs = len(log.pairs)
    out = {name: np.zeros(len(samples)) for name in SERIES_COLUMNS}
    price_of: dict[str, np.ndarray] = {}
    for k, market in enumerate(markets):
        price = _prices_at(market, samples)
        price_of[market.trading_pair] = price
        r_e, b_e, c_e, r_p, b_p, c_p = (column(6 * k + j) for j in range(6))
        out["executors_realized"] += r_e
        out["executors_unrealized"] += b_e * price - c_e
        out["position_realized"] += r_p
        out["position_unrealized"] += b_p * price - c_p
        if k == 0:
            out["hold_base"] = b_p
            out["price"] = price
            # long hold: realized + b*p*(1-fee) - cost = 0 (as PositionHold.break_even_price)
            held = np.abs(b_p) > 1e-15
            direction = np.where(b_p > 0, 1.0, -1.0)
            denominator = np.where(held, b_p * (1 - exit_fee * direction), 1.0)
            out["hold_break_even"] = np.where(held, (c_p - r_p) / denominator, np.nan)
    out["fees"] = column(6 * n_pairs)
    out["volume"] = column(6 * n_pairs + 1)
    out["total"] = (out["executors_realized"] + out["executors_unrealized"]
                    + out["position_realized"] + out["position_unrealized"])  # fmt: skip
    change = np.zeros(len(samples))
    value = np.zeros(len(samples))
    first_base = markets[0].trading_pair.split("-")[0]
    base_value = np.zeros(len(samples))
    for j, asset in enumerate(log.assets):
        balance = column(6 * n_pairs + 2 + j)
        price = _asset_price(asset, log.quote_asset, price_of)
        change += (balance - float(initial.get(asset, ZERO))) * price
        value += balance * price
        if asset == first_base:
            base_value = balance * price
        out[f"balance_{asset}"] = balance
    out["equity_change"] = change
    out["base_pct"] = np.divide(base_value, value, out=np.zeros_like(value), where=value > 0)
    out["portfolio_value"] = value
    gap = np.abs(out["total"] - change)
    scale = max(1.0, float(np.max(value)) if len(value) else 1.0)
    if len(gap) and float(gap.max()) > IDENTITY_TOLERANCE * scale:
        worst = int(gap.argmax())
        raise PnlIdentityError(
            f"P&L parts add up to {out['total'][worst]:.10f} but the wallet changed by "
            f"{change[worst]:.10f} at ts {int(samples[worst])}"
        )
    out["ts_ms"] = samples.astype(np.float64)
    return {"ts_ms": samples, **{k: v for k, v in out.items() if k != "ts_ms"}}


def _asset_price(asset: str, quote: str, price_of: dict[str, np.ndarray]) -> np.ndarray | float:
    if asset == quote:
        return 1.0
    for pair, price in price_of.items():
        if pair.split("-")[0] == asset:
            return price
    raise PnlIdentityError(f"no price for {asset}: no pair with {asset} as base in the data")


def build_result(
    configs: list[ControllerConfig],
    markets: list[MarketData],
    settings: BacktestSettings,
    connector: SimConnector,
    orchestrator: ExecutorOrchestrator,
    log: StateLog,
    start: float,
    end: float,
) -> BacktestResult:
    """Assemble the result, check the P&L identity exactly (Decimal) and in every sample."""
    mid = {p: connector.mid_price(p) for p in connector.markets}
    pnl = orchestrator.pnl(mid.__getitem__)
    initial = dict(settings.initial_balances)
    final = connector.wallet.snapshot()
    quote = log.quote_asset
    change = ZERO
    for asset in sorted(set(initial) | set(final)):
        delta = final.get(asset, ZERO) - initial.get(asset, ZERO)
        price = Decimal(1) if asset == quote else mid[f"{asset}-{quote}"]
        change += delta * price
    if abs(pnl.total - change) > Decimal("1e-8"):
        raise PnlIdentityError(f"final P&L {pnl.total} != wallet change {change}")
    series = build_series(
        log, markets, initial, start, end, settings.sample_interval, float(settings.maker_fee)
    )
    reports = orchestrator.reports(mid.__getitem__)
    reports.sort(key=lambda r: (r.created_ts, int(r.id.rsplit("-", 1)[1])))
    end_ms = round(end * 1000)
    outcomes = [
        ExecutorOutcome(
            float(r.net_pnl_quote),
            float(r.net_pnl_pct) * 100,
            r.close_type or "ACTIVE",
            round(r.created_ts * 1000),
            round((r.close_ts or end) * 1000),
            float(r.volume_quote),
            float(r.fees_quote),
        )
        for r in reports
    ]
    # the portfolio at the start, valued at the start's prices
    start_price = {
        m.trading_pair.split("-")[0]: float(_prices_at(m, np.array([round(start * 1000)]))[0])
        for m in markets
    }
    initial_value = sum(
        float(v) * (1.0 if a == quote else start_price[a]) for a, v in initial.items()
    )
    # Drawdown, Sharpe & co. are measured on what the wallet is worth; the P&L split measures
    # the strategy against simply holding the starting balances (see summary()).
    equity = series["portfolio_value"]
    metrics = compute_metrics(series["ts_ms"], equity, initial_value, outcomes)
    holds = [
        {
            "controller_id": h.controller_id,
            "trading_pair": h.trading_pair,
            "base_amount": str(h.base_amount),
            "cost_quote": str(h.cost_quote),
            "realized_pnl_quote": str(h.realized_pnl_quote),
            "unrealized_pnl_quote": str(h.unrealized_pnl_quote(mid[h.trading_pair])),
            # a limit exit paying the maker fee, as the time series' hold_break_even
            "break_even_price": (
                str(h.break_even_price(settings.maker_fee)) if h.base_amount else None
            ),
        }
        for h in orchestrator.holds.values()
    ]
    kind = markets[0].kind
    return BacktestResult(
        controllers=[c.model_dump(mode="json") for c in configs],
        settings=settings.model_dump(mode="json"),
        fill_model=settings.fill_model.describe(kind),
        start_ms=round(start * 1000),
        end_ms=end_ms,
        pnl=pnl,
        initial_balances=initial,
        final_balances=final,
        holds=holds,
        executors=reports,
        raw_fills=list(connector.fills),
        timeseries=series,
        metrics=metrics,
        assets=list(log.assets),
        quote_asset=quote,
    )
