"""BacktestEngine: the live controllers and executors, driven over history by a BACKTEST clock.

Per clock tick (default 1 s), in this order:
1. `MarketDriver` walks each pair's fill core over the rows that closed by the tick, delivering
   fills and fired watches to the executors the moment they happen (mid-candle included);
2. `ControllerRunner` calls each controller whose update interval is due (or that one of its
   executors woke) and applies its actions;
3. `StateRecorder` notes the P&L state whenever a fill or an executor's end changed it.
Between fills the P&L is linear in the price, so the per-minute time series is computed at the
end from those snapshots and the prices (vectorized), not by valuing the book every minute.

The clock is sparse: when every controller says when it next needs to decide
(`Controller.next_decision`) and the fill core says when the next fill or watch will fire, the
clock jumps straight there. Results are the same as ticking every slot, only faster.
"""

from __future__ import annotations

import bisect
import gc
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import numpy as np

from birdterm.engine.candle_feed import CandleFeed
from birdterm.engine.clock import Clock, ClockMode, TimeIterator
from birdterm.engine.connectors.sim import SimConnector
from birdterm.engine.connectors.wallet import Wallet
from birdterm.engine.controllers.base import (
    Controller,
    ControllerConfig,
    ControllerContext,
    apply_actions,
)
from birdterm.engine.controllers.registry import controller_class
from birdterm.engine.executors.orchestrator import ExecutorOrchestrator
from birdterm.engine.types import TradeFeeSchema, TradingRule, split_trading_pair
from birdterm.sim.backtest_config import BacktestSettings
from birdterm.sim.backtest_result import BacktestResult, StateLog, build_result
from birdterm.sim.data import candles_from_trades, interval_ms


@contextmanager
def _sparing_gc() -> Iterator[None]:
    """Rare cyclic garbage collection while a backtest runs. A run allocates many small objects
    that live to its end (orders, fills, Decimals) and almost no reference cycles, so the
    default thresholds re-scan them again and again for nothing: a third of a year-long run's
    time. Objects that existed before the run are frozen out of the scans."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(100_000, 50, 1_000)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


class BacktestError(RuntimeError):
    """A backtest that cannot run or whose books do not balance."""


class BacktestCancelled(BacktestError):
    """The caller asked the backtest to stop."""


@dataclass(frozen=True, slots=True)
class MarketData:
    """One pair's history: candles (with their interval) or trades."""

    trading_pair: str
    data: np.ndarray
    kind: Literal["candles", "trades"] = "candles"
    interval: str = "1s"

    def __post_init__(self) -> None:
        if len(self.data) == 0:
            raise BacktestError(f"{self.trading_pair}: the data has no rows in the chosen range")

    @property
    def interval_ms(self) -> int:
        """Candle length (0 for trades)."""
        return interval_ms(self.interval) if self.kind == "candles" else 0

    def row_close_ms(self) -> np.ndarray:
        """When each row is known: a candle at its close, a trade at its time."""
        return self.data["ts"] + self.interval_ms

    def feed(self) -> CandleFeed:
        """Candles for the controllers (1 s candles built from trades)."""
        if self.kind == "candles":
            return CandleFeed(self.data, self.interval_ms)
        return CandleFeed(candles_from_trades(self.data, "1s"), 1000)


class MarketDriver(TimeIterator):
    """Walks every pair's fill core to the rows that closed by each tick."""

    def __init__(
        self, connector: SimConnector, markets: Sequence[MarketData], runner: ControllerRunner
    ) -> None:
        self.connector = connector
        self.runner = runner
        self.pairs = [m.trading_pair for m in markets]
        self.close_ms = {m.trading_pair: m.row_close_ms().tolist() for m in markets}
        self.rows = {m.trading_pair: 0 for m in markets}

    def tick(self, timestamp: float) -> None:
        """Advance each pair to the tick and deliver what happened."""
        ts_ms = round(timestamp * 1000)
        for pair in self.pairs:
            end = bisect.bisect_right(self.close_ms[pair], ts_ms)
            if end > self.rows[pair]:
                self.rows[pair] = end
                self.connector.advance(pair, end)
        self.connector.set_time(timestamp)

    def next_tick_after(self, timestamp: float) -> float | None:
        """The controllers' next decision, or sooner: the close of the first row in which a
        fill or a watch may happen (the fill core's dry run; no market is walked ahead)."""
        limit = self.runner.next_tick_after(timestamp)
        if limit is None:
            return None
        limit_ms = round(limit * 1000) if math.isfinite(limit) else None
        wake = limit
        for pair in self.pairs:
            closes = self.close_ms[pair]
            end = len(closes) if limit_ms is None else bisect.bisect_right(closes, limit_ms)
            row = self.connector.next_active_row(pair, end)
            if row is not None:
                wake = min(wake, closes[row] / 1000)
        return wake


