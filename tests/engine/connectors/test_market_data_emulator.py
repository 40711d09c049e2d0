"""BinanceMarketData against the exchange emulator: exact books, gaps, REST fallback, trades.

The emulator's time moves in whole depth intervals (SteppingClock); pausing it freezes the
market with every change published, so our book must then equal the exchange's exactly. While
the market moves, every book we hold at a published update id is compared with the exchange's
book at that id (PublishedBooks records it from the exchange's own listener).
"""

import contextlib
import time
from decimal import Decimal

import aiohttp
import numpy as np
import pytest

from birdterm.engine.connectors.binance import constants as c
from birdterm.engine.connectors.binance.market_data import BinanceMarketData
from birdterm.engine.connectors.binance.time_sync import TimeSync
from birdterm.sim.data import TRADE_DTYPE
from birdterm.sim.emulator.faults import FaultConfig
from birdterm.sim.emulator.symbols import to_trading_rule

from tests.emulator_fixtures import wait_until
from tests.engine.connectors.public_fixtures import (
    HFT_BTC_0808,
    NEEDS_SHARED,
    PublishedBooks,
    SteppingClock,
    book_as_floats,
    emulator,
)

FAST = {"initial_backoff_s": 0.01, "max_backoff_s": 0.05}


@contextlib.asynccontextmanager
async def market(pairs, *, faults=None, emulator_market="synthetic", **options):
    clock = SteppingClock(time.time_ns() // 1_000_000)
    server_cm = emulator(clock, faults=faults, market=emulator_market)
    async with server_cm as server, aiohttp.ClientSession() as session:
        clock.start()
        urls = c.BinanceUrls(server.rest_url, server.stream_url, server.ws_api_url)
        md = BinanceMarketData(
            session, urls, pairs, c.make_throttler(), TimeSync(), stream_options=FAST, **options
        )
        try:
            yield server, clock, md
        finally:
            await md.stop()
            await clock.stop()


class BookChecker:
    """Compares our book with the exchange's after every stream message and every resync."""

    def __init__(self, md: BinanceMarketData, published: PublishedBooks, pair: str) -> None:
        self.tracker = md.trackers[pair]
        self.published = published
        self.count = 0
        self.mismatches: list[int] = []
        self.syncs_checked: set[int] = set()
        self._seen: set[int] = set()
        forward = md.stream.on_message

        def spy(stream: str, payload: dict) -> None:
            forward(stream, payload)
            self.check()

        md.stream.on_message = spy
        md.on_resynced = lambda _pair, _tracker: self.check()

    def check(self) -> None:
        t = self.tracker
        if not t.synced or t.update_id in self._seen or t.update_id not in self.published.at:
            return
        self._seen.add(t.update_id)
        self.count += 1
        self.syncs_checked.add(t.sync_count)
        if book_as_floats(t.book) != self.published.at[t.update_id]:
            self.mismatches.append(t.update_id)


async def settle_and_compare(clock, md, published, pair):
    """Freeze the market, wait for our book to reach the exchange's id, compare exactly."""
    clock.pause()
    tracker = md.trackers[pair]
    await wait_until(lambda: tracker.synced and tracker.update_id == published.current_id())
    bids, asks = book_as_floats(md.order_book(pair))
    assert (bids, asks) == published.now()
    assert len(bids) >= 40 and len(asks) >= 40


async def test_books_rules_and_trades_follow_the_exchange():
    async with market(["BTC-USDT", "ETH-USDT"]) as (server, clock, md):
        btc = PublishedBooks(server.exchange, "BTCUSDT")
        eth = PublishedBooks(server.exchange, "ETHUSDT")
        assert md.health == "down"
        await md.start()
        rules = server.exchange.symbols
        assert md.rules == {
            "BTC-USDT": to_trading_rule(rules["BTCUSDT"], "BTC-USDT"),
            "ETH-USDT": to_trading_rule(rules["ETHUSDT"], "ETH-USDT"),
        }
        checker = BookChecker(md, btc, "BTC-USDT")
        await wait_until(lambda: md.health == "ws" and checker.count >= 20)
        await settle_and_compare(clock, md, btc, "BTC-USDT")
        await settle_and_compare(clock, md, eth, "ETH-USDT")
        assert checker.mismatches == []
        assert md.trackers["BTC-USDT"].gap_count == 0

        exchange_trades = {t["id"]: t for t in server.exchange.recent_trades("BTCUSDT", 1000)}
        last_id = max(exchange_trades)
        chunks = []

        def drained_up_to_the_last_trade() -> bool:
            chunks.append(md.drain_trades("BTC-USDT"))
            return len(chunks[-1]) > 0 and chunks[-1]["trade_id"][-1] == last_id

        await wait_until(drained_up_to_the_last_trade)
        trades = np.concatenate(chunks)
        assert trades.dtype == TRADE_DTYPE
        ids = trades["trade_id"].tolist()
        assert ids == list(range(ids[0], last_id + 1))  # every trade since we subscribed
        for row in trades:
            ref = exchange_trades[int(row["trade_id"])]
            assert row["price"] == float(ref["price"]) and row["qty"] == float(ref["qty"])
            assert row["ts"] == ref["time"] and bool(row["is_buyer_maker"]) == ref["isBuyerMaker"]
        assert md.last_trade_price("BTC-USDT") == Decimal(exchange_trades[last_id]["price"])
        empty = md.drain_trades("BTC-USDT")
        assert empty.dtype == TRADE_DTYPE and len(empty) == 0


async def test_depth_gaps_and_reorders_are_detected_and_every_resynced_book_is_exact():
    faults = FaultConfig(seed=5, depth_gap_rate=0.15, depth_reorder_rate=0.1)
    async with market(["BTC-USDT"], faults=faults) as (server, clock, md):
        published = PublishedBooks(server.exchange, "BTCUSDT")
        await md.start()
        tracker = md.trackers["BTC-USDT"]
        checker = BookChecker(md, published, "BTC-USDT")
        await wait_until(lambda: tracker.resync_count >= 4, timeout=15)
        server.faults = FaultConfig()
        done = checker.count
        await wait_until(lambda: tracker.synced and checker.count >= done + 5)
        await settle_and_compare(clock, md, published, "BTC-USDT")
        assert checker.mismatches == []
        assert len(checker.syncs_checked) >= 4  # books after several resyncs were compared
        # a reordered pair looks like a gap too (the later event arrives first)
        assert 4 <= tracker.gap_count <= server.stats["depth_gaps"] + server.stats["depth_reorders"]
        assert server.stats["depth_reorders"] >= 1
        assert tracker.resync_count == tracker.sync_count - 1


async def test_rest_fallback_while_the_stream_is_down_then_back_to_the_stream():
    async with market(["BTC-USDT"], stale_after_s=0.3, poll_interval_s=0.05) as (
        server,
        clock,
        md,
    ):
        published = PublishedBooks(server.exchange, "BTCUSDT")
        await md.start()
        await wait_until(lambda: md.health == "ws")
        tracker = md.trackers["BTC-USDT"]

        server.faults = FaultConfig(seed=6, ws_drop_rate=1.0)  # every frame kills the socket
        await wait_until(lambda: md.health == "rest_fallback" and md.poll_count >= 3)
        assert md.fallback and md.fallback_count == 1 and not tracker.synced
        clock.pause()
        polls = md.poll_count
        await wait_until(lambda: md.poll_count >= polls + 2 and tracker.book.bid_depth > 0)
        bids, asks = book_as_floats(tracker.book)
        assert (bids, asks) == published.now()  # polled with limit 100; the book is smaller
        assert len(bids) < 100 and len(asks) < 100
        assert server.stats["ws_drops"] >= 1

        server.faults = FaultConfig()
        clock.resume()
        await wait_until(lambda: md.health == "ws")
        assert md.stream.reconnect_count >= 2  # dropped again and again while it was down
        assert not md.fallback
        assert tracker.resync_count >= 1
        await settle_and_compare(clock, md, published, "BTC-USDT")


async def test_server_shutdown_reconnects_and_resyncs_the_books():
    async with market(["BTC-USDT"]) as (server, clock, md):
        published = PublishedBooks(server.exchange, "BTCUSDT")
        await md.start()
        tracker = md.trackers["BTC-USDT"]
        checker = BookChecker(md, published, "BTC-USDT")
        await wait_until(lambda: md.health == "ws" and checker.count >= 3)
        server.announce_shutdown()
        await wait_until(lambda: md.stream.reconnect_count == 1 and tracker.resync_count == 1)
        assert md.stream.last_error == "serverShutdown"
        done = checker.count
        await wait_until(lambda: checker.count >= done + 3)
        await settle_and_compare(clock, md, published, "BTC-USDT")
        assert checker.mismatches == [] and tracker.gap_count == 0
        assert checker.syncs_checked == {1, 2}


async def test_recorded_binance_book_replayed_by_the_emulator_is_mirrored_exactly():
    if not HFT_BTC_0808.exists():
        pytest.skip(NEEDS_SHARED)
    faults = FaultConfig(seed=8, depth_gap_rate=0.1)
    async with market(
        ["BTC-USDT"], faults=faults, emulator_market="recorded", snapshot_limit=5000
    ) as (server, clock, md):
        published = PublishedBooks(server.exchange, "BTCUSDT")
        await md.start()
        tracker = md.trackers["BTC-USDT"]
        checker = BookChecker(md, published, "BTC-USDT")
        await wait_until(lambda: tracker.resync_count >= 2 and checker.count >= 20, timeout=15)
        server.faults = FaultConfig()
        done = checker.count
        await wait_until(lambda: checker.count >= done + 5)
        clock.pause()
        await wait_until(lambda: tracker.synced and tracker.update_id == published.current_id())
        bids, asks = book_as_floats(tracker.book)
        assert (bids, asks) == published.now()
        assert len(bids) > 900 and len(asks) > 900  # the real book, 1000 levels deep
        assert checker.mismatches == []
