"""The SQLite store: exact round trips, duplicate fills, migrations, transactions, concurrency."""

import multiprocessing
import queue
import re
import sqlite3
from decimal import Decimal as D

import pytest

from birdterm.engine.store import (
    MIGRATIONS,
    BacktestRunRecord,
    ExecutorRecord,
    PositionHoldRecord,
    Store,
    StoreError,
)
from birdterm.engine.types import (
    InFlightOrder,
    OrderState,
    OrderType,
    TokenAmount,
    TradeFee,
    TradeType,
    TradeUpdate,
)

LATEST = len(MIGRATIONS)


def make_order(
    cid="c1",
    amount="1",
    price="100",
    state=OrderState.OPEN,
    ts=1.0,
    side=TradeType.BUY,
    order_type=OrderType.LIMIT,
):
    return InFlightOrder(
        client_order_id=cid,
        trading_pair="BTC-USDT",
        order_type=order_type,
        trade_type=side,
        amount=D(amount),
        price=None if price is None else D(price),
        creation_timestamp=ts,
        exchange_order_id=f"ex-{cid}",
        state=state,
        last_update_timestamp=ts,
    )


def make_fill(cid, trade_id, amount, price="100", fee=None, ts=2.0, is_maker=False):
    return TradeUpdate(
        trade_id=trade_id,
        client_order_id=cid,
        price=D(price),
        amount=D(amount),
        fee=fee or TradeFee(percent=D("0.001")),
        timestamp=ts,
        is_maker=is_maker,
    )


def raw_count(path, table):
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "data" / "bot.sqlite"


@pytest.fixture
def store(db_path):
    with Store(db_path) as s:
        yield s


# -- orders and fills -----------------------------------------------------------------------


def test_order_round_trip_keeps_decimals_exact(store):
    order = make_order(amount="0.00012345", price="43210.10")
    store.save_order(order, "binance")
    loaded = store.load_order("c1")
    assert loaded == order
    # Equal is not enough: 0.000123450 == 0.00012345; the text must survive as written.
    assert str(loaded.amount) == "0.00012345"
    assert str(loaded.price) == "43210.10"
    assert loaded.state is OrderState.OPEN
    assert loaded.exchange_order_id == "ex-c1"


def test_market_order_without_price_round_trips(store):
    order = make_order(price=None, order_type=OrderType.MARKET, side=TradeType.SELL)
    store.save_order(order, "paper")
    loaded = store.load_order("c1")
    assert loaded.price is None
    assert loaded.order_type is OrderType.MARKET
    assert loaded.trade_type is TradeType.SELL


def test_load_unknown_order_is_none(store):
    assert store.load_order("nope") is None


def test_partial_fill_with_fees_round_trips_then_completes(store):
    order = make_order(amount="0.5", price="30000")
    fee = TradeFee(percent=D("0.001"), flat_fees=(TokenAmount("BNB", D("0.0015")),))
    first = make_fill("c1", "t1", "0.2", price="30000", fee=fee, ts=5.0, is_maker=True)
    assert order.apply_fill(first)
    store.save_order(order, "binance")

    loaded = store.load_order("c1")
    assert loaded.state is OrderState.PARTIALLY_FILLED
    assert loaded.executed_base == D("0.2")
    assert loaded.executed_quote == D("6000.0")
    assert loaded.fees == {"BTC": D("0.0002"), "BNB": D("0.0015")}
    assert loaded.fills == {"t1": first}
    assert loaded.fills["t1"].fee.flat_fees == (TokenAmount("BNB", D("0.0015")),)
    assert loaded.fills["t1"].is_maker is True
    assert loaded.remaining_amount == D("0.3")
    assert [o.client_order_id for o in store.open_orders()] == ["c1"]

    second = make_fill("c1", "t2", "0.3", price="29990", ts=6.0)
    assert loaded.apply_fill(second)
    store.save_order(loaded, "binance")
    final = store.load_order("c1")
    assert final.state is OrderState.FILLED
    assert final.executed_quote == D("6000.0") + D("0.3") * D("29990")
    assert list(final.fills) == ["t1", "t2"]
    assert final.fees == {"BTC": D("0.0005"), "BNB": D("0.0015")}
    assert store.open_orders() == []


