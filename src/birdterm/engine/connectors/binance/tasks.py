"""TaskSet: the connector's background tasks, with one request at a time per order."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from birdterm.engine.connectors.order_tracker import TrackedOrder

log = logging.getLogger("birdterm.binance.tasks")

OrderAction = Callable[[TrackedOrder], Coroutine[Any, Any, None]]


class TaskSet:
    """Tasks that are logged when they fail and cancelled together."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run a coroutine as a task of this set."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def run_for(self, entry: TrackedOrder, action: OrderAction) -> asyncio.Task[None]:
        """Run one request about an order; the order is busy (no other request) meanwhile."""
        entry.busy = True

        async def run() -> None:
            try:
                await action(entry)
            finally:
                entry.busy = False

        return self.spawn(run(), f"{getattr(action, '__name__', 'action')} {entry.client_order_id}")

    async def cancel_all(self) -> None:
        """Cancel every task and wait for them to end (tasks spawned meanwhile as well)."""
        while self._tasks:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._tasks.difference_update(tasks)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("binance: task %s failed", task.get_name(), exc_info=task.exception())
