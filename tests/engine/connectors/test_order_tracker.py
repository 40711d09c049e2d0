"""OrderTracker: state updates in any order, fill de-duplication, lookups, store, notifications."""

from decimal import Decimal as D

import pytest

from birdterm.engine.connectors.order_tracker import MAX_NOT_FOUND, OrderTracker
from birdterm.engine.store import Store
from birdterm.engine.types import (
    InFlightOrder,
    OrderState,
    OrderType,
    TokenAmount,
    TradeFee,
    TradeType,
    TradeUpdate,
)

from tests.engine.connectors.trading_fixtures import RecordingListener

PAIR = "BTC-USDT"


def _order(cid="bt-1", side=TradeType.BUY, amount="1", price="100"):
    return InFlightOrder(cid, PAIR, OrderType.LIMIT, side, D(amount), D(price), 1.0)


def _fill(trade_id, amount, price="100", cid="bt-1", fee_token="BTC", fee="0.001", ts=2.0):
    fee_obj = TradeFee(flat_fees=(TokenAmount(fee_token, D(fee)),))
    return TradeUpdate(str(trade_id), cid, D(price), D(amount), fee_obj, ts, is_maker=True)


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "orders.sqlite") as s:
        yield s


def test_tracked_before_sent_is_in_the_store(store):
    tracker = OrderTracker("binance", store)
    entry = tracker.start_tracking(_order(), RecordingListener(), executor_id="ex-1")
    assert entry.order.state is OrderState.PENDING_CREATE
    loaded = store.load_order("bt-1")
    assert loaded is not None and loaded.state is OrderState.PENDING_CREATE
    assert [o.client_order_id for o in store.open_orders("binance")] == ["bt-1"]
    with pytest.raises(ValueError, match="already tracked"):
        tracker.start_tracking(_order())


def test_open_then_fills_deduplicated_and_notified_later(store):
    listener = RecordingListener()
    tracker = OrderTracker("binance", store)
    tracker.start_tracking(_order(amount="1"), listener)
    assert tracker.apply_update("bt-1", OrderState.OPEN, "42", 1.5) is True
    assert tracker.by_exchange_id("42").client_order_id == "bt-1"
    assert tracker.apply_fill(_fill(7, "0.4")) is True
    assert tracker.apply_fill(_fill(7, "0.4")) is False  # duplicate
    assert tracker.stats["duplicate_fills"] == 1
    assert listener.fills == []  # queued, not delivered inside the call
    assert tracker.pending_count == 1
    assert tracker.apply_fill(_fill(8, "0.6", price="99")) is True
    assert tracker.deliver_pending() == 3
    order = tracker.get("bt-1").order
    assert order.state is OrderState.FILLED
    assert order.executed_base == D("1")
    assert order.executed_quote == D("0.4") * 100 + D("0.6") * 99
    assert [(f.trade_id, f.amount, f.fees, f.fee_quote) for f in listener.fills] == [
        ("7", D("0.4"), {"BTC": D("0.001")}, D("0.100")),
        ("8", D("0.6"), {"BTC": D("0.001")}, D("0.099")),
    ]
    assert listener.done == [("bt-1", OrderState.FILLED, "")]
    stored = store.load_order("bt-1")
    assert stored.state is OrderState.FILLED and sorted(stored.fills) == ["7", "8"]
    assert stored.exchange_order_id == "42"
    # a late duplicate after the order is done is dropped too
    assert tracker.apply_fill(_fill(8, "0.6", price="99")) is False
    assert tracker.stats["duplicate_fills"] == 2


def test_stale_and_impossible_updates_are_ignored():
    tracker = OrderTracker("binance")
    tracker.start_tracking(_order(amount="1"), RecordingListener())
    tracker.apply_fill(_fill(1, "0.5"))
    assert tracker.apply_update("bt-1", OrderState.OPEN) is False  # NEW after a fill: stale
    assert tracker.get("bt-1").order.state is OrderState.PARTIALLY_FILLED
    assert tracker.apply_update("unknown", OrderState.OPEN) is False
    assert tracker.apply_update("bt-1", OrderState.CANCELED, executed=D("0.5")) is True
    assert tracker.apply_update("bt-1", OrderState.FILLED) is False  # done: stale
    assert tracker.stats["stale_updates"] == 1


