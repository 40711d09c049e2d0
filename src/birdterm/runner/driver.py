"""ControllerDriver: calls a live controller when due and carries out its decisions."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from birdterm.engine.clock import TimeIterator
from birdterm.engine.controllers.base import Controller, apply_actions
from birdterm.engine.executors.orchestrator import ExecutorOrchestrator

log = logging.getLogger("birdterm.runner")


class ControllerDriver(TimeIterator):
    """Ticks after the connector: a controller decides every update interval, and at once when
    one of its executors changed (as in a backtest). `halt()` ends its decisions for good."""

    def __init__(
        self,
        controller: Controller,
        orchestrator: ExecutorOrchestrator,
        after_tick: Callable[[float], None] | None = None,
    ) -> None:
        self.controller = controller
        self.orchestrator = orchestrator
        self.after_tick = after_tick  # e.g. the session's P&L sampling
        self.halted = False
        self.decisions = 0
        self._due = -math.inf

    @property
    def name(self) -> str:
        """Named after its controller (the clock's error log uses it)."""
        return f"controller:{self.controller.id}"

    def tick(self, timestamp: float) -> None:
        """Decide if due; a decision that raises is logged and retried next interval."""
        if self.halted:
            return
        if self.after_tick is not None:
            self.after_tick(timestamp)
        changed = self.controller.id in self.orchestrator.changed
        if timestamp < self._due and not changed:
            return
        self.orchestrator.changed.discard(self.controller.id)
        self._due = timestamp + self.controller.config.update_interval
        self.decisions += 1
        apply_actions(self.orchestrator, self.controller.id, self.controller.decide(timestamp))

    def halt(self) -> None:
        """Stop deciding (the session then stops the executors)."""
        self.halted = True
