"""OrderExecutor: one order (MARKET, LIMIT or LIMIT_MAKER) with an optional refresh and expiry.

A limit order left unfilled for `refresh_interval` seconds is cancelled and, once the cancel is
confirmed, re-placed for what is still unfilled: at `price_offset` from the mid at that moment
when set (below the mid for a buy, above for a sell), else at the same price. After
`max_refreshes` refreshes the next due refresh ends the executor EXPIRED instead, as does
`expire_after` seconds from the start. Partial fills are kept: an order executor opens exposure
and never closes it, so whatever it bought or sold stays in its ledger and moves to the position
hold when it terminates.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import Field, model_validator

from birdterm.engine.connectors.base import TradingGateway
from birdterm.engine.executors.base import CloseType, Executor, ExecutorConfig, TrackedOrder
from birdterm.engine.types import OrderState, OrderType, TradeType

ONE = Decimal(1)


class OrderExecutorConfig(ExecutorConfig):
    """One order: side, base amount, type, price, and its refresh and expiry policy."""

    amount: Decimal = Field(gt=0, description="base amount")
    order_type: OrderType = OrderType.LIMIT
    price: Decimal | None = Field(default=None, gt=0, description="limit price")
    price_offset: Decimal | None = Field(
        default=None, ge=0, lt=1,
        description="fraction from the mid for re-placed orders (and the first one without "
        "a price): below the mid for a buy, above for a sell",
    )  # fmt: skip
    refresh_interval: float | None = Field(default=None, gt=0, description="seconds")
    max_refreshes: int | None = Field(default=None, ge=0)
    expire_after: float | None = Field(default=None, gt=0, description="seconds from the start")

    @model_validator(mode="after")
    def _consistent(self) -> OrderExecutorConfig:
        kind = self.order_type.value
        if self.order_type.is_limit:
            if self.price is None and self.price_offset is None:
                raise ValueError(f"a {kind} order needs a price or a price_offset")
        else:
            given = [name for name in ("price", "price_offset", "refresh_interval")
                     if getattr(self, name) is not None]  # fmt: skip
            if given:
                raise ValueError(
                    f"{', '.join(given)} only apply to LIMIT and LIMIT_MAKER orders, not {kind}"
                )
        if self.max_refreshes is not None and self.refresh_interval is None:
            raise ValueError("max_refreshes needs a refresh_interval")
        return self


class OrderExecutor(Executor):
    """Places one order, refreshes it while unfilled, and ends COMPLETED, EXPIRED or FAILED."""

    kind = "order"

    def __init__(
        self, executor_id: str, controller_id: str, config: OrderExecutorConfig,
        gateway: TradingGateway, **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(executor_id, controller_id, config, gateway, **kwargs)
        self.config: OrderExecutorConfig = config
        self.refreshes = 0
        self.target = config.amount
        self._refreshing = False

    # ---- placing -----------------------------------------------------------------------------
    def _on_start(self) -> None:
        cfg = self.config
        self.target = self.gateway.trading_rule(self.trading_pair).quantize_amount(cfg.amount)
        if cfg.expire_after is not None:
            self._watch_time("expire", self.created_ts + cfg.expire_after)
        self._place_order(cfg.price)

    def _filled(self) -> Decimal:
        return self.bought_base if self.side is TradeType.BUY else self.sold_base

    def _offset_price(self) -> Decimal:
        """The mid moved by `price_offset` away from the market, on the tick grid."""
        offset = self.config.price_offset
        assert offset is not None
        mid = self.gateway.mid_price(self.trading_pair)
        price = mid * (ONE - offset if self.side is TradeType.BUY else ONE + offset)
        return self.gateway.trading_rule(self.trading_pair).quantize_price(price, self.side)

    def _place_order(self, price: Decimal | None) -> None:
        cfg = self.config
        if cfg.order_type.is_limit:
            if price is None:
                price = self._offset_price()
            price = self.gateway.trading_rule(self.trading_pair).quantize_price(price, self.side)
        self._place("order", self.side, cfg.order_type, self.target - self._filled(), price)
        if cfg.refresh_interval is not None:
            self._unwatch("refresh")
            self._watch_time("refresh", self.gateway.now() + cfg.refresh_interval)

    # ---- events ------------------------------------------------------------------------------
    def _on_watch(self, role: str, price: Decimal) -> None:
        if role == "expire":
            self._shutdown(CloseType.EXPIRED)
        elif role == "refresh":
            limit = self.config.max_refreshes
            if limit is not None and self.refreshes >= limit:
                self._shutdown(CloseType.EXPIRED)
                return
            self._refreshing = True
            self._cancel_role("order")

    def _on_order_closed(self, order: TrackedOrder, reason: str) -> None:
        if order.state is OrderState.FILLED or self._filled() >= self.target:
            self._shutdown(CloseType.COMPLETED)
        elif order.state is OrderState.FAILED:
            self.failure_reason = reason
            self._shutdown(CloseType.FAILED)
        elif self._refreshing:
            self._refreshing = False
            self.refreshes += 1
            self._place_order(None if self.config.price_offset is not None else order.price)
        else:
            self.failure_reason = f"order {order.order_id} was cancelled outside the executor"
            self._shutdown(CloseType.FAILED)

    def _report_extra(self) -> dict[str, Any]:
        extra = super()._report_extra()
        extra["refreshes"] = self.refreshes
        return extra
