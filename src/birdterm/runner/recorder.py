"""SessionRecorder: writes every executor change and position hold to the store as it happens."""

from __future__ import annotations

from birdterm.engine.executors.base import Executor
from birdterm.engine.executors.orchestrator import ExecutorOrchestrator
from birdterm.engine.store import Store
from birdterm.engine.store_records import ExecutorRecord


def executor_record(executor: Executor, connector: str) -> ExecutorRecord:
    """The executor as a store row, its P&L valued at the gateway's mid."""
    report = executor.report()
    return ExecutorRecord(
        id=executor.id,
        controller_id=executor.controller_id,
        connector=connector,
        trading_pair=executor.trading_pair,
        type=executor.kind,
        status=report.status,
        created_ts=report.created_ts,
        config=executor.config.model_dump(mode="json"),
        close_type=report.close_type,
        closed_ts=report.close_ts,
        filled_amount_quote=report.volume_quote,
        net_pnl_quote=report.net_pnl_quote,
        fees_quote=report.fees_quote,
        custom_info={
            "side": report.side,
            "level_id": report.level_id,
            "held_base": str(report.held_base),
        },
    )


class SessionRecorder:
    """Listens to an orchestrator and saves what changed."""

    def __init__(self, store: Store, orchestrator: ExecutorOrchestrator, connector: str) -> None:
        self.store = store
        self.orchestrator = orchestrator
        self.connector = connector
        self.writes = 0
        orchestrator.change_listeners.append(self.executor_changed)
        orchestrator.listeners.append(self.executor_terminated)

    def executor_changed(self, executor: Executor) -> None:
        """Save the executor's row (insert or replace) and its controller's hold on the pair."""
        self.store.save_executor(executor_record(executor, self.connector))
        self.writes += 1
        hold = self.orchestrator.holds.get((executor.controller_id, executor.trading_pair))
        if hold is not None:
            self.store.save_position_hold(hold.to_record())

    def executor_terminated(self, executor: Executor) -> None:
        """Save its final row and the position hold it may have fed."""
        self.executor_changed(executor)
