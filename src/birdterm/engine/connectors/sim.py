"""SimConnector: the backtest's exchange — a wallet, trading rules, fees and the Cython fill core.

It implements the same `TradingGateway` as the live connectors. Resting limit orders and price
watches live in one `MarketSim` per pair; `advance(pair, end_row)` walks the market to the next
controller tick and delivers what happened (fills, fired watches) to their owners, mid-candle
when it happens mid-candle. Orders that meet the market when placed (market orders, limit
orders priced through the current price) fill at once as takers, with the fill model's
slippage. Answers to a call are queued and delivered after the call returns, as a live exchange
would, by `process_pending()`.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import numpy as np

from birdterm.engine.connectors.base import Fill, GatewayListener, NoPriceError, WatchKind
from birdterm.engine.connectors.wallet import InsufficientBalance, Wallet
from birdterm.engine.types import (
    OrderRuleError,
    OrderState,
    OrderType,
    TradeFeeSchema,
    TradeType,
    TradingRule,
    split_trading_pair,
)
from birdterm.sim import market_sim as ms
from birdterm.sim.fill_model import FillModel

ZERO = Decimal(0)
_WATCH_KINDS = {
    WatchKind.ABOVE: ms.ABOVE,
    WatchKind.BELOW: ms.BELOW,
    WatchKind.TRAIL_LONG: ms.TRAIL_LONG,
    WatchKind.TRAIL_SHORT: ms.TRAIL_SHORT,
}


def _plain(value: Decimal) -> str:
    """A Decimal for a message: no exponent, no trailing zeros."""
    return format(value.normalize(), "f")


def to_decimal(value: float) -> Decimal:
    """A float from the simulator as the shortest Decimal that round-trips."""
    return Decimal(repr(value))


@dataclass(slots=True)
class SimMarket:
    """One pair's data and simulator state."""

    trading_pair: str
    data: np.ndarray
    kind: Literal["candles", "trades"]
    rule: TradingRule
    core: ms.MarketSim
    interval_ms: int = 0  # candles: their length (an event is known at the candle's close)
    base: str = ""
    quote: str = ""

    def __post_init__(self) -> None:
        self.base, self.quote = split_trading_pair(self.trading_pair)


@dataclass(slots=True)
class _Order:
    order_id: str
    key: int
    listener: GatewayListener
    market: SimMarket
    side: TradeType
    order_type: OrderType
    price: Decimal
    amount: Decimal
    filled: Decimal = ZERO
    lock_asset: str = ""
    lock_per_unit: Decimal = ZERO  # locked amount per unit of base still open
    group: int = 0
    resting: bool = field(default=False)


