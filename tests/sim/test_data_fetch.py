"""`birdterm data fetch` against the real emulator: paging, resume, weights, 429s, arguments."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from birdterm.engine.connectors.binance.constants import (
    DEFAULT_LINKED,
    DEFAULT_RULES,
    HEADER_POOLS,
    make_throttler,
)
from birdterm.engine.connectors.throttler import AsyncThrottler
from birdterm.sim.data import TRADE_DTYPE, format_ts
from birdterm.sim.data_cache import CandleCache, TradeCache
from birdterm.sim.data_fetch import PAGE_LIMIT, fetch_history
from birdterm.sim.data_fetch_cli import data_fetch_command, parse_request, report_lines
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
from birdterm.sim.emulator.default_exchange import build_default_exchange
from birdterm.sim.emulator.faults import FaultConfig
from birdterm.sim.emulator.rate_limits import RateLimit
from birdterm.sim.emulator.server import EmulatorServer

from tests.emulator_fixtures import TEST_API_KEY, TEST_API_SECRET, running_emulator

SYMBOL = "BTCUSDT"
JAN_1 = 1_767_225_600_000
SPAN_S = 2_500  # 1 s candles: 3 pages; ~5000 aggTrades: 5-6 pages


def history_range(emu) -> tuple[int, int]:
    """A range inside the emulator's seeded past (live trades come after it)."""
    start = emu.exchange.history(SYMBOL).start_ms
    return start, start + SPAN_S * 1000


