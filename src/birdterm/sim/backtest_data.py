"""Market history for a backtest: a file, a cache folder, or the seeded synthetic market."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np

from birdterm.sim.backtest import BacktestError, MarketData
from birdterm.sim.backtest_config import BacktestSettings
from birdterm.sim.data import DataError, interval_ms, validate_candles, validate_trades
from birdterm.sim.data_cache import CandleCache, TradeCache
from birdterm.sim.data_loaders import load_candles_csv, load_trades_csv
from birdterm.sim.synthetic import synthetic_candles


def _ms(value: datetime | None) -> int | None:
    return None if value is None else round(value.timestamp() * 1000)


def load_market_data(
    trading_pair: str,
    settings: BacktestSettings,
    data: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> MarketData:
    """The pair's history for `settings` (arguments override the file's data/start/end)."""
    source = data if data is not None else settings.data
    start_ms, end_ms = _ms(start or settings.start), _ms(end or settings.end)
    kind, interval = settings.data_kind, settings.interval
    try:
        if source is None or source == "synthetic":
            array = _synthetic(settings)
            kind, interval = "candles", settings.synthetic.interval
        else:
            array = _from_path(Path(source), trading_pair, kind, interval, start_ms, end_ms)
    except (DataError, OSError) as exc:
        raise BacktestError(f"{source}: {exc}") from exc
    mask = np.ones(len(array), dtype=bool)
    if start_ms is not None:
        mask &= array["ts"] >= start_ms
    if end_ms is not None:
        mask &= array["ts"] < end_ms
    if not mask.all():
        array = np.ascontiguousarray(array[mask])
    if len(array) == 0:
        raise BacktestError(f"{source or 'synthetic market'}: no rows between the start and end")
    return MarketData(trading_pair, array, kind, interval)


def _synthetic(settings: BacktestSettings) -> np.ndarray:
    spec = settings.synthetic
    step = interval_ms(spec.interval)
    n = round(spec.days * 86_400_000 / step)
    start_ms = round(spec.start.timestamp() * 1000) // step * step
    return synthetic_candles(spec.seed, start_ms, n, spec.interval, spec.start_price,
                             drift=spec.drift)  # fmt: skip


def _from_path(
    path: Path, pair: str, kind: str, interval: str, start_ms: int | None, end_ms: int | None
) -> np.ndarray:
    symbol = pair.replace("-", "")
    if path.is_dir():
        if kind == "trades":
            return TradeCache(path).read(symbol, start_ms, end_ms)
        return CandleCache(path).read(symbol, interval, start_ms, end_ms)
    if not path.exists():
        raise BacktestError(f"{path}: no such file or folder (give a CSV file or a cache folder)")
    if kind == "trades":
        trades = load_trades_csv(path)
        validate_trades(trades)
        return trades
    candles = load_candles_csv(path, interval)
    validate_candles(candles, interval)
    return candles
