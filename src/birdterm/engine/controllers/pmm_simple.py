"""PmmSimple: market making with one PositionExecutor per price level on each side of the mid.

Each level ("buy_0", "sell_1", ...) runs at most one executor: a LIMIT entry at
mid * (1 - spread) for buys or mid * (1 + spread) for sells, sized `amount_pct` of
`total_amount_quote`, with the config's triple barrier as its exits. An executor whose entry has
not filled after `executor_refresh_time` is stopped and re-created at the new mid. After an
executor that traded has closed, its level waits `cooldown_time` before it is placed again.
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
    StopExecutor,
)
from birdterm.engine.executors.base import CloseType, Executor
from birdterm.engine.executors.position import (
    PositionExecutor,
    PositionExecutorConfig,
    TripleBarrier,
)
from birdterm.engine.types import OrderRuleError, OrderType, TradeType

ONE = Decimal(1)


class PmmSimpleConfig(ControllerConfig):
    """Spreads and sizes per level, refresh and cooldown times, and the exits."""

    type: Literal["pmm_simple"] = "pmm_simple"
    buy_spreads: list[Decimal] = Field(default_factory=list, description="fractions below mid")
    sell_spreads: list[Decimal] = Field(default_factory=list, description="fractions above mid")
    buy_amounts_pct: list[Decimal] = Field(default_factory=list)
    sell_amounts_pct: list[Decimal] = Field(default_factory=list)
    total_amount_quote: Decimal = Field(gt=0)
    executor_refresh_time: float = Field(default=60.0, gt=0, description="seconds")
    cooldown_time: float = Field(default=0.0, ge=0, description="seconds")
    entry_order_type: OrderType = OrderType.LIMIT
    triple_barrier: TripleBarrier = TripleBarrier()

    @model_validator(mode="after")
    def _levels_consistent(self) -> PmmSimpleConfig:
        for side in ("buy", "sell"):
            spreads = getattr(self, f"{side}_spreads")
            amounts = getattr(self, f"{side}_amounts_pct")
            if len(spreads) != len(amounts):
                raise ValueError(
                    f"{side}_spreads has {len(spreads)} levels but {side}_amounts_pct has "
                    f"{len(amounts)}; give one amount per spread"
                )
            for spread in spreads:
                if not 0 < spread < 1:
                    raise ValueError(f"{side}_spreads: {spread} must be > 0 and < 1")
            for pct in amounts:
                if not 0 < pct <= 1:
                    raise ValueError(f"{side}_amounts_pct: {pct} must be > 0 and <= 1")
        if not self.buy_spreads and not self.sell_spreads:
            raise ValueError("give at least one level in buy_spreads or sell_spreads")
        total = sum(self.buy_amounts_pct, Decimal(0)) + sum(self.sell_amounts_pct, Decimal(0))
        if total > 1:
            raise ValueError(
                f"buy_amounts_pct and sell_amounts_pct add up to {total}; they are shares of "
                "total_amount_quote and must add up to 1 or less"
            )
        if not self.entry_order_type.is_limit:
            raise ValueError("entry_order_type must be LIMIT or LIMIT_MAKER (entries rest)")
        return self

    def levels(self) -> list[tuple[str, TradeType, Decimal, Decimal]]:
        """(level id, side, spread, amount pct) for every level, buys first."""
        out = []
        sides = (
            (TradeType.BUY, self.buy_spreads, self.buy_amounts_pct),
            (TradeType.SELL, self.sell_spreads, self.sell_amounts_pct),
        )
        for side, spreads, pcts in sides:
            for i, (spread, pct) in enumerate(zip(spreads, pcts, strict=True)):
                out.append((f"{side.value.lower()}_{i}", side, spread, pct))
        return out


class PmmSimple(Controller):
    """Keeps one position executor per level, refreshed while unfilled."""

    config_class = PmmSimpleConfig
    config: PmmSimpleConfig

    def __init__(self, config: PmmSimpleConfig, context: ControllerContext) -> None:
        super().__init__(config, context)
        self._levels = config.levels()
        self._cooldown_until: dict[str, float] = {}
        context.orchestrator.listeners.append(self._on_executor_closed)

    def _on_executor_closed(self, executor: Executor) -> None:
        if executor.controller_id != self.id:
            return
        closed = executor.close_ts or self.gateway.now()
        if executor.close_type is CloseType.FAILED:
            wait = max(self.config.cooldown_time, FAILURE_BACKOFF)
            self._cooldown_until[executor.level_id] = closed + wait
        elif executor.has_fills:
            self._cooldown_until[executor.level_id] = closed + self.config.cooldown_time

    def decide(self, now: float) -> Sequence[Action]:
        """Refresh stale unfilled entries and fill free levels at the current mid."""
        actions: list[Action] = []
        busy: set[str] = set()
        for executor in self.executors:
            busy.add(executor.level_id)
            stale = now - executor.created_ts >= self.config.executor_refresh_time
            if stale and not executor.has_fills and executor.close_type is None:
                actions.append(StopExecutor(executor.id))
        mid = self.mid()
        rule = self.gateway.trading_rule(self.trading_pair)
        for level_id, side, spread, pct in self._levels:
            if level_id in busy or now < self._cooldown_until.get(level_id, 0.0):
                continue
            if side is TradeType.BUY:
                price = rule.quantize_price(mid * (ONE - spread), side)
            else:
                price = rule.quantize_price(mid * (ONE + spread), side)
            amount = rule.quantize_amount(pct * self.config.total_amount_quote / price)
            try:
                rule.check(price, amount)
            except OrderRuleError:
                continue  # too small for the exchange; sending it would only fail
            config = PositionExecutorConfig(
                trading_pair=self.trading_pair, side=side, amount=amount, entry_price=price,
                entry_order_type=self.config.entry_order_type,
                barrier=self.config.triple_barrier, level_id=level_id,
            )  # fmt: skip
            actions.append(CreateExecutor(PositionExecutor, config))
        return actions

    def next_decision(self, now: float) -> float | None:
        """The next refresh or cooldown end; None while a level is free (it is placed now)."""
        wake = math.inf
        busy: set[str] = set()
        for executor in self.executors:
            busy.add(executor.level_id)
            if not executor.has_fills:  # a filled one only changes by ending, which wakes us
                wake = min(wake, executor.created_ts + self.config.executor_refresh_time)
        for level_id, *_ in self._levels:
            if level_id not in busy:
                wake = min(wake, self._cooldown_until.get(level_id, now))
        return self.capped_hint(wake, now)
