"""The Engine: owns the clock and the store of one bot instance; the UI reads it via EngineView."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from birdterm.engine.bot_config import BotConfig
from birdterm.engine.clock import Clock, ClockMode
from birdterm.engine.executors.base import ExecutorReport
from birdterm.engine.store import Store

log = logging.getLogger("birdterm.engine")


@dataclass(frozen=True, slots=True)
class BookView:
    """The top of one pair's order book, with our own resting orders, for the book pane."""

    trading_pair: str
    bids: tuple[tuple[float, float], ...]  # (price, qty), best first
    asks: tuple[tuple[float, float], ...]
    own_orders: tuple[tuple[str, float, float], ...] = ()  # (side BUY/SELL, price, remaining)


@dataclass(frozen=True, slots=True)
class HoldView:
    """A controller's position hold on its pair."""

    base_amount: Decimal
    break_even_price: Decimal | None
    realized_pnl: Decimal
    unrealized_pnl: Decimal


@dataclass(frozen=True, slots=True)
class SessionView:
    """One running controller: what the status line and the dashboard show of it."""

    controller_id: str
    controller_type: str
    trading_pair: str
    connector: str
    health: str  # "ws" | "rest_fallback" | "down" | "starting" | "stopping"
    active_executors: int
    closed_executors: int
    pnl_total: Decimal
    pnl_executors_realized: Decimal
    pnl_executors_unrealized: Decimal
    pnl_position_realized: Decimal
    pnl_position_unrealized: Decimal
    fees: Decimal
    volume: Decimal
    open_orders: int
    balances: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)  # total, free
    mid_price: Decimal | None = None
    book: BookView | None = None
    executors: tuple[ExecutorReport, ...] = ()  # active first, then the latest closed
    hold: HoldView | None = None
    pnl_history: tuple[tuple[float, float], ...] = ()  # (unix seconds, total P&L), oldest first


class Session(Protocol):
    """A running controller file (built by birdterm.runner); the engine only stops and reads it."""

    @property
    def controller_id(self) -> str:
        """The controller's id: the name /stop uses."""

    async def stop(self) -> str:
        """Stop deciding, cancel the open orders, wait for confirmation; a one-line summary."""

    def view(self) -> SessionView:
        """A copied snapshot for the UI."""


@dataclass(frozen=True, slots=True)
class EngineView:
    """A read-only snapshot of engine state for the UI and the headless status line."""

    name: str
    running: bool
    clock_mode: str
    tick_size: float
    tick_count: int
    last_tick: float | None
    last_tick_lateness_ms: float
    missed_ticks: int
    errors: int
    store_path: str
    store_schema_version: int
    trading_pairs: tuple[str, ...]
    connector: str | None
    sessions: tuple[SessionView, ...] = ()


class Engine:
    """One bot instance: a REALTIME clock ticking its components, and its SQLite store."""

    def __init__(
        self,
        data_dir: Path,
        config: BotConfig | None = None,
        *,
        name: str | None = None,
        tick_size: float | None = None,
    ) -> None:
        self.config = config
        self.name = name or (config.bot.name if config else "birdterm")
        tick_size = tick_size or (config.bot.tick_size if config else 1.0)
        self.clock = Clock(ClockMode.REALTIME, tick_size=tick_size)
        self.store = Store(data_dir / f"{self.name}.sqlite")
        self._schema_version = self.store.schema_version  # the view must work after stop too
        self._task: asyncio.Task[None] | None = None
        self._started_at: float | None = None
        self.sessions: dict[str, Session] = {}
        self.data_dir = data_dir

    def add_session(self, session: Session) -> None:
        """Register a started session under its controller id (ids are unique per engine)."""
        if session.controller_id in self.sessions:
            raise ValueError(f"controller {session.controller_id!r} is already running")
        self.sessions[session.controller_id] = session

    async def stop_session(self, controller_id: str) -> str:
        """Stop one session and forget it; returns its summary."""
        session = self.sessions[controller_id]
        try:
            return await session.stop()
        finally:
            self.sessions.pop(controller_id, None)

    def start(self) -> None:
        """Start ticking in the running event loop."""
        if self._task is not None:
            return
        self._started_at = time.time()
        self._task = asyncio.get_running_loop().create_task(self.clock.run(), name="clock")
        log.info("engine %s started (tick %.3fs)", self.name, self.clock.tick_size)

    async def stop(self) -> None:
        """Stop every session, then the clock (its children stop once), then close the store."""
        try:
            for controller_id in list(self.sessions):
                try:
                    log.info(await self.stop_session(controller_id))
                except Exception:
                    log.exception("stopping %s failed", controller_id)
            if self._task is not None:
                self.clock.request_stop()
                await self._task
                log.info("engine %s stopped after %d ticks", self.name, self.clock.tick_count)
        finally:
            self._task = None
            self.store.close()

    def view(self) -> EngineView:
        """The current state, copied: the UI never holds live engine objects."""
        clock = self.clock
        market = self.config.market if self.config else None
        sessions = tuple(s.view() for s in self.sessions.values())
        pairs = tuple(market.trading_pairs) if market else ()
        connector = market.connector if market else None
        if sessions and not market:
            pairs = tuple(dict.fromkeys(s.trading_pair for s in sessions))
            connector = ", ".join(dict.fromkeys(s.connector for s in sessions))
        return EngineView(
            name=self.name,
            running=clock.is_running,
            clock_mode=clock.mode.value,
            tick_size=clock.tick_size,
            tick_count=clock.tick_count,
            last_tick=clock.current_timestamp if clock.tick_count else None,
            last_tick_lateness_ms=clock.last_tick_lateness * 1000.0,
            missed_ticks=clock.missed_ticks,
            errors=clock.error_count,
            store_path=str(self.store.path),
            store_schema_version=self._schema_version,
            trading_pairs=pairs,
            connector=connector,
            sessions=sessions,
        )
