"""What every executor shares: order bookkeeping, a P&L ledger, shutdown, and its report.

An executor owns its orders and watches on one trading pair and reacts to gateway callbacks.
Every fill lands in the executor's ledger (average cost, fees included), so an executor's
realized P&L, its unrealized P&L at mid and the inventory it leaves behind always reconcile with
the wallet. Shutting down cancels what is still open and waits for every order to be done before
the executor is TERMINATED: a fill that races a cancel is still booked. Whatever base the ledger
still holds then is handed to the position hold by the orchestrator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from enum import Enum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from birdterm.engine.connectors.base import Fill, TradingGateway, WatchKind
from birdterm.engine.executors.position_hold import PositionHold
from birdterm.engine.types import (
    OrderRuleError,
    OrderState,
    OrderType,
    TradeType,
    split_trading_pair,
)

ZERO = Decimal(0)
LIMIT_CLOSE_PATIENCE = 60.0  # seconds a LIMIT closing order may rest before it goes at market


class ExecutorStatus(Enum):
    """Where an executor is in its life."""

    RUNNING = "RUNNING"
    SHUTTING_DOWN = "SHUTTING_DOWN"  # waiting for cancels / closing orders to finish
    TERMINATED = "TERMINATED"


class CloseType(Enum):
    """Why an executor ended."""

    TAKE_PROFIT = "TAKE_PROFIT"
    STOP_LOSS = "STOP_LOSS"
    TIME_LIMIT = "TIME_LIMIT"
    TRAILING_STOP = "TRAILING_STOP"
    EARLY_STOP = "EARLY_STOP"
    FAILED = "FAILED"
    POSITION_HOLD = "POSITION_HOLD"  # its inventory was kept and moved to the position hold
    COMPLETED = "COMPLETED"  # did what it was asked (order, TWAP, grid range done)
    EXPIRED = "EXPIRED"  # an order that was never filled within its life


@dataclass(slots=True)
class TrackedOrder:
    """One of the executor's orders as the executor sees it."""

    order_id: str
    role: str
    side: TradeType
    order_type: OrderType
    amount: Decimal
    price: Decimal | None
    created_ts: float
    filled: Decimal = ZERO
    filled_quote: Decimal = ZERO
    state: OrderState = OrderState.OPEN

    @property
    def is_open(self) -> bool:
        """True until the gateway reported the order done."""
        return not self.state.is_done

    @property
    def remaining(self) -> Decimal:
        """Amount not filled yet."""
        return self.amount - self.filled


@dataclass(frozen=True, slots=True)
class ExecutorReport:
    """An executor's state and result, the same for live and backtest."""

    id: str
    kind: str
    controller_id: str
    trading_pair: str
    side: str
    level_id: str
    status: str
    close_type: str | None
    created_ts: float
    close_ts: float | None
    entry_price: Decimal | None
    exit_price: Decimal | None
    bought_base: Decimal
    sold_base: Decimal
    volume_quote: Decimal
    fees_quote: Decimal
    realized_pnl_quote: Decimal
    unrealized_pnl_quote: Decimal
    held_base: Decimal  # inventory still in the executor (or handed to the position hold)
    net_pnl_quote: Decimal
    net_pnl_pct: Decimal
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (Decimals as strings, so nothing is rounded)."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            out[name] = str(value) if isinstance(value, Decimal) else value
        return out


