"""Event hub: typed dispatch, base-class subscription, weak listeners, error isolation."""

import gc
import logging
from decimal import Decimal as D

from birdterm.engine.events import (
    BalanceUpdate,
    EventHub,
    OrderCancelled,
    OrderEvent,
    OrderFailed,
    OrderFilled,
)
from birdterm.engine.types import OrderType, TradeFee, TradeType


def filled(trade_id="t1"):
    return OrderFilled(
        timestamp=10.0,
        client_order_id="c1",
        trading_pair="BTC-USDT",
        trade_id=trade_id,
        order_type=OrderType.LIMIT,
        trade_type=TradeType.BUY,
        price=D("100"),
        amount=D("0.5"),
        fee=TradeFee(percent=D("0.001")),
        is_maker=True,
    )


class Sink:
    def __init__(self):
        self.events = []

    def on_event(self, event):
        self.events.append(event)


def test_listeners_get_their_type_and_subclasses_only():
    hub = EventHub()
    fills, orders, balances = Sink(), Sink(), Sink()
    hub.subscribe(OrderFilled, fills.on_event)
    hub.subscribe(OrderEvent, orders.on_event)
    hub.subscribe(BalanceUpdate, balances.on_event)
    cancel = OrderCancelled(timestamp=11.0, client_order_id="c2", trading_pair="BTC-USDT")
    assert hub.publish(filled()) == 2
    assert hub.publish(cancel) == 1
    assert fills.events == [filled()]
    assert orders.events == [filled(), cancel]
    assert balances.events == []


def test_listener_is_weak_and_dropped_with_its_owner():
    hub = EventHub()
    sink = Sink()
    hub.subscribe(OrderFilled, sink.on_event)
    assert hub.listener_count(OrderFilled) == 1
    del sink
    gc.collect()
    assert hub.listener_count(OrderFilled) == 0
    assert hub.publish(filled()) == 0


def test_subscribe_twice_is_once_and_unsubscribe_stops_delivery():
    hub = EventHub()
    sink = Sink()
    hub.subscribe(OrderFilled, sink.on_event)
    hub.subscribe(OrderFilled, sink.on_event)
    hub.publish(filled("a"))
    hub.unsubscribe(OrderFilled, sink.on_event)
    hub.publish(filled("b"))
    assert [e.trade_id for e in sink.events] == ["a"]


def test_plain_function_listener_kept_while_referenced():
    hub = EventHub()
    got = []

    def listener(event):
        got.append(event.reason)

    hub.subscribe(OrderFailed, listener)
    hub.publish(OrderFailed(1.0, "c1", "BTC-USDT", reason="insufficient balance"))
    assert got == ["insufficient balance"]


def test_failing_listener_is_logged_and_others_still_called(caplog):
    hub = EventHub()

    class Broken:
        def on_event(self, event):
            raise ValueError("boom")

    broken, sink = Broken(), Sink()
    hub.subscribe(OrderFilled, broken.on_event)
    hub.subscribe(OrderFilled, sink.on_event)
    with caplog.at_level(logging.ERROR, logger="birdterm.events"):
        assert hub.publish(filled()) == 2
    assert len(sink.events) == 1
    assert "failed on OrderFilled" in caplog.records[0].getMessage()


def test_listener_unsubscribing_during_delivery_does_not_break_publish():
    hub = EventHub()

    class SelfRemoving:
        def on_event(self, event):
            hub.unsubscribe(OrderFilled, self.on_event)

    remover, gone, sink = SelfRemoving(), Sink(), Sink()
    hub.subscribe(OrderFilled, remover.on_event)
    hub.subscribe(OrderFilled, gone.on_event)
    hub.subscribe(OrderFilled, sink.on_event)
    del gone
    gc.collect()
    assert hub.publish(filled()) == 2
    assert len(sink.events) == 1
    assert hub.listener_count(OrderFilled) == 1