def expected(emu, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    history = emu.exchange.history(SYMBOL)
    candles = klines_to_candles(history.klines("1s", start, end - 1, 10**9))
    trades = agg_trades_to_array(history.agg_trades(None, start, end - 1, 10**9))
    return candles, trades


def request(emu, start: int, end: int, trades: bool = True, **kw) -> FetchRequest:
    return FetchRequest("binance", "BTC-USDT", "1s", start, end, trades, emu.rest_url, **kw)


def cached(root, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    return CandleCache(root).read(SYMBOL, "1s", start, end), TradeCache(root).read(
        SYMBOL, start, end
    )


async def test_a_full_fetch_equals_the_emulators_history(tmp_path):
    async with running_emulator(seed=3, history_days=0.05) as emu:
        start, end = history_range(emu)
        want_candles, want_trades = expected(emu, start, end)
        report = await fetch_history(request(emu, start, end), tmp_path)
        again = await fetch_history(request(emu, start, end), tmp_path)
    candles, trades = cached(tmp_path, start, end)
    assert want_candles.size == SPAN_S and want_trades.size > 4 * PAGE_LIMIT
    assert np.array_equal(candles, want_candles) and np.array_equal(trades, want_trades)
    assert np.all(np.diff(trades["trade_id"]) == 1)
    trade_pages = want_trades.size // PAGE_LIMIT + 1  # the last one reaches past the end
    assert (report.candles_fetched, report.trades_fetched) == (SPAN_S, want_trades.size)
    assert report.pages == 3 + trade_pages and report.requests == 1 + report.pages
    assert report.gaps == [] and report.rate_limited == 0
    days = {d.isoformat() for d in report.days}
    assert days == {str(d) for d in trades["ts"].astype("datetime64[ms]").astype("datetime64[D]")}
    # a second fetch finds it all cached: exchangeInfo plus one probe at each end of the trades
    assert (again.candles_fetched, again.trades_fetched) == (0, 0)
    assert (again.candles_cached, again.trades_cached) == (SPAN_S, want_trades.size)
    assert again.requests == 3 and again.gaps == []


async def test_an_interrupted_fetch_resumes_with_only_the_rest(tmp_path):
    async with running_emulator(seed=4, history_days=0.05) as emu:
        start, end = history_range(emu)
        want_candles, want_trades = expected(emu, start, end)
        fetched = {"candles": 0, "trades": 0}

        async def run_until(kind: str, pages: int) -> None:
            seen = 0
            task: asyncio.Task | None = None

            def on_page(page_kind: str, rows: int, _last_ts: int) -> None:
                nonlocal seen
                fetched[page_kind] += rows
                if page_kind == kind:
                    seen += 1
                    if seen == pages:
                        assert task is not None
                        task.cancel()

            task = asyncio.create_task(fetch_history(request(emu, start, end), tmp_path,
                                                     on_page=on_page))  # fmt: skip
            with pytest.raises(asyncio.CancelledError):
                await task

        await run_until("candles", 2)  # stopped inside the candles: 2000 of 2500 cached
        assert cached(tmp_path, start, end)[0].size == 2 * PAGE_LIMIT
        await run_until("trades", 2)  # then inside the trades
        assert cached(tmp_path, start, end)[1].size == 2 * PAGE_LIMIT
        # a fault mid-way: every request fails with 503 after one more trades page
        failing = FaultConfig(server_error_rate=1.0)

        def break_server(kind: str, rows: int, _last_ts: int) -> None:
            fetched[kind] += rows
            emu.server.faults = failing

        with pytest.raises(FetchError, match=r"gave up after 2 attempts; last: HTTP 503"):
            await fetch_history(request(emu, start, end), tmp_path, on_page=break_server,
                                max_attempts=2)  # fmt: skip
        emu.server.faults = FaultConfig()
        final = await fetch_history(request(emu, start, end), tmp_path)
    candles, trades = cached(tmp_path, start, end)
    assert np.array_equal(candles, want_candles) and np.array_equal(trades, want_trades)
    # nothing was fetched twice: the runs together fetched each row once
    assert fetched["candles"] + final.candles_fetched == SPAN_S
    assert fetched["trades"] + final.trades_fetched == want_trades.size
    assert final.candles_cached == SPAN_S and final.trades_cached == 3 * PAGE_LIMIT
    assert final.gaps == []


async def test_429_bursts_pause_every_request_and_are_retried(tmp_path):
    faults = FaultConfig(seed=5, rate_limit_burst_rate=0.25, rate_limit_burst_len=1)
    async with running_emulator(seed=5, history_days=0.05, faults=faults) as emu:
        start, end = history_range(emu)
        want_candles, _ = expected(emu, start, end)
        throttler = make_throttler()
        report = await fetch_history(request(emu, start, end, trades=False), tmp_path,
                                     throttler=throttler)  # fmt: skip
        bursts = emu.server.stats["rate_limited_by_burst"]
    assert bursts >= 1 and report.rate_limited == bursts
    assert report.requests == 1 + 3 + bursts
    assert np.array_equal(cached(tmp_path, start, end)[0], want_candles)


async def test_request_weight_limits_are_never_exceeded(tmp_path):
    # The server allows 30 weight a minute; exchangeInfo (20) + 10 kline pages (2 each) need
    # 40, so the throttler must wait for the window. Time is virtual on both sides (the server's
    # clock and the throttler's), advanced only by the throttler's sleeps: no real waiting.
    now = {"ms": 1_767_225_600_000}
    exchange = build_default_exchange(
        seed=6, clock=lambda: now["ms"], balances={"USDT": Decimal(1)}, api_key=TEST_API_KEY,
        secret=TEST_API_SECRET, history_days=0.15,
    )  # fmt: skip
    limits = (
        RateLimit("REQUEST_WEIGHT", "MINUTE", 1, 30),
        RateLimit("RAW_REQUESTS", "MINUTE", 5, 1000),
    )
    server = EmulatorServer(exchange, rate_limits=limits, clock=lambda: now["ms"])

    async def sleep(seconds: float) -> None:
        now["ms"] += max(1, round(seconds * 1000))
        await asyncio.sleep(0)

    throttler = AsyncThrottler(DEFAULT_RULES, default_linked=DEFAULT_LINKED,
                               header_pools=HEADER_POOLS, time_fn=lambda: now["ms"] / 1000,
                               sleep=sleep)  # fmt: skip
    await server.start()
    try:
        start = exchange.history(SYMBOL).start_ms
        t0 = now["ms"]
        req = FetchRequest("binance", "BTC-USDT", "1s", start, start + 10 * PAGE_LIMIT * 1000,
                           False, server.rest_url)  # fmt: skip
        report = await fetch_history(req, tmp_path, throttler=throttler)
    finally:
        await server.stop()
    assert report.candles_fetched == 10 * PAGE_LIMIT and report.rate_limited == 0
    assert report.requests == 11
    assert now["ms"] - t0 >= 60_000  # it waited for the minute's window instead of a 429


async def test_a_range_beyond_the_history_is_reported_as_a_gap(tmp_path):
    async with running_emulator(seed=7, history_days=0.05) as emu:
        first, _ = history_range(emu)
        start, end = first - 120_000, first + 60_000
        report = await fetch_history(request(emu, start, end, trades=False), tmp_path)
        again = await fetch_history(request(emu, start, end, trades=False), tmp_path)
    [gap] = report.gaps
    assert (gap.kind, gap.start_ms, gap.end_ms, gap.missing) == ("candles", start, first, 120)
    assert report.candles_total == 60
    # the known hole costs one probe on the next run, and nothing is fetched again
    assert again.gaps == report.gaps and again.requests == 2 and again.candles_fetched == 0


def cli_app() -> typer.Typer:
    app = typer.Typer()
    app.command()(data_fetch_command)
    return app


def invoke(*args: str):
    return CliRunner().invoke(cli_app(), list(args))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["kraken", "BTC-USDT", "--start", "2026-01-01"],
         "error: exchange 'kraken': use one of binance\n"),
        (["binance", "BTCUSDT", "--start", "2026-01-01"],
         "error: pair 'BTCUSDT': write it as BASE-QUOTE in capitals, e.g. BTC-USDT\n"),
        (["binance", "BTC-USDT", "--start", "2026-01-02", "--end", "2026-01-01"],
         "error: --end 2026-01-01 00:00:00 is not after --start 2026-01-02 00:00:00: give an end "
         "later than the start (the end is exclusive)\n"),
        (["binance", "BTC-USDT", "--start", "2026-01-01", "--interval", "7s"],
         "error: --interval '7s': use one of 1s, 1m, 3m, 5m, 15m, 30m, 1h, 2h, 4h, 6h, 8h, 12h, "
         "1d, 3d\n"),
        (["binance", "BTC-USDT", "--start", "last week"],
         "error: --start 'last week': use a date or date-time such as 2026-01-01 or "
         "2026-01-01T12:00:00 (UTC)\n"),
    ],
)  # fmt: skip
def test_bad_arguments_give_one_clear_error(args, message):
    result = invoke(*args)
    assert result.exit_code == 2
    assert result.stderr == message and result.stdout == ""


