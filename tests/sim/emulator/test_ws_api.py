"""The WebSocket API (/ws-api/v3): framing, session methods, user data, orders and errors."""

from decimal import Decimal

import aiohttp

from birdterm.sim.emulator.rate_limits import RateLimit

from tests.emulator_fixtures import running_emulator, wait_until, ws_request

BUY_FAR = {
    "symbol": "BTCUSDT",
    "side": "BUY",
    "type": "LIMIT",
    "timeInForce": "GTC",
    "quantity": "0.001",
    "price": "50000",
}


async def test_public_methods_and_frame_shape():
    async with (
        running_emulator() as emu,
        aiohttp.ClientSession() as session,
        session.ws_connect(emu.ws_api_url) as ws,
    ):
        answer = await ws_request(ws, "ping", request_id=7)
        assert answer == {
            "id": 7,
            "status": 200,
            "result": {},
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": 6000,
                    "count": answer["rateLimits"][0]["count"],
                }
            ],
        }
        # Connecting cost 2, the ping 1 (unless the minute rolled over in between).
        assert answer["rateLimits"][0]["count"] in (1, 3)
        answer = await ws_request(ws, "v3/time", request_id="abc")
        assert answer["id"] == "abc"
        assert abs(answer["result"]["serverTime"] - emu.now_ms()) < 5000
        info = await ws_request(ws, "exchangeInfo", {"symbols": ["ETHUSDT"]})
        assert [s["symbol"] for s in info["result"]["symbols"]] == ["ETHUSDT"]
        depth = await ws_request(ws, "depth", {"symbol": "BTCUSDT", "limit": 5})
        assert len(depth["result"]["bids"]) == 5
        ticker = await ws_request(ws, "ticker.book", {"symbol": "BTCUSDT"})
        assert ticker["result"]["symbol"] == "BTCUSDT"
        klines = await ws_request(ws, "klines", {"symbol": "BTCUSDT", "interval": "1s", "limit": 2})
        assert len(klines["result"]) == 2
        trades = await ws_request(ws, "trades.recent", {"symbol": "BTCUSDT", "limit": 2})
        assert len(trades["result"]) == 2
        quiet = await ws_request(ws, "time", {"returnRateLimits": False})
        assert "rateLimits" not in quiet


async def test_return_rate_limits_false_on_the_url():
    async with (
        running_emulator() as emu,
        aiohttp.ClientSession() as session,
        session.ws_connect(emu.ws_api_url + "?returnRateLimits=false") as ws,
    ):
        assert "rateLimits" not in await ws_request(ws, "ping")
        assert "rateLimits" in await ws_request(ws, "ping", {"returnRateLimits": True})


async def test_frame_errors():
    async with (
        running_emulator() as emu,
        aiohttp.ClientSession() as session,
        session.ws_connect(emu.ws_api_url) as ws,
    ):
        await ws.send_str("{not json")
        bad = await ws.receive_json()
        assert bad["id"] is None
        assert bad["status"] == 400
        assert bad["error"] == {"code": -1135, "msg": "Invalid JSON Request"}
        unknown = await ws_request(ws, "order.teleport", request_id=3)
        assert unknown["status"] == 400
        assert unknown["error"]["code"] == -1020
        await ws.send_json({"id": 4, "params": {}})
        missing = await ws.receive_json()
        assert (missing["id"], missing["status"], missing["error"]["code"]) == (4, 400, -1102)
        symbol = await ws_request(ws, "depth", {"symbol": "NOPE"})
        assert symbol["status"] == 400
        assert symbol["error"] == {"code": -1121, "msg": "Invalid symbol."}


async def test_session_methods_and_logon_refuses_hmac():
    async with (
        running_emulator() as emu,
        aiohttp.ClientSession() as session,
        session.ws_connect(emu.ws_api_url) as ws,
    ):
        status = await ws_request(ws, "session.status")
        assert status["result"]["apiKey"] is None
        assert status["result"]["authorizedSince"] is None
        assert status["result"]["userDataStream"] is False
        assert status["result"]["connectedSince"] <= emu.now_ms()
        logon = await ws_request(ws, "session.logon", emu.signed_ws_params())
        assert logon["status"] == 400
        assert logon["error"] == {"code": -4056, "msg": "HMAC_SHA256 API key is not supported."}
        bad = emu.signed_ws_params()
        bad["signature"] = "0" * 64
        refused = await ws_request(ws, "session.logon", bad)
        assert refused["error"]["code"] == -1022
        subscribe = await ws_request(ws, "userDataStream.subscribe")
        assert subscribe["status"] == 401
        assert subscribe["error"]["code"] == -1002
        logout = await ws_request(ws, "session.logout")
        assert logout["result"]["apiKey"] is None


