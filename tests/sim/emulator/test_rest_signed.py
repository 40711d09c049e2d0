"""SIGNED REST routes: orders, amend, open orders, account, trades, and their error answers."""

from decimal import Decimal
from urllib.parse import urlencode

import aiohttp
import pytest

from birdterm.sim.emulator.rate_limits import RateLimit
from birdterm.sim.emulator.signing import sign_rest

from tests.emulator_fixtures import running_emulator

BUY_FAR = {
    "symbol": "BTCUSDT",
    "side": "BUY",
    "type": "LIMIT",
    "timeInForce": "GTC",
    "quantity": "0.00100",
    "price": "50000",
}


async def _call(session, emu, method, path, params=None, *, in_body=False, headers=None):
    query = emu.signed_query(params or {})
    url = emu.rest_url + path
    kwargs = {"headers": emu.headers() if headers is None else headers}
    if in_body:
        kwargs["data"] = query
        kwargs["headers"] = {
            **kwargs["headers"],
            "Content-Type": "application/x-www-form-urlencoded",
        }
    else:
        url += "?" + query
    async with session.request(method, url, **kwargs) as resp:
        return resp.status, resp.headers, await resp.json()


def _usdt(emu):
    return emu.exchange.balances_of(emu.api_key)["USDT"]


async def test_limit_order_lifecycle_over_rest():
    async with running_emulator() as emu, aiohttp.ClientSession() as session:
        status, headers, placed = await _call(session, emu, "POST", "/api/v3/order", BUY_FAR)
        assert status == 200
        assert headers["X-MBX-ORDER-COUNT-10S"] == "1"
        assert headers["X-MBX-ORDER-COUNT-1D"] == "1"
        assert headers["X-MBX-USED-WEIGHT-1M"] == "1"
        assert placed["status"] == "NEW"
        assert placed["origQty"] == "0.00100000"
        assert placed["price"] == "50000.00000000"
        assert placed["fills"] == []
        order_id = placed["orderId"]
        client_id = placed["clientOrderId"]
        assert _usdt(emu) == (Decimal("99950"), Decimal("50"))

        status, _, by_id = await _call(
            session, emu, "GET", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": order_id}
        )
        assert status == 200
        assert by_id["status"] == "NEW"
        assert by_id["clientOrderId"] == client_id
        status, _, by_client = await _call(
            session,
            emu,
            "GET",
            "/api/v3/order",
            {"symbol": "BTCUSDT", "origClientOrderId": client_id},
        )
        assert by_client == by_id

        status, _, amended = await _call(
            session,
            emu,
            "PUT",
            "/api/v3/order/amend/keepPriority",
            {"symbol": "BTCUSDT", "orderId": order_id, "newQty": "0.0004"},
        )
        assert status == 200
        assert amended["amendedOrder"]["qty"] == "0.00040000"
        assert amended["amendedOrder"]["orderId"] == order_id
        assert _usdt(emu) == (Decimal("99980"), Decimal("20"))

        status, headers, open_orders = await _call(
            session, emu, "GET", "/api/v3/openOrders", {"symbol": "BTCUSDT"}
        )
        assert status == 200
        assert [o["orderId"] for o in open_orders] == [order_id]
        status, _, all_open = await _call(session, emu, "GET", "/api/v3/openOrders")
        assert [o["orderId"] for o in all_open] == [order_id]

        status, _, canceled = await _call(
            session, emu, "DELETE", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": order_id}
        )
        assert status == 200
        assert canceled["status"] == "CANCELED"
        assert canceled["origClientOrderId"] == client_id
        assert _usdt(emu) == (Decimal("100000"), Decimal("0"))
        status, _, open_orders = await _call(
            session, emu, "GET", "/api/v3/openOrders", {"symbol": "BTCUSDT"}
        )
        assert open_orders == []


async def test_params_in_body_and_query_wins():
    async with running_emulator() as emu, aiohttp.ClientSession() as session:
        status, _, placed = await _call(
            session, emu, "POST", "/api/v3/order", BUY_FAR, in_body=True
        )
        assert status == 200
        assert placed["price"] == "50000.00000000"
        # price in both: the query string's 40000 wins; the signature covers query + body.
        query = "symbol=BTCUSDT&price=40000"
        body = urlencode(
            {**BUY_FAR, "price": "45000", "timestamp": emu.now_ms(), "newClientOrderId": "mixed1"}
        )
        signature = sign_rest(emu.api_secret, query, body)
        async with session.post(
            emu.rest_url + "/api/v3/order?" + query,
            data=body + "&signature=" + signature,
            headers={**emu.headers(), "Content-Type": "application/x-www-form-urlencoded"},
        ) as resp:
            assert resp.status == 200
            answer = await resp.json()
        assert answer["price"] == "40000.00000000"
        assert answer["clientOrderId"] == "mixed1"


