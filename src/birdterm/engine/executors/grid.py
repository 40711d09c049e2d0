"""GridExecutor: limit orders at evenly spaced levels of a price range, each with a take profit.

A BUY grid buys at every level below the mid price and sells each filled level at
level * (1 + take_profit); a SELL grid sells above the mid and buys back at
level * (1 - take_profit). When a level's take profit fills the level is free again and its
opening order is re-placed (level recycling), so a grid keeps trading the range until a stop:
the `limit_price` beyond the range or the `stop_loss` below the inventory's average cost
(STOP_LOSS), the `time_limit` (TIME_LIMIT) or an early stop. A stop cancels every order and,
once the cancels are confirmed, closes the inventory with a market order.

The executor hears about the market only through its orders and watches, so it keeps two
favourable price watches armed at the nearest prices where the set of levels it wants resting
changes (a level becomes placeable, enters or leaves its activation bounds).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any

from pydantic import Field, model_validator

from birdterm.engine.connectors.base import Fill, TradingGateway, WatchKind
from birdterm.engine.executors.base import (
    CloseType,
    Executor,
    ExecutorConfig,
    ExecutorStatus,
    TrackedOrder,
)
from birdterm.engine.executors.position_hold import PositionHold
from birdterm.engine.types import OrderRuleError, OrderState, OrderType, TradeType

ZERO = Decimal(0)
ONE = Decimal(1)


class GridExecutorConfig(ExecutorConfig):
    """One grid: range, levels, size, per-level take profit and the grid's stops."""

    side: TradeType = TradeType.BUY
    start_price: Decimal = Field(gt=0, description="lowest level")
    end_price: Decimal = Field(gt=0, description="highest level")
    n_levels: int = Field(ge=2, le=500)
    total_amount_quote: Decimal = Field(gt=0, description="split evenly across the levels")
    take_profit: Decimal = Field(gt=0, lt=1, description="per level, fraction of its price")
    max_open_orders: int | None = Field(default=None, ge=1, description="None = every level")
    activation_bounds: Decimal | None = Field(
        default=None, gt=0, lt=1,
        description="place a level only while the mid is within this fraction of it",
    )  # fmt: skip
    stop_loss: Decimal | None = Field(
        default=None, gt=0, lt=1, description="fraction beyond the inventory's average cost"
    )
    limit_price: Decimal | None = Field(default=None, gt=0, description="stop beyond the range")
    time_limit: float | None = Field(default=None, gt=0, description="seconds from creation")
    keep_position: bool = Field(
        default=False, description="at the time limit, leave the inventory to the position hold"
    )
    open_order_type: OrderType = OrderType.LIMIT
    take_profit_order_type: OrderType = OrderType.LIMIT

    @model_validator(mode="after")
    def _consistent(self) -> GridExecutorConfig:
        if self.start_price >= self.end_price:
            raise ValueError(
                f"start_price {self.start_price} must be below end_price {self.end_price}"
            )
        if not self.open_order_type.is_limit:
            raise ValueError("open_order_type must be LIMIT or LIMIT_MAKER (grid orders rest)")
        if self.limit_price is not None:
            if self.side is TradeType.BUY and self.limit_price >= self.start_price:
                raise ValueError(f"a BUY grid's limit_price {self.limit_price} must be below "
                                 f"start_price {self.start_price}")  # fmt: skip
            if self.side is TradeType.SELL and self.limit_price <= self.end_price:
                raise ValueError(f"a SELL grid's limit_price {self.limit_price} must be above "
                                 f"end_price {self.end_price}")  # fmt: skip
        return self


class GridLevelState(Enum):
    """Where one level of a grid is."""

    NOT_ACTIVE = "NOT_ACTIVE"  # nothing resting, never traded
    OPEN_ORDER_PLACED = "OPEN_ORDER_PLACED"
    OPEN_ORDER_FILLED = "OPEN_ORDER_FILLED"  # waiting for its take profit to be placed
    CLOSE_ORDER_PLACED = "CLOSE_ORDER_PLACED"
    COMPLETE = "COMPLETE"  # round trip done; placeable again (recycled)


