"""PaperConnector: paper trading on live public market data with the backtester's fill logic.

It is a `SimConnector` whose markets are walked over trades as they arrive: every clock tick
drains each pair's new trades from a `MarketDataSource` (the public Binance market data in
production), appends them to the pair's trade buffer and advances the Cython fill core through
them. Resting orders fill by the trades queue model, price watches fire on trade prices, and
market orders (and limit orders priced through the market) fill at once at the live book's
mid (the last trade price without a book) with the fill model's slippage, all exactly as in a
backtest on trades: orders, locks, fees, wallet and fills are SimConnector's own code.

The buffer keeps the trades the fill core looks back at (its volume window and queue estimate)
in one growing array, so walking it tick by tick gives the same fills as a backtest over the
whole array at once. When the buffer is full, only the trades still inside the volume window
are kept and the core is re-seated on them (see `_TradeBuffer`); that is the single place where
the walk differs from a backtest's (a time watch firing at the first trade after it takes that
trade's price, not the previous one's, and the window's volume sum is re-added).

Time watches also fire from the clock (`clock_time_watches`, the default): live, a quiet market
must not hold a time limit back until the next trade. A backtest fires them at the first trade
at or after their time; pass `clock_time_watches=False` for exactly that behaviour.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Protocol

import numpy as np

from birdterm.engine.clock import Clock, TimeIterator
from birdterm.engine.connectors.base import GatewayListener, NoPriceError
from birdterm.engine.connectors.sim import SimConnector, to_decimal
from birdterm.engine.connectors.wallet import Wallet
from birdterm.engine.order_book import OrderBook
from birdterm.engine.types import (
    InFlightOrder,
    OrderState,
    OrderType,
    TradeFeeSchema,
    TradeType,
    TradingRule,
)
from birdterm.sim.data import TRADE_DTYPE
from birdterm.sim.fill_model import FillModel

DEFAULT_BUFFER_ROWS = 1 << 16  # 2.6 MB a pair; hours of BTCUSDT trades between compactions


class MarketDataSource(Protocol):
    """The public market data a PaperConnector trades on (`BinanceMarketData` is one).

    An optional `async start()` / `async stop()` is called by `start_network` / `stop_network`.
    """

    @property
    def rules(self) -> Mapping[str, TradingRule]:
        """Trading rules by pair."""

    @property
    def health(self) -> str:
        """One of "ws", "rest_fallback" or "down"."""

    def order_book(self, trading_pair: str) -> OrderBook:
        """The pair's live book."""

    def drain_trades(self, trading_pair: str) -> np.ndarray:
        """Trades received since the last call, a TRADE_DTYPE array sorted by time."""

    def last_trade_price(self, trading_pair: str) -> Decimal | float | None:
        """The price of the last trade seen, or None before any."""


class _TradeBuffer:
    """One pair's trades in a single array the fill core walks by row index.

    New trades are appended; the core's cursor (a row index) stays valid as long as rows only
    get added. When the array is full it is compacted to the trades the core may still look
    back at (those within the volume window of the incoming trades), and the core must then be
    seeked to the first incoming row (`append` returns it).
    """

    def __init__(self, capacity: int, window_ms: int) -> None:
        if capacity < 1:
            raise ValueError(f"buffer_rows must be >= 1, got {capacity}")
        self.array = np.zeros(capacity, dtype=TRADE_DTYPE)
        self.size = 0
        self.window_ms = window_ms
        self.last_id = 0
        self.last_ts = -(2**62)
        self.dropped = 0  # duplicate or malformed trades the source delivered
        self.compactions = 0

    def view(self) -> np.ndarray:
        """The valid rows (a C-contiguous view, no copy)."""
        return self.array[: self.size]

    def clean(self, trades: np.ndarray) -> np.ndarray:
        """Drop trades already seen (by id) or unusable, and never let time go back."""
        if trades.dtype != TRADE_DTYPE or trades.ndim != 1:
            raise ValueError(
                f"drain_trades must return a 1-D TRADE_DTYPE array, got {trades.dtype}"
            )
        ids = trades["trade_id"]
        keep = ((ids <= 0) | (ids > self.last_id)) & (trades["price"] > 0) & (trades["qty"] > 0)
        keep &= np.isfinite(trades["price"]) & np.isfinite(trades["qty"])
        if trades.size > 1:  # a repeated id inside one batch (a replay after a reconnect)
            keep[1:] &= (ids[1:] <= 0) | (ids[1:] > np.maximum.accumulate(ids)[:-1])
        fresh = np.array(trades[keep], dtype=TRADE_DTYPE)
        self.dropped += trades.size - fresh.size
        if fresh.size:
            fresh["ts"] = np.maximum.accumulate(np.maximum(fresh["ts"], self.last_ts))
            self.last_ts = int(fresh["ts"][-1])
            self.last_id = max(self.last_id, int(fresh["trade_id"].max()))
        return fresh

    def append(self, trades: np.ndarray) -> int | None:
        """Add cleaned trades; returns the row to seek the core to when it compacted, else None."""
        seek_to = None
        needed = self.size + trades.size
        if needed > self.array.size:
            old = self.view()
            cut = int(np.searchsorted(old["ts"], int(trades["ts"][0]) - self.window_ms, "right"))
            tail = old[cut:]
            capacity = self.array.size
            while tail.size + trades.size > capacity // 2:
                capacity *= 2
            fresh = np.zeros(capacity, dtype=TRADE_DTYPE)
            fresh[: tail.size] = tail
            self.array, self.size = fresh, tail.size
            seek_to = tail.size
            self.compactions += 1
        self.array[self.size : self.size + trades.size] = trades
        self.size += trades.size
        return seek_to