async def test_market_order_account_and_my_trades():
    async with running_emulator() as emu, aiohttp.ClientSession() as session:
        emu.server.step_now()
        best_ask = Decimal(emu.exchange.book_ticker("BTCUSDT")["askPrice"])
        status, _, filled = await _call(
            session,
            emu,
            "POST",
            "/api/v3/order",
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.0002"},
        )
        assert status == 200
        assert filled["status"] == "FILLED"
        assert filled["executedQty"] == "0.00020000"
        assert len(filled["fills"]) >= 1
        # The market may have moved a step since; the fill is at the touch of that moment.
        assert abs(Decimal(filled["fills"][0]["price"]) / best_ask - 1) < Decimal("0.002")
        commission = sum(Decimal(f["commission"]) for f in filled["fills"])
        assert commission == Decimal("0.0000002")

        status, _, account = await _call(session, emu, "GET", "/api/v3/account")
        assert status == 200
        balances = {b["asset"]: b for b in account["balances"]}
        assert Decimal(balances["BTC"]["free"]) == Decimal("2.0002") - commission
        assert account["accountType"] == "SPOT"
        status, _, slim = await _call(
            session, emu, "GET", "/api/v3/account", {"omitZeroBalances": "true"}
        )
        assert all(Decimal(b["free"]) + Decimal(b["locked"]) > 0 for b in slim["balances"])

        _, before, _ = await _call(session, emu, "GET", "/api/v3/account")
        status, after, trades = await _call(
            session,
            emu,
            "GET",
            "/api/v3/myTrades",
            {"symbol": "BTCUSDT", "orderId": filled["orderId"]},
        )
        assert status == 200
        used = int(after["X-MBX-USED-WEIGHT-1M"]) - int(before["X-MBX-USED-WEIGHT-1M"])
        assert used == 5 or int(after["X-MBX-USED-WEIGHT-1M"]) == 5
        assert [t["id"] for t in trades] == [f["tradeId"] for f in filled["fills"]]
        assert all(t["isBuyer"] and not t["isMaker"] for t in trades)
        assert sum(Decimal(t["qty"]) for t in trades) == Decimal("0.0002")


async def test_cancel_all_open_orders():
    async with running_emulator() as emu, aiohttp.ClientSession() as session:
        for price in ("50000", "50001"):
            status, _, _ = await _call(
                session, emu, "POST", "/api/v3/order", {**BUY_FAR, "price": price}
            )
            assert status == 200
        status, _, canceled = await _call(
            session, emu, "DELETE", "/api/v3/openOrders", {"symbol": "BTCUSDT"}
        )
        assert status == 200
        assert sorted(o["price"] for o in canceled) == ["50000.00000000", "50001.00000000"]
        assert all(o["status"] == "CANCELED" for o in canceled)
        assert _usdt(emu) == (Decimal("100000"), Decimal("0"))


async def test_authentication_errors():
    async with running_emulator() as emu, aiohttp.ClientSession() as session:
        url = emu.rest_url + "/api/v3/account"
        query = emu.signed_query()
        broken = query[:-1] + ("1" if query.endswith("0") else "0")
        async with session.get(url + "?" + broken, headers=emu.headers()) as resp:
            assert resp.status == 400
            assert await resp.json() == {
                "code": -1022,
                "msg": "Signature for this request is not valid.",
            }
        stale = emu.signed_query(timestamp=emu.now_ms() - 6000)
        async with session.get(url + "?" + stale, headers=emu.headers()) as resp:
            assert resp.status == 400
            assert await resp.json() == {
                "code": -1021,
                "msg": "Timestamp for this request is outside of the recvWindow.",
            }
        wide = emu.signed_query(timestamp=emu.now_ms() - 6000, recvWindow=10000)
        async with session.get(url + "?" + wide, headers=emu.headers()) as resp:
            assert resp.status == 200
        ahead = emu.signed_query(timestamp=emu.now_ms() + 5000)
        async with session.get(url + "?" + ahead, headers=emu.headers()) as resp:
            body = await resp.json()
            assert (resp.status, body["code"]) == (400, -1021)
            assert "ahead of the server" in body["msg"]
        async with session.get(url + "?" + query) as resp:
            assert resp.status == 401
            assert (await resp.json())["code"] == -2014
        async with session.get(url + "?" + query, headers={"X-MBX-APIKEY": "nobody"}) as resp:
            assert resp.status == 401
            assert await resp.json() == {
                "code": -2015,
                "msg": "Invalid API-key, IP, or permissions for action.",
            }
        unsigned = urlencode({"timestamp": emu.now_ms()})
        async with session.get(url + "?" + unsigned, headers=emu.headers()) as resp:
            assert resp.status == 400
            assert (await resp.json())["code"] == -1102


