"""The Engine: owns the clock and the store of one bot instance; the UI reads it via EngineView."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from birdterm.engine.bot_config import BotConfig
from birdterm.engine.clock import Clock, ClockMode
from birdterm.engine.store import Store

log = logging.getLogger("birdterm.engine")


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


class Engine:
    """One bot instance: a REALTIME clock ticking its components, and its SQLite store."""

    def __init__(self, data_dir: Path, config: BotConfig | None = None) -> None:
        self.config = config
        self.name = config.bot.name if config else "birdterm"
        tick_size = config.bot.tick_size if config else 1.0
        self.clock = Clock(ClockMode.REALTIME, tick_size=tick_size)
        self.store = Store(data_dir / f"{self.name}.sqlite")
        self._schema_version = self.store.schema_version  # the view must work after stop too
        self._task: asyncio.Task[None] | None = None
        self._started_at: float | None = None

    def start(self) -> None:
        """Start ticking in the running event loop."""
        if self._task is not None:
            return
        self._started_at = time.time()
        self._task = asyncio.get_running_loop().create_task(self.clock.run(), name="clock")
        log.info("engine %s started (tick %.3fs)", self.name, self.clock.tick_size)

    async def stop(self) -> None:
        """Stop the clock (its children stop once), then close the store."""
        try:
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
            trading_pairs=tuple(market.trading_pairs) if market else (),
            connector=market.connector if market else None,
        )
