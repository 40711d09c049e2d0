"""BinanceConnector against the emulator over real sockets: orders, fills, balances, watches.

Every test runs over both order transports (REST and the WebSocket API). The quiet emulator's
book is fixed (bids 30000 / 29990 / 29980, asks 30010 / 30020 / 30030), so every price, fee and
balance below is exact.
"""

import pytest

from birdterm.engine.connectors.base import TradingGateway, WatchKind
from birdterm.engine.connectors.binance.connector import BinanceConnector
from birdterm.engine.connectors.binance.settings import BinanceSettings
from birdterm.engine.connectors.binance.user_events import BalanceBook
from birdterm.engine.types import OrderState, OrderType, TradeType

from tests.engine.connectors.trading_fixtures import (
    FEE,
    PAIR,
    TRANSPORTS,
    D,
    RecordingListener,
    balances_match,
    quiet_emulator,
    started_connector,
    wait_until,
)

BUY, SELL = TradeType.BUY, TradeType.SELL
LIMIT, MARKET, LIMIT_MAKER = OrderType.LIMIT, OrderType.MARKET, OrderType.LIMIT_MAKER
transports = pytest.mark.parametrize("transport", TRANSPORTS)


def _usdt_btc(connector):
    balances = connector.balances()
    return balances["USDT"], balances["BTC"]


@transports
async def test_partial_fill_maker_fill_amend_and_cancel_with_exact_balances(transport):
    async with quiet_emulator() as emu, started_connector(emu, transport) as connector:
        assert connector.health == "ws"
        assert _usdt_btc(connector) == ((D(100_000), D(100_000)), (D(2), D(2)))
        listener = RecordingListener()
        # 1.5 BTC at 30010 takes the 1 BTC ask level and rests 0.5 as the best bid
        oid = connector.place_order(listener, PAIR, BUY, LIMIT, D("1.5"), D("30010"))
        assert listener.calls == []  # nothing is delivered inside the call
        order = connector.tracked_orders()[0]
        assert order.client_order_id == oid and order.state is OrderState.PENDING_CREATE
        await wait_until(lambda: order.state is OrderState.PARTIALLY_FILLED and listener.fills)
        fill = listener.fills[0]
        assert (fill.price, fill.amount, fill.is_maker) == (D("30010"), D("1"), False)
        assert fill.fees == {"BTC": D("0.001")} and fill.fee_quote == D("30.01")
        await wait_until(lambda: balances_match(connector, emu))
        # USDT: 30010 spent, 0.5 x 30010 = 15005 locked; BTC: +1 - 0.001 fee
        assert _usdt_btc(connector) == ((D(69_990), D(54_985)), (D("2.999"), D("2.999")))

        # the counterparty sells 0.2 into our resting bid: a maker fill at our price
        emu.counter_order("SELL", D("30010"), D("0.2"))
        await wait_until(lambda: len(listener.fills) == 2)
        maker = listener.fills[1]
        assert (maker.price, maker.amount, maker.is_maker) == (D("30010"), D("0.2"), True)
        assert maker.fees == {"BTC": D("0.2") * FEE}
        await wait_until(lambda: balances_match(connector, emu))
        assert _usdt_btc(connector) == ((D(63_988), D(54_985)), (D("3.1988"), D("3.1988")))

        # amend 1.5 -> 1.4 keeps the queue place; 0.2 is left resting (6002 USDT locked)
        task = connector.amend_order(PAIR, oid, D("1.4"))
        assert await task is True
        assert order.amount == D("1.4") and order.state is OrderState.PARTIALLY_FILLED
        await wait_until(lambda: balances_match(connector, emu))
        assert _usdt_btc(connector) == ((D(63_988), D(57_986)), (D("3.1988"), D("3.1988")))

        connector.cancel_order(PAIR, oid)
        assert order.state is OrderState.PENDING_CANCEL
        await wait_until(lambda: listener.done)
        assert listener.done == [(oid, OrderState.CANCELED, "")]
        assert order.executed_base == D("1.2")
        assert order.executed_quote == D("1.2") * D("30010")
        await wait_until(lambda: balances_match(connector, emu))
        assert _usdt_btc(connector) == ((D(63_988), D(63_988)), (D("3.1988"), D("3.1988")))
        assert connector.open_orders() == []
        (exchange_order,) = emu.our_orders()  # placed exactly once
        assert exchange_order["clientOrderId"] == oid and exchange_order["status"] == "CANCELED"


