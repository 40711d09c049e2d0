"""Historical market data as numpy structured arrays: dtypes, validation, resampling.

Candles and trades are 1-D, C-contiguous structured arrays (`CANDLE_DTYPE`, `TRADE_DTYPE`) with
timestamps in int64 milliseconds since the epoch (a candle's ts is its open time) and float64
prices and volumes. Both dtypes have C struct layout (64- and 40-byte records), so Cython can
take a memoryview of the records as structs; a single field (`candles["close"]`) is a strided
view, so copy it with np.ascontiguousarray before handing it to a `double[::1]`.

Quality checks (gaps, outliers) live in data_quality and only report, never fill or drop.
Sources without a quote volume get volume x typical price (high + low + close) / 3; sources
without a trade count get `UNKNOWN_TRADES` (-1), which resampling carries through.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np

CANDLE_DTYPE = np.dtype(
    [
        ("ts", np.int64),
        ("open", np.float64),
        ("high", np.float64),
        ("low", np.float64),
        ("close", np.float64),
        ("volume", np.float64),
        ("quote_volume", np.float64),
        ("trades", np.int64),
    ],
    align=True,
)
TRADE_DTYPE = np.dtype(
    [
        ("ts", np.int64),
        ("price", np.float64),
        ("qty", np.float64),
        ("is_buyer_maker", np.bool_),
        ("trade_id", np.int64),
    ],
    align=True,  # C-struct layout (7 pad bytes after the bool) for Cython struct memoryviews
)
UNKNOWN_TRADES = -1
DAY_MS = 86_400_000

_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": DAY_MS}
_INTERVAL_RE = re.compile(r"^([1-9][0-9]*)([smhd])$")
_VALID_FORMS = "<n><unit> with unit s, m, h or d, e.g. '1s', '1m', '5m', '1h', '1d'"


class DataError(ValueError):
    """Market data that cannot be used as is; `row` is the bad row's index, `detail` the reason."""

    def __init__(self, message: str, row: int | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.row = row
        self.detail = detail or message


def interval_ms(interval: str) -> int:
    """The length of an interval such as '1s', '5m', '1h' or '1d' in milliseconds."""
    match = _INTERVAL_RE.match(interval) if isinstance(interval, str) else None
    if match is None:
        raise DataError(f"bad interval {interval!r}: use {_VALID_FORMS}")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def canonical_interval(interval: str) -> str:
    """The interval written with its largest whole unit ('60s' -> '1m', '24h' -> '1d')."""
    ms = interval_ms(interval)
    for unit in ("d", "h", "m", "s"):
        if ms % _UNIT_MS[unit] == 0:
            return f"{ms // _UNIT_MS[unit]}{unit}"
    raise AssertionError("unreachable: every interval is a whole number of seconds")


def format_ts(ts_ms: int) -> str:
    """A millisecond timestamp as 'YYYY-MM-DD HH:MM:SS[.mmm]' UTC."""
    moment = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    return text + (f".{ts_ms % 1000:03d}" if ts_ms % 1000 else "")


def require_dtype(array: np.ndarray, dtype: np.dtype, what: str) -> None:
    """Raise DataError unless `array` is a 1-D array of `dtype` (`what` names it)."""
    if not isinstance(array, np.ndarray) or array.dtype != dtype or array.ndim != 1:
        got = getattr(array, "dtype", type(array).__name__)
        raise DataError(f"{what} must be a 1-D array of {what.upper()}_DTYPE, got {got}")


def _first_bad(checks: list[tuple[np.ndarray, Callable[[int], str]]]) -> tuple[int, str] | None:
    """The lowest row index any check flags, with that check's reason (checks in priority)."""
    best: tuple[int, Callable[[int], str]] | None = None
    for mask, describe in checks:
        hits = np.flatnonzero(mask)
        if hits.size and (best is None or hits[0] < best[0]):
            best = (int(hits[0]), describe)
    return None if best is None else (best[0], best[1](best[0]))


def build_candles(
    ts: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray | float,
    trades: np.ndarray | int,
) -> np.ndarray:
    """A CANDLE_DTYPE array from columns; quote volume estimated as volume x typical price."""
    candles = np.zeros(len(ts), dtype=CANDLE_DTYPE)
    candles["ts"] = ts
    candles["open"] = open_
    candles["high"] = high
    candles["low"] = low
    candles["close"] = close
    candles["volume"] = volume
    candles["quote_volume"] = candles["volume"] * (high + low + close) / 3
    candles["trades"] = trades
    return candles


def validate_candles(candles: np.ndarray, interval: str) -> None:
    """Raise DataError naming the first bad row: order, alignment, OHLC, volume, NaN."""
    require_dtype(candles, CANDLE_DTYPE, "candles")
    step = interval_ms(interval)
    ts = candles["ts"]
    o, h, lo, c = candles["open"], candles["high"], candles["low"], candles["close"]
    not_increasing = np.r_[False, ts[1:] <= ts[:-1]]
    checks: list[tuple[np.ndarray, Callable[[int], str]]] = []
    for name in ("open", "high", "low", "close", "volume", "quote_volume"):
        checks.append((~np.isfinite(candles[name]), lambda i, n=name: f"{n} is {candles[n][i]}"))
    checks += [
        (not_increasing, lambda i: f"ts {ts[i]} does not come after the previous ts {ts[i - 1]}"),
        (ts % step != 0, lambda i: f"ts {ts[i]} is not aligned to the {interval} interval"),
    ]
    for name in ("open", "low", "close"):
        checks.append(
            (candles[name] <= 0, lambda i, n=name: f"{n} {candles[n][i]} is not positive")
        )
    checks += [
        (
            h < np.maximum(o, c),
            lambda i: f"high {h[i]} is below max(open, close) {max(o[i], c[i])}",
        ),
        (
            lo > np.minimum(o, c),
            lambda i: f"low {lo[i]} is above min(open, close) {min(o[i], c[i])}",
        ),
        (candles["volume"] < 0, lambda i: f"volume {candles['volume'][i]} is negative"),
        (
            candles["quote_volume"] < 0,
            lambda i: f"quote volume {candles['quote_volume'][i]} is negative",
        ),
        (
            candles["trades"] < UNKNOWN_TRADES,
            lambda i: f"trade count {candles['trades'][i]} is negative",
        ),
    ]
    bad = _first_bad(checks)
    if bad is not None:
        row, reason = bad
        detail = f"bad candle ({format_ts(int(ts[row]))}): {reason}"
        raise DataError(f"row {row}: {detail}", row, detail)


def validate_trades(trades: np.ndarray) -> None:
    """Raise DataError naming the first bad row: ts going back, non-positive price or qty."""
    require_dtype(trades, TRADE_DTYPE, "trades")
    ts, price, qty = trades["ts"], trades["price"], trades["qty"]
    checks: list[tuple[np.ndarray, Callable[[int], str]]] = [
        (
            np.r_[False, ts[1:] < ts[:-1]],
            lambda i: f"ts {ts[i]} is before the previous ts {ts[i - 1]}",
        ),
        (~(price > 0) | ~np.isfinite(price), lambda i: f"price {price[i]} is not positive"),
        (~(qty > 0) | ~np.isfinite(qty), lambda i: f"qty {qty[i]} is not positive"),
    ]
    bad = _first_bad(checks)
    if bad is not None:
        row, reason = bad
        detail = f"bad trade ({format_ts(int(ts[row]))}): {reason}"
        raise DataError(f"row {row}: {detail}", row, detail)


def _bucket_starts(buckets: np.ndarray) -> np.ndarray:
    """Indices where a run of equal bucket numbers begins (input sorted)."""
    return np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])


