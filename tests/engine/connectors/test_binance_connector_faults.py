"""BinanceConnector under injected faults: lost answers, 5xx, dropped sockets, odd user events.

The emulator injects each fault deterministically (rate 1.0 while a test needs it, then off).
Whatever happens, an order is placed at most once, ends in a state the exchange confirms, and
every fill is counted exactly once.
"""

import pytest

from birdterm.engine.types import OrderState, OrderType, TradeType
from birdterm.sim.emulator.faults import FaultConfig

from tests.engine.connectors.trading_fixtures import (
    PAIR,
    TRANSPORTS,
    D,
    RecordingListener,
    balances_match,
    quiet_emulator,
    started_connector,
    wait_until,
)

BUY, SELL, LIMIT = TradeType.BUY, TradeType.SELL, OrderType.LIMIT
transports = pytest.mark.parametrize("transport", TRANSPORTS)


def _order(connector, oid):
    return next(o for o in connector.tracked_orders() if o.client_order_id == oid)


@transports
async def test_lost_create_answer_is_found_by_lookup_and_not_placed_twice(transport):
    emulator = quiet_emulator()
    async with (
        emulator as emu,
        started_connector(emu, transport, request_timeout_s=0.5) as connector,
    ):
        listener = RecordingListener()
        # events come late, so the lookup is what finds the order
        emu.server.faults = FaultConfig(lost_response_rate=1.0, user_event_delay_ms=(3000, 3000))
        oid = connector.place_order(listener, PAIR, BUY, LIMIT, D("0.1"), D("30005"))
        order = _order(connector, oid)
        await wait_until(lambda: connector.stats["outcome_unknown"] == 1)
        emu.server.faults = FaultConfig(user_event_delay_ms=(3000, 3000))
        await wait_until(lambda: order.state is OrderState.OPEN)
        assert connector.stats["lookups"] >= 1 and connector.stats["user_events"] == 0
        emu.server.faults = None
        (placed,) = emu.our_orders()
        assert placed["clientOrderId"] == oid and order.exchange_order_id == str(placed["orderId"])
        # the order works normally afterwards
        emu.counter_order("SELL", D("30005"), D("0.1"))
        await wait_until(lambda: listener.done)
        assert listener.done == [(oid, OrderState.FILLED, "")]
        assert listener.filled_amount(oid) == D("0.1")
        assert len(emu.our_orders()) == 1


@transports
async def test_server_error_after_processing_is_found_by_lookup(transport):
    async with quiet_emulator() as emu, started_connector(emu, transport) as connector:
        listener = RecordingListener()
        emu.server.faults = FaultConfig(
            server_error_after_rate=1.0, user_event_delay_ms=(3000, 3000)
        )
        oid = connector.place_order(listener, PAIR, BUY, LIMIT, D("1.5"), D("30010"))
        await wait_until(lambda: connector.stats["outcome_unknown"] == 1)
        emu.server.faults = FaultConfig(user_event_delay_ms=(3000, 3000))
        order = _order(connector, oid)
        await wait_until(lambda: order.state is OrderState.PARTIALLY_FILLED and listener.fills)
        assert connector.stats["lookups"] >= 1 and connector.stats["user_events"] == 0
        assert connector.stats["fills_recovered"] == 1  # from myTrades, not from the event
        emu.server.faults = None
        assert listener.filled_amount(oid) == D("1")
        assert len(emu.our_orders()) == 1
        await connector.supervisor.reconcile()  # balances from REST (their events are late)
        assert balances_match(connector, emu)


@transports
async def test_server_error_before_processing_fails_after_three_lookups(transport):
    async with quiet_emulator() as emu, started_connector(emu, transport) as connector:
        listener = RecordingListener()
        emu.server.faults = FaultConfig(server_error_rate=1.0)
        oid = connector.place_order(listener, PAIR, BUY, LIMIT, D("0.1"), D("30005"))
        await wait_until(lambda: connector.stats["outcome_unknown"] == 1)
        emu.server.faults = None
        await wait_until(lambda: listener.done, timeout=10)
        assert listener.done == [
            (oid, OrderState.FAILED, f"exchange does not know order {oid} after 3 lookups")
        ]
        assert connector.stats["failed_not_found"] == 1
        assert connector.stats["lookups"] >= 3
        assert emu.our_orders() == []
        assert connector.open_orders() == []


@transports
async def test_cancel_is_retried_until_confirmed(transport):
    async with quiet_emulator() as emu, started_connector(emu, transport) as connector:
        listener = RecordingListener()
        oid = connector.place_order(listener, PAIR, BUY, LIMIT, D("0.1"), D("30005"))
        order = _order(connector, oid)
        await wait_until(lambda: order.state is OrderState.OPEN)
        emu.server.faults = FaultConfig(server_error_rate=1.0)
        connector.cancel_order(PAIR, oid)
        await wait_until(lambda: connector.stats["cancels_sent"] >= 3)
        assert order.state is OrderState.PENDING_CANCEL and listener.done == []
        emu.server.faults = None
        await wait_until(lambda: listener.done)
        assert listener.done == [(oid, OrderState.CANCELED, "")]
        assert connector.stats["retries"] >= 2
        assert [o["status"] for o in emu.our_orders()] == ["CANCELED"]