class SimConnector:
    """The simulated exchange behind a backtest (and, with live data, paper trading)."""

    name = "sim"

    def __init__(
        self,
        markets: dict[str, SimMarket],
        wallet: Wallet,
        fees: TradeFeeSchema,
        fill_model: FillModel,
    ) -> None:
        self.markets = markets
        self.wallet = wallet
        self.fee_schema = fees
        self.fill_model = fill_model
        self.fills: list[tuple[str, Fill]] = []  # (owner id, fill), in time order
        self._now = 0.0
        self._keys = itertools.count(1)
        self._trade_ids = itertools.count(1)
        self._orders: dict[str, _Order] = {}
        self._by_key: dict[int, _Order] = {}
        self._watches: dict[int, tuple[GatewayListener, SimMarket]] = {}
        self._pending: deque[tuple[Callable[..., None], tuple[Any, ...]]] = deque()
        self._mid_cache: dict[str, tuple[float, Decimal]] = {}
        # While a fired watch is handled, the market is at the watch's price (under the
        # pessimistic rule a stop can fire before the path point the core's cursor is at).
        self._at_watch: dict[str, float] = {}
        self._time_watches: set[int] = set()
        self._maker_fee = fees.fee(is_maker=True)
        self._taker_fee = fees.fee(is_maker=False)

    @classmethod
    def market(
        cls, trading_pair: str, data: np.ndarray, kind: Literal["candles", "trades"],
        rule: TradingRule, fill_model: FillModel, interval_ms: int = 0,
    ) -> SimMarket:  # fmt: skip
        """Build a pair's market with a fresh simulator core (`interval_ms`: candle length)."""
        if kind == "candles" and interval_ms <= 0:
            raise ValueError(
                f"{trading_pair}: candles need their interval in ms, got {interval_ms}"
            )
        core = ms.MarketSim(
            participation=fill_model.participation, touch_fills=fill_model.touch_fills,
            pessimistic=fill_model.pessimistic,
            volume_window_ms=int(fill_model.volume_window_s * 1000),
        )  # fmt: skip
        return SimMarket(trading_pair, data, kind, rule, core, interval_ms)

    # ---- time and market reads ---------------------------------------------------------------
    def now(self) -> float:
        """Simulated time in seconds."""
        return self._now

    def set_time(self, timestamp: float) -> None:
        """Move the clock (never backwards)."""
        if timestamp > self._now:
            self._now = timestamp

    def trading_rule(self, trading_pair: str) -> TradingRule:
        """The pair's rule."""
        return self.markets[trading_pair].rule

    def mid_price(self, trading_pair: str) -> Decimal:
        """The current simulated price (the path point of the fill core)."""
        value = self._at_watch.get(trading_pair)
        if value is None:
            value = self.markets[trading_pair].core.current_price
        cached = self._mid_cache.get(trading_pair)
        if cached is not None and cached[0] == value:
            return cached[1]
        if math.isnan(value):
            raise NoPriceError(f"{trading_pair}: no price yet; advance the market first")
        mid = to_decimal(value)
        self._mid_cache[trading_pair] = (value, mid)
        return mid

    def exit_fee_pct(self, trading_pair: str, order_type: OrderType) -> Decimal:
        """Maker fee for limit orders, taker fee for market orders."""
        fee = self._maker_fee if order_type.is_limit else self._taker_fee
        return fee.percent

    def fee_asset(self, trading_pair: str, side: TradeType) -> str:
        """The fee token when one is set, else the asset the order receives."""
        market = self.markets[trading_pair]
        if self.fee_schema.percent_token is not None:
            return self.fee_schema.percent_token
        return market.base if side is TradeType.BUY else market.quote

    def available(self, asset: str) -> Decimal:
        """Free balance."""
        return self.wallet.available(asset)

    def total_balance(self, asset: str) -> Decimal:
        """Whole balance."""
        return self.wallet.balance(asset)

    # ---- orders ------------------------------------------------------------------------------
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
        """Validate, lock funds and rest the order, or fill it at once if it meets the market."""
        market = self.markets[trading_pair]
        key = next(self._keys)
        order_id = f"sim-{key}"
        current = self.mid_price(trading_pair)
        rule = market.rule
        q_amount = rule.quantize_amount(amount)
        q_price = rule.quantize_price(price, side) if price is not None else current
        order = _Order(order_id, key, listener, market, side, order_type, q_price, q_amount,
                       group=group)  # fmt: skip
        self._orders[order_id] = order
        try:
            if order_type.is_limit and price is None:
                raise OrderRuleError(f"{order_type.value} order needs a price")
            rule.check(q_price, q_amount)
        except OrderRuleError as exc:
            self._fail(order, str(exc))
            return order_id
        crosses = order_type is OrderType.MARKET or (
            q_price >= current if side is TradeType.BUY else q_price <= current
        )
        if crosses and order_type is OrderType.LIMIT_MAKER:
            self._fail(order, f"LIMIT_MAKER {side.value} at {_plain(q_price)} would immediately "
                              f"match (price now {_plain(current)})")  # fmt: skip
            return order_id
        if crosses:
            self._fill_taker(order, current)
        else:
            self._rest(order)
        return order_id

    def _fee_lock_per_unit(self, side: TradeType, price: Decimal, market: SimMarket) -> Decimal:
        """Fees charged in the asset an order spends must be locked with it."""
        fee = self._maker_fee.amounts(market.base, market.quote, Decimal(1), price, side)
        spent = market.quote if side is TradeType.BUY else market.base
        return fee.get(spent, ZERO)

    def _rest(self, order: _Order) -> None:
        market = order.market
        if order.side is TradeType.BUY:
            order.lock_asset = market.quote
            order.lock_per_unit = order.price + self._fee_lock_per_unit(
                order.side, order.price, market)  # fmt: skip
        else:
            order.lock_asset = market.base
            order.lock_per_unit = Decimal(1) + self._fee_lock_per_unit(
                order.side, order.price, market)  # fmt: skip
        try:
            self.wallet.lock(order.lock_asset, order.lock_per_unit * order.amount)
        except InsufficientBalance as exc:
            self._fail(order, f"insufficient balance: {exc}")
            return
        queue = 0.0
        side = 1 if order.side is TradeType.BUY else -1
        if market.kind == "trades":
            queue = market.core.estimate_queue(market.data, float(order.price), side)
        market.core.add_limit(
            order.key, side, float(order.price), float(order.amount), queue, order.group
        )
        order.resting = True
        self._by_key[order.key] = order

    def _fill_taker(self, order: _Order, current: Decimal) -> None:
        market = order.market
        slip = self.fill_model.slippage_for(float(order.amount), market.core.recent_volume)
        if order.side is TradeType.BUY:
            price = market.rule.quantize_price(current * (1 + to_decimal(slip)), TradeType.SELL)
            if order.order_type.is_limit:
                price = min(price, order.price)
        else:
            price = market.rule.quantize_price(current * (1 - to_decimal(slip)), TradeType.BUY)
            if order.order_type.is_limit:
                price = max(price, order.price)
        # A taker fill may only spend what open orders have not locked.
        fees = self._taker_fee.amounts(market.base, market.quote, order.amount, price, order.side)
        if order.side is TradeType.BUY:
            asset, needed = market.quote, order.amount * price + fees.get(market.quote, ZERO)
        else:
            asset, needed = market.base, order.amount + fees.get(market.base, ZERO)
        free = self.wallet.available(asset)
        if needed > free:
            self._fail(order, f"insufficient balance: needs {_plain(needed)} {asset}, "
                              f"{_plain(free)} {asset} available")  # fmt: skip
            return
        self._settle(order, order.amount, price, is_maker=False)

    def _settle(self, order: _Order, amount: Decimal, price: Decimal, is_maker: bool) -> None:
        market = order.market
        fee = self._maker_fee if is_maker else self._taker_fee
        fees = fee.amounts(market.base, market.quote, amount, price, order.side)
        notional = amount * price
        if order.side is TradeType.BUY:
            spend, receive = (market.quote, notional), (market.base, amount)
        else:
            spend, receive = (market.base, amount), (market.quote, notional)
        if order.resting:
            self.wallet.unlock(order.lock_asset, order.lock_per_unit * amount)
        self.wallet.settle(spend, receive, fees)
        order.filled += amount
        fee_quote = fees.get(market.quote, ZERO) + fees.get(market.base, ZERO) * price
        fill = Fill(
            order.order_id, market.trading_pair, order.side, price, amount, fees, fee_quote,
            is_maker, self._now, str(next(self._trade_ids)),
        )  # fmt: skip
        self.fills.append((getattr(order.listener, "id", ""), fill))
        self._pending.append((order.listener.on_fill, (fill,)))
        if order.filled >= order.amount:
            self._finish(order, OrderState.FILLED, "")

    def _finish(self, order: _Order, state: OrderState, reason: str) -> None:
        if order.resting:
            order.resting = False
            self._by_key.pop(order.key, None)
            remaining = order.amount - order.filled
            if remaining > 0:
                self.wallet.unlock(order.lock_asset, order.lock_per_unit * remaining)
        self._orders.pop(order.order_id, None)
        self._pending.append((order.listener.on_order_done, (order.order_id, state, reason)))

    def _fail(self, order: _Order, reason: str) -> None:
        what = (f"{order.market.trading_pair} {order.side.value} {_plain(order.amount)} @ "
                f"{_plain(order.price)}")  # fmt: skip
        self._finish(order, OrderState.FAILED, f"{what}: {reason}")

    def cancel_order(self, trading_pair: str, order_id: str) -> None:
        """Cancel a resting order; unknown or finished orders are ignored (already reported)."""
        order = self._orders.get(order_id)
        if order is None or not order.resting:
            return
        order.market.core.remove_order(order.key)
        self._finish(order, OrderState.CANCELED, "")

    def open_order_count(self) -> int:
        """Orders resting in the simulator."""
        return len(self._by_key)

    # ---- watches -----------------------------------------------------------------------------
    def watch_price(
        self,
        listener: GatewayListener,
        trading_pair: str,
        kind: WatchKind,
        level: Decimal,
        *,
        group: int = 0,
        adverse: bool = False,
        trail_delta: Decimal | None = None,
    ) -> int:
        """Arm a price watch in the fill core."""
        market = self.markets[trading_pair]
        key = next(self._keys)
        delta = float(trail_delta) if trail_delta is not None else 0.0
        market.core.add_trigger(key, _WATCH_KINDS[kind], float(level), group, adverse, delta)
        self._watches[key] = (listener, market)
        return key

    def watch_time(self, listener: GatewayListener, trading_pair: str, timestamp: float) -> int:
        """Arm a time watch (fires at the first candle or trade at or after `timestamp`)."""
        market = self.markets[trading_pair]
        key = next(self._keys)
        market.core.add_trigger(key, ms.AT_TIME, float(math.ceil(timestamp * 1000)))
        self._watches[key] = (listener, market)
        self._time_watches.add(key)
        return key

    def cancel_watch(self, watch_id: int) -> None:
        """Disarm a watch."""
        entry = self._watches.pop(watch_id, None)
        self._time_watches.discard(watch_id)
        if entry is not None:
            entry[1].core.remove_trigger(watch_id)

    # ---- driving -----------------------------------------------------------------------------
    def process_pending(self) -> None:
        """Deliver queued answers (which may queue more) until none is left."""
        pending = self._pending
        while pending:
            call, args = pending.popleft()
            call(*args)

    def next_active_row(self, trading_pair: str, end_row: int) -> int | None:
        """The first row before `end_row` where a fill or a watch may happen (a conservative
        dry run of the fill core: no market is walked ahead of the clock), or None."""
        market = self.markets[trading_pair]
        core = market.core
        if market.kind == "candles":
            row = core.first_active_candle(market.data, end_row)
        else:
            row = core.first_active_trade(market.data, end_row)
        return None if row < 0 else row

    def advance(self, trading_pair: str, end_row: int) -> int:
        """Walk the pair's market up to (not including) `end_row`; returns the events seen."""
        market = self.markets[trading_pair]
        core = market.core
        step = core.advance_candles if market.kind == "candles" else core.advance_trades
        data = market.data
        seen = 0
        while core.current_row < end_row:
            events = step(data, end_row)
            if not events:
                break
            seen += self._deliver(market, events)
        return seen

    def _deliver(self, market: SimMarket, events: list[tuple[int, int, int, float, float]]) -> int:
        # An event is known once its row is: a candle at its close, a trade at its time. Time is
        # never taken from the clock's tick, so sparse and dense runs stamp events alike.
        known_after_ms = market.interval_ms
        for kind, key, ts, price, amount in events:
            # a time watch fires at a candle's start, known then; the rest inside the candle
            at_start = kind == ms.TRIGGER and key in self._time_watches
            ts_s = (ts if at_start else ts + known_after_ms) / 1000
            if ts_s > self._now:
                self._now = ts_s
            if kind == ms.FILL:
                order = self._by_key.get(key)
                if order is not None:
                    self._fill_resting(order, amount)
            elif kind == ms.TRIGGER:
                self._time_watches.discard(key)
                entry = self._watches.pop(key, None)
                if entry is not None:
                    pair = entry[1].trading_pair
                    self._at_watch[pair] = price
                    try:
                        entry[0].on_watch(key, to_decimal(price), ts_s)
                        self.process_pending()
                    finally:
                        del self._at_watch[pair]
            elif kind == ms.TRAIL_ACTIVATED:
                entry = self._watches.get(key)
                if entry is not None:
                    entry[0].on_trail_activated(key, to_decimal(price), ts_s)
            self.process_pending()
        return len(events)

    def _fill_resting(self, order: _Order, amount: float) -> None:
        remaining = order.amount - order.filled
        if math.isnan(order.market.core.order_remaining(order.key)):  # the core filled it all
            filled = remaining
        else:
            filled = min(order.market.rule.quantize_amount(to_decimal(amount)), remaining)
        if filled > 0:
            self._settle(order, filled, order.price, is_maker=True)
