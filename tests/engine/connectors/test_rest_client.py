"""BinanceRestClient answer mapping against a small real aiohttp server on 127.0.0.1.

The emulator tests (test_rest_client_emulator.py) cover the same client against the exchange
emulator; this server adds answers the emulator never gives (HTML 403, unreadable bodies).
"""

import asyncio
import hashlib
import hmac
import socket
import time
from urllib.parse import parse_qsl

import aiohttp
import pytest
from aiohttp import web

from birdterm.engine.connectors.binance import constants as c
from birdterm.engine.connectors.binance.auth import BinanceAuth
from birdterm.engine.connectors.binance.errors import (
    BinanceAPIError,
    RateLimitedError,
    RequestNotSent,
    RequestOutcomeUnknown,
)
from birdterm.engine.connectors.binance.rest_client import BinanceRestClient
from birdterm.engine.connectors.binance.time_sync import TimeSync

KEY, SECRET = "testKey", "testSecret"


class MiniExchange:
    """Just enough of Binance's REST behaviour to exercise every branch of the client."""

    def __init__(self) -> None:
        self.offset_ms = 0  # server clock = wall clock + offset
        self.requests: list[tuple[str, str, str]] = []
        self.release = asyncio.Event()
        self.minus_1021_left = 0

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.offset_ms

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw_query = request.rel_url.raw_query_string
        self.requests.append((request.method, request.path, raw_query))
        headers = {"X-MBX-USED-WEIGHT-1M": str(len(self.requests) * 10)}
        path = request.path
        if path == "/api/v3/time":
            return web.json_response({"serverTime": self.now_ms()}, headers=headers)
        if path == "/api/v3/account":
            return self.account(request, raw_query, headers)
        if path == "/e429":
            body = {"code": -1003, "msg": "Too much request weight used"}
            return web.json_response(body, status=429, headers={**headers, "Retry-After": "7"})
        if path == "/e418":
            body = {"code": -1003, "msg": "Way too much request weight used; IP banned"}
            return web.json_response(body, status=418, headers={"Retry-After": "120"})
        if path == "/e400":
            return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
        if path == "/e503":
            return web.json_response({"code": -1008, "msg": "Server is busy"}, status=503)
        if path == "/e408":
            return web.json_response({"code": -1007, "msg": "Timeout waiting"}, status=408)
        if path == "/html403":
            return web.Response(text="<html>WAF</html>", status=403)
        if path == "/garbage":
            return web.Response(text="{not json", status=200)
        if path == "/drop":
            assert request.transport is not None
            request.transport.close()
            await self.release.wait()
        if path == "/slow":
            await self.release.wait()
        if path == "/echo":
            return web.json_response(dict(parse_qsl(raw_query)), headers=headers)
        return web.json_response({}, headers=headers)

    def account(self, request: web.Request, raw_query: str, headers: dict) -> web.Response:
        if request.headers.get("X-MBX-APIKEY") != KEY:
            return web.json_response({"code": -2015, "msg": "Invalid API-key"}, status=401)
        payload, signature = raw_query.rsplit("&signature=", 1)
        expected = hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if signature != expected:
            return web.json_response({"code": -1022, "msg": "bad signature"}, status=400)
        params = dict(parse_qsl(payload))
        skew = self.now_ms() - int(params["timestamp"])
        if self.minus_1021_left or not -1000 < skew <= int(params["recvWindow"]):
            self.minus_1021_left = max(0, self.minus_1021_left - 1)
            body = {
                "code": -1021,
                "msg": "Timestamp for this request is outside of the recvWindow.",
            }
            return web.json_response(body, status=400, headers=headers)
        return web.json_response({"balances": [], "echo": params}, headers=headers)


@pytest.fixture
async def mini():
    exchange = MiniExchange()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", exchange.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    exchange.url = f"http://127.0.0.1:{port}"
    yield exchange
    exchange.release.set()
    await runner.cleanup()


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


def client(session, url, *, auth=True, timeout_s=5.0, time_sync=None, throttler=None):
    return BinanceRestClient(
        session,
        url,
        BinanceAuth(KEY, SECRET) if auth else None,
        throttler or c.make_throttler(),
        time_sync or TimeSync(),
        timeout_s=timeout_s,
    )


