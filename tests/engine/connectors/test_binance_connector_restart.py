"""A restart with a store reconciles with the exchange: adopt, recover fills, fail, cancel."""

from birdterm.engine.store import Store
from birdterm.engine.types import InFlightOrder, OrderState, OrderType, TradeType

from tests.engine.connectors.trading_fixtures import (
    API_KEY,
    PAIR,
    SYMBOL,
    D,
    RecordingListener,
    balances_match,
    quiet_emulator,
    started_connector,
    wait_until,
)

BUY, SELL, LIMIT = TradeType.BUY, TradeType.SELL, OrderType.LIMIT


def _state(connector, oid):
    order = next((o for o in connector.tracked_orders() if o.client_order_id == oid), None)
    return None if order is None else order.state


def _exchange_status(emu, cid):
    return next(o["status"] for o in emu.our_orders() if o["clientOrderId"] == cid)


async def test_restart_with_a_store_reconciles_every_order(tmp_path):
    store = Store(tmp_path / "bot.sqlite")
    async with quiet_emulator() as emu:
        listener = RecordingListener()
        async with started_connector(emu, "rest", store=store) as first:
            resting = first.place_order(listener, PAIR, BUY, LIMIT, D("0.1"), D("30001"))
            partial = first.place_order(listener, PAIR, BUY, LIMIT, D("0.2"), D("30005"))
            filled = first.place_order(listener, PAIR, BUY, LIMIT, D("0.1"), D("30008"))
            gone = first.place_order(listener, PAIR, SELL, LIMIT, D("0.1"), D("30100"))
            ids = (resting, partial, filled, gone)
            await wait_until(lambda: all(_state(first, i) is OrderState.OPEN for i in ids))
        # while the bot is down: fills, a cancel from elsewhere, an orphan with our prefix
        emu.counter_order("SELL", D("30005"), D("0.15"))  # fills `filled`, 0.05 of `partial`
        emu.exchange.cancel_order(API_KEY, {"symbol": SYMBOL, "origClientOrderId": gone})
        orphan_params = {
            "symbol": SYMBOL,
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "price": "29000",
            "quantity": "0.1",
            "newClientOrderId": "bt-orphan",
        }
        emu.exchange.new_order(API_KEY, orphan_params)
        emu.exchange.new_order(API_KEY, {**orphan_params, "newClientOrderId": "manual-1"})
        # an order saved before its request left, and then the process died
        never_sent = InFlightOrder("bt-never-sent", PAIR, LIMIT, BUY, D("0.1"), D("29500"), 1.0)
        store.save_order(never_sent, "binance")

        async with started_connector(emu, "rest", store=store) as second:
            # start_network returns after one lookup of each stored order
            assert _state(second, gone) is OrderState.CANCELED
            await wait_until(lambda: _state(second, filled) is OrderState.FILLED)
            await wait_until(lambda: _state(second, "bt-never-sent") is OrderState.FAILED)
            assert second.tracker.get("bt-never-sent").reason == (
                "exchange does not know order bt-never-sent after 3 lookups"
            )
            # no executor owns the adopted orders after a restart: the live ones are cancelled,
            # their fills recorded
            await wait_until(lambda: _state(second, resting) is OrderState.CANCELED)
            await wait_until(lambda: _state(second, partial) is OrderState.CANCELED)
            assert second.tracker.get(partial).order.executed_base == D("0.05")
            assert _exchange_status(emu, resting) == "CANCELED"
            assert _exchange_status(emu, partial) == "CANCELED"
            await wait_until(lambda: _exchange_status(emu, "bt-orphan") == "CANCELED")
            assert _exchange_status(emu, "manual-1") == "NEW"  # not ours: left alone
            assert second.stats["fills_recovered"] == 2
            # the store follows the exchange
            stored = store.load_order(filled)
            assert stored.state is OrderState.FILLED and stored.executed_base == D("0.1")
            assert [f.price for f in stored.fills.values()] == [D("30008")]
            stored = store.load_order(partial)
            assert stored.state is OrderState.CANCELED and stored.executed_base == D("0.05")
            assert store.load_order(resting).state is OrderState.CANCELED
            assert store.load_order("bt-never-sent").state is OrderState.FAILED
            await wait_until(lambda: store.load_order("bt-orphan").state is OrderState.CANCELED)
            assert second.open_orders() == []
            assert listener.done == []  # the first run's listener is gone with it
            await wait_until(lambda: balances_match(second, emu))
    store.close()
