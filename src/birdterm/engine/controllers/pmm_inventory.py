"""pmm_inventory: a market maker that builds and sells inventory through a position hold.

Each level keeps one resting entry (buy at mid x (1 - spread), sell at mid x (1 + spread)),
re-placed at the new mid every `executor_refresh_time`. A filled entry waits
`executor_activation_time` for its take profit; if that does not fill, its inventory moves into
the position hold (close type POSITION_HOLD), from which sell levels later sell it.

Inventory gates, on the base asset's share of the portfolio at mid:
- below `min_base_pct` no sell level is placed (build inventory first);
- at or above `max_base_pct` no buy level is placed;
- in between, `inventory_skew` sizes orders towards `target_base_pct` (bigger buys below it,
  bigger sells above it).
With `profit_protection`, a sell level priced below the hold's break-even (exit fee included)
is not placed, so held inventory is never sold at a loss.

Per order: total_amount_quote x portfolio_allocation / (number of levels), e.g. 1000 x 0.02
over one buy and one sell level quotes $10 a side, $20 around mid. A level runs at most
`max_active_executors_by_level` executors (filled ones waiting for their take profit count),
waits `cooldown_time` after its last entry filled, and skips a price within
`price_distance_tolerance` of an active filled executor's entry at the same level.
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
from birdterm.engine.types import OrderType, TradeType

Fraction = Decimal


class PmmInventoryConfig(ControllerConfig):
    """Settings of the inventory market maker (fractions: 0.01 = 1 %)."""

    type: Literal["pmm_inventory"] = "pmm_inventory"
    total_amount_quote: Decimal = Field(gt=0)
    portfolio_allocation: Fraction = Field(default=Decimal("0.02"), gt=0, le=1)
    target_base_pct: Fraction = Field(default=Decimal("0.5"), ge=0, le=1)
    min_base_pct: Fraction = Field(default=Decimal("0.2"), ge=0, le=1)
    max_base_pct: Fraction = Field(default=Decimal("0.8"), ge=0, le=1)
    buy_spreads: list[Fraction] = Field(default=[Decimal("0.001")], min_length=1, max_length=20)
    sell_spreads: list[Fraction] = Field(default=[Decimal("0.001")], min_length=1, max_length=20)
    take_profit: Fraction = Field(default=Decimal("0.002"), gt=0, lt=1)
    max_active_executors_by_level: int = Field(default=20, ge=1, le=1000)
    cooldown_time: float = Field(default=15.0, ge=0, description="seconds")
    price_distance_tolerance: Fraction = Field(default=Decimal("0.0005"), ge=0, lt=1)
    executor_activation_time: float = Field(default=3600.0, gt=0, description="seconds")
    executor_refresh_time: float = Field(default=60.0, gt=0, description="seconds")
    profit_protection: bool = True
    inventory_skew: Fraction = Field(default=Decimal("0.5"), ge=0, le=1)

    @model_validator(mode="after")
    def _bands(self) -> PmmInventoryConfig:
        if not self.min_base_pct <= self.target_base_pct <= self.max_base_pct:
            raise ValueError(
                f"need min_base_pct <= target_base_pct <= max_base_pct, got "
                f"{self.min_base_pct} / {self.target_base_pct} / {self.max_base_pct}"
            )
        for name in ("buy_spreads", "sell_spreads"):
            bad = [s for s in getattr(self, name) if not Decimal(0) < s < 1]
            if bad:
                raise ValueError(f"{name}: every spread must be > 0 and < 1, got {bad}")
        return self


class _Level:
    """One quoting level and what the controller remembers about it."""

    __slots__ = (
        "entries", "id", "last_fill", "pending", "retry_after", "side", "spread", "spread_f",
    )  # fmt: skip

    def __init__(self, level_id: str, side: TradeType, spread: Decimal) -> None:
        self.id = level_id
        self.side = side
        self.spread = spread
        self.spread_f = float(spread)
        self.pending: Executor | None = None  # its unfilled entry
        self.entries: list[float] = []  # entry prices of its active filled executors
        self.last_fill = -math.inf
        self.retry_after = -math.inf  # after a FAILED executor, not before this time


class PmmInventory(Controller):
    """Quotes levels around mid, gated and sized by inventory, with a position hold."""

    config_class = PmmInventoryConfig
    config: PmmInventoryConfig

    def __init__(self, config: ControllerConfig, context: ControllerContext) -> None:
        super().__init__(config, context)
        cfg = self.config
        self.levels = [_Level(f"buy_{i}", TradeType.BUY, s) for i, s in enumerate(cfg.buy_spreads)]
        self.levels += [
            _Level(f"sell_{i}", TradeType.SELL, s) for i, s in enumerate(cfg.sell_spreads)
        ]
        self.order_quote = cfg.total_amount_quote * cfg.portfolio_allocation / len(self.levels)
        self.barrier = TripleBarrier(
            take_profit=cfg.take_profit, hold_after=cfg.executor_activation_time
        )
        self.rule = self.gateway.trading_rule(self.trading_pair)
        self.exit_fee = self.gateway.exit_fee_pct(self.trading_pair, OrderType.LIMIT)
        self._count: dict[str, int] = {}
        self._break_even: float | None = None
        self._seen_version = -1
        self._by_id = {level.id: level for level in self.levels}
        self._min, self._max = float(cfg.min_base_pct), float(cfg.max_base_pct)
        self._target, self._skew = float(cfg.target_base_pct), float(cfg.inventory_skew)
        self._tolerance = float(cfg.price_distance_tolerance)
        self._base_total = self._quote_total = 0.0
        self._base_free = self._quote_free = Decimal(0)
        context.orchestrator.listeners.append(self._on_executor_closed)

    def _on_executor_closed(self, executor: Executor) -> None:
        level = self._by_id.get(executor.level_id)
        failed = executor.close_type is CloseType.FAILED
        if executor.controller_id == self.id and level is not None and failed:
            level.retry_after = (executor.close_ts or 0.0) + FAILURE_BACKOFF

    def base_pct(self, mid: float) -> float:
        """The base asset's share of the portfolio valued at `mid`."""
        base = self._base_total * mid
        total = base + self._quote_total
        return base / total if total > 0 else 0.0

    def _refresh_state(self) -> None:
        """Rebuild the per-level view after executors changed (fills, creations, ends)."""
        for level in self.levels:
            level.pending, level.entries = None, []
        count: dict[str, int] = {}
        for executor in self.executors:
            level = self._by_id.get(executor.level_id)
            if level is None:
                continue
            count[level.id] = count.get(level.id, 0) + 1
            if executor.has_fills:
                entry = executor.entry_price()
                if entry is not None:
                    level.entries.append(float(entry))
                if executor.first_fill_ts is not None:
                    level.last_fill = max(level.last_fill, executor.first_fill_ts)
            elif executor.status.value == "RUNNING":
                level.pending = executor
        self._count = count
        # Balances change only with fills, and every fill bumps the orchestrator's version.
        self._base_total = float(self.gateway.total_balance(self.base_asset))
        self._quote_total = float(self.gateway.total_balance(self.quote_asset))
        self._base_free = self.gateway.available(self.base_asset)
        self._quote_free = self.gateway.available(self.quote_asset)
        hold = self.hold
        self._break_even = None
        if hold.base_amount > 0:
            break_even = hold.break_even_price(self.exit_fee)
            self._break_even = float(break_even) if break_even is not None else None

    def decide(self, now: float) -> Sequence[Action]:
        """Refresh stale entries, then place entries on free levels the gates allow."""
        version = self.context.orchestrator.version
        if version != self._seen_version:
            self._refresh_state()
            self._seen_version = version
        cfg = self.config
        actions: list[Action] = []
        mid_d: Decimal | None = None
        mid = pct = 0.0
        for level in self.levels:
            pending = level.pending
            if pending is not None:
                if now - pending.created_ts >= cfg.executor_refresh_time:
                    actions.append(StopExecutor(pending.id))
                continue
            if self._count.get(level.id, 0) >= cfg.max_active_executors_by_level:
                continue
            if now - level.last_fill < cfg.cooldown_time or now < level.retry_after:
                continue
            if mid_d is None:
                mid_d = self.mid()
                mid = float(mid_d)
                pct = self.base_pct(mid)
            buy = level.side is TradeType.BUY
            if (pct >= self._max) if buy else (pct < self._min):
                continue
            price = mid * (1 - level.spread_f) if buy else mid * (1 + level.spread_f)
            if not buy:
                protected = cfg.profit_protection and self._break_even is not None
                if protected and price < self._break_even:  # type: ignore[operator]
                    continue
            if level.entries and any(
                abs(e - price) <= self._tolerance * price for e in level.entries
            ):
                continue
            action = self._entry(level, mid_d, pct)
            if action is not None:
                actions.append(action)
        return actions

    def _entry(self, level: _Level, mid: Decimal, pct: float) -> CreateExecutor | None:
        buy = level.side is TradeType.BUY
        price = mid * (1 - level.spread) if buy else mid * (1 + level.spread)
        price = self.rule.quantize_price(price, level.side)
        span = max(self._max - self._min, 1e-9)
        tilt = max(-1.0, min(1.0, (self._target - pct) / span)) * self._skew
        scale = Decimal(repr(round(1 + tilt if buy else 1 - tilt, 6)))
        amount = self.rule.quantize_amount(self.order_quote * scale / price)
        if amount <= 0 or amount * price < self.rule.min_notional:
            return None
        # Spot: spend only what is free, counting what this decision already committed.
        if buy:
            if amount * price > self._quote_free:
                return None
            self._quote_free -= amount * price
        else:
            if amount > self._base_free:
                return None
            self._base_free -= amount
        config = PositionExecutorConfig(
            trading_pair=self.trading_pair, side=level.side, amount=amount, entry_price=price,
            entry_order_type=OrderType.LIMIT, barrier=self.barrier, level_id=level.id,
        )  # fmt: skip
        return CreateExecutor(PositionExecutor, config)
