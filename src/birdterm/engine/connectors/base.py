"""The trading interface executors use, identical in backtest, paper and live mode.

An executor never asks which mode it runs in: it places and cancels orders and arms price
watches (take profit, stop loss, trailing stop, time limit) through a `TradingGateway`, and
hears back through the `GatewayListener` callbacks. Callbacks are never delivered from inside
the call that caused them (a live exchange answers later, and the simulator queues its answers
too), so an executor always knows an order's id before it hears of the order's fills.

Prices and amounts crossing this boundary are Decimal, quantized by the gateway to the pair's
trading rule before anything is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Protocol

from birdterm.engine.types import OrderState, OrderType, TradeType, TradingRule


class NoPriceError(RuntimeError, ValueError):
    """A pair has no price yet (no synced book and no trade seen), or no market data at all.

    A ValueError (what price readers such as status views catch); also a RuntimeError, which
    is what `mid_price` raised before.
    """


class WatchKind(Enum):
    """What a price watch waits for."""

    ABOVE = "ABOVE"  # the price reaches the level or more
    BELOW = "BELOW"  # the price reaches the level or less
    TRAIL_LONG = "TRAIL_LONG"  # after reaching the level, a fall of `trail_delta` from the peak
    TRAIL_SHORT = "TRAIL_SHORT"  # after reaching the level, a rise of `trail_delta` from the low


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of one of our orders."""

    order_id: str
    trading_pair: str
    side: TradeType
    price: Decimal
    amount: Decimal
    fees: dict[str, Decimal]  # per asset, as charged
    fee_quote: Decimal  # the fees' value in the quote asset at the fill price
    is_maker: bool
    timestamp: float
    trade_id: str


class GatewayListener(Protocol):
    """What the owner of orders and watches is told (an executor implements these)."""

    def on_fill(self, fill: Fill) -> None:
        """One of our orders was (partly) filled."""

    def on_order_done(self, order_id: str, state: OrderState, reason: str) -> None:
        """An order reached FILLED, CANCELED or FAILED (`reason` says why it failed)."""

    def on_watch(self, watch_id: int, price: Decimal, timestamp: float) -> None:
        """A price or time watch fired at `price`; it is disarmed."""

    def on_trail_activated(self, watch_id: int, price: Decimal, timestamp: float) -> None:
        """A trailing watch reached its activation price and now trails."""


class TradingGateway(Protocol):
    """Orders, watches and market reads for executors and controllers."""

    def now(self) -> float:
        """The current time in seconds (clock time, not wall time in a backtest)."""

    def trading_rule(self, trading_pair: str) -> TradingRule:
        """The pair's tick size, step size and minimums."""

    def mid_price(self, trading_pair: str) -> Decimal:
        """The current mid price (last price when there is no book); NoPriceError when the
        pair has no price yet."""

    def exit_fee_pct(self, trading_pair: str, order_type: OrderType) -> Decimal:
        """The fee fraction a closing order of this type would pay."""

    def fee_asset(self, trading_pair: str, side: TradeType) -> str:
        """The asset the fee of an order on `side` is charged in."""

    def available(self, asset: str) -> Decimal:
        """The balance free to trade (not locked in open orders)."""

    def total_balance(self, asset: str) -> Decimal:
        """The whole balance of an asset, locked included."""

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
        """Track, then send an order; returns its client order id. Failures arrive through
        `on_order_done(..., FAILED, reason)`, never as an exception here. A resting order in a
        `group` is that group's favourable exit (a take profit): in a simulated candle where the
        group's adverse watch could also fire, the watch wins."""

    def cancel_order(self, trading_pair: str, order_id: str) -> None:
        """Ask for a cancel; the outcome arrives through `on_order_done`."""

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
        """Arm a price watch. Watches of one `group` that are `adverse` (stop losses) win over
        the group's favourable ones when both could fire inside one simulated candle."""

    def watch_time(self, listener: GatewayListener, trading_pair: str, timestamp: float) -> int:
        """Arm a watch that fires once the clock reaches `timestamp` (seconds)."""

    def cancel_watch(self, watch_id: int) -> None:
        """Disarm a watch (no effect when it already fired)."""