@pytest.mark.parametrize(
    ("changes", "code", "msg"),
    [
        ({"symbol": "DOGEUSDT"}, -1121, "Invalid symbol."),
        ({"price": "50000.000000001"}, -1111, "Parameter 'price' has too much precision."),
        ({"price": "50000.005"}, -1013, "Filter failure: PRICE_FILTER"),
        ({"price": "1000001"}, -1013, "Filter failure: PRICE_FILTER"),
        ({"quantity": "0.000015"}, -1013, "Filter failure: LOT_SIZE"),
        ({"quantity": "0.00001"}, -1013, "Filter failure: NOTIONAL"),
        ({"quantity": "10"}, -2010, "Account has insufficient balance for requested action."),
        (
            {"type": "LIMIT_MAKER", "price": "70000"},
            -2010,
            "Order would immediately match and take.",
        ),
        ({"timeInForce": None}, -1102, None),
    ],
)
async def test_new_order_rejections(changes, code, msg):
    params = {k: v for k, v in {**BUY_FAR, **changes}.items() if v is not None}
    if params.get("type") == "LIMIT_MAKER":
        params.pop("timeInForce")
    async with running_emulator() as emu, aiohttp.ClientSession() as session:
        status, _, body = await _call(session, emu, "POST", "/api/v3/order", params)
        assert status == 400
        assert body["code"] == code
        if msg is not None:
            assert body["msg"] == msg
        assert emu.exchange.orders_of(emu.api_key) == []
        assert _usdt(emu) == (Decimal("100000"), Decimal("0"))


async def test_duplicate_client_id_unknown_order_and_no_such_order():
    async with running_emulator() as emu, aiohttp.ClientSession() as session:
        params = {**BUY_FAR, "newClientOrderId": "same"}
        status, _, _ = await _call(session, emu, "POST", "/api/v3/order", params)
        assert status == 200
        status, _, body = await _call(session, emu, "POST", "/api/v3/order", params)
        assert (status, body) == (400, {"code": -2010, "msg": "Duplicate order sent."})
        status, _, body = await _call(
            session, emu, "DELETE", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": 999}
        )
        assert (status, body) == (400, {"code": -2011, "msg": "Unknown order sent."})
        status, _, body = await _call(
            session, emu, "GET", "/api/v3/order", {"symbol": "BTCUSDT", "origClientOrderId": "x"}
        )
        assert (status, body) == (400, {"code": -2013, "msg": "Order does not exist."})


async def test_order_count_limit_answers_1015():
    limits = (
        RateLimit("REQUEST_WEIGHT", "MINUTE", 1, 6000),
        RateLimit("ORDERS", "DAY", 1, 2),
        RateLimit("RAW_REQUESTS", "MINUTE", 5, 61_000),
    )
    async with (
        running_emulator(rate_limits=limits) as emu,
        aiohttp.ClientSession() as session,
    ):
        for count in ("1", "2"):
            status, headers, _ = await _call(session, emu, "POST", "/api/v3/order", BUY_FAR)
            assert status == 200
            assert headers["X-MBX-ORDER-COUNT-1D"] == count
        status, headers, body = await _call(session, emu, "POST", "/api/v3/order", BUY_FAR)
        assert status == 429
        assert body == {
            "code": -1015,
            "msg": "Too many new orders; current limit is 2 orders per 1 DAY.",
        }
        assert int(headers["Retry-After"]) >= 1
        assert len(emu.exchange.orders_of(emu.api_key)) == 2
