"""Public REST routes of the emulator over real HTTP: answers, weights, errors, 429 then 418."""

from decimal import Decimal

import aiohttp
import pytest

from birdterm.sim.emulator.default_symbols import default_symbols
from birdterm.sim.emulator.rate_limits import RateLimit

from tests.emulator_fixtures import running_emulator

WEIGHT = "X-MBX-USED-WEIGHT-1M"


async def _get(session, url, **params):
    async with session.get(url, params=params) as resp:
        return resp.status, resp.headers, await resp.json()


def _assert_weight(before, after, weight):
    # The 1-minute window may roll over between two requests; then the count restarts.
    assert int(after) - int(before) == weight or int(after) == weight


async def test_ping_time_and_weight_headers():
    async with running_emulator() as emu, aiohttp.ClientSession() as session:
        status, headers, body = await _get(session, emu.rest_url + "/api/v3/ping")
        assert (status, body) == (200, {})
        assert headers[WEIGHT] == "1"
        before = emu.now_ms()
        status, headers2, body = await _get(session, emu.rest_url + "/api/v3/time")
        assert status == 200
        assert set(body) == {"serverTime"}
        assert before <= body["serverTime"] <= emu.now_ms()
        _assert_weight(headers[WEIGHT], headers2[WEIGHT], 1)
        assert headers2["Content-Type"].startswith("application/json")


async def test_exchange_info_all_one_and_several_symbols():
    async with running_emulator() as emu, aiohttp.ClientSession() as session:
        url = emu.rest_url + "/api/v3/exchangeInfo"
        status, headers, info = await _get(session, url)
        assert status == 200
        assert headers[WEIGHT] == "20"
        assert info["timezone"] == "UTC"
        assert info["exchangeFilters"] == []
        assert [s["symbol"] for s in info["symbols"]] == ["BTCUSDT", "ETHUSDT"]
        assert info["symbols"][0] == default_symbols()["BTCUSDT"].to_exchange_info()
        assert info["rateLimits"] == [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": 6000,
            },
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 50},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 160000},
            {
                "rateLimitType": "RAW_REQUESTS",
                "interval": "MINUTE",
                "intervalNum": 5,
                "limit": 61000,
            },
        ]
        _, _, one = await _get(session, url, symbol="ETHUSDT")
        assert [s["symbol"] for s in one["symbols"]] == ["ETHUSDT"]
        _, _, several = await _get(session, url, symbols='["ETHUSDT","BTCUSDT"]')
        assert [s["symbol"] for s in several["symbols"]] == ["ETHUSDT", "BTCUSDT"]
        status, _, err = await _get(session, url, symbol="DOGEUSDT")
        assert (status, err) == (400, {"code": -1121, "msg": "Invalid symbol."})
        status, _, err = await _get(session, url, symbols="BTCUSDT")
        assert status == 400
        assert err["code"] == -1100
        status, _, err = await _get(session, url, symbol="BTCUSDT", symbols='["BTCUSDT"]')
        assert (status, err["code"]) == (400, -1128)


@pytest.mark.parametrize(
    ("limit", "weight"), [(5, 5), (100, 5), (500, 25), (1000, 50), (5000, 250)]
)
async def test_depth_matches_the_exchange_book_and_weighs_by_limit(limit, weight):
    async with running_emulator() as emu, aiohttp.ClientSession() as session:
        _, before, _ = await _get(session, emu.rest_url + "/api/v3/ping")
        emu.server.step_now()
        status, headers, book = await _get(
            session, emu.rest_url + "/api/v3/depth", symbol="BTCUSDT", limit=str(limit)
        )
        assert status == 200
        _assert_weight(before[WEIGHT], headers[WEIGHT], weight)
        assert set(book) == {"lastUpdateId", "bids", "asks"}
        assert book["lastUpdateId"] >= 1_000_000
        assert 0 < len(book["bids"]) <= limit
        bids = [Decimal(p) for p, _ in book["bids"]]
        asks = [Decimal(p) for p, _ in book["asks"]]
        assert bids == sorted(bids, reverse=True)
        assert asks == sorted(asks)
        assert bids[0] < asks[0]
        assert all(len(p.split(".")[1]) == 8 for p, _ in book["bids"])


async def test_depth_default_limit_and_errors():
    async with running_emulator() as emu, aiohttp.ClientSession() as session:
        url = emu.rest_url + "/api/v3/depth"
        status, _, book = await _get(session, url, symbol="BTCUSDT")
        assert status == 200
        assert len(book["bids"]) == 50  # the synthetic ladder has 50 levels a side (< 100)
        status, _, err = await _get(session, url)
        assert (status, err) == (
            400,
            {
                "code": -1102,
                "msg": "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
            },
        )
        status, _, book = await _get(session, url, symbol="BTCUSDT", limit="6000")
        assert (status, len(book["asks"])) == (200, 50)  # above 5000 is truncated, not refused
        status, _, err = await _get(session, url, symbol="BTCUSDT", limit="abc")
        assert (status, err["code"]) == (400, -1100)
        status, _, err = await _get(session, url, symbol="btcusdt")
        assert (status, err["code"]) == (400, -1121)
        async with session.get(url + "?symbol=BTCUSDT&symbol=ETHUSDT") as resp:
            assert resp.status == 400
            assert await resp.json() == {
                "code": -1101,
                "msg": "Duplicate values for parameter 'symbol'.",
            }


