"""GridController: runs one GridExecutor and starts a new one, after a cooldown, when it ends.

The range is either fixed (`start_price` .. `end_price`) or `range_pct` either side of the mid
when the grid starts, so each restart re-centres the grid on the current price. A grid ends at
its limit price or stop loss, its time limit, or an early stop; `limit_pct` places the limit
price that fraction beyond the range's far end (below it for a BUY grid, above for a SELL grid).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Literal

from pydantic import Field, model_validator

from birdterm.engine.controllers.base import (
    FAILURE_BACKOFF,
    Action,
    Controller,
    ControllerConfig,
    ControllerContext,
    CreateExecutor,
)
from birdterm.engine.executors.base import CloseType, Executor
from birdterm.engine.executors.grid import GridExecutor, GridExecutorConfig
from birdterm.engine.types import OrderType, TradeType

ONE = Decimal(1)


class GridControllerConfig(ControllerConfig):
    """The range (fixed or around the mid), the grid's levels and stops, and the cooldown."""

    type: Literal["grid"] = "grid"
    side: TradeType = TradeType.BUY
    start_price: Decimal | None = Field(default=None, gt=0)
    end_price: Decimal | None = Field(default=None, gt=0)
    range_pct: Decimal | None = Field(
        default=None, gt=0, lt=1, description="range = mid * (1 -/+ range_pct) at each start"
    )
    n_levels: int = Field(default=10, ge=2, le=500)
    total_amount_quote: Decimal = Field(gt=0)
    take_profit: Decimal = Field(gt=0, lt=1)
    max_open_orders: int | None = Field(default=None, ge=1)
    activation_bounds: Decimal | None = Field(default=None, gt=0, lt=1)
    stop_loss: Decimal | None = Field(default=None, gt=0, lt=1)
    limit_pct: Decimal | None = Field(default=None, gt=0, lt=1)
    time_limit: float | None = Field(default=None, gt=0, description="seconds per grid")
    keep_position: bool = False
    cooldown: float = Field(default=0.0, ge=0, description="seconds between grids")
    open_order_type: OrderType = OrderType.LIMIT
    take_profit_order_type: OrderType = OrderType.LIMIT

    @model_validator(mode="after")
    def _one_range(self) -> GridControllerConfig:
        fixed = self.start_price is not None or self.end_price is not None
        if fixed and self.range_pct is not None:
            raise ValueError("give either start_price and end_price, or range_pct, not both")
        if not fixed and self.range_pct is None:
            raise ValueError("give start_price and end_price, or range_pct")
        if fixed:
            if self.start_price is None or self.end_price is None:
                raise ValueError("a fixed range needs both start_price and end_price")
            if self.start_price >= self.end_price:
                raise ValueError(
                    f"start_price {self.start_price} must be below end_price {self.end_price}"
                )
        if not self.open_order_type.is_limit:
            raise ValueError("open_order_type must be LIMIT or LIMIT_MAKER (grid orders rest)")
        return self


class GridController(Controller):
    """Keeps one grid running on its pair, restarting it after `cooldown`."""

    config_class = GridControllerConfig
    config: GridControllerConfig

    def __init__(self, config: GridControllerConfig, context: ControllerContext) -> None:
        super().__init__(config, context)
        self._cooldown_until = 0.0
        context.orchestrator.listeners.append(self._on_executor_closed)

    def _on_executor_closed(self, executor: Executor) -> None:
        if executor.controller_id == self.id:
            end = executor.close_ts if executor.close_ts is not None else self.gateway.now()
            wait = self.config.cooldown
            if executor.close_type is CloseType.FAILED:
                wait = max(wait, FAILURE_BACKOFF)
            self._cooldown_until = end + wait

    def grid_config(self, mid: Decimal) -> GridExecutorConfig:
        """The next grid's config, its range centred on `mid` unless the range is fixed."""
        cfg = self.config
        if cfg.range_pct is not None:
            start, end = mid * (ONE - cfg.range_pct), mid * (ONE + cfg.range_pct)
        else:
            assert cfg.start_price is not None and cfg.end_price is not None
            start, end = cfg.start_price, cfg.end_price
        limit_price = None
        if cfg.limit_pct is not None:
            if cfg.side is TradeType.BUY:
                limit_price = start * (ONE - cfg.limit_pct)
            else:
                limit_price = end * (ONE + cfg.limit_pct)
        return GridExecutorConfig(
            trading_pair=self.trading_pair, side=cfg.side, start_price=start, end_price=end,
            n_levels=cfg.n_levels, total_amount_quote=cfg.total_amount_quote,
            take_profit=cfg.take_profit, max_open_orders=cfg.max_open_orders,
            activation_bounds=cfg.activation_bounds, stop_loss=cfg.stop_loss,
            limit_price=limit_price, time_limit=cfg.time_limit,
            keep_position=cfg.keep_position, open_order_type=cfg.open_order_type,
            take_profit_order_type=cfg.take_profit_order_type, level_id="grid",
        )  # fmt: skip

    def decide(self, now: float) -> Sequence[Action]:
        """Start a grid when none runs and the cooldown is over."""
        if any(True for _ in self.executors) or now < self._cooldown_until:
            return []
        return [CreateExecutor(GridExecutor, self.grid_config(self.mid()))]

    def next_decision(self, now: float) -> float | None:
        """While a grid runs: never (its end wakes the controller); then the cooldown's end."""
        if any(True for _ in self.executors):
            return self.capped_hint(math.inf, now)
        return self.capped_hint(self._cooldown_until, now)