@transports
async def test_market_orders_fill_at_the_touch(transport):
    async with quiet_emulator() as emu, started_connector(emu, transport) as connector:
        listener = RecordingListener()
        buy = connector.place_order(listener, PAIR, BUY, MARKET, D("0.1"))
        sell = connector.place_order(listener, PAIR, SELL, MARKET, D("0.25"))
        await wait_until(lambda: len(listener.done) == 2)
        assert sorted(listener.done) == sorted(
            [(buy, OrderState.FILLED, ""), (sell, OrderState.FILLED, "")]
        )
        by_order = {f.order_id: f for f in listener.fills}
        assert (by_order[buy].price, by_order[buy].amount) == (D("30010"), D("0.1"))
        assert (by_order[sell].price, by_order[sell].amount) == (D("30000"), D("0.25"))
        assert by_order[sell].fees == {"USDT": D("0.25") * D("30000") * FEE}
        await wait_until(lambda: balances_match(connector, emu))
        usdt = D(100_000) - D("3001") + D("7500") - D("7.5")
        btc = D(2) + D("0.1") - D("0.0001") - D("0.25")
        assert _usdt_btc(connector) == ((usdt, usdt), (btc, btc))


@transports
async def test_refusals_fail_with_binances_message(transport):
    async with quiet_emulator() as emu, started_connector(emu, transport) as connector:
        listener = RecordingListener()
        poor = connector.place_order(listener, PAIR, BUY, LIMIT, D("5"), D("29000"))
        bad_price = connector.place_order(listener, PAIR, SELL, LIMIT, D("0.001"), D("2000000"))
        taker = connector.place_order(listener, PAIR, BUY, LIMIT_MAKER, D("0.1"), D("30010"))
        await wait_until(lambda: len(listener.done) == 3)
        reasons = {oid: (state, reason) for oid, state, reason in listener.done}
        assert reasons[poor] == (
            OrderState.FAILED,
            "Binance refused the order: Account has insufficient balance for requested action."
            " (code -2010)",
        )
        state, reason = reasons[bad_price]
        assert state is OrderState.FAILED
        assert "Filter failure: PRICE_FILTER" in reason and "(code -1013)" in reason
        assert reasons[taker] == (
            OrderState.FAILED,
            "Binance refused the order: Order would immediately match and take. (code -2010)",
        )
        assert len(emu.our_orders()) == 0  # refused orders never existed
        await wait_until(lambda: balances_match(connector, emu))
        assert _usdt_btc(connector) == ((D(100_000), D(100_000)), (D(2), D(2)))


@transports
async def test_below_min_notional_fails_locally_without_a_request(transport):
    async with quiet_emulator() as emu, started_connector(emu, transport) as connector:
        listener = RecordingListener()
        oid = connector.place_order(listener, PAIR, BUY, LIMIT, D("0.0001"), D("30000"))
        market = connector.place_order(listener, PAIR, SELL, MARKET, D("0.0001"))
        assert listener.done == []
        await wait_until(lambda: len(listener.done) == 2)
        state, reason = listener.done_of(oid)
        assert state is OrderState.FAILED
        assert reason.endswith(
            "order value 3.0000000 (price 30000.00 x amount 0.00010) is below the minimum "
            "notional 5"
        )
        state, reason = listener.done_of(market)
        assert state is OrderState.FAILED and "below the minimum notional 5" in reason
        pool = "POST /api/v3/order" if transport == "rest" else "ws order.place"
        assert connector.throttler.usage(pool) == 0  # no request was made
        assert emu.our_orders() == [] and connector.tracked_orders() == []


@transports
async def test_watches_fire_on_tick_at_the_mid(transport):
    async with quiet_emulator() as emu, started_connector(emu, transport) as connector:
        listener = RecordingListener()
        above = connector.watch_price(listener, PAIR, WatchKind.ABOVE, D("30005"))
        below = connector.watch_price(listener, PAIR, WatchKind.BELOW, D("30000"))
        later = connector.watch_time(listener, PAIR, 2e9)
        connector.tick(1_000.0)
        assert listener.watches == [(above, D("30005"), 1_000.0)]
        connector.cancel_watch(below)
        connector.tick(2e9)
        assert listener.watches[1] == (later, D("30005"), 2e9)
        assert len(connector.watches) == 0
        assert connector.exit_fee_pct(PAIR, LIMIT) == FEE
        assert connector.fee_asset(PAIR, BUY) == "BTC"
        assert connector.fee_asset(PAIR, SELL) == "USDT"
        assert connector.trading_rule(PAIR).min_notional == D(5)
        del emu


