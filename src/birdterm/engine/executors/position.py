"""PositionExecutor: one entry order, then a triple barrier (take profit, stop loss, time limit)
plus an optional trailing stop and an optional hand-over to the position hold.

Barrier prices are fractions of the average entry price (take_profit = 0.01 is 1 % above a long
entry). The take profit rests as a limit order by default (maker fee, fills when the price trades
through it); the stop loss, time limit and trailing stop are watches that send a closing order of
their configured type when they fire. In a simulated candle where both the take profit and the
stop loss could have happened, the stop loss wins (the simulator's pessimistic rule).

Closing orders are only sent once every other order of the executor is confirmed cancelled, so
the inventory is never offered twice.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from birdterm.engine.connectors.base import Fill, TradingGateway, WatchKind
from birdterm.engine.executors.base import CloseType, Executor, ExecutorConfig, TrackedOrder
from birdterm.engine.types import OrderState, OrderType, TradeType

ONE = Decimal(1)


class TrailingStop(BaseModel):
    """Trail once the price moved `activation_price` in our favour; close on a pullback of
    `trailing_delta` from the best price since (both fractions of the entry price)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    activation_price: Decimal = Field(gt=0, lt=1)
    trailing_delta: Decimal = Field(gt=0, lt=1)


class TripleBarrier(BaseModel):
    """The exits of a position: every field optional; fractions of the entry price."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    take_profit: Decimal | None = Field(default=None, gt=0, lt=10)
    stop_loss: Decimal | None = Field(default=None, gt=0, lt=1)
    time_limit: float | None = Field(default=None, gt=0, description="seconds from creation")
    trailing_stop: TrailingStop | None = None
    hold_after: float | None = Field(
        default=None, gt=0,
        description="seconds after the first fill until the inventory moves to the position hold",
    )  # fmt: skip
    take_profit_order_type: OrderType = OrderType.LIMIT
    stop_loss_order_type: OrderType = OrderType.MARKET
    time_limit_order_type: OrderType = OrderType.MARKET
    trailing_stop_order_type: OrderType = OrderType.MARKET


class PositionExecutorConfig(ExecutorConfig):
    """One position: side, size in base, entry order, exits."""

    amount: Decimal = Field(gt=0, description="base amount")
    entry_price: Decimal | None = Field(default=None, gt=0)
    entry_order_type: OrderType = OrderType.LIMIT
    barrier: TripleBarrier = TripleBarrier()

    @model_validator(mode="after")
    def _entry_price_for_limits(self) -> PositionExecutorConfig:
        if self.entry_order_type.is_limit and self.entry_price is None:
            raise ValueError(f"entry_price is required for a {self.entry_order_type.value} entry")
        return self


class PositionExecutor(Executor):
    """Opens a position with one order and closes it at the first barrier that fires."""

    kind = "position"

    def __init__(
        self, executor_id: str, controller_id: str, config: PositionExecutorConfig,
        gateway: TradingGateway, **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(executor_id, controller_id, config, gateway, **kwargs)
        self.config: PositionExecutorConfig = config
        self.barrier = config.barrier
        self._armed = False

    # ---- start and entry ---------------------------------------------------------------------
    def _on_start(self) -> None:
        cfg = self.config
        price = cfg.entry_price if cfg.entry_order_type.is_limit else None
        self._place("open", cfg.side, cfg.entry_order_type, cfg.amount, price)
        if self.barrier.time_limit is not None:
            self._watch_time("time_limit", self.created_ts + self.barrier.time_limit)

    def _on_fill(self, order: TrackedOrder, fill: Fill) -> None:
        if order.role == "open":
            if not self._armed:
                self._arm_barriers()
            self._refresh_take_profit()

    def _direction(self) -> int:
        return 1 if self.side is TradeType.BUY else -1

    def _barrier_price(self, fraction: Decimal, favourable: bool) -> Decimal:
        entry = self.entry_price()
        assert entry is not None
        sign = self._direction() * (1 if favourable else -1)
        return entry * (ONE + sign * fraction)

    def _arm_barriers(self) -> None:
        self._armed = True
        b = self.barrier
        long = self.side is TradeType.BUY
        if b.stop_loss is not None:
            level = self._barrier_price(b.stop_loss, favourable=False)
            self._watch("stop_loss", WatchKind.BELOW if long else WatchKind.ABOVE, level,
                        adverse=True)  # fmt: skip
        if b.take_profit is not None and not b.take_profit_order_type.is_limit:
            level = self._barrier_price(b.take_profit, favourable=True)
            self._watch("take_profit", WatchKind.ABOVE if long else WatchKind.BELOW, level)
        if b.trailing_stop is not None:
            entry = self.entry_price()
            assert entry is not None
            activation = self._barrier_price(b.trailing_stop.activation_price, favourable=True)
            self._watch(
                "trailing_stop", WatchKind.TRAIL_LONG if long else WatchKind.TRAIL_SHORT,
                activation, adverse=True, trail_delta=entry * b.trailing_stop.trailing_delta,
            )  # fmt: skip
        if b.hold_after is not None:
            self._watch_time("hold", self.gateway.now() + b.hold_after)

    def _refresh_take_profit(self) -> None:
        """Keep one resting take-profit order sized to the whole position."""
        b = self.barrier
        if b.take_profit is not None and b.take_profit_order_type.is_limit:
            price = self._barrier_price(b.take_profit, favourable=True)
            self._keep_take_profit(price, b.take_profit_order_type)

    # ---- order outcomes ----------------------------------------------------------------------
    def _on_order_closed(self, order: TrackedOrder, reason: str) -> None:
        if order.role == "open":
            if order.state is OrderState.FAILED and not self.has_fills:
                self.failure_reason = reason
                self._shutdown(CloseType.FAILED)
            elif not self.has_fills and order.state is OrderState.CANCELED:
                self._shutdown(self._closing or CloseType.EARLY_STOP)
            elif self._closing is not None:
                self._close_when_idle()
        elif order.role == "take_profit":
            if order.state is OrderState.FILLED and self._is_dust(OrderType.LIMIT):
                self._closing = CloseType.TAKE_PROFIT
                self._shutdown(CloseType.TAKE_PROFIT)
            elif self._closing is not None:
                self._close_when_idle()
            elif order.state is OrderState.FAILED:
                # Re-sending the same order would fail the same way: wait for the next entry
                # fill (a bigger position) or another barrier.
                self.failure_reason = reason
            else:
                self._refresh_take_profit()

    # ---- barriers ----------------------------------------------------------------------------
    def _on_watch(self, role: str, price: Decimal) -> None:
        b = self.barrier
        if role == "stop_loss":
            self._begin_close(CloseType.STOP_LOSS, b.stop_loss_order_type, price)
        elif role == "take_profit":
            self._begin_close(CloseType.TAKE_PROFIT, b.take_profit_order_type, price)
        elif role == "trailing_stop":
            self._begin_close(CloseType.TRAILING_STOP, b.trailing_stop_order_type, price)
        elif role == "time_limit":
            self._begin_close(CloseType.TIME_LIMIT, b.time_limit_order_type, price)
        elif role == "hold":
            self._shutdown(CloseType.POSITION_HOLD)

    def _on_early_stop(self, keep_position: bool) -> None:
        if keep_position and self.is_trading:
            self._shutdown(CloseType.POSITION_HOLD)
        else:
            self._begin_close(CloseType.EARLY_STOP, OrderType.MARKET, None)

    def _report_extra(self) -> dict[str, Any]:
        extra = super()._report_extra()
        if self.config.entry_price is not None:
            extra["entry_order_price"] = str(self.config.entry_price)
        if self.trailing_activated_ts is not None:
            extra["trailing_activated_ts"] = self.trailing_activated_ts
        return extra
