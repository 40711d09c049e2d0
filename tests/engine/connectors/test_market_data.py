"""BinanceMarketData without a network: stream routing, trade arrays, health before start."""

from decimal import Decimal

import aiohttp
import pytest

from birdterm.engine.connectors.binance import constants as c
from birdterm.engine.connectors.binance.market_data import BinanceMarketData
from birdterm.engine.connectors.binance.time_sync import TimeSync
from birdterm.sim.data import TRADE_DTYPE

# Nothing listens here; these tests never start the market data, and never reach out anyway.
LOCAL = c.BinanceUrls("http://127.0.0.1:9", "ws://127.0.0.1:9", "ws://127.0.0.1:9/ws-api/v3")


def trade(t: int, price: str, qty: str, maker: bool, symbol: str = "BTCUSDT") -> dict:
    return {
        "e": "trade",
        "E": 1,
        "s": symbol,
        "t": t,
        "p": price,
        "q": qty,
        "T": 1_700_000_000_000 + t,
        "m": maker,
        "M": True,
    }


async def test_trades_are_routed_by_symbol_and_drained_as_the_backtest_dtype():
    async with aiohttp.ClientSession() as session:
        md = BinanceMarketData(
            session, LOCAL, ["BTC-USDT", "ETH-USDT"], c.make_throttler(), TimeSync()
        )
        assert md.health == "down"  # not started
        assert md.stream.url == (
            "ws://127.0.0.1:9/stream?streams="
            "btcusdt@depth@100ms/btcusdt@trade/ethusdt@depth@100ms/ethusdt@trade"
        )
        assert md.last_trade_price("BTC-USDT") is None
        empty = md.drain_trades("BTC-USDT")
        assert empty.dtype == TRADE_DTYPE and empty.shape == (0,)

        md._on_message("btcusdt@trade", trade(7, "61837.63000000", "0.02000000", True))
        md._on_message("btcusdt@trade", trade(8, "61837.64000000", "0.00150000", False))
        md._on_message("ethusdt@trade", trade(3, "2650.10000000", "1.00000000", False, "ETHUSDT"))
        md._on_message("dogeusdt@trade", trade(1, "0.1", "10", False, "DOGEUSDT"))  # not ours

        btc = md.drain_trades("BTC-USDT")
        assert btc.dtype == TRADE_DTYPE
        assert btc["trade_id"].tolist() == [7, 8]
        assert btc["ts"].tolist() == [1_700_000_000_007, 1_700_000_000_008]
        assert btc["price"].tolist() == [61837.63, 61837.64]
        assert btc["qty"].tolist() == [0.02, 0.0015]
        assert btc["is_buyer_maker"].tolist() == [True, False]
        assert md.drain_trades("BTC-USDT").shape == (0,)
        assert md.last_trade_price("BTC-USDT") == Decimal("61837.64000000")
        assert md.last_trade_price("ETH-USDT") == Decimal("2650.1")
        assert md.drain_trades("ETH-USDT")["trade_id"].tolist() == [3]
        with pytest.raises(KeyError, match="DOGE-USDT is not one of"):
            md.last_trade_price("DOGE-USDT")
        await md.stop()


async def test_depth_events_feed_the_pairs_tracker_and_pairs_are_required():
    async with aiohttp.ClientSession() as session:
        md = BinanceMarketData(session, LOCAL, ["BTC-USDT"], c.make_throttler(), TimeSync())
        tracker = md.trackers["BTC-USDT"]
        # unsynced: the event is buffered and a sync task starts (stopped before it runs)
        md._on_message(
            "btcusdt@depth@100ms",
            {"e": "depthUpdate", "E": 1, "s": "BTCUSDT", "U": 5, "u": 6, "b": [], "a": []},
        )
        assert len(tracker._buffer) == 1 and not tracker.synced
        assert md.order_book("BTC-USDT") is tracker.book
        await md.stop()
        with pytest.raises(ValueError, match="at least one trading pair"):
            BinanceMarketData(session, LOCAL, [], c.make_throttler(), TimeSync())
