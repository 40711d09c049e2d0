"""SQLite persistence (WAL, versioned migrations) for orders, fills, executors, holds, backtests.

Not thread-safe: one Store per thread (the engine has one event loop). Several processes may open
the same file at once; their writes take turns on SQLite's write lock.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from birdterm.engine.store_records import (
    ADD_RUN,
    DECODE_ERRORS,
    MIGRATIONS,
    RECORD_FILL,
    SAVE_EXECUTOR,
    SAVE_HOLD,
    SAVE_ORDER,
    SELECT_EXECUTORS,
    SELECT_FILLS,
    SELECT_HOLDS,
    SELECT_ORDERS,
    SELECT_RUNS,
    BacktestRunRecord,
    ExecutorRecord,
    PositionHoldRecord,
    Row,
    dumps,
    executor_from_row,
    executor_row,
    fill_from_row,
    fill_row,
    hold_from_row,
    hold_row,
    order_from_row,
    order_row,
    run_from_row,
    run_row,
)
from birdterm.engine.types import InFlightOrder, OrderState, TradeUpdate

__all__ = [
    "MIGRATIONS",
    "BacktestRunRecord",
    "ExecutorRecord",
    "PositionHoldRecord",
    "Store",
    "StoreError",
]

_OPEN_STATES = tuple(s.value for s in OrderState if not s.is_done)
_T = TypeVar("_T")


class StoreError(Exception):
    """The store cannot be opened, migrated, read or written; the message names the file."""


def _statements(script: str) -> list[str]:
    """Split an SQL script into statements (executescript would commit our open transaction)."""
    statements: list[str] = []
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \t\r\n;"):
                statements.append(pending.strip())
            pending = ""
    if pending.strip(" \t\r\n;"):
        raise ValueError(f"incomplete SQL statement at the end of a migration: {pending!r}")
    return statements


def _switch_to_wal(conn: sqlite3.Connection, deadline: float) -> str:
    """PRAGMA journal_mode = WAL, retried while another process holds the lock it needs."""
    delay = 0.001
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
        except sqlite3.OperationalError as exc:
            # When two processes switch a fresh file at once, SQLite answers BUSY at once instead
            # of calling the busy handler (waiting there could deadlock), so wait here instead.
            busy = exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
            if not busy or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


class Store:
    """One SQLite file holding a bot instance's orders, fills, executors, holds and backtests."""

    def __init__(
        self, path: str | os.PathLike[str], migrations: Sequence[str] = MIGRATIONS
    ) -> None:
        self._path = str(path)
        self._migrations = tuple(migrations)
        self._conn: sqlite3.Connection | None = None
        in_memory = self._path == ":memory:"
        if not in_memory:
            Path(self._path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            conn = sqlite3.connect(self._path, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store {self._path}: {exc}") from exc
        try:
            # busy_timeout before anything that may wait for another process's lock.
            conn.execute("PRAGMA busy_timeout = 30000")
            mode = _switch_to_wal(conn, deadline=time.monotonic() + 30)
            if mode != "wal" and not in_memory:
                raise StoreError(
                    f"{self._path}: SQLite could not switch to WAL (journal mode is {mode}); "
                    "put the data dir on a local disk"
                )
            # FULL syncs the WAL on every commit, so an order recorded before it is sent survives
            # a power cut too, not only a crash; at a bot's few writes a second it costs nothing.
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._conn = conn
            self._migrate()
        except BaseException as exc:
            conn.close()
            self._conn = None
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"cannot open the store {self._path}: {exc}") from exc
            raise

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def path(self) -> str:
        """The database file."""
        return self._path

    @property
    def schema_version(self) -> int:
        """The schema version the file is at (PRAGMA user_version)."""
        return int(self._select("PRAGMA user_version")[0][0])

    @property
    def instance_id(self) -> str | None:
        """The random id migration 2 gave this store (None if the schema predates it)."""
        if not self._select("SELECT 1 FROM sqlite_master WHERE name = 'instance_meta'"):
            return None
        rows = self._select("SELECT value FROM instance_meta WHERE key = 'instance_id'")
        return str(rows[0][0]) if rows else None

    def integrity_check(self) -> str:
        """SQLite's integrity check: "ok", or the problems it found, one per line."""
        return "\n".join(str(row[0]) for row in self._select("PRAGMA integrity_check"))

    def close(self) -> None:
        """Close the file (safe to call twice)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"the store {self._path} is closed")
        return self._conn

    def _migrate(self) -> None:
        conn = self._connection()
        self._check_not_newer()
        for target in range(1, len(self._migrations) + 1):
            if self.schema_version >= target:
                continue
            conn.execute("BEGIN IMMEDIATE")
            try:
                # Re-read under the write lock: another process may have migrated meanwhile.
                if self.schema_version < target:
                    for statement in _statements(self._migrations[target - 1]):
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {target}")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(
                        f"{self._path}: migration to schema version {target} failed: {exc}"
                    ) from exc
                raise
            conn.execute("COMMIT")
        self._check_not_newer()

    def _check_not_newer(self) -> None:
        version = self.schema_version
        if version > len(self._migrations):
            raise StoreError(
                f"{self._path} has schema version {version}, created by a newer birdterm (this "
                f"one knows up to {len(self._migrations)}); upgrade birdterm to open it"
            )

    # -- transactions -------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes: all commit together, or none if the block raises (nests)."""
        with self._txn("BEGIN IMMEDIATE", "a transaction"):
            yield

    @contextmanager
    def _txn(self, begin: str, what: str) -> Iterator[sqlite3.Connection]:
        conn = self._connection()
        try:
            if conn.in_transaction:
                # Inside an outer transaction: a savepoint, so a failed inner write that the
                # caller catches does not leave half its rows in the outer one.
                conn.execute("SAVEPOINT nested")
                try:
                    yield conn
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK TO nested")
                        conn.execute("RELEASE nested")
                    raise
                conn.execute("RELEASE nested")
                return
            # Writers begin IMMEDIATE: a deferred read upgraded to a write fails with BUSY
            # at once instead of waiting for the lock.
            conn.execute(begin)
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"{self._path}: {what} failed: {exc}") from exc

    def _write(self, what: str) -> AbstractContextManager[sqlite3.Connection]:
        return self._txn("BEGIN IMMEDIATE", what)

    def _read(self, what: str) -> AbstractContextManager[sqlite3.Connection]:
        # One snapshot for reads that take several queries (an order and its fills).
        return self._txn("BEGIN DEFERRED", what)

    def _select(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        try:
            return self._connection().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"{self._path}: reading failed: {exc}") from exc

    def _decoded(self, what: str, decode: Callable[[Row], _T], rows: list[Row]) -> list[_T]:
        try:
            return [decode(row) for row in rows]
        except DECODE_ERRORS as exc:
            raise StoreError(f"{self._path}: a stored {what} is unreadable: {exc!r}") from exc

    # -- orders and fills ---------------------------------------------------------------------

    def save_order(
        self, order: InFlightOrder, connector: str, executor_id: str | None = None
    ) -> None:
        """Insert or update an order and insert its fills not stored yet, in one transaction."""
        with self._write(f"saving order {order.client_order_id}") as conn:
            conn.execute(SAVE_ORDER, order_row(order, connector, executor_id))
            for fill in order.fills.values():
                self.record_fill(fill)

    def record_fill(self, fill: TradeUpdate) -> bool:
        """Store a fill of a stored order; False (nothing written) if its trade id is known."""
        with self._write(f"recording fill {fill.trade_id}") as conn:
            try:
                return conn.execute(RECORD_FILL, fill_row(fill)).rowcount == 1
            except sqlite3.IntegrityError as exc:
                raise StoreError(
                    f"{self._path}: fill {fill.trade_id} is for order {fill.client_order_id}, "
                    f"which is not in the store; save the order before its fills ({exc})"
                ) from exc

    def fills_for(self, client_order_id: str) -> list[TradeUpdate]:
        """The stored fills of one order, oldest first."""
        sql = f"{SELECT_FILLS} WHERE client_order_id = ? ORDER BY ts, rowid"
        rows = self._select(sql, (client_order_id,))
        return self._decoded(f"fill of order {client_order_id}", fill_from_row, rows)

    def load_order(self, client_order_id: str) -> InFlightOrder | None:
        """The stored order with its fills, or None if it was never saved."""
        orders = self._load_orders("client_order_id = ?", [client_order_id])
        return orders[0] if orders else None

    def open_orders(self, connector: str | None = None) -> list[InFlightOrder]:
        """Orders not yet filled, cancelled or failed (of one connector if given), oldest first."""
        where = f"state IN ({', '.join('?' * len(_OPEN_STATES))})"
        params: list[Any] = list(_OPEN_STATES)
        if connector is not None:
            where += " AND connector = ?"
            params.append(connector)
        return self._load_orders(where, params)

    def executor_orders(self, executor_id: str) -> list[InFlightOrder]:
        """The orders saved with this executor id, oldest first."""
        return self._load_orders("executor_id = ?", [executor_id])

    def _load_orders(self, where: str, params: Sequence[Any]) -> list[InFlightOrder]:
        sql = f"{SELECT_ORDERS} WHERE {where}"
        with self._read("loading orders"):
            rows = self._select(sql + " ORDER BY created_ts, client_order_id", params)
            orders = self._decoded("order", order_from_row, rows)
            for order in orders:
                order.fills = {f.trade_id: f for f in self.fills_for(order.client_order_id)}
        return orders

    # -- executors and position holds ---------------------------------------------------------

    def save_executor(self, record: ExecutorRecord) -> None:
        """Insert or replace an executor's row."""
        with self._write(f"saving executor {record.id}") as conn:
            conn.execute(SAVE_EXECUTOR, executor_row(record))

    def load_executors(
        self, status: str | None = None, controller_id: str | None = None
    ) -> list[ExecutorRecord]:
        """Stored executors, optionally of one status and/or controller, oldest first."""
        filters = {"status": status, "controller_id": controller_id}
        used = {column: value for column, value in filters.items() if value is not None}
        sql = SELECT_EXECUTORS
        if used:
            sql += " WHERE " + " AND ".join(f"{column} = ?" for column in used)
        rows = self._select(sql + " ORDER BY created_ts, id", list(used.values()))
        return self._decoded("executor", executor_from_row, rows)

    def save_position_hold(self, record: PositionHoldRecord) -> None:
        """Insert or replace the hold of one (connector, pair, controller)."""
        with self._write(f"saving the {record.trading_pair} position hold") as conn:
            conn.execute(SAVE_HOLD, hold_row(record))

    def load_position_holds(self) -> list[PositionHoldRecord]:
        """All stored position holds, by connector, pair and controller."""
        rows = self._select(f"{SELECT_HOLDS} ORDER BY connector, trading_pair, controller_id")
        return self._decoded("position hold", hold_from_row, rows)

    # -- backtest runs ------------------------------------------------------------------------

    def add_backtest_run(self, record: BacktestRunRecord) -> int:
        """Store a new backtest run and return its id (record.id is ignored)."""
        with self._write("adding a backtest run") as conn:
            return int(conn.execute(ADD_RUN, run_row(record)).lastrowid or 0)

    def update_backtest_run(
        self,
        run_id: int,
        *,
        status: str | None = None,
        metrics: dict[str, Any] | None = None,
        result_path: str | None = None,
    ) -> None:
        """Change a run's status, metrics and/or result path (None leaves a field as it is)."""
        changes = {
            "status": status,
            "metrics_json": None if metrics is None else dumps(metrics),
            "result_path": result_path,
        }
        changes = {column: value for column, value in changes.items() if value is not None}
        if not changes:
            return
        assignments = ", ".join(f"{column} = ?" for column in changes)
        with self._write(f"updating backtest run {run_id}") as conn:
            sql = f"UPDATE backtest_runs SET {assignments} WHERE id = ?"
            if conn.execute(sql, [*changes.values(), run_id]).rowcount == 0:
                raise StoreError(f"{self._path}: there is no backtest run {run_id}")

    def backtest_runs(self, limit: int = 50) -> list[BacktestRunRecord]:
        """The most recent backtest runs, newest first."""
        sql = f"{SELECT_RUNS} ORDER BY id DESC LIMIT ?"
        return self._decoded("backtest run", run_from_row, self._select(sql, (limit,)))