def test_duplicate_fill_is_ignored(store, db_path):
    store.save_order(make_order(amount="2"), "binance")
    fill = make_fill("c1", "t1", "0.7")
    assert store.record_fill(fill) is True
    assert store.record_fill(fill) is False
    # Same trade id with other numbers (a replayed, garbled message) does not replace the first.
    assert store.record_fill(make_fill("c1", "t1", "1.5")) is False
    assert store.fills_for("c1") == [fill]
    assert raw_count(db_path, "fills") == 1


def test_save_order_does_not_duplicate_fills_already_recorded(store, db_path):
    order = make_order(amount="2")
    store.save_order(order, "binance")
    fill = make_fill("c1", "t1", "0.5")
    assert store.record_fill(fill)  # written before it is applied
    order.apply_fill(fill)
    store.save_order(order, "binance")
    assert raw_count(db_path, "fills") == 1
    assert store.load_order("c1").executed_base == D("0.5")


def test_fill_for_unknown_order_raises_naming_order_and_file(store, db_path):
    with pytest.raises(StoreError, match="ghost") as info:
        store.record_fill(make_fill("ghost", "t1", "1"))
    assert str(db_path) in str(info.value)


def test_open_orders_filters_by_state_and_connector(store):
    for ts, state in enumerate(OrderState):
        store.save_order(make_order(f"b-{state.value}", state=state, ts=ts), "binance")
        store.save_order(make_order(f"p-{state.value}", state=state, ts=ts + 0.5), "paper")
    open_states = ["PENDING_CREATE", "OPEN", "PARTIALLY_FILLED", "PENDING_CANCEL"]
    assert [o.client_order_id for o in store.open_orders("binance")] == [
        f"b-{s}" for s in open_states
    ]
    everywhere = [o.client_order_id for o in store.open_orders()]
    assert everywhere == [f"{c}-{s}" for s in open_states for c in ("b", "p")]
    assert store.open_orders("kraken") == []


def test_executor_orders_keep_their_executor_link(store):
    store.save_order(make_order("a", ts=1), "binance", executor_id="ex-1")
    store.save_order(make_order("b", ts=2), "binance", executor_id="ex-2")
    order = make_order("a", state=OrderState.CANCELED, ts=1)
    store.save_order(order, "binance")  # an update that does not repeat the executor id
    assert [o.client_order_id for o in store.executor_orders("ex-1")] == ["a"]
    assert store.executor_orders("ex-1")[0].state is OrderState.CANCELED


# -- executors, holds, backtest runs ----------------------------------------------------------


def test_executors_round_trip_upsert_and_filter(store):
    first = ExecutorRecord(
        id="e1", controller_id="pmm", connector="binance", trading_pair="BTC-USDT",
        type="position", status="RUNNING", created_ts=10.0,
        config={"amount": D("0.001"), "levels": 3}, filled_amount_quote=D("12.3400"),
        custom_info={"side": "BUY"},
    )  # fmt: skip
    second = ExecutorRecord(
        id="e2", controller_id="grid", connector="binance", trading_pair="ETH-USDT",
        type="grid", status="RUNNING", created_ts=11.0,
    )  # fmt: skip
    store.save_executor(first)
    store.save_executor(second)
    loaded = store.load_executors()
    assert [e.id for e in loaded] == ["e1", "e2"]
    assert str(loaded[0].filled_amount_quote) == "12.3400"
    # Decimals inside JSON come back as exact strings.
    assert loaded[0].config == {"amount": "0.001", "levels": 3}
    assert loaded[0].custom_info == {"side": "BUY"}

    closed = ExecutorRecord(
        id="e1", controller_id="pmm", connector="binance", trading_pair="BTC-USDT",
        type="position", status="TERMINATED", created_ts=10.0, close_type="TAKE_PROFIT",
        closed_ts=99.5, net_pnl_quote=D("-0.0123"), fees_quote=D("0.0246"),
    )  # fmt: skip
    store.save_executor(closed)
    assert store.load_executors(status="TERMINATED") == [closed]
    assert [e.id for e in store.load_executors(status="RUNNING")] == ["e2"]
    assert store.load_executors(controller_id="grid") == [second]
    assert store.load_executors(status="RUNNING", controller_id="pmm") == []


