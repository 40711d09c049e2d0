"""What `birdterm data fetch` asks for and reports, and the row conversions it uses: kept apart
from the HTTP code so the CLI can describe and check arguments without importing aiohttp."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import numpy as np

from birdterm.engine.connectors.binance.constants import REST_URL
from birdterm.engine.types import split_trading_pair
from birdterm.sim.data import CANDLE_DTYPE, TRADE_DTYPE, format_ts

EXCHANGES = ("binance",)
# Binance kline intervals with a fixed length aligned to the epoch (1w opens on Mondays and 1M
# on the 1st: the cache's day files cannot hold those).
KLINE_INTERVALS = ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h",
                   "1d", "3d")  # fmt: skip


class FetchError(Exception):
    """The fetch failed; the message names the request and what the exchange said."""


class BadArgument(FetchError):
    """An argument that cannot be fetched; the message names it and what is valid."""


@dataclass(frozen=True, slots=True)
class Gap:
    """A hole in the cached range: candles missing, or aggTrade ids skipped."""

    kind: Literal["candles", "trades"]
    start_ms: int  # candles: first missing open time; trades: time of the trade before the hole
    end_ms: int  # candles: the open time after the hole; trades: time of the trade after it
    missing: int
    first_id: int = 0  # trades: the missing ids
    last_id: int = 0

    def describe(self) -> str:
        """One line for the report."""
        span = f"{format_ts(self.start_ms)} .. {format_ts(self.end_ms)} UTC"
        if self.kind == "candles":
            return f"candles {span}: {self.missing} missing"
        return f"aggTrade ids {self.first_id}..{self.last_id} ({self.missing}) missing, {span}"


def candle_gaps(ts: np.ndarray, start: int, end: int, step: int) -> list[Gap]:
    """The runs of open times in [start, end) (on the `step` grid) that `ts` lacks."""
    if ts.size == 0:
        return [Gap("candles", start, end, (end - start) // step)] if end > start else []
    edges = [(start, int(ts[0]))]
    holes = np.flatnonzero(np.diff(ts) != step)
    edges += [(int(ts[i]) + step, int(ts[i + 1])) for i in holes]
    edges.append((int(ts[-1]) + step, end))
    return [Gap("candles", a, b, (b - a) // step) for a, b in edges if b > a]


def trade_gaps(trades: np.ndarray) -> list[Gap]:
    """Where consecutive cached aggTrade ids skip."""
    ids, ts = trades["trade_id"], trades["ts"]
    holes = np.flatnonzero(np.diff(ids) != 1)
    return [
        Gap("trades", int(ts[i]), int(ts[i + 1]), int(ids[i + 1] - ids[i] - 1),
            int(ids[i]) + 1, int(ids[i + 1]) - 1)
        for i in holes
    ]  # fmt: skip


def klines_to_candles(rows: Any) -> np.ndarray:
    """GET /api/v3/klines rows as CANDLE_DTYPE."""
    if not isinstance(rows, list):
        raise FetchError(f"klines: expected a list of rows, got {str(rows)[:200]}")
    out = np.zeros(len(rows), dtype=CANDLE_DTYPE)
    if rows:
        out["ts"] = [row[0] for row in rows]
        table = np.array([row[1:6] + row[7:8] for row in rows], dtype=np.float64)
        for i, name in enumerate(("open", "high", "low", "close", "volume", "quote_volume")):
            out[name] = table[:, i]
        out["trades"] = [row[8] for row in rows]
    return out


def agg_trades_to_array(rows: Any) -> np.ndarray:
    """GET /api/v3/aggTrades rows as TRADE_DTYPE (trade_id = the aggregate trade id)."""
    if not isinstance(rows, list):
        raise FetchError(f"aggTrades: expected a list of trades, got {str(rows)[:200]}")
    out = np.zeros(len(rows), dtype=TRADE_DTYPE)
    if rows:
        out["ts"] = [row["T"] for row in rows]
        out["price"] = np.array([row["p"] for row in rows], dtype=np.float64)
        out["qty"] = np.array([row["q"] for row in rows], dtype=np.float64)
        out["is_buyer_maker"] = [row["m"] for row in rows]
        out["trade_id"] = [row["a"] for row in rows]
    return out


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """What to download (times in ms, the end exclusive); FetchError names a bad field."""

    exchange: str
    trading_pair: str
    interval: str
    start_ms: int
    end_ms: int | None = None  # None: up to the exchange's time now
    trades: bool = False
    base_url: str = REST_URL

    def __post_init__(self) -> None:
        if self.exchange not in EXCHANGES:
            raise BadArgument(f"exchange {self.exchange!r}: use one of {', '.join(EXCHANGES)}")
        try:
            split_trading_pair(self.trading_pair)
        except ValueError:
            raise BadArgument(f"pair {self.trading_pair!r}: write it as BASE-QUOTE in capitals, "
                              "e.g. BTC-USDT") from None  # fmt: skip
        if self.interval not in KLINE_INTERVALS:
            raise BadArgument(
                f"--interval {self.interval!r}: use one of {', '.join(KLINE_INTERVALS)}"
            )
        if self.end_ms is not None and self.end_ms <= self.start_ms:
            raise BadArgument(f"--end {format_ts(self.end_ms)} is not after --start "
                              f"{format_ts(self.start_ms)}: give an end later than the start "
                              "(the end is exclusive)")  # fmt: skip
        if not self.base_url.startswith(("http://", "https://")):
            raise BadArgument(f"--base-url {self.base_url!r}: use an http:// or https:// URL")


@dataclass
class FetchReport:
    """What a fetch did and what the cache holds for the range afterwards."""

    symbol: str
    interval: str
    start_ms: int
    end_ms: int
    candles_cached: int = 0  # rows the cache already had before this fetch
    candles_fetched: int = 0
    candles_total: int = 0
    trades_cached: int = 0
    trades_fetched: int = 0
    trades_total: int = 0
    with_trades: bool = False
    requests: int = 0
    pages: int = 0
    rate_limited: int = 0  # 429/418 answers waited out
    retried: int = 0  # 5xx answers and dropped connections retried
    gaps: list[Gap] = field(default_factory=list)
    days: set[date] = field(default_factory=set)