async def test_trades_agg_trades_klines_ticker_avg_price():
    async with running_emulator(history_days=0.1) as emu, aiohttp.ClientSession() as session:
        base = emu.rest_url + "/api/v3/"
        status, _, trades = await _get(session, base + "trades", symbol="BTCUSDT", limit="3")
        assert status == 200
        assert len(trades) == 3
        assert set(trades[0]) == {
            "id",
            "price",
            "qty",
            "quoteQty",
            "time",
            "isBuyerMaker",
            "isBestMatch",
        }
        assert [t["id"] for t in trades] == list(range(trades[0]["id"], trades[0]["id"] + 3))

        _, _, aggs = await _get(
            session, base + "aggTrades", symbol="BTCUSDT", fromId="1", limit="4"
        )
        assert [a["a"] for a in aggs] == [1, 2, 3, 4]
        assert set(aggs[0]) == {"a", "p", "q", "f", "l", "T", "m", "M"}

        _, _, klines = await _get(
            session, base + "klines", symbol="BTCUSDT", interval="1m", limit="5"
        )
        assert len(klines) == 5
        assert all(len(k) == 12 for k in klines)
        assert [k[0] for k in klines] == [klines[0][0] + 60_000 * i for i in range(5)]
        assert all(k[6] == k[0] + 59_999 for k in klines)
        status, _, err = await _get(session, base + "klines", symbol="BTCUSDT", interval="7m")
        assert (status, err) == (400, {"code": -1120, "msg": "Invalid interval."})
        status, _, err = await _get(session, base + "klines", symbol="BTCUSDT")
        assert (status, err["code"]) == (400, -1102)
        for path in ("klines", "aggTrades", "trades"):
            status, _, err = await _get(
                session, base + path, symbol="BTCUSDT", interval="1m", limit="1001"
            )
            assert (status, err) == (
                400,
                {
                    "code": -1100,
                    "msg": "Illegal characters found in parameter 'limit'; "
                    "legal range is '1-1000'.",
                },
            )

        emu.server.step_now()
        status, _, ticker = await _get(session, base + "ticker/bookTicker", symbol="ETHUSDT")
        assert status == 200
        assert ticker == emu.exchange.book_ticker("ETHUSDT")
        _, _, all_tickers = await _get(session, base + "ticker/bookTicker")
        assert [t["symbol"] for t in all_tickers] == ["BTCUSDT", "ETHUSDT"]
        _, _, some = await _get(session, base + "ticker/bookTicker", symbols='["ETHUSDT"]')
        assert [t["symbol"] for t in some] == ["ETHUSDT"]

        status, _, avg = await _get(session, base + "avgPrice", symbol="BTCUSDT")
        assert status == 200
        assert set(avg) == {"mins", "price", "closeTime"}
        assert avg["mins"] == 5
        assert Decimal(60_000) * Decimal("0.9") < Decimal(avg["price"]) < Decimal(66_000)


async def test_weights_of_market_data_routes():
    async with running_emulator() as emu, aiohttp.ClientSession() as session:
        cases = [
            ("trades", {"symbol": "BTCUSDT"}, 25),
            ("aggTrades", {"symbol": "BTCUSDT"}, 4),
            ("klines", {"symbol": "BTCUSDT", "interval": "1s"}, 2),
            ("ticker/bookTicker", {"symbol": "BTCUSDT"}, 2),
            ("ticker/bookTicker", {}, 4),
            ("avgPrice", {"symbol": "BTCUSDT"}, 2),
            ("exchangeInfo", {}, 20),
        ]
        _, headers, _ = await _get(session, emu.rest_url + "/api/v3/ping")
        used = headers[WEIGHT]
        for path, params, weight in cases:
            status, headers, _ = await _get(session, emu.rest_url + "/api/v3/" + path, **params)
            assert status == 200, path
            _assert_weight(used, headers[WEIGHT], weight)
            used = headers[WEIGHT]


async def test_unknown_route_and_retired_listen_key():
    async with running_emulator() as emu, aiohttp.ClientSession() as session:
        async with session.get(emu.rest_url + "/api/v3/nothing") as resp:
            assert resp.status == 404
        async with session.post(emu.rest_url + "/api/v3/userDataStream") as resp:
            assert resp.status == 410


async def test_429_then_418_with_retry_after():
    limits = (
        RateLimit("REQUEST_WEIGHT", "DAY", 1, 30),
        RateLimit("ORDERS", "DAY", 1, 100),
        RateLimit("RAW_REQUESTS", "DAY", 1, 10_000),
    )
    async with (
        running_emulator(rate_limits=limits) as emu,
        aiohttp.ClientSession() as session,
    ):
        url = emu.rest_url + "/api/v3/ping"
        for i in range(30):
            status, headers, _ = await _get(session, url)
            assert status == 200
            assert headers["X-MBX-USED-WEIGHT-1D"] == str(i + 1)
        answers = []
        for _ in range(4):
            async with session.get(url) as resp:
                answers.append((resp.status, resp.headers, await resp.json()))
        assert [a[0] for a in answers] == [429, 429, 429, 418]
        status, headers, body = answers[0]
        assert body == {
            "code": -1003,
            "msg": "Too much request weight used; current limit is 30 request weight per 1 DAY. "
            "Please use WebSocket Streams for live updates to avoid polling the API.",
        }
        assert headers["X-MBX-USED-WEIGHT-1D"] == "30"
        seconds_to_midnight = -(-(86_400_000 - emu.now_ms() % 86_400_000) // 1000)
        assert abs(int(headers["Retry-After"]) - seconds_to_midnight) <= 1
        status, headers, body = answers[3]
        assert body["code"] == -1003
        assert body["msg"].startswith("Way too much request weight used; IP banned until ")
        assert headers["Retry-After"] == "120"
        status, headers, body = await _get(session, emu.rest_url + "/api/v3/time")
        assert status == 418
        assert int(headers["Retry-After"]) in (119, 120)
        # A banned IP cannot open a WebSocket API connection either.
        with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
            await session.ws_connect(emu.ws_api_url)
        assert exc.value.status == 418