def test_executor_config_that_is_not_json_raises(store):
    bad = ExecutorRecord(
        "e1", "c", "binance", "BTC-USDT", "order", "RUNNING", 1.0, config={"when": object()}
    )
    with pytest.raises(TypeError, match="cannot be stored as JSON"):
        store.save_executor(bad)
    assert store.load_executors() == []


def test_position_holds_round_trip_and_upsert(store):
    empty = PositionHoldRecord("binance", "ETH-USDT", "pmm", D("0"), D("0"), D("0"), D("0"), 1.0)
    held = PositionHoldRecord(
        "binance", "BTC-USDT", "pmm", D("0.015"), D("630.001875"), D("3.21"), D("0.63"), 2.0
    )
    store.save_position_hold(empty)
    store.save_position_hold(held)
    assert store.load_position_holds() == [held, empty]
    sold = PositionHoldRecord(
        "binance", "BTC-USDT", "pmm", D("-0.005"), D("-210.5"), D("5.00"), D("0.84"), 3.0
    )
    store.save_position_hold(sold)
    assert store.load_position_holds() == [sold, empty]


def test_backtest_runs_add_list_update(store):
    config = {"controller": "pmm_simple", "spread": D("0.002")}
    first = store.add_backtest_run(
        BacktestRunRecord(
            100.0, config, "RUNNING", data_start_ts=1_700_000_000.0, data_end_ts=1_700_086_400.0
        )
    )
    second = store.add_backtest_run(BacktestRunRecord(200.0, {"controller": "grid"}, "RUNNING"))
    assert second == first + 1
    store.update_backtest_run(
        first, status="DONE", metrics={"sharpe": 1.25, "trades": 42}, result_path="runs/1.parquet"
    )
    runs = store.backtest_runs()
    assert [r.id for r in runs] == [second, first]
    assert runs[1] == BacktestRunRecord(
        100.0, {"controller": "pmm_simple", "spread": "0.002"}, "DONE", 1_700_000_000.0,
        1_700_086_400.0, {"sharpe": 1.25, "trades": 42}, "runs/1.parquet", first,
    )  # fmt: skip
    assert runs[0].metrics is None
    assert [r.id for r in store.backtest_runs(limit=1)] == [second]
    with pytest.raises(StoreError, match="no backtest run 999"):
        store.update_backtest_run(999, status="DONE")


# -- transactions -----------------------------------------------------------------------------


def test_failed_transaction_writes_nothing(store):
    with pytest.raises(RuntimeError, match="boom"), store.transaction():
        store.save_order(make_order("a"), "binance")
        store.record_fill(make_fill("a", "t1", "0.5"))
        store.save_position_hold(
            PositionHoldRecord("binance", "BTC-USDT", "pmm", D("1"), D("100"), D("0"), D("0"), 1.0)
        )
        raise RuntimeError("boom")
    assert store.load_order("a") is None
    assert store.fills_for("a") == []
    assert store.load_position_holds() == []