async def test_unsigned_request_encodes_params_and_syncs_used_weight(mini, session):
    rest = client(session, mini.url, auth=False)
    answer = await rest.request("GET", "/echo", {"symbol": "BTCUSDT", "symbols": ["A", "B"]})
    assert answer == {"symbol": "BTCUSDT", "symbols": '["A","B"]'}
    assert mini.requests == [("GET", "/echo", "symbol=BTCUSDT&symbols=%5B%22A%22%2C%22B%22%5D")]
    # the unlisted endpoint charged 1; the server's header said 10
    assert rest.throttler.usage(c.REQUEST_WEIGHT) == 10
    with pytest.raises(ValueError, match="no API key"):
        await rest.request("GET", "/api/v3/account", signed=True)


async def test_signed_request_carries_key_timestamp_and_signature(mini, session):
    sync = TimeSync()
    rest = client(session, mini.url, time_sync=sync)
    answer = await rest.request("GET", "/api/v3/account", {"omitZeroBalances": True}, signed=True)
    assert answer["echo"]["omitZeroBalances"] == "true"
    assert answer["echo"]["recvWindow"] == "5000"
    assert rest.throttler.usage(c.REQUEST_WEIGHT) == 20  # weight 20 (header said 10)
    assert rest.timestamp_retries == 0


async def test_minus_1021_resyncs_the_clock_and_retries_once(mini, session):
    mini.offset_ms = 30_000  # the server runs 30 s ahead of us
    sync = TimeSync()
    rest = client(session, mini.url, time_sync=sync)
    answer = await rest.request("GET", "/api/v3/account", signed=True)
    assert "balances" in answer
    assert rest.timestamp_retries == 1
    assert sync.offset_ms == pytest.approx(30_000, abs=1_000)
    paths = [p for _m, p, _q in mini.requests]
    assert paths == ["/api/v3/account"] + ["/api/v3/time"] * 3 + ["/api/v3/account"]


async def test_a_second_minus_1021_is_raised_not_retried_again(mini, session):
    mini.minus_1021_left = 2
    rest = client(session, mini.url)
    with pytest.raises(BinanceAPIError) as caught:
        await rest.request("GET", "/api/v3/account", signed=True)
    assert caught.value.code == -1021
    assert [p for _m, p, _q in mini.requests].count("/api/v3/account") == 2


async def test_rate_limit_answers_pause_the_throttler(mini, session):
    rest = client(session, mini.url, auth=False)
    with pytest.raises(RateLimitedError) as caught:
        await rest.request("GET", "/e429")
    assert (caught.value.retry_after_s, caught.value.http_status) == (7.0, 429)
    assert caught.value.code == -1003 and not caught.value.banned
    assert 6.0 < rest.throttler.paused_for <= 7.0
    assert isinstance(caught.value, BinanceAPIError)
    with pytest.raises(RateLimitedError) as banned:
        await client(session, mini.url, auth=False).request("GET", "/e418")
    assert banned.value.banned and banned.value.retry_after_s == 120.0


async def test_refusals_and_unknown_outcomes_are_told_apart(mini, session):
    rest = client(session, mini.url, auth=False, timeout_s=0.3)
    with pytest.raises(BinanceAPIError) as refused:
        await rest.request("GET", "/e400")
    assert (refused.value.http_status, refused.value.code) == (400, -1121)
    assert refused.value.msg == "Invalid symbol."
    with pytest.raises(BinanceAPIError) as waf:
        await rest.request("GET", "/html403")
    assert (waf.value.http_status, waf.value.code, waf.value.msg) == (403, 0, "<html>WAF</html>")
    with pytest.raises(RequestOutcomeUnknown) as busy:
        await rest.request("GET", "/e503")
    assert (busy.value.http_status, busy.value.code) == (503, -1008)
    with pytest.raises(RequestOutcomeUnknown) as backend_timeout:
        await rest.request("GET", "/e408")
    assert backend_timeout.value.code == -1007
    with pytest.raises(RequestOutcomeUnknown, match="unreadable body"):
        await rest.request("GET", "/garbage")
    with pytest.raises(RequestOutcomeUnknown, match="connection lost"):
        await rest.request("POST", "/drop")
    with pytest.raises(RequestOutcomeUnknown, match="no answer in time"):
        await rest.request("POST", "/slow")


async def test_connection_refused_is_not_sent(session):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    rest = client(session, f"http://127.0.0.1:{port}", auth=False)
    with pytest.raises(RequestNotSent, match="cannot connect"):
        await rest.request("GET", "/api/v3/ping")
