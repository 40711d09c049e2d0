"""TWAPExecutor: a base amount spread over `duration` seconds in equal slices.

Slice i is due at start + i * duration / n_slices (slice 0 at once). Slice amounts are the total
divided by `n_slices`, rounded down to the step size; the rounding remainder goes to the last
slice. In "taker" mode every slice is a market order. In "maker" mode a slice rests as a
LIMIT_MAKER order `maker_offset` from the mid (below for a buy, above for a sell); when the next
slice is due it is cancelled and, once the cancel is confirmed, its unfilled rest is sent as a
market order; the last slice's rest is swept the same way at start + duration. A rest the
exchange would reject (below the minimum amount or notional) is left unfilled and reported.
When several slices fall due at once (a gap in the data), all but the newest go at market.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, model_validator

from birdterm.engine.connectors.base import Fill, TradingGateway
from birdterm.engine.executors.base import (
    CloseType,
    Executor,
    ExecutorConfig,
    ExecutorStatus,
    TrackedOrder,
)
from birdterm.engine.types import OrderRuleError, OrderState, OrderType, TradeType

ZERO = Decimal(0)
ONE = Decimal(1)


class TWAPExecutorConfig(ExecutorConfig):
    """A TWAP: side, total base amount, duration, slice count and mode."""

    total_amount: Decimal = Field(gt=0, description="base amount over all slices")
    duration: float = Field(gt=0, description="seconds from the first slice to the end")
    n_slices: int = Field(ge=1, le=10_000)
    mode: Literal["taker", "maker"] = "taker"
    maker_offset: Decimal = Field(
        default=Decimal("0.0005"), ge=0, lt=1,
        description="maker mode: fraction from the mid, below it for a buy, above for a sell",
    )  # fmt: skip

    @model_validator(mode="after")
    def _maker_needs_offset(self) -> TWAPExecutorConfig:
        if self.mode == "maker" and self.maker_offset <= 0:
            raise ValueError("maker mode needs maker_offset > 0 (at the mid it would take)")
        return self


class TWAPExecutor(Executor):
    """Executes `total_amount` in `n_slices` slices over `duration` seconds."""

    kind = "twap"

    def __init__(
        self, executor_id: str, controller_id: str, config: TWAPExecutorConfig,
        gateway: TradingGateway, **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(executor_id, controller_id, config, gateway, **kwargs)
        self.config: TWAPExecutorConfig = config
        self.schedule: list[tuple[float, Decimal]] = []  # (due time, base amount) per slice
        self.slice_filled: list[Decimal] = []
        self.unfilled = ZERO  # rests too small to send
        self._slice_of: dict[str, int] = {}  # order id -> slice index
        self._due = 0  # slices whose time has come
        self._next = 0  # next slice to place
        self._final_due = False
        self._sweeps: list[tuple[int, Decimal]] = []  # (slice, rest) waiting to go at market

    # ---- schedule ----------------------------------------------------------------------------
    def _on_start(self) -> None:
        cfg = self.config
        rule = self.gateway.trading_rule(self.trading_pair)
        total = rule.quantize_amount(cfg.total_amount)
        each = rule.quantize_amount(total / cfg.n_slices)
        if each <= 0:
            self.failure_reason = (
                f"a slice of {cfg.total_amount} / {cfg.n_slices} is below the step size "
                f"{rule.step_size}; use fewer slices or a larger amount"
            )
            self._shutdown(CloseType.FAILED)
            return
        amounts = [each] * (cfg.n_slices - 1) + [total - each * (cfg.n_slices - 1)]
        interval = cfg.duration / cfg.n_slices
        self.schedule = [(self.created_ts + i * interval, a) for i, a in enumerate(amounts)]
        self.slice_filled = [ZERO] * cfg.n_slices
        for i, (due, _amount) in enumerate(self.schedule[1:], start=1):
            self._watch_time(f"slice:{i}", due)
        if cfg.mode == "maker":
            self._watch_time("final", self.created_ts + cfg.duration)
        self._due = 1
        self._advance()

    def _advance(self) -> None:
        """Do the next thing the schedule allows; called after every event."""
        if self.status is not ExecutorStatus.RUNNING:
            return
        open_orders = self._open_orders()
        if open_orders:
            if self._due > self._next or self._final_due:
                self._cancel_role("maker")  # the rest is swept once the cancel is confirmed
            return
        if self._sweeps:
            sweeps, self._sweeps = self._sweeps, []
            for index, rest in sweeps:
                self._send(index, OrderType.MARKET, rest, is_rest=True)
            if self._open_orders():
                return
        if self._next < self._due:
            newest = self._due - 1
            for index in range(self._next, self._due):
                maker = self.config.mode == "maker" and index == newest and not self._final_due
                self._send(index, OrderType.LIMIT_MAKER if maker else OrderType.MARKET,
                           self.schedule[index][1])  # fmt: skip
            self._next = self._due
            return
        if self._next == len(self.schedule) and (
            self.config.mode == "taker" or self._final_due or self._done_amount() >= self._total()
        ):
            self._shutdown(CloseType.COMPLETED)

    def _send(
        self, index: int, order_type: OrderType, amount: Decimal, is_rest: bool = False
    ) -> None:
        rule = self.gateway.trading_rule(self.trading_pair)
        mid = self.gateway.mid_price(self.trading_pair)
        price: Decimal | None = None
        if order_type is OrderType.LIMIT_MAKER:
            offset = self.config.maker_offset
            raw = mid * (ONE - offset if self.side is TradeType.BUY else ONE + offset)
            price = rule.quantize_price(raw, self.side)
        if is_rest:
            try:  # a leftover too small to trade is reported, not a failure of the whole TWAP
                rule.check(mid, amount)
            except OrderRuleError:
                self.unfilled += amount
                return
        role = "maker" if order_type is OrderType.LIMIT_MAKER else "market"
        order = self._place(role, self.side, order_type, amount, price)
        self._slice_of[order.order_id] = index

    def _total(self) -> Decimal:
        return sum((amount for _due, amount in self.schedule), ZERO)

    def _done_amount(self) -> Decimal:
        return self.bought_base if self.side is TradeType.BUY else self.sold_base

    # ---- events ------------------------------------------------------------------------------
    def _on_fill(self, order: TrackedOrder, fill: Fill) -> None:
        index = self._slice_of.get(order.order_id)
        if index is not None:
            self.slice_filled[index] += fill.amount

    def _on_order_closed(self, order: TrackedOrder, reason: str) -> None:
        if order.state is OrderState.FAILED:
            self.failure_reason = reason
            self._shutdown(CloseType.FAILED)
            return
        if order.state is OrderState.CANCELED and order.remaining > 0:
            self._sweeps.append((self._slice_of[order.order_id], order.remaining))
        self._advance()

    def _on_watch(self, role: str, price: Decimal) -> None:
        if role == "final":
            self._final_due = True
            self._due = len(self.schedule)
        elif role.startswith("slice:"):
            self._due = max(self._due, int(role.partition(":")[2]) + 1)
        self._advance()

    # ---- reporting ---------------------------------------------------------------------------
    def slices_done(self) -> int:
        """Slices whose whole amount has been filled."""
        return sum(
            1 for (_due, amount), filled in zip(self.schedule, self.slice_filled, strict=True)
            if filled >= amount
        )  # fmt: skip

    def _report_extra(self) -> dict[str, Any]:
        extra = super()._report_extra()
        extra["slices_done"] = self.slices_done()
        extra["n_slices"] = self.config.n_slices
        extra["average_price"] = self.entry_price()
        if self.unfilled:
            extra["unfilled"] = self.unfilled
        return extra
