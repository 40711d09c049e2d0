"""Candle feeds for controllers that read candles (bollinger, dca) while trading live or on paper.

At start the feed is filled with the last closed 1-minute klines from the exchange's REST API;
then, each time a minute closes, the new kline is fetched and appended. The controller sees the
same CandleFeed interface as in a backtest (closed candles only, cached indicators).
"""

from __future__ import annotations

import asyncio
import logging
import time

import numpy as np

from birdterm.engine.candle_feed import LiveCandleFeed
from birdterm.engine.clock import Clock, TimeIterator
from birdterm.engine.connectors.binance.rest_client import BinanceRestClient
from birdterm.engine.connectors.binance.rules import pair_to_symbol
from birdterm.sim.data import CANDLE_DTYPE
from birdterm.sim.data_fetch_request import klines_to_candles

log = logging.getLogger("birdterm.runner")

FEED_INTERVAL = "1m"
FEED_INTERVAL_MS = 60_000
HISTORY_CANDLES = 1000


def closed_only(candles: np.ndarray, now_ms: int, interval_ms: int) -> np.ndarray:
    """The candles whose close time has passed (REST klines include the one still open)."""
    return candles[candles["ts"] + interval_ms <= now_ms]


class CandleFeedUpdater(TimeIterator):
    """Keeps one pair's LiveCandleFeed current from REST klines (one request per minute)."""

    def __init__(self, rest: BinanceRestClient, trading_pair: str) -> None:
        self.rest = rest
        self.trading_pair = trading_pair
        self.symbol = pair_to_symbol(trading_pair)
        self.feed = LiveCandleFeed(np.zeros(0, dtype=CANDLE_DTYPE), FEED_INTERVAL_MS)
        self._task: asyncio.Task[None] | None = None
        self.failures = 0

    @property
    def name(self) -> str:
        """Named after its pair."""
        return f"candles:{self.trading_pair}"

    async def load_history(self) -> int:
        """Fill the feed with the last closed klines; returns how many."""
        return await self._fetch({"limit": HISTORY_CANDLES})

    async def _fetch(self, extra: dict[str, int]) -> int:
        rows = await self.rest.request(
            "GET", "/api/v3/klines", {"symbol": self.symbol, "interval": FEED_INTERVAL, **extra}
        )
        now_ms = int(time.time() * 1000)
        return self.feed.extend(closed_only(klines_to_candles(rows), now_ms, FEED_INTERVAL_MS))

    def start(self, clock: Clock, timestamp: float) -> None:
        """Nothing to do: the history was loaded before the controller started."""

    def tick(self, timestamp: float) -> None:
        """Fetch the candle that closed, once a minute has passed since the last one."""
        if self._task is not None and not self._task.done():
            return
        candles = self.feed.candles
        last_close_ms = int(candles["ts"][-1]) + FEED_INTERVAL_MS if len(candles) else 0
        if timestamp * 1000 < last_close_ms + FEED_INTERVAL_MS:
            return
        self._task = asyncio.get_running_loop().create_task(
            self._update(last_close_ms), name=f"candles-{self.symbol}"
        )

    async def _update(self, start_ms: int) -> None:
        try:
            await self._fetch({"startTime": start_ms, "limit": 100})
            self.failures = 0
        except Exception as exc:  # logged and retried at the next tick; the feed stays as is
            self.failures += 1
            log.warning("%s: klines update failed (%d in a row): %s", self.symbol,
                        self.failures, exc)  # fmt: skip

    def stop(self) -> None:
        """Cancel a fetch in flight."""
        if self._task is not None:
            self._task.cancel()
