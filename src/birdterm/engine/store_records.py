"""What the store holds: schema migrations, records, and their rows (exact text) and SQL."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from birdterm.engine.types import (
    ZERO,
    InFlightOrder,
    OrderState,
    OrderType,
    TokenAmount,
    TradeFee,
    TradeType,
    TradeUpdate,
)

# Version N of the schema is MIGRATIONS[N - 1] applied on top of version N - 1. Never edit a
# released entry: append a new one. Decimals are TEXT (exact), JSON is TEXT.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE orders (
        client_order_id   TEXT PRIMARY KEY,
        exchange_order_id TEXT,
        connector         TEXT NOT NULL,
        trading_pair      TEXT NOT NULL,
        order_type        TEXT NOT NULL,
        trade_type        TEXT NOT NULL,
        price             TEXT,  -- NULL for market orders
        amount            TEXT NOT NULL,
        state             TEXT NOT NULL,
        executed_base     TEXT NOT NULL,
        executed_quote    TEXT NOT NULL,
        fees_json         TEXT NOT NULL,
        created_ts        REAL NOT NULL,
        updated_ts        REAL NOT NULL,
        executor_id       TEXT
    );
    CREATE INDEX orders_by_state ON orders (state, connector);
    CREATE INDEX orders_by_executor ON orders (executor_id);
    CREATE TABLE fills (
        client_order_id TEXT NOT NULL REFERENCES orders (client_order_id) ON DELETE CASCADE,
        trade_id        TEXT NOT NULL,
        price           TEXT NOT NULL,
        amount          TEXT NOT NULL,
        fee_json        TEXT NOT NULL,
        is_maker        INTEGER NOT NULL CHECK (is_maker IN (0, 1)),
        ts              REAL NOT NULL,
        PRIMARY KEY (client_order_id, trade_id)
    );
    CREATE TABLE executors (
        id                  TEXT PRIMARY KEY,
        controller_id       TEXT NOT NULL,
        connector           TEXT NOT NULL,
        trading_pair        TEXT NOT NULL,
        type                TEXT NOT NULL,
        status              TEXT NOT NULL,
        close_type          TEXT,
        config_json         TEXT NOT NULL,
        created_ts          REAL NOT NULL,
        closed_ts           REAL,
        filled_amount_quote TEXT NOT NULL,
        net_pnl_quote       TEXT NOT NULL,
        fees_quote          TEXT NOT NULL,
        custom_info_json    TEXT NOT NULL
    );
    CREATE INDEX executors_by_status ON executors (status);
    CREATE INDEX executors_by_controller ON executors (controller_id, status);
    CREATE TABLE position_holds (
        connector          TEXT NOT NULL,
        trading_pair       TEXT NOT NULL,
        controller_id      TEXT NOT NULL,
        base_amount        TEXT NOT NULL,  -- signed: negative is a short
        cost_quote         TEXT NOT NULL,  -- cost basis of base_amount, fees included
        realized_pnl_quote TEXT NOT NULL,
        fees_quote         TEXT NOT NULL,
        updated_ts         REAL NOT NULL,
        PRIMARY KEY (connector, trading_pair, controller_id)
    );
    CREATE TABLE backtest_runs (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        created_ts    REAL NOT NULL,
        config_json   TEXT NOT NULL,
        data_start_ts REAL,  -- the span of market data the run covered
        data_end_ts   REAL,
        status        TEXT NOT NULL,
        metrics_json  TEXT,
        result_path   TEXT
    );
    """,
    """
    CREATE TABLE instance_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    INSERT INTO instance_meta (key, value) VALUES
        ('instance_id', lower(hex(randomblob(16)))),
        ('created_at', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
    """,
)

# Column lists in the order of the *_row tuples below.
ORDER_COLUMNS = (
    "client_order_id", "exchange_order_id", "connector", "trading_pair", "order_type",
    "trade_type", "price", "amount", "state", "executed_base", "executed_quote", "fees_json",
    "created_ts", "updated_ts", "executor_id",
)  # fmt: skip
FILL_COLUMNS = ("trade_id", "client_order_id", "price", "amount", "fee_json", "ts", "is_maker")
EXECUTOR_COLUMNS = (
    "id", "controller_id", "connector", "trading_pair", "type", "status", "created_ts",
    "config_json", "close_type", "closed_ts", "filled_amount_quote", "net_pnl_quote",
    "fees_quote", "custom_info_json",
)  # fmt: skip
HOLD_COLUMNS = (
    "connector", "trading_pair", "controller_id", "base_amount", "cost_quote",
    "realized_pnl_quote", "fees_quote", "updated_ts",
)  # fmt: skip
RUN_COLUMNS = (
    "created_ts", "config_json", "status", "data_start_ts", "data_end_ts", "metrics_json",
    "result_path", "id",
)  # fmt: skip


