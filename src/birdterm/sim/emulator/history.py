"""Trade history of one symbol for the REST market-data endpoints: trades, aggTrades, klines.

Trades are stored columnar as integers (price in ticks, quantity in lots) so every kline
aggregate is exact. Klines of every Binance interval are computed from the trades on demand
(the same as resampling 1 s bars): a bar exists for every interval from the history's start to
now; one without trades repeats the previous close with zero volume, as Binance's do.
Aggregate trades are runs of trades sharing an agg id (ids consecutive); each replay trade is
its own, the fills of one taker order at one price share one.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import numpy as np

from birdterm.sim.data import DAY_MS
from birdterm.sim.emulator.kline_grid import KlineGrid
from birdterm.sim.synthetic import synthetic_trades

_EIGHT_PLACES = Decimal("0.00000001")
_COLUMNS = (("ts", np.int64), ("price", np.int64), ("qty", np.int64), ("maker", np.bool_))


@dataclass(frozen=True, slots=True)
class Bar:
    """One kline: exact Decimal values and the ids of its first and last trade (-1: none)."""

    open_time: int
    close_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal
    trades: int
    taker_buy_volume: Decimal
    taker_buy_quote_volume: Decimal
    first_trade_id: int
    last_trade_id: int


class MarketHistory:
    """All trades of one symbol (synthetic past + live), queried the way Binance's REST does."""

    def __init__(
        self,
        symbol: str,
        *,
        tick_size: Decimal,
        lot_size: Decimal,
        start_ms: int,
        first_trade_id: int = 1,
        first_agg_id: int = 1,
    ) -> None:
        self.symbol = symbol
        self.tick = tick_size
        self.lot = lot_size
        self.start_ms = start_ms
        self.now_ms = start_ms
        self.first_trade_id = first_trade_id
        self.first_agg_id = first_agg_id
        self._n = 0
        self._cols = {name: np.zeros(1024, dtype=kind) for name, kind in _COLUMNS}
        self._agg_first = np.zeros(1024, dtype=np.int64)  # first trade index of each agg
        self._n_agg = 0

    @classmethod
    def synthetic(
        cls,
        symbol: str,
        seed: int,
        end_ms: int,
        days: float,
        start_price: Decimal | float | str,
        *,
        tick_size: Decimal = Decimal("0.01"),
        lot_size: Decimal = Decimal("0.00001"),
        trades_per_second: float = 2.0,
    ) -> MarketHistory:
        """Seeded synthetic trades over `days` before end_ms, scaled to end at start_price."""
        if days < 0:
            raise ValueError(f"days must be >= 0, got {days}")
        start = (end_ms - round(days * DAY_MS)) // 1000 * 1000
        history = cls(symbol, tick_size=tick_size, lot_size=lot_size, start_ms=start)
        history.now_ms = end_ms
        seconds = (end_ms - start) // 1000
        if seconds == 0:
            return history
        raw = synthetic_trades(
            seed, start, seconds, float(start_price), trades_per_second=trades_per_second, tick=None
        )
        raw = raw[raw["ts"] < end_ms]
        if raw.size:
            scale = float(start_price) / float(raw["price"][-1])
            ticks = np.maximum(np.rint(raw["price"] * scale / float(tick_size)), 1)
            lots = np.maximum(np.rint(raw["qty"] / float(lot_size)), 1)
            history._extend(
                raw["ts"], ticks.astype(np.int64), lots.astype(np.int64), raw["is_buyer_maker"]
            )
        return history

    # --- writing ----------------------------------------------------------------------------

    @property
    def trade_count(self) -> int:
        """Number of trades stored."""
        return self._n

    @property
    def next_trade_id(self) -> int:
        """The id the next trade must take."""
        return self.first_trade_id + self._n

    @property
    def next_agg_id(self) -> int:
        """The id the next aggregate trade takes."""
        return self.first_agg_id + self._n_agg

    @property
    def last_ts(self) -> int:
        """Time of the newest trade (the history's start when there is none)."""
        return int(self._cols["ts"][self._n - 1]) if self._n else self.start_ms

    def add_trade(
        self, ts: int, price: Decimal, qty: Decimal, is_buyer_maker: bool, new_agg: bool
    ) -> int:
        """Append a trade (ts not before the last); returns its id. new_agg starts an aggTrade."""
        if ts < self.last_ts:
            raise ValueError(f"trade at {ts} is older than the last trade at {self.last_ts}")
        ticks, lots = self._ticks(price), self._lots(qty)
        n = self._n
        if n == self._cols["ts"].size:
            self._grow()
        cols = self._cols
        cols["ts"][n] = ts
        cols["price"][n] = ticks
        cols["qty"][n] = lots
        cols["maker"][n] = is_buyer_maker
        if new_agg or self._n_agg == 0:
            self._push_agg(n)
        self._n = n + 1
        if ts > self.now_ms:
            self.now_ms = ts
        return self.first_trade_id + n

    def advance(self, now_ms: int) -> None:
        """Move the history's clock (bars up to now exist even without trades)."""
        self.now_ms = max(self.now_ms, now_ms)

    def _ticks(self, price: Decimal) -> int:
        ticks, rest = divmod(price, self.tick)
        if rest:
            raise ValueError(f"price {price} is not a multiple of the tick {self.tick}")
        return int(ticks)

    def _lots(self, qty: Decimal) -> int:
        lots, rest = divmod(qty, self.lot)
        if rest:
            raise ValueError(f"quantity {qty} is not a multiple of the lot {self.lot}")
        return int(lots)

    def _grow(self) -> None:
        for name, col in self._cols.items():
            self._cols[name] = np.concatenate([col, np.zeros_like(col)])

    def _push_agg(self, index: int) -> None:
        if self._n_agg == self._agg_first.size:
            self._agg_first = np.concatenate([self._agg_first, np.zeros_like(self._agg_first)])
        self._agg_first[self._n_agg] = index
        self._n_agg += 1

    def _extend(
        self, ts: np.ndarray, ticks: np.ndarray, lots: np.ndarray, maker: np.ndarray
    ) -> None:
        """Bulk append, each trade its own aggTrade (synthetic history)."""
        n, k = self._n, ts.size
        size = max(1024, n + k)
        for name, values in (("ts", ts), ("price", ticks), ("qty", lots), ("maker", maker)):
            col = np.zeros(size, dtype=self._cols[name].dtype)
            col[:n] = self._cols[name][:n]
            col[n : n + k] = values
            self._cols[name] = col
        first = np.zeros(max(1024, self._n_agg + k), dtype=np.int64)
        first[: self._n_agg] = self._agg_first[: self._n_agg]
        first[self._n_agg : self._n_agg + k] = np.arange(n, n + k)
        self._agg_first = first
        self._n, self._n_agg = n + k, self._n_agg + k

    # --- reading ----------------------------------------------------------------------------

    def _price(self, ticks: int | np.integer) -> Decimal:
        return self.tick * int(ticks)

    def _qty(self, lots: int | np.integer) -> Decimal:
        return self.lot * int(lots)

    def recent_trades(self, limit: int) -> list[dict[str, Any]]:
        """GET /api/v3/trades: the newest `limit` trades, oldest first."""
        cols, n = self._cols, self._n
        out = []
        for i in range(max(0, n - limit), n):
            price, qty = self._price(cols["price"][i]), self._qty(cols["qty"][i])
            out.append(
                {
                    "id": self.first_trade_id + i,
                    "price": _fmt(price),
                    "qty": _fmt(qty),
                    "quoteQty": _fmt(price * qty),
                    "time": int(cols["ts"][i]),
                    "isBuyerMaker": bool(cols["maker"][i]),
                    "isBestMatch": True,
                }
            )
        return out

    def agg_trades(
        self, from_id: int | None, start_ms: int | None, end_ms: int | None, limit: int
    ) -> list[dict[str, Any]]:
        """GET /api/v3/aggTrades with Binance's selection rules (times inclusive)."""
        n_agg = self._n_agg
        ts = self._cols["ts"][: self._n]
        firsts = self._agg_first[:n_agg]
        if from_id is not None:
            lo = min(max(0, from_id - self.first_agg_id), n_agg)
            hi = n_agg
        else:
            lo, hi = 0, n_agg
        if start_ms is not None:
            lo = max(lo, int(np.searchsorted(firsts, np.searchsorted(ts, start_ms, "left"))))
        if end_ms is not None:
            hi = min(hi, int(np.searchsorted(firsts, np.searchsorted(ts, end_ms, "right"))))
        if hi <= lo:
            return []
        if from_id is None and start_ms is None:
            lo = max(lo, hi - limit)  # newest first selection, answered oldest first
        else:
            hi = min(hi, lo + limit)
        return [self._agg_json(k) for k in range(lo, hi)]

    def _agg_json(self, k: int) -> dict[str, Any]:
        cols = self._cols
        first = int(self._agg_first[k])
        end = int(self._agg_first[k + 1]) if k + 1 < self._n_agg else self._n
        return {
            "a": self.first_agg_id + k,
            "p": _fmt(self._price(cols["price"][first])),
            "q": _fmt(self._qty(cols["qty"][first:end].sum())),
            "f": self.first_trade_id + first,
            "l": self.first_trade_id + end - 1,
            "T": int(cols["ts"][first]),
            "m": bool(cols["maker"][first]),
            "M": True,
        }

    def avg_price(self, mins: int = 5) -> tuple[Decimal | None, int]:
        """Volume-weighted price of the last `mins` minutes (else the last price), close time."""
        n = self._n
        if n == 0:
            return None, self.now_ms
        cols = self._cols
        lo = int(np.searchsorted(cols["ts"][:n], self.now_ms - mins * 60_000, "right"))
        last_ts = int(cols["ts"][n - 1])
        if lo >= n:
            return self._price(cols["price"][n - 1]), last_ts
        lots = cols["qty"][lo:n]
        notional = int((cols["price"][lo:n] * lots).sum())
        avg = self.tick * notional / int(lots.sum())
        return avg.quantize(_EIGHT_PLACES, ROUND_HALF_EVEN), last_ts

    def bars(
        self, interval: str, start_ms: int | None, end_ms: int | None, limit: int
    ) -> list[Bar]:
        """Klines of `interval` selected like GET /api/v3/klines (by open time, inclusive)."""
        grid = KlineGrid(interval)
        first, last = grid.floor(self.start_ms), grid.floor(self.now_ms)
        if start_ms is not None:
            lo = max(first, grid.ceil(start_ms))
            hi = last if end_ms is None else min(last, grid.floor(end_ms))
            opens = grid.run_forward(lo, hi, limit)
        else:
            hi = last if end_ms is None else min(last, grid.floor(end_ms))
            opens = grid.run_backward(hi, first, limit)
        if not opens:
            return []
        return self._aggregate(grid, opens)

    def klines(
        self, interval: str, start_ms: int | None, end_ms: int | None, limit: int
    ) -> list[list[Any]]:
        """GET /api/v3/klines rows."""
        return [
            [
                b.open_time,
                _fmt(b.open),
                _fmt(b.high),
                _fmt(b.low),
                _fmt(b.close),
                _fmt(b.volume),
                b.close_time,
                _fmt(b.quote_volume),
                b.trades,
                _fmt(b.taker_buy_volume),
                _fmt(b.taker_buy_quote_volume),
                "0",
            ]
            for b in self.bars(interval, start_ms, end_ms, limit)
        ]

    def _aggregate(self, grid: KlineGrid, opens: list[int]) -> list[Bar]:
        cols, n = self._cols, self._n
        ts = cols["ts"][:n]
        edges = [*opens, grid.next(opens[-1])]
        idx = np.searchsorted(ts, np.array(edges, dtype=np.int64), "left")
        lo, hi = int(idx[0]), int(idx[-1])
        price, lots = cols["price"][lo:hi], cols["qty"][lo:hi]
        buy_lots = np.where(cols["maker"][lo:hi], 0, lots)
        counts = np.diff(idx)
        full = counts > 0
        starts = (idx[:-1][full] - lo).astype(np.intp)
        ends = (idx[1:][full] - lo).astype(np.intp)
        if starts.size:
            notional = price * lots
            stats = {
                "o": price[starts],
                "c": price[ends - 1],
                "h": np.maximum.reduceat(price, starts),
                "l": np.minimum.reduceat(price, starts),
                "v": np.add.reduceat(lots, starts),
                "q": np.add.reduceat(notional, starts),
                "V": np.add.reduceat(buy_lots, starts),
                "Q": np.add.reduceat(np.where(buy_lots > 0, notional, 0), starts),
            }
        # The close carried into bars without trades: the last trade before the first bar,
        # or (at the very start of the history) the first trade there is.
        if lo > 0:
            carry = int(cols["price"][lo - 1])
        elif n:
            carry = int(cols["price"][0])
        else:
            return []
        tick, lot, quote_unit = self.tick, self.lot, self.tick * self.lot
        zero = Decimal(0)
        bars: list[Bar] = []
        j = 0
        for i, open_time in enumerate(opens):
            close_time = edges[i + 1] - 1
            if counts[i]:
                o, c = int(stats["o"][j]), int(stats["c"][j])
                start = lo + int(starts[j])
                bars.append(
                    Bar(
                        open_time,
                        close_time,
                        tick * o,
                        tick * int(stats["h"][j]),
                        tick * int(stats["l"][j]),
                        tick * c,
                        lot * int(stats["v"][j]),
                        quote_unit * int(stats["q"][j]),
                        int(counts[i]),
                        lot * int(stats["V"][j]),
                        quote_unit * int(stats["Q"][j]),
                        self.first_trade_id + start,
                        self.first_trade_id + start + int(counts[i]) - 1,
                    )
                )
                carry = c
                j += 1
            else:
                p = tick * carry
                bars.append(
                    Bar(open_time, close_time, p, p, p, p, zero, zero, 0, zero, zero, -1, -1)
                )
        return bars


def _fmt(value: Decimal) -> str:
    return f"{value:.8f}"
