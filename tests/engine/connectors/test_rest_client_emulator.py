"""BinanceRestClient against the exchange emulator on 127.0.0.1: signing, -1021, 429, faults."""

import time
from decimal import Decimal

import aiohttp
import pytest

from birdterm.engine.connectors.binance import constants as c
from birdterm.engine.connectors.binance.auth import BinanceAuth
from birdterm.engine.connectors.binance.errors import (
    BinanceAPIError,
    RateLimitedError,
    RequestOutcomeUnknown,
)
from birdterm.engine.connectors.binance.rest_client import BinanceRestClient
from birdterm.engine.connectors.binance.time_sync import TimeSync
from birdterm.sim.emulator.faults import FaultConfig
from birdterm.sim.emulator.rate_limits import RateLimit

from tests.emulator_fixtures import running_emulator
from tests.engine.connectors.public_fixtures import API_KEY, API_SECRET, emulator


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def make_client(session, server, *, time_sync=None, throttler=None, secret=API_SECRET):
    return BinanceRestClient(
        session,
        server.rest_url,
        BinanceAuth(API_KEY, secret),
        throttler or c.make_throttler(),
        time_sync or TimeSync(),
        timeout_s=5.0,
    )


def buy_far_below(client_order_id: str) -> dict:
    return {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": Decimal("0.01000"),
        "price": Decimal("20000.00"),
        "newClientOrderId": client_order_id,
        "newOrderRespType": "RESULT",
    }


async def test_signed_requests_place_query_and_cancel_an_order():
    async with running_emulator(seed=3) as emu, aiohttp.ClientSession() as session:
        server = emu.server
        rest = make_client(session, server)
        await rest.time_sync.resync(rest)
        account = await rest.request("GET", c.ACCOUNT_PATH, {"omitZeroBalances": True}, signed=True)
        assert {b["asset"]: b["free"] for b in account["balances"]} == {
            "BTC": "2.00000000",
            "ETH": "20.00000000",
            "USDT": "100000.00000000",
        }
        placed = await rest.request("POST", c.ORDER_PATH, buy_far_below("bt-pub-1"), signed=True)
        assert (placed["status"], placed["clientOrderId"]) == ("NEW", "bt-pub-1")
        assert server.exchange.balances_of(API_KEY)["USDT"] == (Decimal(99800), Decimal(200))
        assert rest.throttler.usage(c.ORDERS_10S) == 1
        found = await rest.request(
            "GET", c.ORDER_PATH, {"symbol": "BTCUSDT", "origClientOrderId": "bt-pub-1"}, signed=True
        )
        assert (found["orderId"], found["origQty"]) == (placed["orderId"], "0.01000000")
        canceled = await rest.request(
            "DELETE", c.ORDER_PATH, {"symbol": "BTCUSDT", "orderId": placed["orderId"]}, signed=True
        )
        assert canceled["status"] == "CANCELED"
        assert server.exchange.balances_of(API_KEY)["USDT"] == (Decimal(100000), Decimal(0))
        # account 20 + order 1 + query 4 + cancel 1 + 3 time samples; the server counted the same
        assert rest.throttler.usage(c.REQUEST_WEIGHT) == 29
        with pytest.raises(BinanceAPIError) as missing:
            await rest.request(
                "GET", c.ORDER_PATH, {"symbol": "BTCUSDT", "origClientOrderId": "nope"}, signed=True
            )
        assert (missing.value.code, missing.value.msg) == (-2013, "Order does not exist.")
        bad_key = make_client(session, server, secret="wrongSecret")
        with pytest.raises(BinanceAPIError) as bad:
            await bad_key.request("GET", c.ACCOUNT_PATH, signed=True)
        assert bad.value.code == -1022


@pytest.mark.parametrize("offset_ms", [30_000, -30_000])
async def test_minus_1021_is_recovered_by_one_resync_and_one_retry(offset_ms):
    def server_clock() -> int:
        return wall_ms() + offset_ms

    async with emulator(server_clock) as server, aiohttp.ClientSession() as session:
        sync = TimeSync()  # never synced: our timestamps are 30 s off the server's
        rest = make_client(session, server, time_sync=sync)
        account = await rest.request("GET", c.ACCOUNT_PATH, signed=True)
        assert "balances" in account
        assert rest.timestamp_retries == 1
        assert sync.offset_ms == pytest.approx(offset_ms, abs=1_000)
        await rest.request("GET", c.ACCOUNT_PATH, signed=True)
        assert rest.timestamp_retries == 1  # synced now: no more -1021


