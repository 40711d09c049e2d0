"""WsApiClient against the emulator's WebSocket API: requests, user data, errors, reconnects."""

import asyncio

import aiohttp
import pytest

from birdterm.engine.connectors.binance.auth import BinanceAuth
from birdterm.engine.connectors.binance.constants import make_throttler
from birdterm.engine.connectors.binance.errors import (
    BinanceAPIError,
    RateLimitedError,
    RequestOutcomeUnknown,
)
from birdterm.engine.connectors.binance.time_sync import TimeSync
from birdterm.engine.connectors.binance.ws_api import WsApiClient, WsApiNotConnected
from birdterm.sim.emulator.faults import FaultConfig

from tests.engine.connectors.trading_fixtures import (
    API_KEY,
    API_SECRET,
    SYMBOL,
    D,
    quiet_emulator,
    wait_until,
)


class Hooks:
    def __init__(self):
        self.events = []
        self.reconnected = 0
        self.disconnected = 0

    def on_event(self, event):
        self.events.append(event)

    async def on_reconnected(self):
        self.reconnected += 1

    def on_disconnected(self):
        self.disconnected += 1


def _client(session, emu, hooks, **options):
    return WsApiClient(
        session,
        emu.server.ws_api_url,
        BinanceAuth(API_KEY, API_SECRET),
        TimeSync(),
        on_event=hooks.on_event,
        on_reconnected=hooks.on_reconnected,
        on_disconnected=hooks.on_disconnected,
        **options,
    )


def _order(cid, price="29000", qty="0.1"):
    return {
        "symbol": SYMBOL,
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "price": D(price),
        "quantity": D(qty),
        "newClientOrderId": cid,
    }


async def test_requests_and_user_events_on_one_connection():
    hooks = Hooks()
    async with quiet_emulator() as emu, aiohttp.ClientSession() as session:
        client = _client(session, emu, hooks)
        assert await client.start() is True
        assert client.subscribed and client.subscription_id == 0
        assert "serverTime" in await client.request("time")
        placed = await client.request("order.place", _order("ws-1"), signed=True)
        assert (placed["clientOrderId"], placed["status"]) == ("ws-1", "NEW")
        await wait_until(lambda: any(e.get("e") == "executionReport" for e in hooks.events))
        report = next(e for e in hooks.events if e["e"] == "executionReport")
        assert (report["c"], report["x"], report["X"]) == ("ws-1", "NEW", "NEW")
        await wait_until(lambda: any(e["e"] == "outboundAccountPosition" for e in hooks.events))
        status = await client.request(
            "order.status", {"symbol": SYMBOL, "origClientOrderId": "ws-1"}, signed=True
        )
        assert status["origQty"] == "0.10000000"
        with pytest.raises(BinanceAPIError) as refused:
            await client.request(
                "order.status", {"symbol": SYMBOL, "origClientOrderId": "nope"}, signed=True
            )
        assert (refused.value.http_status, refused.value.code) == (400, -2013)
        assert refused.value.msg == "Order does not exist."
        await client.stop()
        assert not client.connected
        with pytest.raises(WsApiNotConnected):
            await client.request("time")
        assert hooks.reconnected == 0 and hooks.disconnected == 0


async def test_unanswered_and_server_error_requests_have_an_unknown_outcome():
    hooks = Hooks()
    async with quiet_emulator() as emu, aiohttp.ClientSession() as session:
        client = _client(session, emu, hooks, timeout_s=0.3)
        assert await client.start()
        emu.server.faults = FaultConfig(lost_response_rate=1.0)
        with pytest.raises(RequestOutcomeUnknown, match=r"order.place: no answer in 0.3 s"):
            await client.request("order.place", _order("ws-lost"), signed=True)
        # ...and it was placed: the outcome was unknown, not negative
        assert [o["clientOrderId"] for o in emu.our_orders()] == ["ws-lost"]
        emu.server.faults = FaultConfig(server_error_rate=1.0)
        with pytest.raises(RequestOutcomeUnknown) as unknown:
            await client.request("time")
        assert (unknown.value.http_status, unknown.value.code) == (503, -1008)
        emu.server.faults = None
        await client.stop()


async def test_rate_limited_request_pauses_the_throttler():
    hooks = Hooks()
    async with quiet_emulator() as emu, aiohttp.ClientSession() as session:
        throttler = make_throttler()
        client = _client(session, emu, hooks, throttler=throttler)
        assert await client.start()
        emu.server.faults = FaultConfig(rate_limit_burst_rate=1.0, rate_limit_burst_len=1)
        with pytest.raises(RateLimitedError) as limited:
            await client.request("time")
        emu.server.faults = None
        assert limited.value.http_status == 429 and limited.value.code == -1003
        assert 0 < limited.value.retry_after_s <= 1.0
        assert 0 < throttler.paused_for <= 1.0
        await client.stop()


async def test_a_dropped_connection_reconnects_and_subscribes_again():
    hooks = Hooks()
    async with quiet_emulator() as emu, aiohttp.ClientSession() as session:
        client = _client(session, emu, hooks, timeout_s=2.0)
        assert await client.start()
        emu.server.faults = FaultConfig(latency_ms=(300, 300))
        pending = asyncio.ensure_future(client.request("time"))
        await wait_until(lambda: client._pending)
        await client.drop_connection()
        with pytest.raises(RequestOutcomeUnknown, match="closed before the answer"):
            await pending
        emu.server.faults = None
        await wait_until(lambda: hooks.reconnected == 1 and client.subscribed)
        assert client.reconnect_count == 1 and hooks.disconnected == 1
        # the server ends the subscription: the client reconnects and subscribes again
        await client.request("userDataStream.unsubscribe", {})
        await wait_until(lambda: hooks.reconnected == 2 and client.subscribed)
        await client.request("order.place", _order("ws-after"), signed=True)
        await wait_until(lambda: any(e.get("c") == "ws-after" for e in hooks.events))
        await client.stop()
        assert client.reconnect_count == 2


async def test_start_fails_softly_when_nothing_listens():
    hooks = Hooks()
    async with quiet_emulator() as emu:
        url = emu.server.ws_api_url
    async with aiohttp.ClientSession() as session:
        client = WsApiClient(session, url, BinanceAuth(API_KEY, API_SECRET), TimeSync())
        assert await client.start(wait_s=0.3) is False
        assert not client.connected and "ConnectionRefusedError" in client.last_error
        await client.stop()
    with pytest.raises(ValueError, match="needs an API key"):
        WsApiClient(session, url, None, TimeSync())
    del hooks