def _upsert(
    table: str, columns: Sequence[str], key: Sequence[str], special: dict[str, str] | None = None
) -> str:
    """INSERT, or on a key conflict update the other columns (to `special` expressions if given)."""
    special = special or {}
    updates = [f"{c} = {special.get(c, f'excluded.{c}')}" for c in columns if c not in key]
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {', '.join(updates)}"
    )


# The statements that read and write those rows.
SELECT_ORDERS = f"SELECT {', '.join(ORDER_COLUMNS)} FROM orders"
SELECT_FILLS = f"SELECT {', '.join(FILL_COLUMNS)} FROM fills"
SELECT_EXECUTORS = f"SELECT {', '.join(EXECUTOR_COLUMNS)} FROM executors"
SELECT_HOLDS = f"SELECT {', '.join(HOLD_COLUMNS)} FROM position_holds"
SELECT_RUNS = f"SELECT {', '.join(RUN_COLUMNS)} FROM backtest_runs"
SAVE_ORDER = _upsert(
    "orders",
    ORDER_COLUMNS,
    ["client_order_id"],
    # Saving without an executor id keeps the link an earlier save made.
    {"executor_id": "coalesce(excluded.executor_id, orders.executor_id)"},
)
SAVE_EXECUTOR = _upsert("executors", EXECUTOR_COLUMNS, ["id"])
SAVE_HOLD = _upsert("position_holds", HOLD_COLUMNS, ["connector", "trading_pair", "controller_id"])
RECORD_FILL = (
    f"INSERT INTO fills ({', '.join(FILL_COLUMNS)}) VALUES ({', '.join('?' * len(FILL_COLUMNS))}) "
    # Only a repeated trade id is skipped; any other constraint still fails loudly.
    "ON CONFLICT (client_order_id, trade_id) DO NOTHING"
)
ADD_RUN = (  # without the id: the database assigns it
    f"INSERT INTO backtest_runs ({', '.join(RUN_COLUMNS[:-1])}) "
    f"VALUES ({', '.join('?' * (len(RUN_COLUMNS) - 1))})"
)

# What reading a row that holds unparseable text (a hand edit, a bug) raises.
DECODE_ERRORS = (ValueError, KeyError, TypeError, InvalidOperation)
Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class ExecutorRecord:
    """One executor as stored: identity, status, config and its running money totals."""

    id: str
    controller_id: str
    connector: str
    trading_pair: str
    type: str
    status: str
    created_ts: float
    config: dict[str, Any] = field(default_factory=dict)
    close_type: str | None = None
    closed_ts: float | None = None
    filled_amount_quote: Decimal = ZERO
    net_pnl_quote: Decimal = ZERO
    fees_quote: Decimal = ZERO
    custom_info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PositionHoldRecord:
    """The inventory one controller holds on one pair of one connector."""

    connector: str
    trading_pair: str
    controller_id: str
    base_amount: Decimal
    cost_quote: Decimal
    realized_pnl_quote: Decimal
    fees_quote: Decimal
    updated_ts: float


@dataclass(frozen=True, slots=True)
class BacktestRunRecord:
    """One backtest: its config, the span of data it covered, its status and results."""

    created_ts: float
    config: dict[str, Any]
    status: str
    data_start_ts: float | None = None
    data_end_ts: float | None = None
    metrics: dict[str, Any] | None = None
    result_path: str | None = None
    id: int | None = None  # given by the store; ignored by add_backtest_run


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):
        # As a string: a JSON number would come back as a float and lose exactness.
        return str(value)
    raise TypeError(f"{type(value).__name__} value {value!r} cannot be stored as JSON")


def dumps(value: Any) -> str:
    """JSON text for plain values; Decimals are written (and read back) as strings."""
    return json.dumps(value, default=_json_default, sort_keys=True, separators=(",", ":"))


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _fee_json(fee: TradeFee) -> str:
    flat = [{"token": f.token, "amount": str(f.amount)} for f in fee.flat_fees]
    return dumps({"percent": str(fee.percent), "percent_token": fee.percent_token, "flat": flat})