async def test_user_data_subscription_and_order_methods():
    async with (
        running_emulator() as emu,
        aiohttp.ClientSession() as session,
        session.ws_connect(emu.ws_api_url) as ws,
    ):
        events: list[dict] = []
        sub = await ws_request(ws, "userDataStream.subscribe.signature", emu.signed_ws_params())
        assert sub["status"] == 200
        assert sub["result"] == {"subscriptionId": 0}
        second = await ws_request(ws, "userDataStream.subscribe.signature", emu.signed_ws_params())
        assert second["result"] == {"subscriptionId": 1}
        listed = await ws_request(ws, "session.subscriptions")
        assert listed["result"] == [{"subscriptionId": 0}, {"subscriptionId": 1}]
        gone = await ws_request(
            ws, "userDataStream.unsubscribe", {"subscriptionId": 1}, others=events
        )
        assert gone["result"] == {}
        status = await ws_request(ws, "session.status", others=events)
        assert status["result"]["userDataStream"] is True
        assert {"subscriptionId": 1, "event": events[-1]["event"]} == events[-1]
        assert events[-1]["event"]["e"] == "eventStreamTerminated"
        events.clear()

        placed = await ws_request(
            ws, "order.place", emu.signed_ws_params(BUY_FAR, newClientOrderId="ws1"), others=events
        )
        assert placed["status"] == 200
        assert placed["result"]["status"] == "NEW"
        kinds = [r["rateLimitType"] for r in placed["rateLimits"]]
        assert kinds == ["REQUEST_WEIGHT", "ORDERS", "ORDERS"]
        assert placed["rateLimits"][1]["count"] == 1
        order_id = placed["result"]["orderId"]
        await wait_until(lambda: len(events) >= 2)
        assert [e["subscriptionId"] for e in events] == [0, 0]
        report, position = events[0]["event"], events[1]["event"]
        assert (report["e"], report["x"], report["X"], report["c"]) == (
            "executionReport",
            "NEW",
            "NEW",
            "ws1",
        )
        assert position["e"] == "outboundAccountPosition"
        assert {b["a"]: b["l"] for b in position["B"]}["USDT"] == "50.00000000"

        status = await ws_request(
            ws, "order.status", emu.signed_ws_params(symbol="BTCUSDT", orderId=order_id)
        )
        assert status["result"]["clientOrderId"] == "ws1"
        amended = await ws_request(
            ws,
            "order.amend.keepPriority",
            emu.signed_ws_params(symbol="BTCUSDT", orderId=order_id, newQty="0.0005"),
            others=events,
        )
        assert amended["result"]["amendedOrder"]["qty"] == "0.00050000"
        opened = await ws_request(ws, "openOrders.status", emu.signed_ws_params(symbol="BTCUSDT"))
        assert [o["orderId"] for o in opened["result"]] == [order_id]
        canceled = await ws_request(
            ws,
            "order.cancel",
            emu.signed_ws_params(symbol="BTCUSDT", orderId=order_id),
            others=events,
        )
        assert canceled["result"]["status"] == "CANCELED"
        # Events are queued before the answer, so they are all in by now.
        reports = [e["event"] for e in events if e["event"]["e"] == "executionReport"]
        assert [(r["x"], r["X"]) for r in reports] == [
            ("NEW", "NEW"),
            ("REPLACED", "NEW"),
            ("CANCELED", "CANCELED"),
        ]
        again = await ws_request(
            ws, "order.cancel", emu.signed_ws_params(symbol="BTCUSDT", orderId=order_id)
        )
        assert again["status"] == 400
        assert again["error"] == {"code": -2011, "msg": "Unknown order sent."}

        await ws_request(ws, "order.place", emu.signed_ws_params(BUY_FAR))
        all_canceled = await ws_request(
            ws, "openOrders.cancelAll", emu.signed_ws_params(symbol="BTCUSDT")
        )
        assert [o["status"] for o in all_canceled["result"]] == ["CANCELED"]

        events.clear()
        market = await ws_request(
            ws,
            "order.place",
            emu.signed_ws_params(symbol="ETHUSDT", side="SELL", type="MARKET", quantity="0.01"),
            others=events,
        )
        assert market["result"]["status"] == "FILLED"
        fills = [e["event"] for e in events if e["event"].get("x") == "TRADE"]
        assert sum(Decimal(f["l"]) for f in fills) == Decimal("0.01")
        assert fills[-1]["X"] == "FILLED"
        assert all(f["N"] == "USDT" and f["m"] is False for f in fills)
        trades = await ws_request(ws, "myTrades", emu.signed_ws_params(symbol="ETHUSDT"))
        assert sum(Decimal(t["qty"]) for t in trades["result"]) == Decimal("0.01")
        account = await ws_request(ws, "account.status", emu.signed_ws_params())
        balances = {b["asset"]: b for b in account["result"]["balances"]}
        assert Decimal(balances["ETH"]["free"]) == Decimal("19.99")