async def test_lost_cancel_answer_with_the_stream_down_is_confirmed_by_lookup():
    async with quiet_emulator() as emu, started_connector(emu, "rest") as connector:
        listener = RecordingListener()
        oid = connector.place_order(listener, PAIR, SELL, LIMIT, D("0.1"), D("30008"))
        order = _order(connector, oid)
        await wait_until(lambda: order.state is OrderState.OPEN)
        await connector.ws.stop()  # no user events: only requests can tell what happened
        await wait_until(lambda: connector.health == "rest_fallback")
        emu.server.faults = FaultConfig(lost_response_rate=1.0)
        connector.cancel_order(PAIR, oid)
        await wait_until(lambda: connector.stats["cancels_sent"] >= 1)
        await wait_until(lambda: emu.our_orders()[0]["status"] == "CANCELED")
        emu.server.faults = None
        await wait_until(lambda: listener.done)
        assert listener.done == [(oid, OrderState.CANCELED, "")]
        assert len(emu.our_orders()) == 1
        await wait_until(lambda: balances_match(connector, emu))


@transports
async def test_duplicated_and_delayed_events_do_not_double_count(transport):
    faults = FaultConfig(seed=3, user_event_duplicate_rate=1.0, user_event_delay_ms=(0, 150))
    async with quiet_emulator(faults) as emu, started_connector(emu, transport) as connector:
        listener = RecordingListener()
        oid = connector.place_order(listener, PAIR, BUY, LIMIT, D("1.5"), D("30010"))
        order = _order(connector, oid)
        await wait_until(lambda: order.state is OrderState.PARTIALLY_FILLED)
        emu.counter_order("SELL", D("30010"), D("0.2"))
        emu.counter_order("SELL", D("30010"), D("0.1"))
        await wait_until(lambda: order.executed_base == D("1.3"))
        connector.cancel_order(PAIR, oid)
        await wait_until(lambda: listener.done)
        assert listener.done == [(oid, OrderState.CANCELED, "")]
        amounts = sorted(f.amount for f in listener.fills)
        assert amounts == [D("0.1"), D("0.2"), D("1")]
        assert len({f.trade_id for f in listener.fills}) == 3
        await wait_until(lambda: connector.stats["duplicates_dropped"] >= 3)
        await wait_until(lambda: balances_match(connector, emu))
        usdt = D(100_000) - D("1.3") * D("30010")
        btc = D(2) + D("1.3") * D("0.999")
        assert connector.balances()["USDT"] == (usdt, usdt)
        assert connector.balances()["BTC"] == (btc, btc)


@transports
async def test_dropped_stream_resubscribes_and_recovers_missed_fills(transport):
    async with quiet_emulator() as emu, started_connector(emu, transport) as connector:
        listener = RecordingListener()
        oid = connector.place_order(listener, PAIR, BUY, LIMIT, D("0.5"), D("30005"))
        order = _order(connector, oid)
        await wait_until(lambda: order.state is OrderState.OPEN)
        # the socket drops instead of carrying the fill's events
        emu.server.faults = FaultConfig(ws_drop_rate=1.0)
        emu.counter_order("SELL", D("30005"), D("0.2"))
        await wait_until(lambda: not connector.ws.connected)
        emu.server.faults = None
        await wait_until(lambda: listener.fills)
        assert [(f.amount, f.price, f.is_maker) for f in listener.fills] == [
            (D("0.2"), D("30005"), True)
        ]
        assert connector.stats["fills_recovered"] == 1
        await wait_until(lambda: connector.ws.subscribed and connector.stats["reconnects"] == 1)
        # events flow again on the new subscription
        emu.counter_order("SELL", D("30005"), D("0.3"))
        await wait_until(lambda: listener.done)
        assert listener.done == [(oid, OrderState.FILLED, "")]
        assert listener.filled_amount(oid) == D("0.5")
        await wait_until(lambda: balances_match(connector, emu))


async def test_stream_down_polls_orders_over_rest_then_reconciles():
    async with quiet_emulator() as emu, started_connector(emu, "ws_api") as connector:
        listener = RecordingListener()
        oid = connector.place_order(listener, PAIR, SELL, LIMIT, D("0.4"), D("30005"))
        order = _order(connector, oid)
        await wait_until(lambda: order.state is OrderState.OPEN)
        await connector.ws.stop()
        await wait_until(lambda: connector.health == "rest_fallback")
        emu.counter_order("BUY", D("30005"), D("0.1"))
        await wait_until(lambda: listener.fills)
        assert listener.fills[0].amount == D("0.1") and connector.stats["polls"] >= 1
        await wait_until(lambda: balances_match(connector, emu))
        # orders still go out (over REST) while the WS API is down
        second = connector.place_order(listener, PAIR, SELL, LIMIT, D("0.1"), D("30006"))
        await wait_until(lambda: _order(connector, second).state is OrderState.OPEN)
        assert await connector.ws.start()
        await wait_until(lambda: connector.health == "ws")
        emu.counter_order("BUY", D("30006"), D("0.4"))
        await wait_until(lambda: len(listener.done) == 2)
        assert {state for _, state, _ in listener.done} == {OrderState.FILLED}
        assert listener.filled_amount(oid) == D("0.4")
        assert listener.filled_amount(second) == D("0.1")
