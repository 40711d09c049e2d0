"""The emulated Binance spot exchange: replayed market liquidity, our orders, accounts, events.

Synchronous and network-free: the server calls `step()` as time passes and the order/account
methods per request; listeners receive market stream payloads and user-data events at once.
The layers: ledger.py (accounts, settlement, user events) < trading.py (order entry and
matching) < order_admin.py (cancel, amend, queries) < this module, which adds the market side:
replays, the depth/trade/aggTrade/bookTicker/kline streams and the public REST answers.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from birdterm.sim.emulator.errors import BinanceError, bad_symbol
from birdterm.sim.emulator.history import MarketHistory
from birdterm.sim.emulator.kline_grid import INTERVALS_MS
from birdterm.sim.emulator.market_json import (
    best_tuple,
    book_ticker_event,
    book_ticker_json,
    depth_event,
    kline_event,
    levels_json,
)
from birdterm.sim.emulator.matching_book import Match
from birdterm.sim.emulator.order_admin import OrderAdmin
from birdterm.sim.emulator.order_json import fmt
from birdterm.sim.emulator.order_params import check_limit, check_time_range
from birdterm.sim.emulator.replay import MarketReplay, MarketUpdate
from birdterm.sim.emulator.symbols import SymbolRules
from birdterm.sim.emulator.trading import price_grid

KLINE_CATCH_UP_S = 60  # closed 1 s klines published at most this far back after a pause
AVG_PRICE_MINS = 5


class Exchange(OrderAdmin):
    """Binance spot, emulated: matching over replayed liquidity, accounts, REST answers, streams."""

    def __init__(
        self,
        symbols: dict[str, SymbolRules],
        replays: dict[str, MarketReplay],
        clock: Callable[[], int],
        *,
        history: dict[str, MarketHistory] | None = None,
        maker_commission: Decimal = Decimal("0.001"),
        taker_commission: Decimal = Decimal("0.001"),
        depth_interval_ms: int = 100,
    ) -> None:
        unknown = sorted(set(replays) - set(symbols))
        if unknown:
            raise ValueError(f"replays for unknown symbols: {', '.join(unknown)}")
        if depth_interval_ms <= 0:
            raise ValueError("depth_interval_ms must be positive")
        now = clock()
        histories: dict[str, MarketHistory] = {}
        for name, rules in symbols.items():
            given = (history or {}).get(name)
            tick, lot = price_grid(rules)
            if given is None:
                given = MarketHistory(name, tick_size=tick, lot_size=lot, start_ms=now)
            elif tick % given.tick or lot % given.lot:
                raise ValueError(
                    f"history of {name} has tick {given.tick} / lot {given.lot}, which do not "
                    f"divide the symbol's {tick} / {lot}"
                )
            given.advance(now)
            histories[name] = given
        super().__init__(symbols, histories, clock, maker_commission, taker_commission)
        self._replays = dict(replays)
        self.depth_interval_ms = depth_interval_ms
        for name, replay in self._replays.items():
            book = self._books[name]
            book.load(*replay.snapshot())
            book.drain_changes()  # the snapshot is the starting state, not a change
        self._next_depth_ms = (now // depth_interval_ms + 1) * depth_interval_ms
        self._tickers = {name: self._best(name) for name in symbols}
        self._kline_next = {name: now // 1000 * 1000 for name in symbols}

    # --- time -------------------------------------------------------------------------------

    def step(self) -> None:
        """Apply replay updates up to now, fill resting orders, publish due stream events."""
        now = self._begin()
        for name, replay in self._replays.items():
            for update in replay.updates_until(now):
                self._apply_update(name, update)
                self._flush_positions()
                self._publish_ticker(name)
        for history in self._histories.values():
            history.advance(now)
        if now >= self._next_depth_ms:
            self._publish_depth()
            interval = self.depth_interval_ms
            self._next_depth_ms = (now // interval + 1) * interval
        if self._market_listeners:
            self._publish_klines(now)

    def _apply_update(self, symbol: str, update: MarketUpdate) -> None:
        book = self._books[symbol]
        ts = max(update.ts_ms, self._histories[symbol].last_ts)
        for trade in update.trades:
            left = trade.qty
            for match in book.trade_fills(trade.price, trade.qty, trade.is_buyer_maker):
                assert match.maker is not None
                self._maker_fill(symbol, match, trade.is_buyer_maker, ts)
                left -= match.qty
            if left > 0:
                self._record_trades(symbol, trade.price, [left], trade.is_buyer_maker, ts)
        for price, qty in update.bids:
            book.set_market(True, price, qty)
        for price, qty in update.asks:
            book.set_market(False, price, qty)
        # Liquidity that moved through a resting order trades with it; that liquidity is the
        # taker, so a filled bid means the buyer was the maker.
        book.cross_fills(lambda match: self._cross_fill(symbol, match, ts))

    def _cross_fill(self, symbol: str, match: Match, ts: int) -> None:
        assert match.maker is not None
        self._maker_fill(symbol, match, match.maker.is_buy, ts)

    def _maker_fill(self, symbol: str, match: Match, buyer_maker: bool, ts: int) -> None:
        assert match.maker is not None
        (trade_id,) = self._record_trades(symbol, match.price, [match.qty], buyer_maker, ts)
        self._fill(match.maker, match.price, match.qty, True, trade_id, ts)

    # --- stream publishing ------------------------------------------------------------------

    def add_market_listener(self, callback: Callable[[str, dict[str, Any]], None]) -> None:
        """Receive (stream name, payload) for every market stream event."""
        self._market_listeners.append(callback)

    def _best(self, symbol: str) -> tuple[Decimal, Decimal, Decimal, Decimal]:
        book = self._books[symbol]
        return best_tuple(book.best(True), book.best(False))

    def _publish_ticker(self, symbol: str) -> None:
        best = self._best(symbol)
        if best == self._tickers[symbol]:
            return
        self._tickers[symbol] = best
        if self._market_listeners:
            payload = book_ticker_event(symbol, self._books[symbol].update_id, best)
            self._emit_market(f"{self._stream_prefix[symbol]}@bookTicker", payload)

    def _after_order_change(self, symbol: str) -> None:
        self._publish_ticker(symbol)

    def _publish_depth(self) -> None:
        for name, book in self._books.items():
            changes = book.drain_changes()
            if changes is None or not self._market_listeners:
                continue
            first, last, bids, asks = changes
            payload = depth_event(name, self._now, first, last, bids, asks)
            self._emit_market(f"{self._stream_prefix[name]}@depth@100ms", payload)

    def _publish_klines(self, now: int) -> None:
        current = now // 1000 * 1000
        for name, history in self._histories.items():
            start = max(self._kline_next[name], current - KLINE_CATCH_UP_S * 1000)
            if start >= current:
                continue
            self._kline_next[name] = current
            stream = f"{self._stream_prefix[name]}@kline_1s"
            for bar in history.bars("1s", start, current - 1, KLINE_CATCH_UP_S):
                self._emit_market(stream, kline_event(name, "1s", now, bar, closed=True))

    # --- public REST data -------------------------------------------------------------------

    def _rules(self, symbol: str) -> SymbolRules:
        rules = self.symbols.get(symbol)
        if rules is None:
            raise bad_symbol()
        return rules

    def depth(self, symbol: str, limit: int) -> dict[str, Any]:
        """GET /api/v3/depth: the published book; lastUpdateId counts unpublished changes too."""
        self._rules(symbol)
        check_limit(limit, 5000)
        book = self._books[symbol]
        return {
            "lastUpdateId": book.update_id,
            "bids": levels_json(book.levels(True, limit)),
            "asks": levels_json(book.levels(False, limit)),
        }

    def book_ticker(self, symbol: str) -> dict[str, Any]:
        """GET /api/v3/ticker/bookTicker for one symbol."""
        self._rules(symbol)
        return book_ticker_json(symbol, self._best(symbol))

    def recent_trades(self, symbol: str, limit: int) -> list[dict[str, Any]]:
        """GET /api/v3/trades: the newest trades, oldest first."""
        self._rules(symbol)
        return self._histories[symbol].recent_trades(check_limit(limit, 1000))

    def agg_trades(
        self,
        symbol: str,
        from_id: int | None,
        start_ms: int | None,
        end_ms: int | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """GET /api/v3/aggTrades with Binance's fromId / time-range selection."""
        self._rules(symbol)
        check_limit(limit, 1000)
        check_time_range(start_ms, end_ms)
        return self._histories[symbol].agg_trades(from_id, start_ms, end_ms, limit)

    def klines(
        self,
        symbol: str,
        interval: str,
        start_ms: int | None,
        end_ms: int | None,
        limit: int,
    ) -> list[list[Any]]:
        """GET /api/v3/klines: bars by open time, every interval Binance offers."""
        self._rules(symbol)
        if interval not in INTERVALS_MS:
            raise invalid_interval()
        check_limit(limit, 1000)
        check_time_range(start_ms, end_ms)
        return self._histories[symbol].klines(interval, start_ms, end_ms, limit)

    def avg_price(self, symbol: str) -> dict[str, Any]:
        """GET /api/v3/avgPrice: volume-weighted price of the last 5 minutes."""
        self._rules(symbol)
        price, close_time = self._histories[symbol].avg_price(AVG_PRICE_MINS)
        if price is None:
            price = self._reference_price(symbol) or Decimal(0)
        return {"mins": AVG_PRICE_MINS, "price": fmt(price), "closeTime": close_time}

    def _reference_price(self, symbol: str) -> Decimal | None:
        price, _ = self._histories[symbol].avg_price(AVG_PRICE_MINS)
        if price is not None:
            return price
        book = self._books[symbol]
        bid, ask = book.best(True), book.best(False)
        if bid is not None and ask is not None:
            return (bid[0] + ask[0]) / 2
        return None

    # --- inspection -------------------------------------------------------------------------

    def book_levels(
        self, symbol: str
    ) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """The whole published book (market + resting orders), best first."""
        self._rules(symbol)
        book = self._books[symbol]
        return book.levels(True), book.levels(False)

    def history(self, symbol: str) -> MarketHistory:
        """The trade history of a symbol (klines, aggTrades)."""
        self._rules(symbol)
        return self._histories[symbol]


def invalid_interval() -> BinanceError:
    """-1120: unknown kline interval."""
    return BinanceError(-1120, "Invalid interval.")