async def test_events_reach_every_connection_of_the_key_only_when_subscribed():
    async with (
        running_emulator() as emu,
        aiohttp.ClientSession() as session,
        session.ws_connect(emu.ws_api_url) as first,
        session.ws_connect(emu.ws_api_url) as second,
        session.ws_connect(emu.ws_api_url) as silent,
    ):
        for ws in (first, second):
            await ws_request(ws, "userDataStream.subscribe.signature", emu.signed_ws_params())
        placed = await ws_request(silent, "order.place", emu.signed_ws_params(BUY_FAR))
        assert placed["status"] == 200
        for ws in (first, second):
            event = await ws.receive_json()
            assert event["subscriptionId"] == 0
            assert event["event"]["i"] == placed["result"]["orderId"]
        # The connection without a subscription got nothing but its answers.
        pong = await ws_request(silent, "ping", request_id="last")
        assert pong["id"] == "last"


async def test_signed_method_errors():
    async with (
        running_emulator() as emu,
        aiohttp.ClientSession() as session,
        session.ws_connect(emu.ws_api_url) as ws,
    ):
        no_key = await ws_request(ws, "account.status", {"timestamp": emu.now_ms()})
        assert no_key["error"]["code"] == -1102
        stale = await ws_request(
            ws, "account.status", emu.signed_ws_params(timestamp=emu.now_ms() - 10_000)
        )
        assert stale["error"]["code"] == -1021
        poor = await ws_request(ws, "order.place", emu.signed_ws_params(BUY_FAR, quantity="10"))
        assert poor["status"] == 400
        assert poor["error"] == {
            "code": -2010,
            "msg": "Account has insufficient balance for requested action.",
        }
        lot = await ws_request(
            ws, "order.place", emu.signed_ws_params(BUY_FAR, quantity="0.000011")
        )
        assert lot["error"] == {"code": -1013, "msg": "Filter failure: LOT_SIZE"}
        wrong = emu.signed_ws_params(BUY_FAR)
        wrong["price"] = "49000"  # changed after signing
        tampered = await ws_request(ws, "order.place", wrong)
        assert tampered["error"]["code"] == -1022
        assert emu.exchange.orders_of(emu.api_key) == []


async def test_ws_api_429_carries_retry_after_data():
    limits = (
        RateLimit("REQUEST_WEIGHT", "DAY", 1, 6),
        RateLimit("ORDERS", "DAY", 1, 100),
        RateLimit("RAW_REQUESTS", "DAY", 1, 10_000),
    )
    async with (
        running_emulator(rate_limits=limits) as emu,
        aiohttp.ClientSession() as session,
        session.ws_connect(emu.ws_api_url) as ws,
    ):
        for _ in range(4):  # 2 for the connection + 4 pings = 6
            assert (await ws_request(ws, "ping"))["status"] == 200
        limited = await ws_request(ws, "ping")
        assert limited["status"] == 429
        assert limited["error"]["code"] == -1003
        data = limited["error"]["data"]
        assert data["retryAfter"] > data["serverTime"]
        assert data["retryAfter"] - data["serverTime"] <= 86_400_000 + 1000
        for _ in range(2):
            assert (await ws_request(ws, "ping"))["status"] == 429
        banned = await ws_request(ws, "ping")
        assert banned["status"] == 418
        assert banned["error"]["data"]["retryAfter"] == emu.server.limiter.banned_until("127.0.0.1")
