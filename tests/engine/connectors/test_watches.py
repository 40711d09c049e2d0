"""PriceWatches: ABOVE/BELOW, trailing watches, time watches, ordering and cancels."""

from decimal import Decimal as D

import pytest

from birdterm.engine.connectors.base import WatchKind
from birdterm.engine.connectors.watches import NoticeKind, PriceWatches

from tests.engine.connectors.trading_fixtures import RecordingListener

PAIR = "BTC-USDT"


def _deliver(notices):
    for notice in notices:
        notice.deliver()


def test_above_and_below_fire_once_at_the_observed_price():
    watches, listener = PriceWatches(), RecordingListener()
    above = watches.arm(listener, PAIR, WatchKind.ABOVE, D("101"))
    below = watches.arm(listener, PAIR, WatchKind.BELOW, D("99"))
    assert watches.observe(PAIR, D("100"), 1.0) == []
    notices = watches.observe(PAIR, D("101.5"), 2.0)
    assert [(n.watch_id, n.kind, n.price, n.timestamp) for n in notices] == [
        (above, NoticeKind.FIRED, D("101.5"), 2.0)
    ]
    assert listener.watches == []  # nothing delivered by observe itself
    _deliver(notices)
    assert listener.watches == [(above, D("101.5"), 2.0)]
    assert watches.observe(PAIR, D("102"), 3.0) == []  # disarmed after firing
    assert [n.watch_id for n in watches.observe(PAIR, D("99"), 4.0)] == [below]
    assert len(watches) == 0


def test_watches_of_other_pairs_are_not_evaluated():
    watches, listener = PriceWatches(), RecordingListener()
    watches.arm(listener, "ETH-USDT", WatchKind.ABOVE, D("10"))
    assert watches.observe(PAIR, D("100"), 1.0) == []
    assert len(watches) == 1


def test_trail_long_activates_follows_the_peak_and_fires_on_the_pullback():
    watches, listener = PriceWatches(), RecordingListener()
    wid = watches.arm(listener, PAIR, WatchKind.TRAIL_LONG, D("105"), trail_delta=D("2"))
    assert watches.observe(PAIR, D("104"), 1.0) == []
    activated = watches.observe(PAIR, D("106"), 2.0)
    assert [(n.kind, n.price) for n in activated] == [(NoticeKind.TRAIL_ACTIVATED, D("106"))]
    _deliver(activated)
    assert listener.trail_activations == [(wid, D("106"), 2.0)]
    assert watches.observe(PAIR, D("104.5"), 3.0) == []  # 106 - 2 = 104 not reached
    assert watches.observe(PAIR, D("110"), 4.0) == []  # new peak 110
    assert watches.observe(PAIR, D("108.01"), 5.0) == []
    fired = watches.observe(PAIR, D("107.5"), 6.0)
    assert [(n.watch_id, n.kind, n.price) for n in fired] == [(wid, NoticeKind.FIRED, D("107.5"))]
    assert wid not in watches


def test_trail_short_mirrors():
    watches, listener = PriceWatches(), RecordingListener()
    wid = watches.arm(listener, PAIR, WatchKind.TRAIL_SHORT, D("95"), trail_delta=D("1"))
    assert watches.observe(PAIR, D("96"), 1.0) == []
    assert [n.kind for n in watches.observe(PAIR, D("94"), 2.0)] == [NoticeKind.TRAIL_ACTIVATED]
    assert watches.observe(PAIR, D("90"), 3.0) == []  # new trough
    assert watches.observe(PAIR, D("90.99"), 4.0) == []
    assert [(n.watch_id, n.price) for n in watches.observe(PAIR, D("91"), 5.0)] == [(wid, D("91"))]


def test_adverse_watches_are_reported_first_and_cancel_disarms():
    watches, listener = PriceWatches(), RecordingListener()
    favourable = watches.arm(listener, PAIR, WatchKind.ABOVE, D("100"), group=1)
    adverse = watches.arm(listener, PAIR, WatchKind.ABOVE, D("99"), group=1, adverse=True)
    gone = watches.arm(listener, PAIR, WatchKind.ABOVE, D("98"))
    assert watches.cancel(gone) is True
    assert watches.cancel(gone) is False
    assert [n.watch_id for n in watches.observe(PAIR, D("100"), 1.0)] == [adverse, favourable]


def test_time_watch_fires_at_the_last_price_of_its_pair():
    watches, listener = PriceWatches(), RecordingListener()
    wid = watches.arm_time(listener, PAIR, 10.0)
    watches.observe(PAIR, D("123.4"), 5.0)
    assert watches.observe_time(9.999) == []
    notices = watches.observe_time(10.0)
    _deliver(notices)
    assert listener.watches == [(wid, D("123.4"), 10.0)]
    assert watches.observe_time(11.0) == []


def test_time_watch_of_a_pair_never_priced_waits_for_its_first_price():
    watches, listener = PriceWatches(), RecordingListener()
    wid = watches.arm_time(listener, PAIR, 10.0)
    watches.observe("ETH-USDT", D("2000"), 5.0)  # another pair's price is no price for this one
    assert watches.observe_time(11.0) == []  # due, but never at price 0
    assert wid in watches
    watches.observe(PAIR, D("101"), 12.0)
    _deliver(watches.observe_time(12.0))
    assert listener.watches == [(wid, D("101"), 12.0)]


def test_cancel_and_bad_arguments():
    watches, listener = PriceWatches(), RecordingListener()
    price = watches.arm(listener, PAIR, WatchKind.ABOVE, D("1"))
    at = watches.arm_time(listener, PAIR, 5.0)
    kept = watches.arm(listener, PAIR, WatchKind.BELOW, D("1"))
    assert watches.cancel(price) and watches.cancel(at)
    assert not watches.cancel(price)
    assert kept in watches and len(watches) == 1
    with pytest.raises(ValueError, match="trail_delta > 0"):
        watches.arm(listener, PAIR, WatchKind.TRAIL_LONG, D("1"))
    with pytest.raises(ValueError, match="level must be > 0"):
        watches.arm(listener, PAIR, WatchKind.BELOW, D("0"))
    assert watches.observe(PAIR, D("-1"), 1.0) == []
