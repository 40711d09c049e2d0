"""The Clock and the TimeIterators it ticks, in REALTIME or BACKTEST mode."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from enum import Enum

log = logging.getLogger("birdterm.clock")


class ClockMode(Enum):
    """REALTIME ticks on wall-clock slots; BACKTEST steps through a range as fast as it can."""

    REALTIME = "realtime"
    BACKTEST = "backtest"


class ClockError(Exception):
    """The clock was used in a way its mode or state does not allow."""


class ClockChildError(ClockError):
    """A child failed during a tick and the clock is set to stop on errors."""

    def __init__(self, child_name: str, timestamp: float, cause: BaseException) -> None:
        super().__init__(f"{child_name} failed at tick {timestamp}: {cause!r}")
        self.child_name = child_name
        self.timestamp = timestamp


class TimeIterator:
    """Anything that acts on time: started once, ticked in order, stopped once."""

    @property
    def name(self) -> str:
        """The name the clock uses in logs; the class name unless overridden."""
        return type(self).__name__

    def start(self, clock: Clock, timestamp: float) -> None:
        """Called once, before the first tick."""

    def tick(self, timestamp: float) -> None:
        """Called once per clock tick with the tick's timestamp (seconds since the epoch)."""

    def stop(self) -> None:
        """Called once, after the last tick."""

    def next_tick_after(self, timestamp: float) -> float | None:
        """For a sparse BACKTEST clock: the earliest time this child needs its next tick, or
        None (the default) for "the next slot". The clock skips slots no child needs."""
        return None