def test_transaction_commits_together_and_a_caught_inner_failure_is_undone(store, db_path):
    with store.transaction():
        store.save_order(make_order("a"), "binance")
        with pytest.raises(StoreError):
            # save_order writes the order, then fails on the fill of another order: the
            # savepoint must take the order row back out too.
            bad = make_order("b", amount="2")
            bad.fills["t9"] = make_fill("ghost", "t9", "1")
            store.save_order(bad, "binance")
        store.record_fill(make_fill("a", "t1", "0.5"))
    assert store.load_order("a").fills["t1"].amount == D("0.5")
    assert store.load_order("b") is None
    assert raw_count(db_path, "orders") == 1


def test_other_connection_sees_only_committed_writes(store, db_path):
    with Store(db_path) as other:
        with store.transaction():
            store.save_order(make_order("a"), "binance")
            assert other.load_order("a") is None
        assert other.load_order("a") == make_order("a")


# -- opening and migrations -------------------------------------------------------------------


def test_fresh_store_is_at_latest_version_in_wal_mode(store, db_path):
    assert LATEST == 2
    assert store.schema_version == LATEST
    assert re.fullmatch(r"[0-9a-f]{32}", store.instance_id)
    assert store.integrity_check() == "ok"
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST


def test_reopening_does_not_rerun_migrations(db_path):
    with Store(db_path) as first:
        instance = first.instance_id
    with Store(db_path) as again:
        assert again.instance_id == instance
        assert again.schema_version == LATEST
    assert raw_count(db_path, "instance_meta") == 2


def test_upgrade_from_v1_keeps_data(db_path):
    order = make_order(amount="0.00012345")
    order.apply_fill(make_fill("c1", "t1", "0.0001"))
    with Store(db_path, migrations=MIGRATIONS[:1]) as old:
        assert old.schema_version == 1
        assert old.instance_id is None
        old.save_order(order, "binance", executor_id="e1")
    with Store(db_path) as new:
        assert new.schema_version == 2
        assert re.fullmatch(r"[0-9a-f]{32}", new.instance_id)
        assert new.load_order("c1") == order
        assert new.executor_orders("e1") == [order]


def test_database_from_newer_code_is_refused(db_path):
    Store(db_path).close()
    with pytest.raises(StoreError, match="newer birdterm") as info:
        Store(db_path, migrations=MIGRATIONS[:1])
    assert str(db_path) in str(info.value)
    with sqlite3.connect(db_path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match=r"schema version 99.*upgrade"):
        Store(db_path)


def test_failed_migration_is_rolled_back_whole(db_path):
    broken = (MIGRATIONS[0], "CREATE TABLE half_done (x INTEGER); CREATE TABLE oops (;")
    with pytest.raises(StoreError, match="schema version 2") as info:
        Store(db_path, migrations=broken)
    assert str(db_path) in str(info.value)
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "orders" in names
    assert "half_done" not in names


def test_migration_scripts_may_hold_semicolons_in_text_and_comments(db_path):
    tricky = (
        "CREATE TABLE notes (body TEXT); -- a comment; with a semicolon\n"
        "INSERT INTO notes VALUES ('a; b'); INSERT INTO notes VALUES ('c');",
    )
    with Store(db_path, migrations=tricky) as s:
        assert s.schema_version == 1
    with sqlite3.connect(db_path) as conn:
        assert [r[0] for r in conn.execute("SELECT body FROM notes")] == ["a; b", "c"]


def test_file_that_is_not_a_database_is_refused(db_path):
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"this is a text file, not SQLite" * 100)
    with pytest.raises(StoreError, match=re.escape(str(db_path))):
        Store(db_path)


def test_closed_store_refuses_work(db_path):
    s = Store(db_path)
    s.close()
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.load_order("c1")


# -- two or more processes at once ------------------------------------------------------------

WORKERS = 4
ORDERS_PER_WORKER = 200
FRESH_RACES = 10  # extra fresh files opened by all workers at once: a lost race shows up more