class PaperConnector(SimConnector, TimeIterator):
    """Paper trading: live public market data, the backtester's fills, a paper wallet."""

    name = "paper"

    def __init__(
        self,
        market_data: MarketDataSource,
        wallet: Wallet,
        fees: TradeFeeSchema,
        fill_model: FillModel,
        rules: Mapping[str, TradingRule] | None = None,
        *,
        clock_time_watches: bool = True,
        buffer_rows: int = DEFAULT_BUFFER_ROWS,
    ) -> None:
        super().__init__({}, wallet, fees, fill_model)
        self.market_data = market_data
        self.clock_time_watches = clock_time_watches
        self.buffers: dict[str, _TradeBuffer] = {}
        self.trades_seen: dict[str, int] = {}
        self._buffer_rows = buffer_rows
        self._window_ms = int(fill_model.volume_window_s * 1000)
        self._time_due: dict[int, int] = {}  # time watch id -> due ms
        self._created: dict[str, float] = {}  # order id -> creation time, while it rests
        self._book_mids: dict[str, tuple[tuple[float, float], Decimal]] = {}
        self._add_markets(market_data.rules if rules is None else rules)

    def _add_markets(self, rules: Mapping[str, TradingRule]) -> None:
        empty = np.zeros(0, dtype=TRADE_DTYPE)
        for pair, rule in rules.items():
            if pair not in self.markets:
                self.markets[pair] = SimConnector.market(pair, empty, "trades", rule,
                                                         self.fill_model)  # fmt: skip
                self.buffers[pair] = _TradeBuffer(self._buffer_rows, self._window_ms)
                self.trades_seen[pair] = 0

    # ---- network -----------------------------------------------------------------------------
    async def start_network(self) -> None:
        """Start the market data (when it has `start()`) and trade every pair it has rules for."""
        start = getattr(self.market_data, "start", None)
        if start is not None:
            await start()
        if not self.markets:
            self._add_markets(self.market_data.rules)
        if not self.markets:
            raise ValueError("no trading pairs: the market data has no trading rules")

    async def stop_network(self) -> None:
        """Stop the market data (when it has `stop()`); paper orders stay as they are."""
        stop = getattr(self.market_data, "stop", None)
        if stop is not None:
            await stop()

    # ---- TimeIterator ------------------------------------------------------------------------
    def start(self, clock: Clock, timestamp: float) -> None:
        """Start the paper clock at `timestamp`."""
        self.set_time(timestamp)

    def tick(self, timestamp: float) -> None:
        """Walk every pair through the trades that arrived since the last tick, then the clock."""
        for pair in self.markets:
            self.feed(pair, self.market_data.drain_trades(pair))
        self.set_time(timestamp)
        if self.clock_time_watches:
            self._fire_due_time_watches(timestamp)
        self.process_pending()

    def stop(self) -> None:
        """Nothing to release: paper orders live only in this object."""

    def feed(self, trading_pair: str, trades: np.ndarray) -> int:
        """Walk the pair's fill core through new trades; returns the events seen."""
        buffer = self.buffers[trading_pair]
        fresh = buffer.clean(trades)
        if fresh.size == 0:
            return 0
        market = self.markets[trading_pair]
        if market.core.current_row != buffer.size:
            raise RuntimeError(f"{trading_pair}: the fill core is not at the end of its trades")
        seek_to = buffer.append(fresh)
        market.data = buffer.view()
        if seek_to is not None:
            market.core.seek(seek_to)
        self.trades_seen[trading_pair] += fresh.size
        return self.advance(trading_pair, buffer.size)

    # ---- market reads ------------------------------------------------------------------------
    @property
    def health(self) -> str:
        """The market data's health: "ws", "rest_fallback" or "down"."""
        return self.market_data.health

    def order_book(self, trading_pair: str) -> OrderBook:
        """The pair's live order book (for display; trading reads go through mid_price)."""
        return self.market_data.order_book(trading_pair)

    def mid_price(self, trading_pair: str) -> Decimal:
        """The live book's mid; the last trade price without a usable book."""
        if trading_pair not in self._at_watch:
            mid = self._book_mid(trading_pair)
            if mid is not None:
                return mid
            if math.isnan(self.markets[trading_pair].core.current_price):
                last = self.market_data.last_trade_price(trading_pair)
                if last is None:
                    raise NoPriceError(f"{trading_pair}: no price yet (no book and no trade)")
                return last if isinstance(last, Decimal) else to_decimal(float(last))
        return super().mid_price(trading_pair)

    def _book_mid(self, trading_pair: str) -> Decimal | None:
        if self.market_data.health == "down":
            return None
        book = self.market_data.order_book(trading_pair)
        bid, ask = book.best_bid, book.best_ask
        if bid is None or ask is None or bid >= ask:
            return None  # one-sided, or crossed (out of sync)
        key = (bid, ask)
        cached = self._book_mids.get(trading_pair)
        if cached is not None and cached[0] == key:
            return cached[1]
        mid = (to_decimal(bid) + to_decimal(ask)) / 2
        self._book_mids[trading_pair] = (key, mid)
        return mid

    def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        """Asset -> (total, available) of the paper wallet."""
        return {a: (self.wallet.balance(a), self.wallet.available(a)) for a in self.wallet.total}

    def open_orders(self) -> list[InFlightOrder]:
        """The orders resting in the paper market, as in-flight orders."""
        out = []
        for order in self._orders.values():
            if not order.resting:
                continue
            state = OrderState.PARTIALLY_FILLED if order.filled > 0 else OrderState.OPEN
            out.append(
                InFlightOrder(
                    order.order_id, order.market.trading_pair, order.order_type, order.side,
                    order.amount, order.price, self._created.get(order.order_id, 0.0),
                    exchange_order_id=order.order_id, state=state, executed_base=order.filled,
                    executed_quote=order.filled * order.price,
                )
            )  # fmt: skip
        return out

    # ---- orders and watches ------------------------------------------------------------------
    def place_order(
        self,
        listener: GatewayListener,
        trading_pair: str,
        side: TradeType,
        order_type: OrderType,
        amount: Decimal,
        price: Decimal | None = None,
        *,
        group: int = 0,
    ) -> str:
        """As SimConnector; an order sent before the market has any price fails (no raise)."""
        try:
            self.mid_price(trading_pair)
        except RuntimeError as exc:
            order_id = f"sim-{next(self._keys)}"
            at = "market" if price is None else format(price.normalize(), "f")
            reason = f"{trading_pair} {side.value} {format(amount.normalize(), 'f')} @ {at}: {exc}"
            self._pending.append((listener.on_order_done, (order_id, OrderState.FAILED, reason)))
            return order_id
        order_id = super().place_order(
            listener, trading_pair, side, order_type, amount, price, group=group
        )
        if order_id in self._orders:
            self._created[order_id] = self._now
        if len(self._created) > 2 * len(self._orders) + 64:
            self._created = {k: v for k, v in self._created.items() if k in self._orders}
        return order_id

    def watch_time(self, listener: GatewayListener, trading_pair: str, timestamp: float) -> int:
        """Arm a time watch: at the first trade at or after `timestamp`, or by the clock."""
        key = super().watch_time(listener, trading_pair, timestamp)
        self._time_due[key] = math.ceil(timestamp * 1000)
        return key

    def cancel_watch(self, watch_id: int) -> None:
        """Disarm a watch."""
        self._time_due.pop(watch_id, None)
        super().cancel_watch(watch_id)

    def _fire_due_time_watches(self, timestamp: float) -> None:
        now_ms = round(timestamp * 1000)
        for key, due in sorted(self._time_due.items(), key=lambda item: (item[1], item[0])):
            entry = self._watches.get(key)
            if entry is None or key not in self._time_watches:
                del self._time_due[key]  # fired by a trade, or cancelled
                continue
            if due > now_ms:
                continue
            listener, market = entry
            try:
                price = self.mid_price(market.trading_pair)
            except RuntimeError:
                continue  # no price yet: it fires with the first one
            del self._time_due[key]
            del self._watches[key]
            self._time_watches.discard(key)
            market.core.remove_trigger(key)
            listener.on_watch(key, price, timestamp)
            self.process_pending()