async def test_weight_limit_429_pauses_for_the_rest_of_the_window():
    frozen = 1_700_000_080_000  # 40 s into a minute: the window ends in 20 s
    limits = (RateLimit("REQUEST_WEIGHT", "MINUTE", 1, 30),)
    depth_id = c.rest_limit_id("GET", c.DEPTH_PATH, {"limit": 100})
    params = {"symbol": "BTCUSDT", "limit": 100}
    server_cm = emulator(lambda: frozen, rate_limits=limits)
    async with server_cm as server, aiohttp.ClientSession() as session:
        # A throttler that took the limits from exchangeInfo waits instead of breaking them.
        informed = make_client(session, server)
        info = await informed.request("GET", c.EXCHANGE_INFO_PATH)
        assert c.apply_exchange_rate_limits(informed.throttler, info["rateLimits"]) == {
            c.REQUEST_WEIGHT: 30
        }
        for _ in range(2):
            assert informed.throttler.wait_time(depth_id) == 0.0
            await informed.request("GET", c.DEPTH_PATH, params)
        assert informed.throttler.usage(c.REQUEST_WEIGHT) == 30
        assert informed.throttler.wait_time(depth_id) > 59.0  # our window slides

        naive = make_client(session, server)  # believes the default 6000 / min
        with pytest.raises(RateLimitedError) as caught:
            await naive.request("GET", c.DEPTH_PATH, params)
        assert (caught.value.http_status, caught.value.code) == (429, -1003)
        assert caught.value.retry_after_s == 20.0
        assert 19.0 < naive.throttler.paused_for <= 20.0
        assert naive.throttler.wait_time("GET /api/v3/ping") > 19.0
        assert naive.throttler.usage(c.REQUEST_WEIGHT) == 30  # from the 429's header


async def test_injected_rate_limit_burst_raises_with_retry_after():
    faults = FaultConfig(seed=1, rate_limit_burst_rate=1.0, rate_limit_burst_len=2)
    async with running_emulator(faults=faults) as emu, aiohttp.ClientSession() as session:
        rest = make_client(session, emu.server)
        with pytest.raises(RateLimitedError) as caught:
            await rest.request("GET", c.TIME_PATH)
        assert caught.value.retry_after_s == 1.0
        assert 0.0 < rest.throttler.paused_for <= 1.0


async def test_server_errors_and_lost_responses_are_unknown_outcomes():
    async with running_emulator(seed=4) as emu, aiohttp.ClientSession() as session:
        server = emu.server
        rest = make_client(session, server)
        await rest.time_sync.resync(rest)
        server.faults = FaultConfig(seed=2, server_error_rate=1.0)
        with pytest.raises(RequestOutcomeUnknown) as before:
            await rest.request("POST", c.ORDER_PATH, buy_far_below("bt-pub-2"), signed=True)
        assert (before.value.http_status, before.value.code) == (503, -1008)
        assert server.exchange.orders_of(API_KEY) == []  # refused before processing

        server.faults = FaultConfig(seed=3, server_error_after_rate=1.0)
        with pytest.raises(RequestOutcomeUnknown) as after:
            await rest.request("POST", c.ORDER_PATH, buy_far_below("bt-pub-3"), signed=True)
        assert after.value.http_status == 500
        assert [o["clientOrderId"] for o in server.exchange.orders_of(API_KEY)] == ["bt-pub-3"]

        server.faults = FaultConfig(seed=4, lost_response_rate=1.0)
        with pytest.raises(RequestOutcomeUnknown, match="connection lost"):
            await rest.request("POST", c.ORDER_PATH, buy_far_below("bt-pub-4"), signed=True)
        orders = server.exchange.orders_of(API_KEY)
        assert [o["clientOrderId"] for o in orders] == ["bt-pub-3", "bt-pub-4"]
        assert {o["status"] for o in orders} == {"NEW"}