def test_orders_before_start_fail_without_raising():
    connector = BinanceConnector(BinanceSettings(api_key="k", api_secret="s", trading_pairs=[PAIR]))
    listener = RecordingListener()
    oid = connector.place_order(listener, PAIR, BUY, LIMIT, D("1"), D("100"))
    assert listener.done == [] and connector.health == "down"
    connector.tick(1.0)
    ((done_id, state, reason),) = listener.done
    assert (done_id, state) == (oid, OrderState.FAILED)
    assert (
        reason == "BTC-USDT BUY LIMIT 1 @ 100: BTC-USDT is not traded by this connector "
        "(started: False)"
    )
    connector.cancel_order(PAIR, oid)  # unknown: ignored
    assert connector.amend_order(PAIR, oid, D("0.5")) is None
    assert connector.tracked_orders() == [] and connector.balances() == {}


async def test_amend_is_refused_locally_when_it_cannot_apply():
    async with quiet_emulator() as emu, started_connector(emu) as connector:
        listener = RecordingListener()
        oid = connector.place_order(listener, PAIR, BUY, LIMIT, D("0.5"), D("30005"))
        order = connector.tracked_orders()[0]
        assert connector.amend_order(PAIR, oid, D("0.4")) is None  # not acknowledged yet
        await wait_until(lambda: order.state is OrderState.OPEN)
        assert connector.amend_order(PAIR, oid, D("0.5")) is None  # no change
        assert connector.amend_order(PAIR, oid, D("0.6")) is None  # an increase
        assert await connector.amend_order(PAIR, oid, D("0.30000001")) is True
        assert order.amount == D("0.3")  # quantized to the step
        assert [o["origQty"] for o in emu.our_orders()] == ["0.30000000"]


@transports
async def test_a_clock_off_by_seconds_is_resynced_and_the_order_goes_once(transport):
    async with quiet_emulator() as emu, started_connector(emu, transport) as connector:
        local_ms = connector.time_sync.local_ms()
        connector.time_sync.clear()
        connector.time_sync.add_sample(local_ms, int(local_ms) - 10_000, local_ms)
        listener = RecordingListener()
        connector.place_order(listener, PAIR, BUY, LIMIT, D("0.1"), D("30005"))
        order = connector.tracked_orders()[0]
        await wait_until(lambda: order.state is OrderState.OPEN)
        assert abs(connector.time_sync.offset_ms) < 1_000
        # refused with -1021, resynced, sent again (REST: inside the REST client)
        if transport == "rest":
            assert connector.rest.timestamp_retries == 1
        else:
            assert connector.stats["retries"] == 1
        assert len(emu.our_orders()) == 1 and listener.done == []


def test_the_connector_has_every_gateway_method():
    wanted = {n for n in dir(TradingGateway) if not n.startswith("_")}
    assert wanted <= set(dir(BinanceConnector))


def test_balance_book_keeps_the_newest_and_flags_same_ms_ties():
    book = BalanceBook()
    book.replace_all({"BTC": (D(1), D(0)), "USDT": (D(10), D(5))}, 100)
    book.apply({"BTC": (D("0.5"), D("0.5"))}, 200)
    book.apply({"BTC": (D(1), D(0))}, 150)  # a delayed older event
    assert book.as_totals()["BTC"] == (D(1), D("0.5")) and book.stale_dropped == 1
    assert book.tie_seen_at is None
    book.apply({"BTC": (D("0.7"), D("0.3"))}, 200)  # same ms, other values: order unknown
    assert book.tie_seen_at is not None
    book.replace_all({"USDT": (D(15), D(0))}, 300)  # a snapshot without BTC: it is zero now
    assert book.as_totals() == {"BTC": (D(0), D(0)), "USDT": (D(15), D(15))}
    assert (book.available("ETH"), book.total("USDT")) == (D(0), D(15))
