"""Binance public market data for the live and the paper connector.

`start()` loads exchangeInfo (trading rules, rate limits), opens one combined stream with
`<symbol>@depth@100ms` and `<symbol>@trade` per pair, and keeps a BookTracker per pair. A
watchdog switches to REST polling when the stream has been silent for `stale_after_s` (or a book
could not sync for that long): every `poll_interval_s` it replaces each unsynced book with
GET /api/v3/depth (limit 100), until the stream is back and every tracker resynced.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Literal

import aiohttp
import numpy as np

from birdterm.engine.connectors.binance.book_tracker import BookTracker
from birdterm.engine.connectors.binance.constants import (
    DEPTH_PATH,
    EXCHANGE_INFO_PATH,
    BinanceUrls,
    apply_exchange_rate_limits,
)
from birdterm.engine.connectors.binance.errors import BinanceConnectorError
from birdterm.engine.connectors.binance.market_stream import MarketStream
from birdterm.engine.connectors.binance.rest_client import BinanceRestClient
from birdterm.engine.connectors.binance.rules import pair_to_symbol, parse_trading_rules
from birdterm.engine.connectors.binance.time_sync import TimeSync
from birdterm.engine.connectors.throttler import AsyncThrottler
from birdterm.engine.order_book import OrderBook
from birdterm.engine.types import TradingRule
from birdterm.sim.data import TRADE_DTYPE

log = logging.getLogger("birdterm.binance.market")

Health = Literal["ws", "rest_fallback", "down"]


class BinanceMarketData:
    """Order books, trades and trading rules of some pairs, from streams with a REST fallback."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        urls: BinanceUrls,
        pairs: list[str],
        throttler: AsyncThrottler,
        time_sync: TimeSync,
        *,
        rest: BinanceRestClient | None = None,
        snapshot_limit: int = 1000,
        stale_after_s: float = 5.0,
        poll_interval_s: float = 1.0,
        poll_limit: int = 100,
        sync_timeout_s: float = 10.0,
        max_buffered_trades: int = 200_000,
        stream_options: dict[str, Any] | None = None,
        tracker_options: dict[str, Any] | None = None,
        time_fn: Callable[[], float] = time.monotonic,
    ) -> None:
        if not pairs:
            raise ValueError("market data needs at least one trading pair")
        self.pairs = list(pairs)
        self.urls = urls
        self.throttler = throttler
        self.rest = rest or BinanceRestClient(session, urls.rest_url, None, throttler, time_sync)
        self.symbols = {pair: pair_to_symbol(pair) for pair in self.pairs}
        self._pair_of = {symbol: pair for pair, symbol in self.symbols.items()}
        self.snapshot_limit = snapshot_limit
        self.stale_after_s = stale_after_s
        self.poll_interval_s = poll_interval_s
        self.poll_limit = poll_limit
        self.sync_timeout_s = sync_timeout_s
        self._time = time_fn
        self.rules: dict[str, TradingRule] = {}
        self.exchange_info: dict[str, Any] | None = None
        # Called after every successful (re)sync of a pair's book, with its tracker.
        self.on_resynced: Callable[[str, BookTracker], None] | None = None
        self.trackers = {
            pair: BookTracker(
                pair,
                self._snapshot_fetcher(pair),
                on_resynced=self._resynced,
                **(tracker_options or {}),
            )
            for pair in self.pairs
        }
        self._trades: dict[str, deque[tuple[int, float, float, bool, int]]] = {
            pair: deque(maxlen=max_buffered_trades) for pair in self.pairs
        }
        self._last_price: dict[str, Decimal] = {}
        streams = [
            f"{self.symbols[p].lower()}@{kind}"
            for p in self.pairs
            for kind in ("depth@100ms", "trade")
        ]
        self.stream = MarketStream(
            session,
            urls.stream_url,
            streams,
            self._on_message,
            on_reconnect=self._on_reconnect,
            time_fn=time_fn,
            **(stream_options or {}),
        )
        self._watchdog: asyncio.Task[None] | None = None
        self._next_poll = 0.0  # the watchdog's next REST depth poll while in fallback
        self._all_synced = asyncio.Event()
        self._started_at: float | None = None
        self._unsynced_since: dict[str, float | None] = dict.fromkeys(self.pairs)
        self._last_poll_ok: dict[str, float] = {}
        self.fallback = False
        self.fallback_count = 0  # times the REST fallback was entered
        self.poll_count = 0  # REST depth polls that replaced a book

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Load rules, open the stream and wait (up to sync_timeout_s) for every book."""
        info = await self.rest.request(
            "GET", EXCHANGE_INFO_PATH, {"symbols": list(self.symbols.values())}
        )
        self.exchange_info = info
        self.rules = parse_trading_rules(info, self.pairs)
        apply_exchange_rate_limits(self.throttler, info.get("rateLimits", []))
        self._started_at = self._time()
        await self.stream.start()
        for tracker in self.trackers.values():
            tracker.start()
        self._watchdog = asyncio.get_running_loop().create_task(
            self._watch(), name="binance-market-watchdog"
        )
        try:
            await asyncio.wait_for(self._all_synced.wait(), self.sync_timeout_s)
        except TimeoutError:
            log.warning("market data: books not synced after %.0f s", self.sync_timeout_s)

    async def stop(self) -> None:
        """Close the stream and stop every background task."""
        task, self._watchdog = self._watchdog, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:  # it died (it should not): reported here, stopping goes on
                log.exception("market data: the watchdog had died")
        await self.stream.stop()
        for tracker in self.trackers.values():
            await tracker.stop()
        self._started_at = None

    # ---- reads -------------------------------------------------------------------------------

    def order_book(self, pair: str) -> OrderBook:
        """The pair's live book (the same object for the whole run)."""
        return self.trackers[pair].book

    def last_trade_price(self, pair: str) -> Decimal | None:
        """The price of the last trade received for the pair (None before the first)."""
        if pair not in self.trackers:
            raise KeyError(f"{pair} is not one of this market data's pairs {self.pairs}")
        return self._last_price.get(pair)

    def drain_trades(self, pair: str) -> np.ndarray:
        """Trades received since the last call, as a TRADE_DTYPE array in arrival order."""
        buffered = self._trades[pair]
        trades = np.array(list(buffered), dtype=TRADE_DTYPE)
        buffered.clear()
        return trades

    @property
    def health(self) -> Health:
        """'ws' (stream fresh, books synced), 'rest_fallback' (recent polls) or 'down'."""
        if self._started_at is None:
            return "down"
        now = self._time()
        if not self.fallback:
            fresh = not self._stream_stale(now)
            synced = all(t.synced for t in self.trackers.values())
            return "ws" if fresh and synced and self.stream.connected else "down"
        recent = 3 * self.poll_interval_s
        for pair, tracker in self.trackers.items():
            polled = self._last_poll_ok.get(pair)
            if not tracker.synced and (polled is None or now - polled > recent):
                return "down"
        return "rest_fallback"

    # ---- stream handling ---------------------------------------------------------------------

    def _on_message(self, stream: str, payload: dict[str, Any]) -> None:
        kind = payload.get("e")
        pair = self._pair_of.get(payload.get("s", ""))
        if pair is None:
            return
        if kind == "depthUpdate":
            self.trackers[pair].on_diff(payload)
        elif kind == "trade":
            self._last_price[pair] = Decimal(payload["p"])
            self._trades[pair].append(
                (
                    int(payload["T"]),
                    float(payload["p"]),
                    float(payload["q"]),
                    bool(payload["m"]),
                    int(payload["t"]),
                )
            )

    def _on_reconnect(self) -> None:
        # Depth events were missed while disconnected: every book must resync.
        for tracker in self.trackers.values():
            tracker.resync()

    def _resynced(self, tracker: BookTracker) -> None:
        self._unsynced_since[tracker.pair] = None
        if all(t.synced for t in self.trackers.values()):
            self._all_synced.set()
        if self.on_resynced is not None:
            self.on_resynced(tracker.pair, tracker)

    def _snapshot_fetcher(self, pair: str) -> Callable[[], Any]:
        async def fetch() -> dict[str, Any]:
            return await self.rest.request(
                "GET", DEPTH_PATH, {"symbol": self.symbols[pair], "limit": self.snapshot_limit}
            )

        return fetch

    # ---- watchdog and REST fallback ----------------------------------------------------------

    def _stream_stale(self, now: float) -> bool:
        last = self.stream.last_message_at
        reference = last if last is not None else self._started_at
        return reference is None or now - reference > self.stale_after_s

    async def _watch(self) -> None:
        """The watchdog loop: runs until cancelled, whatever fails in one pass."""
        self._next_poll = 0.0
        step = min(0.25, self.poll_interval_s / 2)
        last_error = ""
        while True:
            try:
                await self._watch_once()
                last_error = ""
            except Exception as exc:
                if repr(exc) != last_error:  # once per run of the same failure
                    log.exception("market data: watchdog pass failed; going on")
                last_error = repr(exc)
            await asyncio.sleep(step)

    async def _watch_once(self) -> None:
        """One watchdog pass: enter / leave the REST fallback, poll when due."""
        now = self._time()
        stale = self._stream_stale(now)
        unsynced_long = False
        for pair, tracker in self.trackers.items():
            if tracker.synced:
                self._unsynced_since[pair] = None
                continue
            since = self._unsynced_since[pair]
            if since is None:
                self._unsynced_since[pair] = now
            elif now - since > self.stale_after_s:
                unsynced_long = True
        if not self.fallback and (stale or unsynced_long):
            self._enter_fallback(stale)
            self._next_poll = now
        if self.fallback:
            if not stale and all(t.synced for t in self.trackers.values()):
                self.fallback = False
                log.info("market data: stream back and books resynced; REST polling stops")
            elif now >= self._next_poll:
                self._next_poll = now + self.poll_interval_s
                await self._poll()

    def _enter_fallback(self, stream_stale: bool) -> None:
        self.fallback = True
        self.fallback_count += 1
        if stream_stale:
            log.warning(
                "market data: stream silent for %.1f s; polling REST depth every %.1f s",
                self.stale_after_s,
                self.poll_interval_s,
            )
            # The stream's books cannot be trusted any more: they must resync when it is back.
            for tracker in self.trackers.values():
                tracker.resync()
        else:
            log.warning("market data: a book could not sync; polling REST depth meanwhile")

    async def _poll(self) -> None:
        for pair, tracker in self.trackers.items():
            if tracker.synced:
                continue
            try:
                snapshot = await self.rest.request(
                    "GET", DEPTH_PATH, {"symbol": self.symbols[pair], "limit": self.poll_limit}
                )
            except BinanceConnectorError as exc:
                log.warning("market data: REST depth poll for %s failed: %s", pair, exc)
                continue
            if tracker.apply_rest_snapshot(snapshot):
                self.poll_count += 1
                self._last_poll_ok[pair] = self._time()