async def test_the_command_fetches_and_reports(tmp_path):
    async with running_emulator(seed=8, history_days=0.05) as emu:
        first, _ = history_range(emu)
        minute = -(-first // 60_000) * 60_000
        start = datetime.fromtimestamp(minute / 1000, UTC).strftime("%Y-%m-%dT%H:%M")
        end = datetime.fromtimestamp(minute / 1000 + 1800, UTC).strftime("%Y-%m-%dT%H:%M")
        args = ["binance", "BTC-USDT", "--interval", "1m", "--start", start, "--end", end,
                "--base-url", emu.rest_url, "--cache", str(tmp_path)]  # fmt: skip
        result = await asyncio.to_thread(invoke, *args)
        unknown = await asyncio.to_thread(
            invoke, "binance", "DOGE-USDT", "--start", start, "--base-url", emu.rest_url,
            "--cache", str(tmp_path),
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    span = f"{format_ts(minute)} .. {format_ts(minute + 1_800_000)} UTC"
    assert lines[0] == f"BTCUSDT 1m candles, {span}: 30 in the cache (30 fetched now, 0 were there)"
    assert lines[1:] == ["2 requests, 1 pages, 0 rate-limit waits, 0 retries",
                         "continuity: complete, no gaps"]  # fmt: skip
    assert unknown.exit_code == 2 and unknown.stdout == ""
    assert unknown.stderr == (
        "error: pair 'DOGE-USDT': the exchange has no DOGEUSDT symbol; valid pairs include "
        "ETH-USDT, BTC-USDT (2 in all)\n"
    )


def test_parse_request_reads_dates_as_utc():
    req = parse_request("Binance", "ETH-USDT", "5m", "2026-01-01", "2026-01-01T06:00:00+02:00")
    # 06:00 at +02:00 is 04:00 UTC
    assert (req.exchange, req.start_ms, req.end_ms) == ("binance", JAN_1, JAN_1 + 4 * 3_600_000)
    with pytest.raises(BadArgument, match="--base-url 'ftp://x'"):
        parse_request("binance", "ETH-USDT", "5m", "2026-01-01", None, base_url="ftp://x")


def test_gaps_are_found_and_described():
    step = 60_000
    ts = np.array([0, 60_000, 240_000, 300_000], dtype=np.int64) + JAN_1
    gaps = candle_gaps(ts, JAN_1 - step, JAN_1 + 420_000, step)
    assert [(g.start_ms - JAN_1, g.end_ms - JAN_1, g.missing) for g in gaps] == [
        (-60_000, 0, 1), (120_000, 240_000, 2), (360_000, 420_000, 1)]  # fmt: skip
    assert gaps[1].describe() == "candles 2026-01-01 00:02:00 .. 2026-01-01 00:04:00 UTC: 2 missing"
    trades = np.zeros(4, dtype=TRADE_DTYPE)
    trades["ts"] = JAN_1 + np.array([0, 10, 20, 1500])
    trades["trade_id"] = [7, 8, 9, 13]
    [gap] = trade_gaps(trades)
    assert (gap.first_id, gap.last_id, gap.missing) == (10, 12, 3)
    assert gap.describe() == (
        "aggTrade ids 10..12 (3) missing, 2026-01-01 00:00:00.020 .. 2026-01-01 00:00:01.500 UTC"
    )
    report = FetchReport("BTCUSDT", "1m", JAN_1, JAN_1 + 420_000, candles_total=4,
                         candles_fetched=4, requests=2, pages=1, gaps=[*gaps, gap])  # fmt: skip
    assert report_lines(report, max_gaps=2) == [
        "BTCUSDT 1m candles, 2026-01-01 00:00:00 .. 2026-01-01 00:07:00 UTC: 4 in the cache "
        "(4 fetched now, 0 were there)",
        "2 requests, 1 pages, 0 rate-limit waits, 0 retries",
        "continuity: 4 gap(s), 4 candles and 3 trades missing (the exchange has none there)",
        "  gap: candles 2025-12-31 23:59:00 .. 2026-01-01 00:00:00 UTC: 1 missing",
        "  gap: candles 2026-01-01 00:02:00 .. 2026-01-01 00:04:00 UTC: 2 missing",
        "  ... and 2 more",
    ]