_FREE = (GridLevelState.NOT_ACTIVE, GridLevelState.COMPLETE)


@dataclass(slots=True)
class GridLevel:
    """One level: its prices, amount, orders, and its own P&L ledger."""

    index: int
    price: Decimal
    amount: Decimal
    take_profit_price: Decimal
    ledger: PositionHold
    state: GridLevelState = GridLevelState.NOT_ACTIVE
    open_order: TrackedOrder | None = None
    position: Decimal = ZERO  # base the open order moved, net of base fees: the TP's amount
    round_trips: int = 0
    blocked: bool = False  # its last order failed; retried after the next fill
    edge: Decimal | None = None  # the mid farthest from the level within activation_bounds
    past: Decimal = ZERO  # one tick past the level on the mid's side: its order would rest

    @property
    def is_free(self) -> bool:
        """True when the level may place its opening order."""
        return self.state in _FREE and not self.blocked


class GridExecutor(Executor):
    """Runs a grid of recycled levels until a stop, the time limit or an early stop."""

    kind = "grid"

    def __init__(
        self, executor_id: str, controller_id: str, config: GridExecutorConfig,
        gateway: TradingGateway, **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(executor_id, controller_id, config, gateway, **kwargs)
        self.config: GridExecutorConfig = config
        self.rule = gateway.trading_rule(config.trading_pair)
        self.levels = self._build_levels()
        self._by_order: dict[str, GridLevel] = {}
        self._range_watch: dict[str, Decimal] = {}  # role -> armed level

    def _build_levels(self) -> list[GridLevel]:
        cfg, rule = self.config, self.rule
        step = (cfg.end_price - cfg.start_price) / (cfg.n_levels - 1)
        per_level_quote = cfg.total_amount_quote / cfg.n_levels
        sign = 1 if cfg.side is TradeType.BUY else -1
        levels = []
        for i in range(cfg.n_levels):
            price = rule.quantize_price(cfg.start_price + step * i, cfg.side)
            if cfg.side is TradeType.BUY:
                tp = rule.quantize_price(price * (ONE + cfg.take_profit), TradeType.SELL)
            else:
                tp = rule.quantize_price(price * (ONE - cfg.take_profit), TradeType.BUY)
            amount = rule.quantize_amount(per_level_quote / price) if price > 0 else ZERO
            ledger = PositionHold("", cfg.trading_pair, self.controller_id)
            level = GridLevel(i, price, amount, tp, ledger, past=price + sign * rule.tick_size)
            if cfg.activation_bounds is not None:
                level.edge = price * (ONE + sign * cfg.activation_bounds)
            levels.append(level)
        return levels

    def _level_problem(self) -> str | None:
        prices = [level.price for level in self.levels]
        if len(set(prices)) != len(prices):
            return (f"{self.config.n_levels} levels between {self.config.start_price} and "
                    f"{self.config.end_price} are closer than the tick size "
                    f"{self.rule.tick_size}; use fewer levels")  # fmt: skip
        for level in self.levels:
            try:
                self.rule.check(level.price, level.amount)
            except OrderRuleError as exc:
                return (f"level {level.index} at {level.price}: {exc}; raise "
                        "total_amount_quote or use fewer levels")  # fmt: skip
        return None

    # ---- start -------------------------------------------------------------------------------
    def _on_start(self) -> None:
        cfg = self.config
        problem = self._level_problem()
        mid = self.gateway.mid_price(self.trading_pair)
        long = cfg.side is TradeType.BUY
        if problem is None and cfg.limit_price is not None:
            beyond = mid <= cfg.limit_price if long else mid >= cfg.limit_price
            if beyond:
                problem = f"the mid {mid} is already beyond the limit price {cfg.limit_price}"
        if problem is not None:
            self.failure_reason = problem
            self._shutdown(CloseType.FAILED)
            return
        if cfg.limit_price is not None:
            kind = WatchKind.BELOW if long else WatchKind.ABOVE
            self._watch("limit_price", kind, cfg.limit_price, adverse=True)
        if cfg.time_limit is not None:
            self._watch_time("time_limit", self.created_ts + cfg.time_limit)
        self._sync()

    # ---- which levels rest -------------------------------------------------------------------
    def _in_bounds(self, level: GridLevel, mid: Decimal) -> bool:
        if level.edge is None:
            return True
        return mid <= level.edge if self.side is TradeType.BUY else mid >= level.edge

    def _placeable(self, level: GridLevel, mid: Decimal) -> bool:
        """A free level whose opening order would rest (not cross) and is in bounds."""
        beyond = level.price < mid if self.side is TradeType.BUY else level.price > mid
        return level.is_free and beyond and self._in_bounds(level, mid)

    def _wanted(self, level: GridLevel, mid: Decimal) -> bool:
        if level.state is GridLevelState.OPEN_ORDER_PLACED:
            order = level.open_order
            assert order is not None
            if order.state is OrderState.PENDING_CANCEL:
                return False
            return order.filled > 0 or self._in_bounds(level, mid)
        return self._placeable(level, mid)

    def _sync(self) -> None:
        """Place take profits and the nearest wanted opening orders; cancel unwanted ones."""
        if self._closing is not None or self.status is not ExecutorStatus.RUNNING:
            return
        for level in self.levels:
            if level.state is GridLevelState.OPEN_ORDER_FILLED and not level.blocked:
                self._place_take_profit(level)
        mid = self.gateway.mid_price(self.trading_pair)
        wanted = [level for level in self.levels if self._wanted(level, mid)]
        wanted.sort(key=lambda level: (abs(mid - level.price), level.index))
        limit = self.config.max_open_orders or len(self.levels)
        target = wanted[:limit]
        resting = [lv for lv in self.levels if lv.state is GridLevelState.OPEN_ORDER_PLACED]
        for level in resting:
            order = level.open_order
            assert order is not None
            if level not in target and order.filled == 0:
                self._cancel(order)
        n_open = len(resting)
        for level in target:
            if n_open >= limit:
                break
            if level.state in _FREE:
                self._place_open(level)
                n_open += 1
        self._arm_range_watches(mid)

    def _place_open(self, level: GridLevel) -> None:
        order = self._place("open", self.side, self.config.open_order_type,
                            level.amount, level.price)  # fmt: skip
        self._by_order[order.order_id] = level
        level.open_order = order
        level.position = ZERO
        level.state = GridLevelState.OPEN_ORDER_PLACED

    def _place_take_profit(self, level: GridLevel) -> None:
        sold = level.position if self.side is TradeType.BUY else -level.position
        amount = self._closing_amount(sold, self.config.take_profit_order_type)
        if amount <= 0:  # the fill was all fee: nothing to sell, the round trip is over
            self._complete(level)
            return
        order = self._place("take_profit", self.side.opposite,
                            self.config.take_profit_order_type, amount,
                            level.take_profit_price, favourable=True)  # fmt: skip
        self._by_order[order.order_id] = level
        level.state = GridLevelState.CLOSE_ORDER_PLACED

    def _complete(self, level: GridLevel) -> None:
        level.round_trips += 1
        level.position = ZERO
        level.state = GridLevelState.COMPLETE

    def _thresholds(self) -> tuple[list[Decimal], list[Decimal]]:
        """Prices where the wanted set changes: (reached going up, reached going down)."""
        tick = self.rule.tick_size if self.side is TradeType.BUY else -self.rule.tick_size
        up: list[Decimal] = []
        down: list[Decimal] = []
        # "away" moves the mid off the levels' side (up for a BUY grid), "back" towards them
        away, back = (up, down) if self.side is TradeType.BUY else (down, up)
        for level in self.levels:
            if level.state in _FREE:
                away.append(level.past)  # past the level: its order would rest
                if level.edge is not None:
                    back.append(level.edge)  # comes within its bounds
            elif level.state is GridLevelState.OPEN_ORDER_PLACED and level.edge is not None:
                away.append(level.edge + tick)  # leaves its bounds: cancelled
        return up, down

    def _arm_range_watches(self, mid: Decimal) -> None:
        up, down = self._thresholds()
        above = min((t for t in up if t > mid), default=None)
        below = max((t for t in down if t < mid), default=None)
        for role, kind, level in (("range_up", WatchKind.ABOVE, above),
                                  ("range_down", WatchKind.BELOW, below)):  # fmt: skip
            if self._range_watch.get(role) == level:
                continue
            self._unwatch(role)
            self._range_watch.pop(role, None)
            if level is not None:
                self._watch(role, kind, level, exit_barrier=False)
                self._range_watch[role] = level

    def _arm_stop_loss(self) -> None:
        sl = self.config.stop_loss
        if sl is None or self._closing is not None:
            return
        self._unwatch("stop_loss")
        average = self.ledger.average_entry_price
        held = self.ledger.base_amount
        if average is None or average <= 0:
            return
        if self.side is TradeType.BUY and held > 0:
            self._watch("stop_loss", WatchKind.BELOW, average * (ONE - sl), adverse=True)
        elif self.side is TradeType.SELL and held < 0:
            self._watch("stop_loss", WatchKind.ABOVE, average * (ONE + sl), adverse=True)

    # ---- gateway events ----------------------------------------------------------------------
    def _on_fill(self, order: TrackedOrder, fill: Fill) -> None:
        level = self._by_order.get(order.order_id)
        if level is not None:
            level.ledger.add_fill(fill.side, fill.amount, fill.price, fill.fees, fill.timestamp)
            if order.role == "open":
                base_fee = fill.fees.get(self.base_asset, ZERO)
                net = fill.amount - base_fee if fill.side is TradeType.BUY else fill.amount
                level.position += net
        for other in self.levels:
            other.blocked = False  # funds moved: orders that failed for lack of them may fit now
        self._arm_stop_loss()

    def _on_order_closed(self, order: TrackedOrder, reason: str) -> None:
        if self._closing is not None:
            self._close_when_idle()
            return
        level = self._by_order.pop(order.order_id, None)
        if level is None:
            return
        if order.state is OrderState.FAILED:
            self.failure_reason = reason
            level.blocked = True
        if order.role == "open":
            level.open_order = None
            if order.filled > 0:
                level.state = GridLevelState.OPEN_ORDER_FILLED
            else:
                level.state = (GridLevelState.COMPLETE if level.round_trips
                               else GridLevelState.NOT_ACTIVE)  # fmt: skip
        elif order.role == "take_profit":
            level.position -= order.filled
            if order.state is OrderState.FILLED:
                self._complete(level)
            else:
                level.state = GridLevelState.OPEN_ORDER_FILLED
        self._sync()

    def _on_watch(self, role: str, price: Decimal) -> None:
        if role in ("range_up", "range_down"):
            self._range_watch.pop(role, None)
            self._sync()
        elif role in ("limit_price", "stop_loss"):
            self._begin_close(CloseType.STOP_LOSS)
        elif role == "time_limit":
            if self.config.keep_position:
                self._closing = CloseType.TIME_LIMIT
                self._shutdown(CloseType.TIME_LIMIT)
            else:
                self._begin_close(CloseType.TIME_LIMIT)

    def _on_early_stop(self, keep_position: bool) -> None:
        if keep_position and self.is_trading:
            self._closing = CloseType.POSITION_HOLD
            self._shutdown(CloseType.POSITION_HOLD)
        else:
            self._begin_close(CloseType.EARLY_STOP)

    # ---- stopping ----------------------------------------------------------------------------
    def _begin_close(
        self,
        close_type: CloseType,
        order_type: OrderType = OrderType.MARKET,
        price: Decimal | None = None,
    ) -> None:
        self._range_watch.clear()
        super()._begin_close(close_type, order_type, price)

    def round_trips(self) -> int:
        """Completed level round trips (open filled, then its take profit filled)."""
        return sum(level.round_trips for level in self.levels)

    def _report_extra(self) -> dict[str, Any]:
        extra = super()._report_extra()
        extra["round_trips"] = self.round_trips()
        extra["levels"] = [
            {
                "index": level.index,
                "price": str(level.price),
                "take_profit_price": str(level.take_profit_price),
                "amount": str(level.amount),
                "state": level.state.value,
                "round_trips": level.round_trips,
                "realized_pnl_quote": str(level.ledger.realized_pnl_quote),
            }
            for level in self.levels
        ]
        return extra
