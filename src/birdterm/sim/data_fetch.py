"""Download Binance history (klines, aggTrades) into the backtester's cache, resumably.

`fetch_history` validates the arguments, reads exchangeInfo (the symbol, the rate limits and
the server time), then fetches only what the cache lacks in [start, end):

* klines: the open times missing from the cache form runs; each run is paged with
  startTime/endTime and limit 1000. Only closed candles are asked for, so a day fetched while it
  is still running is completed by the next fetch.
* aggTrades: the trades before the first cached one are found with a startTime seek, holes in
  the cached id sequence and the trades after the last cached one by fromId paging.

Pages are written to the cache as they come (every FLUSH_ROWS rows, at each UTC day boundary and
when the fetch stops for any reason, cancellation included), so an interrupted fetch loses
nothing and the next one starts where it stopped. Requests go through the throttler with
Binance's weights, synced from X-MBX-USED-WEIGHT-1M; 429/418 pause every request for
Retry-After and retry; 5xx and dropped connections are retried with backoff. Afterwards the
whole range is checked: kline open times must step by the interval and aggTrade ids must be
consecutive; every hole is reported (what the exchange itself does not have stays a gap).
"""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import orjson

from birdterm.engine.connectors.binance.constants import (
    AGG_TRADES_PATH,
    EXCHANGE_INFO_PATH,
    KLINES_PATH,
    apply_exchange_rate_limits,
    make_throttler,
    rest_limit_id,
)
from birdterm.engine.connectors.throttler import AsyncThrottler
from birdterm.engine.types import split_trading_pair
from birdterm.sim.data import DAY_MS, DataError, format_ts, interval_ms
from birdterm.sim.data_cache import CandleCache, TradeCache
from birdterm.sim.data_fetch_request import (
    BadArgument,
    FetchError,
    FetchReport,
    FetchRequest,
    agg_trades_to_array,
    candle_gaps,
    klines_to_candles,
    trade_gaps,
)

PAGE_LIMIT = 1000
FLUSH_ROWS = 100_000
MAX_ATTEMPTS = 8
MAX_PAUSE_S = 300.0  # a longer ban (418) ends the fetch: come back later

PageCallback = Callable[[str, int, int], None]  # (kind, rows in the page, last ts in it)