class ControllerRunner(TimeIterator):
    """Calls controllers when due, applies their actions, delivers the answers.

    Ticking every slot (dense), a controller decides at every slot its update interval has
    passed since its last decision, and at once when one of its executors changed. Sparse runs
    must give the same decisions while skipping slots: a controller whose last next_decision
    hint lies ahead is not called (its calls there would decide nothing), but its schedule moves
    on as if it had been, so it wakes at the same slot a dense run would first act at. A hint is
    trusted only while no executor of the run changed since it was given. Schedules are kept in
    whole slot numbers, so float rounding can never put the two runs a slot apart.
    """

    def __init__(
        self,
        controllers: Sequence[Controller],
        orchestrator: ExecutorOrchestrator,
        connector: SimConnector,
        start: float,
        tick_size: float,
    ) -> None:
        self.controllers = list(controllers)
        self.orchestrator = orchestrator
        self.connector = connector
        self._origin = start
        self._tick = tick_size
        # a controller decides every `step` slots after its last decision
        self.step = [
            max(1, math.ceil(c.config.update_interval / tick_size - 1e-9)) for c in self.controllers
        ]
        self.due = [0] * len(self.controllers)  # slot numbers
        self.hints: list[int | None] = [None] * len(self.controllers)
        self._hint_version = -1
        self._asked: tuple[float, float | None] | None = None

    def _slot(self, timestamp: float) -> int:
        """The slot a time falls in, rounded up (the run's final tick may be off the grid)."""
        return math.ceil((timestamp - self._origin) / self._tick - 1e-6)  # float-time slack

    def tick(self, timestamp: float) -> None:
        """Run every controller that is due and not waiting for its hint, or whose executors
        changed since it last decided."""
        changed = self.orchestrator.changed
        self._asked = None
        slot = self._slot(timestamp)
        trust_hints = self._hint_version == self.orchestrator.version
        for i, controller in enumerate(self.controllers):
            if controller.id not in changed:
                if slot < self.due[i]:
                    continue
                hint = self.hints[i] if trust_hints else None
                if hint is not None and slot < hint:
                    # a dense run would have decided (nothing) here: move the schedule on
                    step = self.step[i]
                    self.due[i] += ((slot - self.due[i]) // step + 1) * step
                    continue
            changed.discard(controller.id)
            apply_actions(self.orchestrator, controller.id, controller.decide(timestamp))
            self.connector.process_pending()
            self.due[i] = slot + self.step[i]
            self.hints[i] = None

    def next_tick_after(self, timestamp: float) -> float | None:
        """The first slot a controller could act at (asked by the driver and by the clock in
        one step: computed once)."""
        if self._asked is not None and self._asked[0] == timestamp:
            return self._asked[1]
        wake = self._next_wake(timestamp)
        self._asked = (timestamp, wake)
        return wake

    def _next_wake(self, timestamp: float) -> float | None:
        if self.orchestrator.changed:  # a controller must decide at the next slot
            return None
        self._hint_version = self.orchestrator.version
        wake = math.inf
        for i, controller in enumerate(self.controllers):
            hint = controller.next_decision(timestamp)
            if hint is None:
                self.hints[i] = None
                return None
            if hint == math.inf:
                self.hints[i] = None
                continue
            hint_slot = self.hints[i] = self._slot(hint)
            due, step = self.due[i], self.step[i]
            first = due if due >= hint_slot else due + -((due - hint_slot) // step) * step
            wake = min(wake, self._origin + first * self._tick)
        return wake


class StateRecorder(TimeIterator):
    """Notes the P&L state after any tick in which a fill or an executor's end changed it."""

    def __init__(self, log: StateLog, connector: SimConnector,
                 orchestrator: ExecutorOrchestrator) -> None:  # fmt: skip
        self.log = log
        self.connector = connector
        self.orchestrator = orchestrator
        self._seen = (-1, -1)

    def tick(self, timestamp: float) -> None:
        """Record when something changed since the last tick."""
        marker = (len(self.connector.fills), len(self.orchestrator.closed))
        if marker != self._seen:
            self._seen = marker
            self.log.record(timestamp, self.orchestrator, self.connector.wallet)

    def next_tick_after(self, timestamp: float) -> float:
        """Never needs a tick of its own."""
        return math.inf


class BacktestEngine:
    """Runs controllers over market history and returns a BacktestResult."""

    def __init__(
        self,
        controllers: Sequence[ControllerConfig],
        markets: Sequence[MarketData],
        settings: BacktestSettings,
        sparse: bool = True,
    ) -> None:
        if not controllers:
            raise BacktestError("a backtest needs at least one controller")
        by_pair = {m.trading_pair: m for m in markets}
        for config in controllers:
            if config.trading_pair not in by_pair:
                raise BacktestError(
                    f"controller {config.id} trades {config.trading_pair} but the data covers "
                    f"{', '.join(sorted(by_pair)) or 'no pair'}"
                )
        quotes = {split_trading_pair(p)[1] for p in by_pair}
        if len(quotes) != 1:
            raise BacktestError(f"all pairs must share one quote asset, got {sorted(quotes)}")
        ids = [c.id for c in controllers]
        if len(set(ids)) != len(ids):
            raise BacktestError(f"controller ids must be unique, got {ids}")
        assets = {a for pair in by_pair for a in split_trading_pair(pair)}
        valid = ", ".join(sorted(assets))
        unknown = sorted(set(settings.initial_balances) - assets)
        if unknown:
            raise BacktestError(
                f"initial_balances: {', '.join(unknown)} is not traded in this run; use {valid}"
            )
        if not any(settings.initial_balances.values()):
            raise BacktestError(f"initial_balances: give a balance above 0 in one of {valid}")
        if settings.fee_token is not None and settings.fee_token not in assets:
            raise BacktestError(f"fee_token {settings.fee_token!r} is not traded here; use {valid}")
        self.controller_configs = list(controllers)
        self.markets = list(markets)
        self.settings = settings
        self.sparse = sparse  # False ticks every slot: slower, for checking the sparse path
        self.quote_asset = quotes.pop()

    def run(
        self,
        progress: Callable[[float], None] | None = None,
        should_cancel: Callable[[], bool] | None = None,
    ) -> BacktestResult:
        """Run from the first closed row to the last; BacktestCancelled if asked to stop."""
        with _sparing_gc():
            return self._run(progress, should_cancel)

    def _run(
        self,
        progress: Callable[[float], None] | None,
        should_cancel: Callable[[], bool] | None,
    ) -> BacktestResult:
        s = self.settings
        fills = s.fill_model
        connector = SimConnector(
            {
                m.trading_pair: SimConnector.market(
                    m.trading_pair,
                    m.data,
                    m.kind,
                    self._rule(m.trading_pair),
                    fills,
                    m.interval_ms,
                )
                for m in self.markets
            },
            Wallet(dict(s.initial_balances)),
            TradeFeeSchema(s.maker_fee, s.taker_fee, s.fee_token),
            fills,
        )
        orchestrator = ExecutorOrchestrator(connector, "sim")
        feeds = {m.trading_pair: m.feed() for m in self.markets}
        context = ControllerContext(connector, orchestrator, feeds)
        controllers = [controller_class(c.type)(c, context) for c in self.controller_configs]
        log = StateLog([m.trading_pair for m in self.markets], self.quote_asset)

        # every pair must have a price when the first controller decides
        first_close = max(int(m.data["ts"][0]) + m.interval_ms for m in self.markets)
        last_close = max(int(m.data["ts"][-1]) + m.interval_ms for m in self.markets)
        start, end = first_close / 1000, last_close / 1000
        tick = self.tick_size()
        clock = Clock(ClockMode.BACKTEST, tick, start, end, sparse=self.sparse)
        runner = ControllerRunner(controllers, orchestrator, connector, start, tick)
        clock.add_iterator(MarketDriver(connector, self.markets, runner))
        clock.add_iterator(runner)
        clock.add_iterator(StateRecorder(log, connector, orchestrator))
        log.record(start, orchestrator, connector.wallet)

        chunks = 100
        for k in range(1, chunks + 1):
            clock.backtest_til(start + (end - start) * k / chunks)
            if progress is not None:
                progress(k / chunks)
            if should_cancel is not None and should_cancel():
                clock.stop()
                raise BacktestCancelled("backtest cancelled")
        self._wind_down(orchestrator, connector)
        log.record(end, orchestrator, connector.wallet)
        clock.stop()
        return build_result(
            self.controller_configs, self.markets, s, connector, orchestrator, log, start, end
        )

    def tick_size(self) -> float:
        """The clock step: the settings' tick_size, but never finer than the finest candles.
        Between two candle closes nothing new is known (a candle is walked at its close), and
        an order placed anywhere in between meets the same path, so finer ticks would only
        blur timestamps (and let sparse and dense runs stamp a time watch differently)."""
        candle_s = [m.interval_ms / 1000 for m in self.markets if m.kind == "candles"]
        return max(self.settings.tick_size, min(candle_s)) if candle_s else self.settings.tick_size

    def _rule(self, trading_pair: str) -> TradingRule:
        r = self.settings.rules
        return TradingRule(trading_pair, r.tick_size, r.step_size, r.min_amount,
                           min_notional=r.min_notional)  # fmt: skip

    def _wind_down(self, orchestrator: ExecutorOrchestrator, connector: SimConnector) -> None:
        """At the end, active executors keep their inventory (hold) or close it at market."""
        keep = self.settings.at_end == "hold"
        for executor_id in list(orchestrator.active):
            orchestrator.stop(executor_id, keep_position=keep)
        connector.process_pending()
        # An executor that was already closing may wait on a resting limit order: cancel it so
        # every executor ends, keeping what it holds.
        for executor in list(orchestrator.active.values()):
            for order in executor._open_orders():
                connector.cancel_order(executor.trading_pair, order.order_id)
        connector.process_pending()
        if orchestrator.active:
            ids = ", ".join(sorted(orchestrator.active))
            raise BacktestError(f"executors still active after the wind-down: {ids}")