class Clock:
    """Ticks its children in the order they were added; see DESIGN.md 'Clock-driven'."""

    def __init__(
        self,
        mode: ClockMode,
        tick_size: float = 1.0,
        start_time: float | None = None,
        end_time: float | None = None,
        stop_on_error: bool | None = None,
        wall_time: Callable[[], float] = time.time,
        sparse: bool = False,
    ) -> None:
        if not (tick_size > 0 and math.isfinite(tick_size)):
            raise ClockError(f"tick_size must be a positive number of seconds, got {tick_size}")
        if mode is ClockMode.BACKTEST:
            if start_time is None or end_time is None:
                raise ClockError("a BACKTEST clock needs start_time and end_time")
            if end_time < start_time:
                raise ClockError(f"end_time {end_time} is before start_time {start_time}")
        self.mode = mode
        self.tick_size = tick_size
        self.start_time = start_time
        self.end_time = end_time
        # Backtests must not run on after a failure (results would be wrong); live, one broken
        # child must not take the others (and their open orders) down with it.
        self.stop_on_error = mode is ClockMode.BACKTEST if stop_on_error is None else stop_on_error
        self._wall_time = wall_time
        self._children: list[TimeIterator] = []
        self._started: set[int] = set()
        self._removed_during_tick: set[int] = set()
        self._ticking: tuple[TimeIterator, ...] = ()  # started children, in order
        self.sparse = sparse and mode is ClockMode.BACKTEST
        self._running = False
        self._stop_requested = False
        self._stop_event: asyncio.Event | None = None
        self._finished = False
        self._backtest_index = 0
        self.current_timestamp: float = start_time if start_time is not None else 0.0
        self.tick_count = 0
        self.error_count = 0
        self.missed_ticks = 0
        self.last_tick_lateness = 0.0

    @property
    def children(self) -> tuple[TimeIterator, ...]:
        """The children, in tick order."""
        return tuple(self._children)

    @property
    def is_running(self) -> bool:
        """True between the start of the children and their stop."""
        return self._running

    def add_iterator(self, child: TimeIterator) -> None:
        """Append a child; on a running clock it is started now and ticks from the next tick."""
        if any(c is child for c in self._children):
            raise ClockError(f"{child.name} is already on this clock")
        self._children.append(child)
        if self._running:
            self._start_child(child, self.current_timestamp)

    def remove_iterator(self, child: TimeIterator) -> None:
        """Remove a child: stopped if started, and skipped if this tick has not reached it yet."""
        for i, c in enumerate(self._children):
            if c is child:
                del self._children[i]
                break
        else:
            raise ClockError(f"{child.name} is not on this clock")
        self._removed_during_tick.add(id(child))
        if id(child) in self._started:
            self._stop_child(child)

    # ----- lifecycle -------------------------------------------------------------------------

    def _start(self, timestamp: float) -> None:
        if self._finished:
            raise ClockError("this clock has stopped; make a new one")
        self._running = True
        self.current_timestamp = timestamp
        for child in list(self._children):
            self._start_child(child, timestamp)

    def _start_child(self, child: TimeIterator, timestamp: float) -> None:
        if id(child) in self._started:
            return
        try:
            child.start(self, timestamp)
        except Exception as exc:
            # A child that failed to start is never ticked: it would fail every slot half-built.
            self._child_failed(child, timestamp, exc, "start")
            return
        self._started.add(id(child))
        self._refresh_ticking()

    def _refresh_ticking(self) -> None:
        self._ticking = tuple(c for c in self._children if id(c) in self._started)

    def _stop_child(self, child: TimeIterator) -> None:
        self._started.discard(id(child))
        self._refresh_ticking()
        try:
            child.stop()
        except Exception:
            log.exception("clock: %s failed to stop", child.name)
            self.error_count += 1

    def stop(self) -> None:
        """Stop every started child once, last-added first (decisions before data sources)."""
        for child in reversed(list(self._children)):
            if id(child) in self._started:
                self._stop_child(child)
        self._running = False
        self._finished = True

    def request_stop(self) -> None:
        """Ask a running REALTIME clock to stop; a clock waiting for its next slot stops now."""
        self._stop_requested = True
        if self._stop_event is not None:
            self._stop_event.set()

    # ----- ticking ---------------------------------------------------------------------------

    def _tick(self, timestamp: float) -> None:
        self.current_timestamp = timestamp
        removed = self._removed_during_tick
        removed.clear()
        for child in self._ticking:
            if removed and id(child) in removed:
                continue
            try:
                child.tick(timestamp)
            except Exception as exc:
                self._child_failed(child, timestamp, exc, "tick")
        self.tick_count += 1

    def _child_failed(self, child: TimeIterator, ts: float, exc: Exception, phase: str) -> None:
        self.error_count += 1
        log.error("clock: %s failed in %s at %s", child.name, phase, ts, exc_info=exc)
        if self.stop_on_error:
            self.stop()
            raise ClockChildError(child.name, ts, exc) from exc

    def backtest_til(self, timestamp: float) -> None:
        """BACKTEST: tick every slot from the current position up to and including `timestamp`."""
        if self.mode is not ClockMode.BACKTEST:
            raise ClockError("backtest_til needs a BACKTEST clock")
        assert self.start_time is not None and self.end_time is not None
        if not self._running:
            self._start(self.start_time)
        end = min(timestamp, self.end_time)
        while True:
            # Index-based timestamps: no float accumulation error over millions of ticks.
            ts = self.start_time + self._backtest_index * self.tick_size
            if ts > end + 1e-9:
                # The run always ends with a tick at end_time, even off the slot grid.
                if end >= self.end_time and self.current_timestamp < self.end_time - 1e-9:
                    self._tick(self.end_time)
                break
            self._tick(ts)
            self._backtest_index += 1
            if self.sparse:
                self._skip_idle_slots(ts)

    def _skip_idle_slots(self, timestamp: float) -> None:
        """Jump to the first slot some child needs (children answer next_tick_after)."""
        wake: float | None = None
        for child in self._ticking:
            want = child.next_tick_after(timestamp)
            if want is None:
                return
            wake = want if wake is None else min(wake, want)
        if wake is None or self.start_time is None or self.end_time is None:
            return
        wake = min(wake, self.end_time)  # the last slot always ticks: the run ends up to date
        index = math.ceil((wake - self.start_time) / self.tick_size - 1e-6)  # float-time slack
        if index > self._backtest_index:
            self._backtest_index = index

    def backtest(self) -> None:
        """BACKTEST: run from start_time to end_time, then stop the children."""
        assert self.end_time is not None
        self.backtest_til(self.end_time)
        self.stop()

    def next_slot(self, now: float) -> float:
        """The first whole multiple of tick_size strictly after `now`."""
        return (math.floor(now / self.tick_size) + 1) * self.tick_size

    async def run(self, until: float | None = None) -> None:
        """REALTIME: tick on whole multiples of tick_size until request_stop() or `until`."""
        if self.mode is not ClockMode.REALTIME:
            raise ClockError("run needs a REALTIME clock; use backtest() for BACKTEST")
        # A stop requested before run() began (say, a quit during start-up) still counts.
        self._stop_event = asyncio.Event()
        if self._stop_requested:
            self._stop_event.set()
        self._start(self._wall_time())
        try:
            slot = self.next_slot(self._wall_time())
            while not self._stop_requested and (until is None or slot <= until):
                await self._sleep_until(slot)
                if self._stop_requested:
                    break
                now = self._wall_time()
                self.last_tick_lateness = now - slot
                self._tick(slot)
                # If the tick overran one or more slots, skip them rather than bunch ticks up.
                following = self.next_slot(self._wall_time())
                skipped = round((following - slot) / self.tick_size) - 1
                if skipped > 0:
                    self.missed_ticks += skipped
                    log.warning("clock: tick at %s overran; skipped %d slot(s)", slot, skipped)
                slot = following
        finally:
            self.stop()

    async def _sleep_until(self, slot: float) -> None:
        # asyncio may wake a timer up to one clock resolution early; wait again until the slot.
        assert self._stop_event is not None
        while (delay := slot - self._wall_time()) > 0 and not self._stop_requested:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_event.wait(), timeout=delay)
