"""Running controller files: the demo through the real connector and the embedded emulator,
paper trading on the emulator's public data, /start and /stop, the store written as it goes."""

from __future__ import annotations

import asyncio
import itertools
import time
from decimal import Decimal

import pytest

from birdterm.commands import CommandContext, CommandError, default_registry
from birdterm.engine.engine import Engine
from birdterm.runner.session import SessionError, resolve_config, start_session

from tests.emulator_fixtures import wait_until
from tests.helpers import REPO

DEMO = REPO / "configs" / "demo.toml"


def demo_variant(tmp_path, **replacements: str):
    """configs/demo.toml with some lines replaced (old text -> new text)."""
    text = DEMO.read_text()
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "variant.toml"
    path.write_text(text)
    return path


async def run_command(engine, line):
    result = default_registry().run(line, CommandContext(engine))
    if result.background is not None:
        return result.text, await result.background
    return result.text, None


async def test_demo_quotes_through_the_connector_and_stop_cancels_everything(data_dir):
    engine = Engine(data_dir, name="demo", tick_size=0.2)
    engine.start()
    try:
        _, started = await run_command(engine, f"/start {DEMO}")
        assert started == "started demo_pmm (pmm_inventory) on BTC-USDT via binance [embedded]"
        session = engine.sessions["demo_pmm"]
        exchange = session.emulator.server.exchange
        key = "birdtermDemoApiKey"
        # pmm_inventory with no BTC quotes its three buy levels first (min_base_pct = 0.1)
        await wait_until(lambda: len(exchange.open_orders(key, "BTCUSDT")) == 3, timeout=15)
        resting = exchange.open_orders(key, "BTCUSDT")
        assert {o["side"] for o in resting} == {"BUY"}
        mid = session.gateway.mid_price("BTC-USDT")
        for order in resting:
            assert Decimal(order["price"]) < mid
            # $10 a level (0.06 x 1000 over 6 levels), leaning up to 1.5x towards buying while
            # BTC is below its 50 % target (inventory_skew = 0.5)
            notional = Decimal(order["price"]) * Decimal(order["origQty"])
            assert Decimal(10) <= notional <= Decimal("15.01")
        # every order is in the store, tracked before it was sent
        stored = {o.client_order_id for o in engine.store.open_orders("binance/demo_pmm")}
        assert {o["clientOrderId"] for o in resting} <= stored
        view = engine.view().sessions[0]
        assert (view.controller_id, view.health, view.active_executors) == ("demo_pmm", "ws", 3)
        assert view.balances["USDT"][0] == Decimal(1000)
        # the dashboard's reads: the book with our three bids marked, and the executors
        assert view.book is not None and len(view.book.bids) == len(view.book.asks) == 20
        assert sorted(p for _, p, _ in view.book.own_orders) == sorted(
            float(o["price"]) for o in resting
        )
        assert [r.status for r in view.executors] == ["RUNNING"] * 3
        # the P&L history is sampled by the clock (once a second), not by whoever reads it
        ticks = engine.clock.tick_count
        await wait_until(lambda: engine.clock.tick_count >= ticks + 6, timeout=10)
        history = engine.view().sessions[0].pnl_history
        assert len(history) >= 2
        assert all(b[0] - a[0] >= 1.0 for a, b in itertools.pairwise(history))

        _, stopped = await run_command(engine, "/stop demo_pmm")
        assert stopped == "stopped demo_pmm: 3 executors closed, no open orders"
        assert exchange.open_orders(key, "BTCUSDT") == []
        assert engine.sessions == {}
        assert engine.store.open_orders("binance/demo_pmm") == []
        executors = engine.store.load_executors()
        assert len(executors) == 3
        assert {e.status for e in executors} == {"TERMINATED"}
    finally:
        await engine.stop()


async def test_paper_session_trades_on_the_emulators_public_data(data_dir, tmp_path):
    path = demo_variant(
        tmp_path,
        **{'connector = "binance"              #': 'connector = "binance_paper"        #'},
    )
    engine = Engine(data_dir, name="paper", tick_size=0.2)
    engine.start()
    try:
        started = await start_session(engine, path)
        assert started.endswith("via binance_paper [embedded]")
        session = engine.sessions["demo_pmm"]
        # paper orders never reach the exchange; the paper wallet holds them
        await wait_until(lambda: len(session.gateway.open_orders()) == 3, timeout=15)
        exchange = session.emulator.server.exchange
        assert exchange.open_orders("birdtermDemoApiKey", "BTCUSDT") == []
        orders = session.gateway.open_orders()
        assert {o.trade_type.name for o in orders} == {"BUY"}
        total, free = session.gateway.balances()["USDT"]
        assert total == Decimal(1000)
        # the buys lock exactly their cost (their fee is charged in the BTC they receive)
        assert total - free == sum(o.price * o.amount for o in orders)
        summary = await engine.stop_session("demo_pmm")
        assert summary == "stopped demo_pmm: 3 executors closed, no open orders"
    finally:
        await engine.stop()