def _concurrent_writer(directory, worker, barrier, results):
    """Open fresh files at the same moment as the other workers, then write a lot to one."""
    report = {"worker": worker, "error": None, "race_ids": []}
    try:
        for race in range(FRESH_RACES):
            barrier.wait(timeout=60)
            with Store(f"{directory}/race{race}.sqlite") as store:
                store.save_order(make_order(f"w{worker}"), "binance")
                report["race_ids"].append(store.instance_id)
        barrier.wait(timeout=60)
        with Store(f"{directory}/bot.sqlite") as store:
            duplicates = 0
            for i in range(ORDERS_PER_WORKER):
                cid = f"w{worker}-{i:03d}"
                order = make_order(cid, amount="2", ts=float(i))
                store.save_order(order, f"conn{worker}", executor_id=f"ex{worker}")
                fills = [make_fill(cid, f"{cid}-t{n}", "1", ts=i + n / 10) for n in (1, 2)]
                for fill in fills[: 1 + i % 2]:  # odd orders fill fully, even ones half
                    with store.transaction():
                        store.record_fill(fill)
                        order.apply_fill(fill)
                        store.save_order(order, f"conn{worker}")
                    duplicates += not store.record_fill(fill)
                if store.load_order(cid) != order:
                    raise AssertionError(f"{cid} did not read back as written")
            store.save_executor(
                ExecutorRecord(
                    f"ex{worker}", "pmm", f"conn{worker}", "BTC-USDT", "order", "RUNNING", 1.0
                )
            )
            report["run_id"] = store.add_backtest_run(BacktestRunRecord(1.0, {"w": worker}, "OK"))
            report["instance_id"] = store.instance_id
            report["version"] = store.schema_version
            report["duplicates"] = duplicates
    except BaseException as exc:
        report["error"] = repr(exc)
        barrier.abort()  # release the others at once instead of after the timeout
        raise
    finally:
        results.put(report)


def test_processes_opening_one_fresh_file_at_once_do_not_corrupt_it(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(WORKERS)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_concurrent_writer, args=(str(tmp_path), w, barrier, results))
        for w in range(WORKERS)
    ]
    for p in procs:
        p.start()
    try:
        reports = [results.get(timeout=120) for _ in procs]
    except queue.Empty:
        pytest.fail("a writer process hung")
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
    assert [r["error"] for r in reports if r["error"]] == []
    assert all(p.exitcode == 0 for p in procs)

    for race in range(FRESH_RACES):
        path = tmp_path / f"race{race}.sqlite"
        ids = {r["race_ids"][race] for r in reports}
        assert len(ids) == 1  # migration 2 ran once: every process sees the same instance id
        with Store(path) as store:
            assert store.integrity_check() == "ok"
            assert store.schema_version == LATEST
            assert store.instance_id in ids
        assert raw_count(path, "orders") == WORKERS
        assert raw_count(path, "instance_meta") == 2

    db_path = tmp_path / "bot.sqlite"
    instance_ids = {r["instance_id"] for r in reports}
    assert len(instance_ids) == 1
    assert {r["version"] for r in reports} == {LATEST}
    fills_per_worker = ORDERS_PER_WORKER // 2 * 1 + ORDERS_PER_WORKER // 2 * 2
    assert [r["duplicates"] for r in reports] == [fills_per_worker] * WORKERS
    assert sorted(r["run_id"] for r in reports) == list(range(1, WORKERS + 1))
    with Store(db_path) as store:
        assert store.integrity_check() == "ok"
        assert store.schema_version == LATEST
        assert store.instance_id in instance_ids
        assert len(store.open_orders()) == WORKERS * ORDERS_PER_WORKER // 2
        assert len(store.executor_orders("ex3")) == ORDERS_PER_WORKER
        assert len(store.load_executors(status="RUNNING")) == WORKERS
        done = store.load_order("w2-199")
        assert done.state is OrderState.FILLED
        assert done.executed_quote == D("200")
    assert raw_count(db_path, "orders") == WORKERS * ORDERS_PER_WORKER
    assert raw_count(db_path, "fills") == WORKERS * fills_per_worker
    assert raw_count(db_path, "instance_meta") == 2