def candles_from_trades(trades: np.ndarray, interval: str = "1s") -> np.ndarray:
    """Candles from trades (sorted by ts); only intervals that had trades appear."""
    require_dtype(trades, TRADE_DTYPE, "trades")
    step = interval_ms(interval)
    if trades.size == 0:
        return np.zeros(0, dtype=CANDLE_DTYPE)
    ts = trades["ts"]
    if np.any(ts[1:] < ts[:-1]):
        row = int(np.flatnonzero(ts[1:] < ts[:-1])[0]) + 1
        raise DataError(f"trades must be sorted by ts: row {row} goes back in time", row)
    price, qty = trades["price"], trades["qty"]
    buckets = ts // step
    starts = _bucket_starts(buckets)
    ends = np.r_[starts[1:], ts.size]
    out = np.zeros(starts.size, dtype=CANDLE_DTYPE)
    out["ts"] = buckets[starts] * step
    out["open"] = price[starts]
    out["close"] = price[ends - 1]
    out["high"] = np.maximum.reduceat(price, starts)
    out["low"] = np.minimum.reduceat(price, starts)
    out["volume"] = np.add.reduceat(qty, starts)
    out["quote_volume"] = np.add.reduceat(price * qty, starts)
    out["trades"] = ends - starts
    return out


def _source_step(ts: np.ndarray) -> int:
    """The source interval implied by candle spacing: the gcd of consecutive ts differences."""
    if ts.size < 2:
        return 1
    return int(np.gcd.reduce(np.diff(ts)))


def resample(candles: np.ndarray, interval: str, source: str | None = None) -> np.ndarray:
    """Aggregate candles into a coarser interval; target buckets without candles are absent.

    The source interval is taken from `source` or inferred from the spacing of the candles
    (pass it for sparse data whose spacing does not reveal it).
    """
    require_dtype(candles, CANDLE_DTYPE, "candles")
    step = interval_ms(interval)
    ts = candles["ts"]
    if np.any(ts[1:] <= ts[:-1]):
        row = int(np.flatnonzero(ts[1:] <= ts[:-1])[0]) + 1
        raise DataError(f"candles must have strictly increasing ts: row {row} does not", row)
    src = interval_ms(source) if source is not None else _source_step(ts)
    if step % src != 0:
        shown = source or f"{src} ms (inferred from the candle spacing; pass source=)"
        raise DataError(f"cannot resample to {interval}: it is not a multiple of {shown}")
    if np.any(ts % src):
        row = int(np.flatnonzero(ts % src)[0])
        raise DataError(f"row {row}: ts {ts[row]} is not aligned to the source interval", row)
    if candles.size == 0:
        return np.zeros(0, dtype=CANDLE_DTYPE)
    buckets = ts // step
    starts = _bucket_starts(buckets)
    ends = np.r_[starts[1:], ts.size]
    out = np.zeros(starts.size, dtype=CANDLE_DTYPE)
    out["ts"] = buckets[starts] * step
    out["open"] = candles["open"][starts]
    out["close"] = candles["close"][ends - 1]
    out["high"] = np.maximum.reduceat(candles["high"], starts)
    out["low"] = np.minimum.reduceat(candles["low"], starts)
    out["volume"] = np.add.reduceat(candles["volume"], starts)
    out["quote_volume"] = np.add.reduceat(candles["quote_volume"], starts)
    counts = candles["trades"]
    unknown = np.minimum.reduceat(counts, starts) < 0
    out["trades"] = np.where(unknown, UNKNOWN_TRADES, np.add.reduceat(counts, starts))
    return out
