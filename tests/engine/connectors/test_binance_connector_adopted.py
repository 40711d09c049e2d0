"""Orders adopted from the store at start have no owner (executors are not restored): each is
looked up until the exchange answers for it, cancelled once it is confirmed live (its fills
recorded), and ends FAILED (CANCELED when it had fills) when the exchange does not know it."""

import logging

from birdterm.engine.connectors.order_tracker import MAX_NOT_FOUND
from birdterm.engine.store import Store
from birdterm.engine.types import (
    InFlightOrder,
    OrderState,
    OrderType,
    TradeFee,
    TradeType,
    TradeUpdate,
)

from tests.engine.connectors.trading_fixtures import (
    PAIR,
    D,
    RecordingListener,
    balances_match,
    quiet_emulator,
    started_connector,
    wait_until,
)

BUY, SELL, LIMIT = TradeType.BUY, TradeType.SELL, OrderType.LIMIT


def _exchange_status(emu, cid):
    return next(o["status"] for o in emu.our_orders() if o["clientOrderId"] == cid)


def _state(connector, cid):
    return connector.tracker.get(cid).order.state


async def test_adopted_orders_live_on_the_exchange_are_cancelled_with_their_fills(tmp_path, caplog):
    store = Store(tmp_path / "bot.sqlite")
    async with quiet_emulator() as emu:
        async with started_connector(emu, "rest", store=store) as first:
            listener = RecordingListener()
            resting = first.place_order(listener, PAIR, BUY, LIMIT, D("0.1"), D("30001"))
            partial = first.place_order(listener, PAIR, SELL, LIMIT, D("0.2"), D("30009"))
            ids = (resting, partial)
            await wait_until(lambda: all(_state(first, i) is OrderState.OPEN for i in ids))
        # the process is gone (its orders rest); meanwhile a part of one of them fills
        emu.counter_order("BUY", D("30009"), D("0.05"))
        assert _exchange_status(emu, partial) == "PARTIALLY_FILLED"

        caplog.set_level(logging.WARNING, logger="birdterm.binance")
        async with started_connector(emu, "rest", store=store) as second:
            for cid in ids:
                assert second.tracker.get(cid).listener is None
            await wait_until(lambda: _exchange_status(emu, resting) == "CANCELED")
            await wait_until(lambda: _exchange_status(emu, partial) == "CANCELED")
            await wait_until(lambda: second.open_orders() == [])
            assert _state(second, resting) is OrderState.CANCELED
            assert _state(second, partial) is OrderState.CANCELED
            assert second.tracker.get(partial).order.executed_base == D("0.05")
            assert second.stats["cancels_sent"] >= 2
            assert second.stats["fills_recovered"] == 1
            stored = store.load_order(partial)
            assert stored.state is OrderState.CANCELED and stored.executed_base == D("0.05")
            assert [f.price for f in stored.fills.values()] == [D("30009")]
            assert store.load_order(resting).state is OrderState.CANCELED
            await wait_until(lambda: balances_match(second, emu))
        warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        for cid in ids:
            assert any(cid in msg and "no executor" in msg for msg in warned), (cid, warned)
    store.close()


async def test_adopted_order_found_only_after_a_failed_lookup_is_cancelled(tmp_path):
    """A stored OPEN order whose first lookups fail (the exchange answers 5xx) is looked up
    again until it answers, then cancelled."""
    store = Store(tmp_path / "bot.sqlite")
    async with quiet_emulator() as emu:
        async with started_connector(emu, "rest", store=store) as first:
            cid = first.place_order(RecordingListener(), PAIR, BUY, LIMIT, D("0.1"), D("29990"))
            await wait_until(lambda: _state(first, cid) is OrderState.OPEN)
        # the exchange answers 5xx to the first lookups of the restarted connector
        query_order = emu.exchange.query_order
        refused = []

        def flaky_get_order(api_key, params):
            if len(refused) < 2 and params.get("origClientOrderId") == cid:
                refused.append(params)
                raise RuntimeError("exchange hiccup")
            return query_order(api_key, params)

        emu.exchange.query_order = flaky_get_order
        async with started_connector(emu, "rest", store=store) as second:
            await wait_until(lambda: _exchange_status(emu, cid) == "CANCELED")
            await wait_until(lambda: _state(second, cid) is OrderState.CANCELED)
            assert len(refused) == 2
    store.close()


async def test_adopted_open_order_the_exchange_does_not_know_ends_failed(tmp_path):
    store = Store(tmp_path / "bot.sqlite")
    # OPEN in the store, unknown to the exchange (archived, testnet reset, another account)
    stale = InFlightOrder("bt-stale-open", PAIR, LIMIT, BUY, D("0.1"), D("29500"), 1.0,
                          exchange_order_id="999999")  # fmt: skip
    stale.transition(OrderState.OPEN, 2.0)
    store.save_order(stale, "binance")
    # PARTIALLY_FILLED in the store, unknown to the exchange: it did exist, it ends CANCELED
    part = InFlightOrder("bt-stale-part", PAIR, LIMIT, SELL, D("0.2"), D("30500"), 1.0,
                         exchange_order_id="999998")  # fmt: skip
    part.transition(OrderState.OPEN, 2.0)
    part.apply_fill(TradeUpdate("t-1", "bt-stale-part", D("30500"), D("0.05"), TradeFee(), 3.0))
    assert part.state is OrderState.PARTIALLY_FILLED
    store.save_order(part, "binance")
    async with quiet_emulator() as emu:
        async with started_connector(emu, "rest", store=store) as c:
            await wait_until(lambda: c.open_orders() == [])
            for cid in ("bt-stale-open", "bt-stale-part"):
                entry = c.tracker.get(cid)
                assert entry.not_found_count == MAX_NOT_FOUND
                assert entry.reason == (
                    f"exchange does not know order {cid} after {MAX_NOT_FOUND} lookups"
                )
            assert _state(c, "bt-stale-open") is OrderState.FAILED
            assert _state(c, "bt-stale-part") is OrderState.CANCELED
            assert c.tracker.get("bt-stale-part").order.executed_base == D("0.05")
            assert store.load_order("bt-stale-open").state is OrderState.FAILED
            assert store.load_order("bt-stale-part").state is OrderState.CANCELED
            assert c.stats["failed_not_found"] == 2
        assert emu.our_orders() == []  # nothing was sent for them
    store.close()