async def test_start_errors_name_the_problem(data_dir, tmp_path):
    engine = Engine(data_dir)
    with pytest.raises(CommandError, match=r"no config file 'nope'.*configs: .*demo"):
        default_registry().run("/start nope", CommandContext(engine))
    with pytest.raises(CommandError, match="nothing is running"):
        default_registry().run("/stop", CommandContext(engine))
    bad = demo_variant(tmp_path, **{'connector = "binance"  ': 'connector = "kraken"  '})
    with pytest.raises(SessionError, match=r"controller.connector 'kraken' cannot run live; "
                       "valid: binance, binance_paper"):  # fmt: skip
        await start_session(engine, bad)
    invalid = demo_variant(tmp_path, **{"seed = 7\nstart_price": "seed = -1\nstart_price"})
    with pytest.raises(SessionError, match=r"variant.toml:\d+: emulator.seed"):
        await start_session(engine, invalid)
    assert engine.sessions == {}
    await engine.stop()


async def test_live_endpoint_needs_keys_in_the_environment(data_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("BIRDTERM_BINANCE_API_KEY", raising=False)
    path = demo_variant(tmp_path, **{'endpoint = "embedded"': 'endpoint = "testnet"'})
    engine = Engine(data_dir)
    with pytest.raises(SessionError, match="export BIRDTERM_BINANCE_API_KEY="):
        await start_session(engine, path)
    await engine.stop()


def test_config_names_resolve_to_the_configs_folder():
    assert resolve_config("demo").resolve() == DEMO.resolve()
    assert resolve_config(str(DEMO)) == DEMO


async def test_headless_run_stops_cleanly_on_request(data_dir):
    from birdterm.runner.headless import run_headless

    stop = asyncio.Event()
    task = asyncio.create_task(run_headless(DEMO, data_dir, status_every_s=0.2, stop=stop))
    store_file = data_dir / "demo.sqlite"
    await wait_until(store_file.exists, timeout=10)
    from birdterm.engine.store import Store

    def orders_stored():
        with Store(store_file) as store:
            return len(store.open_orders("binance/demo_pmm")) == 3

    await wait_until(orders_stored, timeout=15)
    stop.set()
    assert await asyncio.wait_for(task, timeout=30) == 0
    with Store(store_file) as store:
        assert store.open_orders("binance/demo_pmm") == []


async def test_a_second_start_of_a_running_controller_is_refused_cleanly(data_dir):
    engine = Engine(data_dir, name="twice", tick_size=0.2)
    engine.start()
    try:
        results = await asyncio.gather(
            start_session(engine, DEMO), start_session(engine, DEMO), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, Exception)]
        assert len(errors) == 1
        assert str(errors[0]) == "controller 'demo_pmm' is already running"
        children = [child.name for child in engine.clock.children]
        assert children == ["binance/demo_pmm", "controller:demo_pmm"]
    finally:
        await engine.stop()
    assert engine.clock.children == ()


async def test_stop_cancels_orders_no_executor_owns(data_dir):
    engine = Engine(data_dir, name="orphans", tick_size=0.2)
    engine.start()
    try:
        await start_session(engine, DEMO)
        session = engine.sessions["demo_pmm"]
        gateway = session.gateway
        exchange = session.emulator.server.exchange

        class Nobody:
            def on_fill(self, fill): ...
            def on_order_done(self, order_id, state, reason): ...
            def on_watch(self, watch_id, price, timestamp): ...
            def on_trail_activated(self, watch_id, price, timestamp): ...

        from birdterm.engine.types import OrderType, TradeType

        rule = gateway.trading_rule("BTC-USDT")
        price = rule.quantize_price(gateway.mid_price("BTC-USDT") * Decimal("0.95"))
        order_id = gateway.place_order(
            Nobody(), "BTC-USDT", TradeType.BUY, OrderType.LIMIT, Decimal("0.001"), price
        )
        key = "birdtermDemoApiKey"
        await wait_until(
            lambda: any(o["clientOrderId"] == order_id
                        for o in exchange.open_orders(key, "BTCUSDT")), timeout=10)  # fmt: skip
        summary = await engine.stop_session("demo_pmm")
        assert summary.endswith("no open orders")
        assert exchange.open_orders(key, "BTCUSDT") == []
    finally:
        await engine.stop()


@pytest.mark.parametrize("name", ["bollinger", "dca"])
async def test_candle_controllers_run_on_paper_with_a_live_feed(data_dir, tmp_path, name):
    text = (REPO / "configs" / f"{name}.toml").read_text()
    path = tmp_path / f"{name}.toml"
    path.write_text(text + '\n[live]\nendpoint = "embedded"\n')
    engine = Engine(data_dir, name=name, tick_size=0.2)
    engine.start()
    try:
        started = await start_session(engine, path)
        assert started.endswith("via binance_paper [embedded]")
        session = next(iter(engine.sessions.values()))
        feed = session.candles.feed
        # the emulator serves a day of history: the last 1000 klines, less the one still open
        assert len(feed) == 999
        assert (feed.candles["ts"][1:] - feed.candles["ts"][:-1] == 60_000).all()
        last_close_ms = int(feed.candles["ts"][-1]) + 60_000
        assert 0 <= time.time() * 1000 - last_close_ms < 60_000
        await wait_until(lambda: session.driver.decisions >= 3, timeout=10)
        assert engine.clock.error_count == 0
        summary = await engine.stop_session(session.controller_id)
        assert summary.endswith("no open orders")
    finally:
        await engine.stop()
