"""The order book replays 11 minutes of real Binance BTCUSDT diffs and matches the exchange's
own best bid/ask (bookTicker) at every shared update id.

Needs ../shared/data beside the checkout; the same behaviour on generated data is covered by the
property tests in test_order_book.py.
"""

import gzip
import json

import pytest

from birdterm.engine.order_book import OrderBook

from tests.helpers import REPO

RECORDED = REPO.parent / "shared" / "data" / "hftbacktest"
FILES = ["binance_spot_btcusdt_20240808.gz", "binance_spot_btcusdt_20240809.gz"]

pytestmark = pytest.mark.skipif(
    not all((RECORDED / f).exists() for f in FILES),
    reason="needs ../shared/data/hftbacktest (recorded Binance streams) beside the checkout",
)


def messages():
    for name in FILES:
        with gzip.open(RECORDED / name, "rt") as lines:
            for line in lines:
                yield json.loads(line.split(" ", 1)[1])


def test_replay_matches_book_ticker_at_every_shared_update_id():
    book = OrderBook("BTC-USDT")
    buffered = []
    tops = {}  # final update id of each applied diff -> top of our book after it
    tickers = {}  # update id -> (bid, bid qty, ask, ask qty) as Binance reported it
    synced = False
    for message in messages():
        if "lastUpdateId" in message:
            book.apply_snapshot(message["bids"], message["asks"], message["lastUpdateId"])
            synced = True
            continue
        data = message["data"]
        if message["stream"].endswith("@bookTicker"):
            tickers[data["u"]] = (
                float(data["b"]),
                float(data["B"]),
                float(data["a"]),
                float(data["A"]),
            )
            continue
        if not message["stream"].endswith("@depth@100ms"):
            continue  # trades
        buffered.append(data)
        if not synced:
            continue
        for event in buffered:
            if event["u"] <= book.last_update_id:
                continue  # older than the snapshot: Binance's sync rule says drop it
            if tops:  # continuity: each event starts right after the previous one
                assert event["U"] == book.last_update_id + 1
            else:  # the first applied event must straddle the snapshot
                assert event["U"] <= book.last_update_id + 1 <= event["u"]
            assert book.apply_diff(event["b"], event["a"], event["u"])
            tops[event["u"]] = (book.best_bid, book.best_bid_qty, book.best_ask, book.best_ask_qty)
        buffered.clear()

    shared = sorted(set(tops) & set(tickers))
    mismatches = [(u, tops[u], tickers[u]) for u in shared if tops[u] != tickers[u]]
    assert len(tops) == 6_493  # 6,495 events, 2 older than the snapshot
    assert len(shared) == 1_072
    assert mismatches == []
    assert not book.is_crossed
