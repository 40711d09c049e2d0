"""ExecutorOrchestrator: runs controllers' executors and keeps the position holds.

It creates executors from controller actions, stops them on request, and when an executor
terminates with inventory left in its ledger (a time-limited buy whose take profit never filled,
dust below the step size, an executor told to keep its position) moves that inventory into the
controller's position hold for the pair, at its cost basis. That hand-over is what keeps the P&L
identity exact: executors realized + executors unrealized + position realized + position
unrealized = the change in the wallet's value at mid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from birdterm.engine.connectors.base import TradingGateway
from birdterm.engine.executors.base import Executor, ExecutorReport
from birdterm.engine.executors.position_hold import PositionHold

ZERO = Decimal(0)

ExecutorFactory = Callable[..., Executor]


@dataclass(frozen=True, slots=True)
class PnlBreakdown:
    """The P&L split the dashboard and the backtest report show; `total` is their sum."""

    executors_realized: Decimal
    executors_unrealized: Decimal
    position_realized: Decimal
    position_unrealized: Decimal
    fees: Decimal
    volume: Decimal

    @property
    def total(self) -> Decimal:
        """All four parts together."""
        return (self.executors_realized + self.executors_unrealized
                + self.position_realized + self.position_unrealized)  # fmt: skip


class ExecutorOrchestrator:
    """Owns every executor of the controllers it serves, and their position holds."""

    def __init__(
        self, gateway: TradingGateway, connector_name: str = "sim", id_prefix: str = ""
    ) -> None:
        self.gateway = gateway
        self.connector_name = connector_name
        self.id_prefix = id_prefix  # live runs: keeps ids unique across restarts of one store
        self.active: dict[str, Executor] = {}
        self.closed: list[Executor] = []
        self.holds: dict[tuple[str, str], PositionHold] = {}
        self._by_controller: dict[str, dict[str, Executor]] = {}
        self._counter = 0
        # per pair: realized P&L, fees and volume of every terminated executor
        self.closed_totals: dict[str, list[Decimal]] = {}
        self.listeners: list[Callable[[Executor], None]] = []  # told of every terminated executor
        self.change_listeners: list[Callable[[Executor], None]] = []  # told of every change
        self.version = 0  # bumped on every create, fill and end: cheap "did anything change?"
        self.changed: set[str] = set()  # controllers whose executors changed; the runner clears

    def create(self, controller_id: str, executor_class: ExecutorFactory, config: Any) -> Executor:
        """Build and start one executor for a controller; ids are sequential per run."""
        self._counter += 1
        executor = executor_class(
            f"{controller_id}-{self.id_prefix}{self._counter}", controller_id, config,
            self.gateway, on_terminated=self._on_terminated,
        )  # fmt: skip
        executor.group = self._counter  # ties the executor's stop loss to its take profit
        executor.on_change = lambda: self._bump(controller_id, executor)
        self._bump(controller_id, executor)
        self.active[executor.id] = executor
        self._by_controller.setdefault(controller_id, {})[executor.id] = executor
        executor.start()
        return executor

    def _bump(self, controller_id: str, executor: Executor) -> None:
        self.version += 1
        self.changed.add(controller_id)
        for listener in self.change_listeners:
            listener(executor)

    def stop(self, executor_id: str, keep_position: bool = False) -> None:
        """Early-stop an executor (closing its position, or keeping it for the hold)."""
        executor = self.active.get(executor_id)
        if executor is not None:
            executor.early_stop(keep_position)

    def executors_of(self, controller_id: str) -> Iterable[Executor]:
        """The controller's active executors."""
        return self._by_controller.get(controller_id, {}).values()

    def active_count(self, controller_id: str) -> int:
        """How many executors the controller has running."""
        return len(self._by_controller.get(controller_id, ()))

    def hold(self, controller_id: str, trading_pair: str) -> PositionHold:
        """The controller's position hold on a pair (created empty on first use)."""
        key = (controller_id, trading_pair)
        hold = self.holds.get(key)
        if hold is None:
            hold = self.holds[key] = PositionHold(self.connector_name, trading_pair, controller_id)
        return hold

    def _on_terminated(self, executor: Executor) -> None:
        self.active.pop(executor.id, None)
        self._by_controller.get(executor.controller_id, {}).pop(executor.id, None)
        ledger = executor.ledger
        if ledger.base_amount != 0:
            hold = self.hold(executor.controller_id, executor.trading_pair)
            hold.absorb(ledger.base_amount, ledger.cost_quote, executor.close_ts or 0.0)
        volume = executor.bought_quote + executor.sold_quote
        totals = self.closed_totals.setdefault(executor.trading_pair, [ZERO, ZERO, ZERO])
        totals[0] += ledger.realized_pnl_quote
        totals[1] += executor.fees_quote
        totals[2] += volume
        self.closed.append(executor)
        for listener in self.listeners:
            listener(executor)

    def pnl(self, mid_of: Callable[[str], Decimal]) -> PnlBreakdown:
        """The P&L split now, valuing open inventory at `mid_of(pair)`."""
        realized = sum((t[0] for t in self.closed_totals.values()), ZERO)
        fees = sum((t[1] for t in self.closed_totals.values()), ZERO)
        volume = sum((t[2] for t in self.closed_totals.values()), ZERO)
        unrealized = ZERO
        for executor in self.active.values():
            realized += executor.ledger.realized_pnl_quote
            unrealized += executor.unrealized_pnl_quote(mid_of(executor.trading_pair))
            fees += executor.fees_quote
            volume += executor.bought_quote + executor.sold_quote
        position_realized = position_unrealized = ZERO
        for hold in self.holds.values():
            position_realized += hold.realized_pnl_quote
            if hold.base_amount:
                position_unrealized += hold.unrealized_pnl_quote(mid_of(hold.trading_pair))
        return PnlBreakdown(realized, unrealized, position_realized, position_unrealized,
                            fees, volume)  # fmt: skip

    def reports(self, mid_of: Callable[[str], Decimal]) -> list[ExecutorReport]:
        """Reports of closed then active executors, in creation order within each."""
        return [e.report(mid_of(e.trading_pair)) for e in (*self.closed, *self.active.values())]