def _fee(text: str) -> TradeFee:
    data = json.loads(text)
    flat = tuple(TokenAmount(f["token"], Decimal(f["amount"])) for f in data["flat"])
    return TradeFee(Decimal(data["percent"]), data["percent_token"], flat)


def order_row(order: InFlightOrder, connector: str, executor_id: str | None) -> Row:
    """An order as a row of ORDER_COLUMNS (its fills go to the fills table)."""
    fees = dumps({token: str(value) for token, value in order.fees.items()})
    return (
        order.client_order_id, order.exchange_order_id, connector, order.trading_pair,
        order.order_type.value, order.trade_type.value, _text(order.price), str(order.amount),
        order.state.value, str(order.executed_base), str(order.executed_quote), fees,
        order.creation_timestamp, order.last_update_timestamp, executor_id,
    )  # fmt: skip


def order_from_row(row: Row) -> InFlightOrder:
    """The order in a row of ORDER_COLUMNS, without its fills."""
    return InFlightOrder(
        client_order_id=row[0],
        exchange_order_id=row[1],
        trading_pair=row[3],
        order_type=OrderType(row[4]),
        trade_type=TradeType(row[5]),
        price=_decimal(row[6]),
        amount=Decimal(row[7]),
        state=OrderState(row[8]),
        executed_base=Decimal(row[9]),
        executed_quote=Decimal(row[10]),
        fees={token: Decimal(value) for token, value in json.loads(row[11]).items()},
        creation_timestamp=row[12],
        last_update_timestamp=row[13],
    )


def fill_row(fill: TradeUpdate) -> Row:
    """A fill as a row of FILL_COLUMNS."""
    return (
        fill.trade_id, fill.client_order_id, str(fill.price), str(fill.amount),
        _fee_json(fill.fee), fill.timestamp, int(fill.is_maker),
    )  # fmt: skip


def fill_from_row(row: Row) -> TradeUpdate:
    """The fill in a row of FILL_COLUMNS."""
    return TradeUpdate(
        row[0], row[1], Decimal(row[2]), Decimal(row[3]), _fee(row[4]), row[5], bool(row[6])
    )


def executor_row(record: ExecutorRecord) -> Row:
    """An executor as a row of EXECUTOR_COLUMNS."""
    return (
        record.id, record.controller_id, record.connector, record.trading_pair, record.type,
        record.status, record.created_ts, dumps(record.config), record.close_type,
        record.closed_ts, str(record.filled_amount_quote), str(record.net_pnl_quote),
        str(record.fees_quote), dumps(record.custom_info),
    )  # fmt: skip


def executor_from_row(row: Row) -> ExecutorRecord:
    """The executor in a row of EXECUTOR_COLUMNS."""
    return ExecutorRecord(
        *row[:7], config=json.loads(row[7]), close_type=row[8], closed_ts=row[9],
        filled_amount_quote=Decimal(row[10]), net_pnl_quote=Decimal(row[11]),
        fees_quote=Decimal(row[12]), custom_info=json.loads(row[13]),
    )  # fmt: skip


def hold_row(record: PositionHoldRecord) -> Row:
    """A position hold as a row of HOLD_COLUMNS."""
    return (
        record.connector, record.trading_pair, record.controller_id, str(record.base_amount),
        str(record.cost_quote), str(record.realized_pnl_quote), str(record.fees_quote),
        record.updated_ts,
    )  # fmt: skip


def hold_from_row(row: Row) -> PositionHoldRecord:
    """The position hold in a row of HOLD_COLUMNS."""
    return PositionHoldRecord(
        row[0],
        row[1],
        row[2],
        Decimal(row[3]),
        Decimal(row[4]),
        Decimal(row[5]),
        Decimal(row[6]),
        row[7],
    )


def run_row(record: BacktestRunRecord) -> Row:
    """A backtest run as a row of RUN_COLUMNS without the id (the database assigns it)."""
    metrics = None if record.metrics is None else dumps(record.metrics)
    return (
        record.created_ts, dumps(record.config), record.status, record.data_start_ts,
        record.data_end_ts, metrics, record.result_path,
    )  # fmt: skip


def run_from_row(row: Row) -> BacktestRunRecord:
    """The backtest run in a row of RUN_COLUMNS."""
    return BacktestRunRecord(
        row[0], json.loads(row[1]), row[2], row[3], row[4], _loads(row[5]), row[6], row[7]
    )