class ExecutorConfig(BaseModel):
    """What every executor's config says: the pair, the side, and the controller's level."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    trading_pair: str
    side: TradeType
    level_id: str = ""


class Executor:
    """Base class: subclasses implement `_on_start`, `_on_fill`, `_on_order_closed`,
    `_on_watch` and `_on_early_stop`, and call `_shutdown(close_type)` when they are done."""

    kind: ClassVar[str] = "executor"
    config: ExecutorConfig

    def __init__(
        self,
        executor_id: str,
        controller_id: str,
        config: ExecutorConfig,
        gateway: TradingGateway,
        on_terminated: Callable[[Executor], None] | None = None,
    ) -> None:
        self.id = executor_id
        self.controller_id = controller_id
        self.config = config
        self.trading_pair = trading_pair = config.trading_pair
        self.side = config.side
        self.level_id = config.level_id
        self.gateway = gateway
        self.base_asset, self.quote_asset = split_trading_pair(trading_pair)
        self.on_terminated = on_terminated
        self.ledger = PositionHold("", trading_pair, controller_id)
        self.group = 0  # set by the orchestrator: ties this executor's exits in the simulator
        self.status = ExecutorStatus.RUNNING
        self.close_type: CloseType | None = None
        self.created_ts = 0.0
        self.close_ts: float | None = None
        self.orders: dict[str, TrackedOrder] = {}
        self.watches: dict[int, str] = {}  # watch id -> role
        self.bought_base = ZERO
        self.bought_quote = ZERO
        self.sold_base = ZERO
        self.sold_quote = ZERO
        self.fees_quote = ZERO
        self.failure_reason = ""
        self.trailing_activated_ts: float | None = None
        self._closing: CloseType | None = None  # set once the executor decided to close
        self._closing_order_type = OrderType.MARKET
        self._closing_price: Decimal | None = None
        self.first_fill_ts: float | None = None
        self.on_change: Callable[[], None] | None = None  # told of every fill and the end

    # ---- life cycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Place the first orders and arm the first watches."""
        self.created_ts = self.gateway.now()
        self._on_start()

    def early_stop(self, keep_position: bool = False) -> None:
        """Stop on the controller's request: close the position, or keep it for the hold."""
        if self.status is not ExecutorStatus.RUNNING:
            return
        self._on_early_stop(keep_position)

    @property
    def is_active(self) -> bool:
        """True until TERMINATED."""
        return self.status is not ExecutorStatus.TERMINATED

    @property
    def is_trading(self) -> bool:
        """True once the executor holds a position (something filled and is not closed)."""
        return self.ledger.base_amount != 0

    @property
    def has_fills(self) -> bool:
        """True once any of its orders filled."""
        return self.bought_base > 0 or self.sold_base > 0

    # ---- helpers for subclasses --------------------------------------------------------------
    def _place(
        self,
        role: str,
        side: TradeType,
        order_type: OrderType,
        amount: Decimal,
        price: Decimal | None = None,
        favourable: bool = False,
    ) -> TrackedOrder:
        """Send an order; `favourable` marks a take profit that the executor's stop loss
        pre-empts inside one simulated candle."""
        order_id = self.gateway.place_order(
            self, self.trading_pair, side, order_type, amount, price,
            group=self.group if favourable else 0,
        )  # fmt: skip
        order = TrackedOrder(order_id, role, side, order_type, amount, price, self.gateway.now())
        self.orders[order_id] = order
        return order

    def _cancel(self, order: TrackedOrder) -> None:
        if order.is_open and order.state is not OrderState.PENDING_CANCEL:
            order.state = OrderState.PENDING_CANCEL
            self.gateway.cancel_order(self.trading_pair, order.order_id)

    def _cancel_role(self, role: str) -> None:
        for order in list(self.orders.values()):
            if order.role == role:
                self._cancel(order)

    def _open_orders(self, role: str | None = None) -> list[TrackedOrder]:
        return [
            o for o in self.orders.values()
            if not o.state.is_done and (role is None or o.role == role)
        ]  # fmt: skip

    def _watch(
        self,
        role: str,
        kind: WatchKind,
        level: Decimal,
        adverse: bool = False,
        trail_delta: Decimal | None = None,
        exit_barrier: bool = True,
    ) -> int:
        """Arm a price watch. Exit barriers share the executor's group, so inside one simulated
        candle an adverse one (stop loss) pre-empts a favourable one (take profit); a watch
        that only tells the executor where the price is (exit_barrier=False) is in no group."""
        watch_id = self.gateway.watch_price(
            self, self.trading_pair, kind, level,
            group=self.group if exit_barrier else 0, adverse=adverse, trail_delta=trail_delta,
        )  # fmt: skip
        self.watches[watch_id] = role
        return watch_id

    def _watch_time(self, role: str, timestamp: float) -> int:
        watch_id = self.gateway.watch_time(self, self.trading_pair, timestamp)
        self.watches[watch_id] = role
        return watch_id

    def _unwatch(self, role: str | None = None) -> None:
        for watch_id, watch_role in list(self.watches.items()):
            if role is None or watch_role == role:
                self.gateway.cancel_watch(watch_id)
                del self.watches[watch_id]

    def _position_to_close(self, order_type: OrderType = OrderType.MARKET) -> Decimal:
        """The base amount a closing order should trade, quantized to the step size. A sell
        whose fee is charged in base must leave room for that fee in what is held."""
        return self._closing_amount(self.ledger.base_amount, order_type)

    def _closing_amount(self, held: Decimal, order_type: OrderType) -> Decimal:
        """What an order should trade to close `held` base (signed: > 0 is sold), on the step
        grid. A fee charged in base is paid on top of a sell (sell less) and out of what a buy
        receives (buy more, rounded up, so no short is left behind)."""
        rule = self.gateway.trading_rule(self.trading_pair)
        side = TradeType.SELL if held > 0 else TradeType.BUY
        if self.gateway.fee_asset(self.trading_pair, side) != self.base_asset:
            return rule.quantize_amount(abs(held))
        fee = self.gateway.exit_fee_pct(self.trading_pair, order_type)
        if side is TradeType.SELL:
            return rule.quantize_amount(held / (1 + fee))
        steps = (-held / (1 - fee) / rule.step_size).to_integral_value(rounding=ROUND_CEILING)
        return (steps * rule.step_size).quantize(rule.step_size)

    def _is_dust(self, order_type: OrderType = OrderType.MARKET) -> bool:
        """True when what is held is too small for the exchange to trade (or nothing)."""
        amount = self._position_to_close(order_type)
        if amount <= 0:
            return True
        try:
            self.gateway.trading_rule(self.trading_pair).check(
                self.gateway.mid_price(self.trading_pair), amount
            )
        except OrderRuleError:
            return True
        return False

    def _close_position(self, role: str, order_type: OrderType, price: Decimal | None) -> bool:
        """Send the order that flattens the ledger; False when there is nothing tradable."""
        amount = self._position_to_close(order_type)
        if amount <= 0:
            return False
        side = TradeType.SELL if self.ledger.base_amount > 0 else TradeType.BUY
        if order_type is OrderType.MARKET:
            price = None
        self._place(role, side, order_type, amount, price)
        return True

    def _keep_take_profit(self, price: Decimal, order_type: OrderType = OrderType.LIMIT) -> None:
        """Keep one resting take-profit order for the whole position at `price`: an open one is
        cancelled first and replaced once the cancel is confirmed (call again then), because
        the inventory stays locked until the exchange confirms."""
        if self._closing is not None:
            return
        open_tp = self._open_orders("take_profit")
        if open_tp:
            for order in open_tp:
                self._cancel(order)
            return
        amount = self._position_to_close(order_type)
        if amount <= 0:
            return
        side = TradeType.SELL if self.ledger.base_amount > 0 else TradeType.BUY
        price = self.gateway.trading_rule(self.trading_pair).quantize_price(price, side)
        self._place("take_profit", side, order_type, amount, price, favourable=True)

    def _begin_close(
        self,
        close_type: CloseType,
        order_type: OrderType = OrderType.MARKET,
        price: Decimal | None = None,
    ) -> None:
        """Cancel every open order and watch, then close the position with one order of
        `order_type` once every cancel is confirmed (inventory is never offered twice)."""
        if self._closing is not None:
            return
        self._closing = close_type
        self._closing_order_type = order_type
        self._closing_price = price
        self._unwatch()
        for order in self._open_orders():
            self._cancel(order)
        self._close_when_idle()

    def _close_when_idle(self) -> None:
        """Send the closing order once nothing else is open; finish when there is none to send
        (a limit close rests at `price`, or at the mid when no price was given)."""
        if self._closing is None or self._open_orders():
            return
        if self._is_dust(self._closing_order_type):  # untradable: it goes to the position hold
            self._shutdown(self._closing)
            return
        price = self._closing_price
        limit = self._closing_order_type.is_limit
        if limit:
            if price is None:
                price = self.gateway.mid_price(self.trading_pair)
            # round towards the market (a sell down, a buy up): a close should fill
            toward = TradeType.BUY if self.ledger.base_amount > 0 else TradeType.SELL
            price = self.gateway.trading_rule(self.trading_pair).quantize_price(price, toward)
        if not self._close_position("close", self._closing_order_type, price):
            self._shutdown(self._closing)
        elif limit:  # a limit close that does not fill in time is replaced by a market one
            self._watch_time("close_patience", self.gateway.now() + LIMIT_CLOSE_PATIENCE)

    def _shutdown(self, close_type: CloseType) -> None:
        """Cancel everything still open and terminate once every order is done."""
        if self.close_type is None:
            self.close_type = close_type
        self.status = ExecutorStatus.SHUTTING_DOWN
        self._unwatch()
        for order in self._open_orders():
            self._cancel(order)
        self._terminate_if_idle()

    def _terminate_if_idle(self) -> None:
        if self.status is ExecutorStatus.SHUTTING_DOWN and not self._open_orders():
            self.status = ExecutorStatus.TERMINATED
            self.close_ts = self.gateway.now()
            if self.on_change is not None:
                self.on_change()
            if self.on_terminated is not None:
                self.on_terminated(self)

    # ---- gateway callbacks -------------------------------------------------------------------
    def on_fill(self, fill: Fill) -> None:
        """Book a fill in the ledger, then let the subclass react."""
        order = self.orders.get(fill.order_id)
        if order is None:
            return
        order.filled += fill.amount
        order.filled_quote += fill.amount * fill.price
        if order.state is OrderState.OPEN:
            order.state = OrderState.PARTIALLY_FILLED
        notional = fill.amount * fill.price
        if fill.side is TradeType.BUY:
            self.bought_base += fill.amount
            self.bought_quote += notional
        else:
            self.sold_base += fill.amount
            self.sold_quote += notional
        self.fees_quote += fill.fee_quote
        self.ledger.add_fill(fill.side, fill.amount, fill.price, fill.fees, fill.timestamp)
        if self.first_fill_ts is None:
            self.first_fill_ts = fill.timestamp
        if self.on_change is not None:
            self.on_change()
        if self.status is ExecutorStatus.RUNNING:
            self._on_fill(order, fill)

    def on_order_done(self, order_id: str, state: OrderState, reason: str) -> None:
        """Record the order's end; a shutting-down executor terminates when nothing is open."""
        order = self.orders.get(order_id)
        if order is None:
            return
        order.state = state
        if self.status is ExecutorStatus.RUNNING:
            if order.role == "close":
                self._close_order_done(order, reason)
            else:
                self._on_order_closed(order, reason)
        self._terminate_if_idle()

    def _close_order_done(self, order: TrackedOrder, reason: str) -> None:
        """The closing order ended: done; when it failed, the executor failed and what it
        still holds goes to the position hold."""
        closing = self._closing or CloseType.EARLY_STOP
        if order.state is OrderState.CANCELED and self._closing_order_type is OrderType.MARKET:
            self._close_when_idle()  # a limit close ran out of patience: the rest at market
        elif order.state is OrderState.FAILED:
            self.failure_reason = f"{closing.value} close failed: {reason}"
            self._shutdown(CloseType.FAILED)
        else:
            self._shutdown(closing)

    def on_watch(self, watch_id: int, price: Decimal, timestamp: float) -> None:
        """A watch fired: hand it to the subclass by role."""
        role = self.watches.pop(watch_id, None)
        if role is None or self.status is not ExecutorStatus.RUNNING:
            return
        if role == "close_patience":
            self._closing_order_type, self._closing_price = OrderType.MARKET, None
            for order in self._open_orders("close"):
                self._cancel(order)
        else:
            self._on_watch(role, price)

    def on_trail_activated(self, watch_id: int, price: Decimal, timestamp: float) -> None:
        """A trailing stop started trailing."""
        if watch_id in self.watches:
            self.trailing_activated_ts = timestamp

    # ---- subclass hooks ----------------------------------------------------------------------
    def _on_start(self) -> None:
        raise NotImplementedError

    def _on_fill(self, order: TrackedOrder, fill: Fill) -> None:
        """React to a fill while running (bookkeeping is done already)."""

    def _on_order_closed(self, order: TrackedOrder, reason: str) -> None:
        """React to an order that ended while running."""

    def _on_watch(self, role: str, price: Decimal) -> None:
        """React to a watch that fired while running."""

    def _on_early_stop(self, keep_position: bool) -> None:
        self._shutdown(CloseType.POSITION_HOLD if keep_position and self.is_trading
                       else CloseType.EARLY_STOP)  # fmt: skip

    # ---- reporting ---------------------------------------------------------------------------
    def entry_price(self) -> Decimal | None:
        """Average price of the opening side's fills."""
        if self.side is TradeType.BUY:
            return self.bought_quote / self.bought_base if self.bought_base else None
        return self.sold_quote / self.sold_base if self.sold_base else None

    def exit_price(self) -> Decimal | None:
        """Average price of the closing side's fills."""
        if self.side is TradeType.BUY:
            return self.sold_quote / self.sold_base if self.sold_base else None
        return self.bought_quote / self.bought_base if self.bought_base else None

    def unrealized_pnl_quote(self, mid: Decimal) -> Decimal:
        """P&L of what the executor still holds, valued at `mid` (none once terminated: its
        inventory then belongs to the position hold)."""
        if self.status is ExecutorStatus.TERMINATED or not self.ledger.base_amount:
            return ZERO
        return self.ledger.unrealized_pnl_quote(mid)

    def net_pnl_quote(self, mid: Decimal) -> Decimal:
        """Realized plus unrealized P&L, fees included."""
        return self.ledger.realized_pnl_quote + self.unrealized_pnl_quote(mid)

    def report(self, mid: Decimal | None = None) -> ExecutorReport:
        """The executor's state and P&L (unrealized valued at `mid`, default the gateway's)."""
        if mid is None:
            mid = self.gateway.mid_price(self.trading_pair)
        unrealized = self.unrealized_pnl_quote(mid)
        net = self.ledger.realized_pnl_quote + unrealized
        # % of what the opening side cost (a long's buys, a short's sells)
        notional = self.bought_quote if self.side is TradeType.BUY else self.sold_quote
        notional = notional or max(self.bought_quote, self.sold_quote)
        return ExecutorReport(
            id=self.id,
            kind=self.kind,
            controller_id=self.controller_id,
            trading_pair=self.trading_pair,
            side=self.side.value,
            level_id=self.level_id,
            status=self.status.value,
            close_type=self.close_type.value if self.close_type else None,
            created_ts=self.created_ts,
            close_ts=self.close_ts,
            entry_price=self.entry_price(),
            exit_price=self.exit_price(),
            bought_base=self.bought_base,
            sold_base=self.sold_base,
            volume_quote=self.bought_quote + self.sold_quote,
            fees_quote=self.fees_quote,
            realized_pnl_quote=self.ledger.realized_pnl_quote,
            unrealized_pnl_quote=unrealized,
            held_base=self.ledger.base_amount,
            net_pnl_quote=net,
            net_pnl_pct=net / notional if notional else ZERO,
            extra=self._report_extra(),
        )

    def _report_extra(self) -> dict[str, Any]:
        return {"failure": self.failure_reason} if self.failure_reason else {}
