"""DCAExecutor: several entry limit orders at once, one exit priced from the average entry.

Entry levels are given as `prices`, or generated from `start_price`, `n_levels` and `step`:
"arithmetic" spacing puts level i at start * (1 - i * step), "geometric" at start * (1 - step)^i
(a sell DCA goes up instead: + step). Level sizes are `amounts` in base, or `amount_quote` split
"equal"ly or "geometric"ally (level i gets amount_ratio^i parts) and converted at each level's
price. All entries rest at once. After every entry fill the average entry price (the fills'
volume-weighted price) is recomputed: the take profit, one resting limit order for the whole
position at avg * (1 + take_profit), is replaced once the old one's cancel is confirmed, and the
stop loss, a watch at avg * (1 - stop_loss), is re-armed (signs flip for a sell DCA). A filled
take profit cancels the remaining entries (TAKE_PROFIT); the stop loss or the time limit cancel
everything and close the position at market once the cancels are confirmed.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, model_validator

from birdterm.engine.connectors.base import Fill, TradingGateway, WatchKind
from birdterm.engine.executors.base import CloseType, Executor, ExecutorConfig, TrackedOrder
from birdterm.engine.types import OrderState, OrderType, TradeType

ONE = Decimal(1)


class DCAExecutorConfig(ExecutorConfig):
    """A DCA: entry levels (explicit or generated), their sizes, and the exits."""

    prices: tuple[Decimal, ...] | None = Field(default=None, min_length=1, max_length=100)
    start_price: Decimal | None = Field(default=None, gt=0)
    n_levels: int | None = Field(default=None, ge=1, le=100)
    step: Decimal | None = Field(default=None, gt=0, lt=1, description="fraction per level")
    spacing: Literal["arithmetic", "geometric"] = "arithmetic"
    amounts: tuple[Decimal, ...] | None = Field(default=None, min_length=1, max_length=100)
    amount_quote: Decimal | None = Field(default=None, gt=0, description="quote over all levels")
    amount_distribution: Literal["equal", "geometric"] = "equal"
    amount_ratio: Decimal = Field(default=Decimal("1.5"), gt=0, le=10)
    entry_order_type: OrderType = OrderType.LIMIT
    take_profit: Decimal | None = Field(default=None, gt=0, lt=10)
    stop_loss: Decimal | None = Field(default=None, gt=0, lt=1)
    time_limit: float | None = Field(default=None, gt=0, description="seconds from the start")

    @model_validator(mode="after")
    def _consistent(self) -> DCAExecutorConfig:
        generated = (self.start_price, self.n_levels, self.step)
        if self.prices is None and None in generated:
            raise ValueError("give `prices`, or all of `start_price`, `n_levels` and `step`")
        if self.prices is not None and any(v is not None for v in generated):
            raise ValueError("give either `prices` or `start_price`/`n_levels`/`step`, not both")
        if (self.amounts is None) == (self.amount_quote is None):
            raise ValueError("give exactly one of `amounts` (base per level) or `amount_quote`")
        if not self.entry_order_type.is_limit:
            raise ValueError("entry_order_type must be LIMIT or LIMIT_MAKER (entries rest)")
        prices = self.level_prices()
        if any(p <= 0 for p in prices):
            raise ValueError(f"level prices {[str(p) for p in prices]} must all be > 0; "
                             "use a smaller step or fewer levels")  # fmt: skip
        if self.amounts is not None:
            if len(self.amounts) != len(prices):
                raise ValueError(f"{len(self.amounts)} amounts for {len(prices)} levels; "
                                 "give one per level")  # fmt: skip
            if any(a <= 0 for a in self.amounts):
                raise ValueError("every amount must be > 0")
        return self

    def level_prices(self) -> list[Decimal]:
        """The entry prices, first level first (before quantization to the tick size)."""
        if self.prices is not None:
            return list(self.prices)
        assert self.start_price is not None and self.n_levels is not None
        assert self.step is not None
        sign = -1 if self.side is TradeType.BUY else 1
        if self.spacing == "arithmetic":
            return [self.start_price * (ONE + sign * i * self.step) for i in range(self.n_levels)]
        factor = ONE + sign * self.step
        return [self.start_price * factor**i for i in range(self.n_levels)]

    def level_amounts(self) -> list[Decimal]:
        """Base amount per level (before quantization to the step size)."""
        if self.amounts is not None:
            return list(self.amounts)
        assert self.amount_quote is not None
        prices = self.level_prices()
        if self.amount_distribution == "equal":
            weights = [ONE] * len(prices)
        else:
            weights = [self.amount_ratio**i for i in range(len(prices))]
        total = sum(weights, Decimal(0))
        return [self.amount_quote * w / total / p for w, p in zip(weights, prices, strict=True)]


class DCAExecutor(Executor):
    """Rests every entry level at once and exits on the average entry price."""

    kind = "dca"

    def __init__(
        self, executor_id: str, controller_id: str, config: DCAExecutorConfig,
        gateway: TradingGateway, **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(executor_id, controller_id, config, gateway, **kwargs)
        self.config: DCAExecutorConfig = config

    # ---- entries -----------------------------------------------------------------------------
    def _on_start(self) -> None:
        cfg = self.config
        rule = self.gateway.trading_rule(self.trading_pair)
        for price, amount in zip(cfg.level_prices(), cfg.level_amounts(), strict=True):
            price = rule.quantize_price(price, self.side)
            self._place(
                "entry", self.side, cfg.entry_order_type, rule.quantize_amount(amount), price
            )
        if cfg.time_limit is not None:
            self._watch_time("time_limit", self.created_ts + cfg.time_limit)

    def _on_fill(self, order: TrackedOrder, fill: Fill) -> None:
        if order.role == "entry" and self._closing is None:
            self._arm_stop_loss()
            self._refresh_take_profit()

    def _exit_price(self, fraction: Decimal, favourable: bool) -> Decimal:
        average = self.entry_price()
        assert average is not None
        sign = (1 if self.side is TradeType.BUY else -1) * (1 if favourable else -1)
        return average * (ONE + sign * fraction)

    def _arm_stop_loss(self) -> None:
        if self.config.stop_loss is None:
            return
        self._unwatch("stop_loss")
        kind = WatchKind.BELOW if self.side is TradeType.BUY else WatchKind.ABOVE
        self._watch("stop_loss", kind, self._exit_price(self.config.stop_loss, False), adverse=True)

    def _refresh_take_profit(self) -> None:
        """Keep one take-profit order sized to the whole position at the current average."""
        if self.config.take_profit is not None:
            self._keep_take_profit(self._exit_price(self.config.take_profit, True))

    # ---- order outcomes ----------------------------------------------------------------------
    def _on_order_closed(self, order: TrackedOrder, reason: str) -> None:
        if order.state is OrderState.FAILED:
            self.failure_reason = reason
        if order.role == "entry":
            if order.state is OrderState.FAILED and not self.has_fills:
                self._shutdown(CloseType.FAILED)
            elif self._closing is not None:
                self._close_when_idle()
        elif order.role == "take_profit":
            if order.state is OrderState.FILLED and self._is_dust(OrderType.LIMIT):
                self._shutdown(CloseType.TAKE_PROFIT)
            elif self._closing is not None:
                self._close_when_idle()
            elif order.state is not OrderState.FAILED:
                # a failed take profit is retried at the next entry fill, not at once: a
                # deterministic rejection (minimum notional) would otherwise loop forever
                self._refresh_take_profit()

    # ---- exits -------------------------------------------------------------------------------
    def _on_watch(self, role: str, price: Decimal) -> None:
        if role == "stop_loss":
            self._begin_close(CloseType.STOP_LOSS)
        elif role == "time_limit":
            self._begin_close(CloseType.TIME_LIMIT)

    def _on_early_stop(self, keep_position: bool) -> None:
        if keep_position and self.is_trading:
            self._shutdown(CloseType.POSITION_HOLD)
        else:
            self._begin_close(CloseType.EARLY_STOP)

    def levels_filled(self) -> int:
        """Entry levels whose whole amount filled."""
        return sum(1 for o in self.orders.values()
                   if o.role == "entry" and o.state is OrderState.FILLED)  # fmt: skip

    def _report_extra(self) -> dict[str, Any]:
        extra = super()._report_extra()
        extra["levels_filled"] = self.levels_filled()
        extra["n_levels"] = len(self.config.level_prices())
        extra["average_price"] = self.entry_price()
        return extra