def test_final_state_waits_for_missing_fills():
    listener = RecordingListener()
    tracker = OrderTracker("binance")
    tracker.start_tracking(_order(amount="2"), listener)
    # the cancel confirmation overtook the fill event
    assert tracker.apply_update("bt-1", OrderState.CANCELED, "9", executed=D("0.5")) is False
    entry = tracker.get("bt-1")
    assert entry.missing_fills and entry.pending_final == (OrderState.CANCELED, "")
    assert entry.order.state is OrderState.PENDING_CREATE
    tracker.apply_fill(_fill(3, "0.5"))
    tracker.deliver_pending()
    assert entry.order.state is OrderState.CANCELED
    assert listener.calls == ["fill bt-1 3", "done bt-1 CANCELED"]


def test_filled_report_without_fills_waits_and_follows_an_amended_quantity():
    listener = RecordingListener()
    tracker = OrderTracker("binance")
    tracker.start_tracking(_order(amount="2"), listener)
    tracker.apply_update("bt-1", OrderState.OPEN, "5")
    # amended to 1.5 on the exchange (the answer was lost), then filled
    assert tracker.apply_update("bt-1", OrderState.FILLED, executed=D("1.5")) is False
    assert tracker.get("bt-1").order.amount == D("1.5")
    tracker.apply_fill(_fill(1, "1"))
    assert tracker.get("bt-1").order.state is OrderState.PARTIALLY_FILLED
    tracker.apply_fill(_fill(2, "0.5"))
    tracker.deliver_pending()
    assert listener.done == [("bt-1", OrderState.FILLED, "")]


def test_not_found_three_times_fails_the_order(store):
    listener = RecordingListener()
    tracker = OrderTracker("binance", store)
    tracker.start_tracking(_order(), listener)
    tracker.mark_unknown("bt-1")
    assert tracker.get("bt-1").outcome_unknown
    results = [tracker.not_found("bt-1") for _ in range(MAX_NOT_FOUND)]
    assert results == [False, False, True]
    tracker.deliver_pending()
    reason = "exchange does not know order bt-1 after 3 lookups"
    assert listener.done == [("bt-1", OrderState.FAILED, reason)]
    assert store.load_order("bt-1").state is OrderState.FAILED
    assert tracker.stats["failed_not_found"] == 1
    assert tracker.open_orders() == [] and len(tracker.all_orders()) == 1


def test_a_found_order_resets_the_not_found_count():
    tracker = OrderTracker("binance")
    tracker.start_tracking(_order())
    tracker.not_found("bt-1")
    tracker.not_found("bt-1")
    tracker.apply_update("bt-1", OrderState.OPEN, "1")
    assert tracker.get("bt-1").not_found_count == 0
    assert tracker.not_found("bt-1") is False


def test_rejection_after_fills_cancels():
    tracker = OrderTracker("binance")
    tracker.start_tracking(_order(amount="1"))
    tracker.apply_update("bt-1", OrderState.OPEN, "1")
    tracker.apply_fill(_fill(1, "0.25"))
    assert tracker.get("bt-1").order.state is OrderState.PARTIALLY_FILLED
    assert tracker.apply_update("bt-1", OrderState.FAILED, reason="expired") is True
    assert tracker.get("bt-1").order.state is OrderState.CANCELED


def test_fee_value_in_quote_for_each_fee_asset():
    listener = RecordingListener()
    rates = {"BNB": D("300")}
    tracker = OrderTracker("binance", fee_in_quote=lambda tok, quote, amt: amt * rates[tok])
    tracker.start_tracking(_order(cid="a", side=TradeType.SELL, amount="2"), listener)
    tracker.apply_fill(_fill(1, "1", cid="a", fee_token="USDT", fee="0.1"))
    tracker.apply_fill(_fill(2, "1", cid="a", fee_token="BNB", fee="0.0002"))
    tracker.deliver_pending()
    assert [f.fee_quote for f in listener.fills] == [D("0.1"), D("0.0600")]
    assert listener.fills[0].side is TradeType.SELL


def test_listener_failure_does_not_stop_delivery():
    class Broken(RecordingListener):
        def on_fill(self, fill):
            raise RuntimeError("boom")

    listener = Broken()
    tracker = OrderTracker("binance")
    tracker.start_tracking(_order(amount="1"), listener)
    tracker.apply_fill(_fill(1, "1"))
    assert tracker.deliver_pending() == 2
    assert listener.done == [("bt-1", OrderState.FILLED, "")]


def test_store_failure_means_not_tracked(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    store.close()
    tracker = OrderTracker("binance", store)
    with pytest.raises(Exception, match="closed"):
        tracker.start_tracking(_order())
    assert tracker.get("bt-1") is None