class HistoryClient:
    """GETs public Binance endpoints under the throttler; retries 429/418, 5xx, lost links."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        throttler: AsyncThrottler,
        *,
        max_attempts: int = MAX_ATTEMPTS,
        timeout_s: float = 30.0,
    ) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.throttler = throttler
        self.max_attempts = max_attempts
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.requests = 0
        self.rate_limited = 0
        self.retried = 0

    async def get(self, path: str, params: dict[str, Any]) -> Any:
        """The JSON answer of GET `path`; FetchError when the exchange refuses or never answers."""
        query = {k: str(v) for k, v in params.items()}
        limit_id = rest_limit_id("GET", path, query)
        problem = ""
        for attempt in range(self.max_attempts):
            async with self.throttler.acquire(limit_id):
                self.requests += 1
                try:
                    async with self.session.get(
                        self.base_url + path, params=query, timeout=self._timeout
                    ) as response:
                        body = await response.read()
                        self.throttler.update_from_headers(response.headers)
                        status = response.status
                        retry_after = response.headers.get("Retry-After")
                except (aiohttp.ClientError, TimeoutError) as exc:
                    status, body, retry_after = 0, b"", None
                    problem = f"no answer ({exc.__class__.__name__}: {exc})"
            if status == 200:
                try:
                    return orjson.loads(body)
                except orjson.JSONDecodeError:
                    status, problem = 0, f"HTTP 200 with an unreadable body: {body[:100]!r}"
            if status in (429, 418):
                wait = _seconds(retry_after, 1.0 if status == 429 else 120.0)
                if wait > MAX_PAUSE_S:
                    raise FetchError(f"GET {path}: HTTP {status}, the exchange asks to wait "
                                     f"{wait:g} s (IP banned); try again later")  # fmt: skip
                self.rate_limited += 1
                self.throttler.pause(wait)
                problem = f"HTTP {status} {_message(body)}"
                continue
            if status == 0 or status >= 500:
                self.retried += 1
                problem = problem if status == 0 else f"HTTP {status} {_message(body)}"
                await asyncio.sleep(min(0.1 * 2**attempt, 5.0))
                continue
            raise FetchError(f"GET {path} {query}: HTTP {status} {_message(body)}")
        raise FetchError(f"GET {path}: gave up after {self.max_attempts} attempts; last: {problem}")


def _seconds(header: str | None, default: float) -> float:
    try:
        return float(header) if header is not None else default
    except ValueError:
        return default


def _message(body: bytes) -> str:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:200].decode("utf-8", "replace")
    if isinstance(payload, dict) and "msg" in payload:
        return f"[{payload.get('code')}] {payload['msg']}"
    return str(payload)[:200]


def _find_symbol(info: dict[str, Any], trading_pair: str) -> str:
    base, quote = split_trading_pair(trading_pair)
    pairs: dict[str, str] = {}
    for entry in info.get("symbols", []):
        pairs[f"{entry['baseAsset']}-{entry['quoteAsset']}"] = entry["symbol"]
    if trading_pair in pairs:
        return pairs[trading_pair]
    close = difflib.get_close_matches(trading_pair, list(pairs), n=8, cutoff=0.3)
    valid = ", ".join(close or sorted(pairs)[:8]) or "none"
    raise BadArgument(f"pair {trading_pair!r}: the exchange has no {base}{quote} symbol; valid "
                      f"pairs include {valid} ({len(pairs)} in all)")  # fmt: skip


class _Sink:
    """Pages on their way to the cache: written every FLUSH_ROWS rows and at day changes."""

    def __init__(self, write: Callable[[np.ndarray], list[date]], report: FetchReport) -> None:
        self.write = write
        self.report = report
        self.pending: list[np.ndarray] = []
        self.rows = 0
        self.day = -1

    def add(self, rows: np.ndarray) -> None:
        last_day = int(rows["ts"][-1]) // DAY_MS
        if self.pending and (self.rows >= FLUSH_ROWS or last_day != self.day):
            self.flush()
        self.pending.append(rows)
        self.rows += rows.size
        self.day = last_day

    def flush(self) -> None:
        if not self.pending:
            return
        rows = np.concatenate(self.pending)
        self.pending, self.rows = [], 0
        try:
            self.report.days.update(self.write(rows))
        except DataError as exc:
            raise FetchError(f"the exchange sent data the cache refuses: {exc}") from exc


async def _fetch_candles(
    client: HistoryClient, cache: CandleCache, symbol: str, interval: str, start: int, end: int,
    report: FetchReport, on_page: PageCallback | None,
) -> None:  # fmt: skip
    step = interval_ms(interval)
    cached_ts = cache.read(symbol, interval, start, end)["ts"]
    report.candles_cached = int(cached_ts.size)
    runs = [(g.start_ms, g.end_ms) for g in candle_gaps(cached_ts, start, end, step)]
    sink = _Sink(lambda rows: cache.write(symbol, interval, rows), report)
    try:
        for run_start, run_end in runs:
            cursor = run_start
            while cursor < run_end:
                params = {"symbol": symbol, "interval": interval, "startTime": cursor,
                          "endTime": run_end - 1, "limit": PAGE_LIMIT}  # fmt: skip
                answer = await client.get(KLINES_PATH, params)
                report.pages += 1
                page = klines_to_candles(answer)
                page = page[(page["ts"] >= cursor) & (page["ts"] < run_end)]
                if page.size == 0:
                    break
                sink.add(page)
                report.candles_fetched += page.size
                cursor = int(page["ts"][-1]) + step
                if on_page is not None:
                    on_page("candles", page.size, cursor - step)
                if len(answer) < PAGE_LIMIT:
                    break
    finally:
        sink.flush()


async def _trade_page(
    client: HistoryClient, symbol: str, *, from_id: int | None = None, start: int | None = None
) -> np.ndarray:
    params: dict[str, Any] = {"symbol": symbol, "limit": PAGE_LIMIT}
    if from_id is not None:
        params["fromId"] = from_id
    else:
        params["startTime"] = start
    return agg_trades_to_array(await client.get(AGG_TRADES_PATH, params))


async def _fetch_trades(
    client: HistoryClient, cache: TradeCache, symbol: str, start: int, end: int,
    report: FetchReport, on_page: PageCallback | None,
) -> None:  # fmt: skip
    cached = cache.read(symbol, start, end)
    report.trades_cached = int(cached.size)
    # (fromId or None for a startTime seek, first id already cached after the run or None)
    runs: list[tuple[int | None, int | None]] = []
    if cached.size == 0:
        runs.append((None, None))
    else:
        ids = cached["trade_id"]
        before = cache.read(symbol, start - DAY_MS, start)["trade_id"]
        if before.size == 0 or int(before[-1]) != int(ids[0]) - 1:
            runs.append((None, int(ids[0])))
        holes = np.flatnonzero(np.diff(ids) > 1)
        runs += [(int(ids[i]) + 1, int(ids[i + 1])) for i in holes]
        after = cache.read(symbol, end, end + DAY_MS)["trade_id"]
        if after.size == 0 or int(after[0]) != int(ids[-1]) + 1:
            runs.append((int(ids[-1]) + 1, None))
    sink = _Sink(lambda rows: cache.write(symbol, rows), report)
    try:
        for from_id, stop_id in runs:
            page = await _trade_page(client, symbol, from_id=from_id, start=start)
            while True:
                report.pages += 1
                full = page.size == PAGE_LIMIT
                keep = (page["ts"] >= start) & (page["ts"] < end)
                if stop_id is not None:
                    keep &= page["trade_id"] < stop_id
                kept = page[keep]
                if kept.size:
                    sink.add(kept)
                    report.trades_fetched += kept.size
                    if on_page is not None:
                        on_page("trades", kept.size, int(kept["ts"][-1]))
                if not full or kept.size < page.size:
                    break
                page = await _trade_page(client, symbol, from_id=int(page["trade_id"][-1]) + 1)
    finally:
        sink.flush()


async def fetch_history(
    request: FetchRequest,
    cache_dir: Path,
    *,
    session: aiohttp.ClientSession | None = None,
    throttler: AsyncThrottler | None = None,
    on_page: PageCallback | None = None,
    max_attempts: int = MAX_ATTEMPTS,
) -> FetchReport:
    """Fetch what the cache lacks for `request`, verify continuity, and report."""
    own = session is None
    session = session or aiohttp.ClientSession()
    try:
        client = HistoryClient(session, request.base_url, throttler or make_throttler(),
                               max_attempts=max_attempts)  # fmt: skip
        return await _run(client, request, cache_dir, on_page)
    finally:
        if own:
            await session.close()


async def _run(
    client: HistoryClient, request: FetchRequest, cache_dir: Path, on_page: PageCallback | None
) -> FetchReport:
    info = await client.get(EXCHANGE_INFO_PATH, {})
    apply_exchange_rate_limits(client.throttler, info.get("rateLimits", []))
    symbol = _find_symbol(info, request.trading_pair)
    server_ms = int(info.get("serverTime") or datetime.now(UTC).timestamp() * 1000)
    step = interval_ms(request.interval)
    start = -(-request.start_ms // step) * step
    end = request.end_ms if request.end_ms is not None else server_ms
    if start >= server_ms:
        raise BadArgument(f"--start {format_ts(request.start_ms)} is after the exchange's time "
                          f"now ({format_ts(server_ms)} UTC): nothing to fetch")  # fmt: skip
    candle_end = min(-(-end // step) * step, server_ms // step * step)  # closed candles only
    report = FetchReport(symbol, request.interval, start, end, with_trades=request.trades)
    candles, trades = CandleCache(cache_dir), TradeCache(cache_dir)
    try:
        if candle_end > start:
            await _fetch_candles(client, candles, symbol, request.interval, start, candle_end,
                                 report, on_page)  # fmt: skip
        if request.trades:
            await _fetch_trades(client, trades, symbol, request.start_ms, min(end, server_ms),
                                report, on_page)  # fmt: skip
    finally:
        report.requests = client.requests
        report.rate_limited = client.rate_limited
        report.retried = client.retried
    cached_ts = candles.read(symbol, request.interval, start, candle_end)["ts"]
    report.candles_total = int(cached_ts.size)
    report.gaps = candle_gaps(cached_ts, start, candle_end, step) if candle_end > start else []
    if request.trades:
        cached_trades = trades.read(symbol, request.start_ms, min(end, server_ms))
        report.trades_total = int(cached_trades.size)
        report.gaps += trade_gaps(cached_trades)
    return report
