"""A seeded synthetic market: candles and trades from a regime-switching geometric random walk.

The same arguments give byte-identical arrays. One generator seeded with `seed` spawns an
independent child stream per ingredient (regimes, moves, wicks, volume), so the regime path of
`synthetic_candles` is exactly `synthetic_regimes` with the same seed and arguments.

Defaults are scaled from per-second figures loosely like BTCUSDT: log-return sd 1e-4 per second
when calm and 4x that when volatile, calm spells of ~2 h and volatile spells of ~30 min (at least
480 and 120 bars; a spell lasts at least half its mean, as regimes persist), about 0.25 BTC
traded per second (3x when volatile) in trades of ~0.02 BTC.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from birdterm.sim.data import (
    TRADE_DTYPE,
    DataError,
    build_candles,
    interval_ms,
    validate_candles,
)

CALM_VOL_1S = 1e-4
VOLATILE_RATIO = 4.0
MEAN_CALM_S = 7_200.0
MEAN_VOLATILE_S = 1_800.0
VOLUME_1S = 0.25
VOLATILE_VOLUME_RATIO = 3.0
MEAN_TRADE_QTY = 0.02
QTY_STEP = 1e-5


def _spell_lengths(rng: np.random.Generator, mean: float, count: int) -> np.ndarray:
    """Spell lengths with the given mean: half of it guaranteed, the rest geometric."""
    floor = max(1, round(mean / 2))
    return (floor - 1) + rng.geometric(1 / (mean - floor + 1), count)


def _run_lengths(
    rng: np.random.Generator, mean_calm: float, mean_volatile: float, n: int
) -> np.ndarray:
    """Alternating calm/volatile spell lengths covering at least n bars."""
    chunks: list[np.ndarray] = []
    covered = 0
    while covered < n:
        pairs = int((n - covered) / (mean_calm + mean_volatile)) + 8
        spells = np.empty(2 * pairs, dtype=np.int64)
        spells[0::2] = _spell_lengths(rng, mean_calm, pairs)
        spells[1::2] = _spell_lengths(rng, mean_volatile, pairs)
        chunks.append(spells)
        covered += int(spells.sum())
    return np.concatenate(chunks)


def _regime_mask(
    rng: np.random.Generator, n: int, mean_calm_bars: float, mean_volatile_bars: float
) -> np.ndarray:
    if mean_calm_bars < 1 or mean_volatile_bars < 1:
        raise DataError("mean regime durations must be at least one bar")
    spells = _run_lengths(rng, mean_calm_bars, mean_volatile_bars, n)
    states = np.zeros(spells.size, dtype=np.bool_)
    states[1::2] = True
    return np.repeat(states, spells)[:n]


def _default_durations(
    bar_s: float, mean_calm_bars: float | None, mean_volatile_bars: float | None
) -> tuple[float, float]:
    calm = max(MEAN_CALM_S / bar_s, 480.0) if mean_calm_bars is None else mean_calm_bars
    volatile = (
        max(MEAN_VOLATILE_S / bar_s, 120.0) if mean_volatile_bars is None else mean_volatile_bars
    )
    return calm, volatile


def synthetic_regimes(
    seed: int,
    n: int,
    interval: str = "1s",
    mean_calm_bars: float | None = None,
    mean_volatile_bars: float | None = None,
) -> np.ndarray:
    """The volatile-regime mask (bool per bar) that synthetic_candles uses for these arguments."""
    bar_s = interval_ms(interval) / 1000
    calm, volatile = _default_durations(bar_s, mean_calm_bars, mean_volatile_bars)
    regime_rng = np.random.default_rng(seed).spawn(4)[0]
    return _regime_mask(regime_rng, n, calm, volatile)


def _round_to_tick(prices: np.ndarray, tick: float | None) -> np.ndarray:
    if tick is None:
        return prices
    return np.maximum(np.round(prices / tick) * tick, tick)


def synthetic_candles(
    seed: int,
    start_ms: int,
    n: int,
    interval: str = "1s",
    start_price: float = 30_000.0,
    *,
    calm_vol: float | None = None,
    volatile_vol: float | None = None,
    drift: float = 0.0,
    mean_calm_bars: float | None = None,
    mean_volatile_bars: float | None = None,
    base_volume: float | None = None,
    tick: float | None = 0.01,
) -> np.ndarray:
    """n seeded candles from start_ms: a random walk whose per-bar vol switches calm/volatile.

    calm_vol / volatile_vol are per-bar log-return sds and drift a per-bar mean log return;
    volume grows with |return| and in the volatile regime; prices are rounded to `tick`.
    """
    step = interval_ms(interval)
    if start_ms % step:
        raise DataError(f"start_ms {start_ms} is not aligned to the {interval} interval")
    if n < 0 or start_price <= 0:
        raise DataError("n must be >= 0 and start_price > 0")
    bar_s = step / 1000
    calm_sd = calm_vol if calm_vol is not None else CALM_VOL_1S * math.sqrt(bar_s)
    volatile_sd = volatile_vol if volatile_vol is not None else VOLATILE_RATIO * calm_sd
    calm_bars, volatile_bars = _default_durations(bar_s, mean_calm_bars, mean_volatile_bars)
    mean_volume = base_volume if base_volume is not None else VOLUME_1S * bar_s

    regime_rng, move_rng, wick_rng, volume_rng = np.random.default_rng(seed).spawn(4)
    volatile = _regime_mask(regime_rng, n, calm_bars, volatile_bars)
    sd = np.where(volatile, volatile_sd, calm_sd)
    shocks = move_rng.standard_normal(n)
    log_close = math.log(start_price) + np.cumsum(drift + sd * shocks)
    close = _round_to_tick(np.exp(log_close), tick)
    open_ = np.empty(n, dtype=np.float64)
    open_[:1] = _round_to_tick(np.array([start_price]), tick)
    open_[1:] = close[:-1]
    # Wicks reach beyond the body by half-normal excursions of about half a bar's sd.
    wicks = np.abs(wick_rng.standard_normal((2, n))) * (0.5 * sd)
    high = np.maximum(_round_to_tick(np.maximum(open_, close) * np.exp(wicks[0]), tick), close)
    low = np.minimum(_round_to_tick(np.minimum(open_, close) * np.exp(-wicks[1]), tick), close)
    high = np.maximum(high, open_)
    low = np.minimum(low, open_)

    activity = np.where(volatile, VOLATILE_VOLUME_RATIO, 1.0) * (0.4 + 0.75 * np.abs(shocks))
    noise = np.exp(0.4 * volume_rng.standard_normal(n) - 0.08)
    volume = np.round(mean_volume * activity * noise, 8)
    trade_counts = 1 + volume_rng.poisson(volume / MEAN_TRADE_QTY)

    ts = start_ms + step * np.arange(n, dtype=np.int64)
    return build_candles(ts, open_, high, low, close, volume, trade_counts)


def synthetic_trades(
    seed: int,
    start_ms: int,
    n_seconds: int,
    start_price: float = 30_000.0,
    *,
    trades_per_second: float = 10.0,
    calm_vol: float = CALM_VOL_1S,
    volatile_vol: float | None = None,
    mean_calm_s: float = MEAN_CALM_S,
    mean_volatile_s: float = MEAN_VOLATILE_S,
    mean_qty: float = MEAN_TRADE_QTY,
    first_trade_id: int = 1,
    tick: float | None = 0.01,
) -> np.ndarray:
    """Seeded trades over n_seconds: Poisson arrivals, regime-switching vol (per second sds).

    A down-tick is a sell by the taker (is_buyer_maker True), an up-tick a buy; an unchanged
    price gets a coin flip. Some seconds have no trades, as in real data.
    """
    if start_ms % 1000:
        raise DataError(f"start_ms {start_ms} is not aligned to a whole second")
    regime_rng, count_rng, move_rng, detail_rng = np.random.default_rng(seed).spawn(4)
    volatile = _regime_mask(regime_rng, n_seconds, mean_calm_s, mean_volatile_s)
    second_sd = np.where(volatile, volatile_vol or VOLATILE_RATIO * calm_vol, calm_vol)
    rate = trades_per_second * np.where(volatile, VOLATILE_VOLUME_RATIO, 1.0)
    per_second = count_rng.poisson(rate)
    total = int(per_second.sum())
    second = np.repeat(np.arange(n_seconds, dtype=np.int64), per_second)
    offsets = np.sort(second * 1000 + detail_rng.integers(0, 1000, total))
    # Per-trade sd such that the variance over a second adds up to that second's variance.
    trade_sd = (second_sd / np.sqrt(np.maximum(per_second, 1)))[second]
    price = _round_to_tick(
        start_price * np.exp(np.cumsum(trade_sd * move_rng.standard_normal(total))), tick
    )
    change = np.diff(price, prepend=start_price)
    coin = detail_rng.random(total) < 0.5
    qty = np.maximum(np.round(detail_rng.exponential(mean_qty, total) / QTY_STEP), 1) * QTY_STEP

    trades = np.zeros(total, dtype=TRADE_DTYPE)
    trades["ts"] = start_ms + offsets
    trades["price"] = price
    trades["qty"] = qty
    trades["is_buyer_maker"] = np.where(change == 0, coin, change < 0)
    trades["trade_id"] = first_trade_id + np.arange(total, dtype=np.int64)
    return trades


def candles_from_path(
    closes: ArrayLike,
    start_ms: int,
    interval: str = "1m",
    *,
    opens: ArrayLike | None = None,
    highs: ArrayLike | None = None,
    lows: ArrayLike | None = None,
    volume: float = 1.0,
    trades: int = 1,
) -> np.ndarray:
    """Candles along a scripted path: open = previous close, high/low = the body unless given."""
    close = np.asarray(closes, dtype=np.float64)
    if close.ndim != 1:
        raise DataError("closes must be a 1-D sequence of prices")
    step = interval_ms(interval)
    after_close = np.r_[close[:1], close[:-1]]
    open_ = np.asarray(opens, dtype=np.float64) if opens is not None else after_close
    high = np.asarray(highs, dtype=np.float64) if highs is not None else np.maximum(open_, close)
    low = np.asarray(lows, dtype=np.float64) if lows is not None else np.minimum(open_, close)
    ts = start_ms + step * np.arange(close.size, dtype=np.int64)
    candles = build_candles(ts, open_, high, low, close, volume, trades)
    validate_candles(candles, interval)
    return candles
