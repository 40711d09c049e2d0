"""Market streams: raw and combined sockets, live subscriptions, depth sync with the REST book."""

import asyncio
import itertools
from decimal import Decimal

import aiohttp
import pytest

from birdterm.sim.emulator.market_streams import is_valid_stream

from tests.emulator_fixtures import running_emulator, wait_until

SYMBOLS = {"btcusdt", "ethusdt"}


async def _next(ws, predicate=lambda _m: True, limit=500):
    """The next JSON frame that satisfies `predicate` (skipping up to `limit` others)."""
    async with asyncio.timeout(5):
        for _ in range(limit):
            message = await ws.receive_json()
            if predicate(message):
                return message
    raise AssertionError("no matching frame")


def test_stream_name_rules():
    for name in (
        "btcusdt@trade",
        "btcusdt@aggTrade",
        "ethusdt@bookTicker",
        "btcusdt@depth",
        "btcusdt@depth@100ms",
        "btcusdt@depth5",
        "btcusdt@depth20@100ms",
        "btcusdt@kline_1s",
        "btcusdt@kline_1M",
        "btcusdt@miniTicker",
        "!ticker@arr",
    ):
        assert is_valid_stream(name, SYMBOLS), name
    for name in ("BTCUSDT@trade", "dogeusdt@trade", "btcusdt@depth7", "btcusdt@kline_7m", "x"):
        assert not is_valid_stream(name, SYMBOLS), name


async def test_raw_stream_delivers_our_trade():
    async with (
        running_emulator() as emu,
        aiohttp.ClientSession() as session,
        session.ws_connect(emu.stream_url + "/ws/ethusdt@trade") as ws,
    ):
        # The handshake answer can reach us before the server registers the socket.
        await wait_until(lambda: len(emu.server.streams.connections) == 1)
        placed = emu.exchange.new_order(
            emu.api_key,
            {"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.5"},
        )
        trade_ids = {f["tradeId"] for f in placed["fills"]}
        event = await _next(ws, lambda m: m["t"] in trade_ids)
        assert set(event) == {"e", "E", "s", "t", "p", "q", "T", "m", "M"}
        assert (event["e"], event["s"], event["m"]) == ("trade", "ETHUSDT", False)


async def test_combined_stream_wraps_payloads():
    async with running_emulator() as emu, aiohttp.ClientSession() as session:
        url = emu.stream_url + "/stream?streams=btcusdt@bookTicker/ethusdt@kline_1s"
        async with session.ws_connect(url) as ws:
            seen = set()
            async with asyncio.timeout(5):
                while seen != {"btcusdt@bookTicker", "ethusdt@kline_1s"}:
                    frame = await ws.receive_json()
                    assert set(frame) == {"stream", "data"}
                    seen.add(frame["stream"])
                    if frame["stream"] == "ethusdt@kline_1s":
                        kline = frame["data"]["k"]
                        assert (frame["data"]["e"], kline["i"], kline["s"]) == (
                            "kline",
                            "1s",
                            "ETHUSDT",
                        )
                        assert kline["T"] == kline["t"] + 999
                    else:
                        assert set(frame["data"]) == {"u", "s", "b", "B", "a", "A"}


async def test_subscribe_unsubscribe_list_and_properties():
    async with (
        running_emulator() as emu,
        aiohttp.ClientSession() as session,
        session.ws_connect(emu.stream_url + "/ws") as ws,
    ):
        await ws.send_json(
            {"method": "SUBSCRIBE", "params": ["btcusdt@depth@100ms", "btcusdt@trade"], "id": 1}
        )
        assert await _next(ws, lambda m: "id" in m) == {"result": None, "id": 1}
        depth = await _next(ws, lambda m: m.get("e") == "depthUpdate")
        assert depth["s"] == "BTCUSDT"
        await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": "list1"})
        assert await _next(ws, lambda m: "id" in m) == {
            "result": ["btcusdt@depth@100ms", "btcusdt@trade"],
            "id": "list1",
        }
        await ws.send_json({"method": "UNSUBSCRIBE", "params": ["btcusdt@trade"], "id": 2})
        assert await _next(ws, lambda m: "id" in m) == {"result": None, "id": 2}
        # Frames are sent in order: after the answer, only depth events come.
        emu.exchange.new_order(
            emu.api_key,
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"},
        )
        for _ in range(3):
            assert (await ws.receive_json())["e"] == "depthUpdate"
        await ws.send_json({"method": "GET_PROPERTY", "params": ["combined"], "id": 3})
        assert await _next(ws, lambda m: "id" in m) == {"result": False, "id": 3}
        await ws.send_json({"method": "SET_PROPERTY", "params": ["combined", True], "id": 4})
        assert await _next(ws, lambda m: "id" in m) == {"result": None, "id": 4}
        frame = await ws.receive_json()
        assert frame["stream"] == "btcusdt@depth@100ms"
        assert frame["data"]["e"] == "depthUpdate"


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        ("{oops", {"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"}),
        (
            '{"method": "SUBSCRIBE", "params": ["btcusdt@trade"]}',
            {"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"},
        ),
        (
            '{"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": -1}',
            {"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"},
        ),
        (
            '{"method": "SUBSCRIBE", "params": ["dogeusdt@trade"], "id": 5}',
            {"code": 2, "msg": "Invalid request: invalid stream"},
        ),
        ('{"params": [], "id": 6}', {"code": 2, "msg": "Invalid request: missing field `method`"}),
        (
            '{"method": "GET_PROPERTY", "params": ["colour"], "id": 7}',
            {"code": 0, "msg": "Unknown property"},
        ),
        (
            '{"method": "SET_PROPERTY", "params": ["combined", 1], "id": 8}',
            {"code": 1, "msg": "Invalid value type: expected Boolean"},
        ),
    ],
)
async def test_control_message_errors(frame, error):
    async with (
        running_emulator() as emu,
        aiohttp.ClientSession() as session,
        session.ws_connect(emu.stream_url + "/ws") as ws,
    ):
        await ws.send_str(frame)
        reply = await ws.receive_json()
        assert reply["error"] == error


async def test_unknown_method_names_the_variants():
    async with (
        running_emulator() as emu,
        aiohttp.ClientSession() as session,
        session.ws_connect(emu.stream_url + "/ws") as ws,
    ):
        await ws.send_json({"method": "PUBLISH", "params": [], "id": 1})
        reply = await ws.receive_json()
        assert reply["id"] == 1
        assert reply["error"]["code"] == 2
        assert reply["error"]["msg"].startswith("Invalid request: unknown variant `PUBLISH`")


async def test_invalid_stream_in_url_is_refused():
    async with running_emulator() as emu, aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
            await session.ws_connect(emu.stream_url + "/ws/dogeusdt@trade")
        assert exc.value.status == 400
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await session.ws_connect(emu.stream_url + "/stream?streams=btcusdt@nothing")


def _apply(book, levels):
    for price, qty in levels:
        if Decimal(qty) == 0:
            book.pop(Decimal(price), None)
        else:
            book[Decimal(price)] = Decimal(qty)


async def test_depth_diffs_are_gap_free_and_rebuild_the_published_book():
    # The step loop sleeps; the test steps the exchange itself, so nothing moves while it checks.
    async with (
        running_emulator(seed=3, step_interval_ms=3_600_000) as emu,
        aiohttp.ClientSession() as session,
        session.ws_connect(emu.stream_url + "/ws/btcusdt@depth@100ms") as ws,
    ):
        await wait_until(lambda: len(emu.server.streams.connections) == 1)
        stats = emu.server.stats

        async def next_event():
            def step_until_published():
                before = stats["stream_messages"]
                emu.server.step_now()
                return stats["stream_messages"] > before

            await wait_until(step_until_published)
            return await ws.receive_json()

        buffered = [await next_event(), await next_event()]
        assert buffered[1]["U"] == buffered[0]["u"] + 1
        async with session.get(
            emu.rest_url + "/api/v3/depth", params={"symbol": "BTCUSDT", "limit": "5000"}
        ) as resp:
            snapshot = await resp.json()
        assert snapshot["lastUpdateId"] == buffered[1]["u"]
        bids = {Decimal(p): Decimal(q) for p, q in snapshot["bids"]}
        asks = {Decimal(p): Decimal(q) for p, q in snapshot["asks"]}
        book_id = snapshot["lastUpdateId"]
        for i in range(12):
            if i == 5:  # our resting order is part of the published book
                emu.exchange.new_order(
                    emu.api_key,
                    {
                        "symbol": "BTCUSDT",
                        "side": "SELL",
                        "type": "LIMIT",
                        "timeInForce": "GTC",
                        "quantity": "0.00123",
                        "price": "70000",
                    },
                )
            event = await next_event()
            assert event["U"] == book_id + 1
            assert event["u"] >= event["U"]
            _apply(bids, event["b"])
            _apply(asks, event["a"])
            book_id = event["u"]
            assert emu.exchange.depth("BTCUSDT", 1)["lastUpdateId"] == book_id
            exchange_bids, exchange_asks = emu.exchange.book_levels("BTCUSDT")
            assert sorted(bids.items(), reverse=True) == exchange_bids
            assert sorted(asks.items()) == exchange_asks
        assert asks[Decimal(70_000)] == Decimal("0.00123")
        assert stats["depth_gaps"] == 0


async def test_one_second_depth_merges_the_fast_diffs():
    async with running_emulator() as emu, aiohttp.ClientSession() as session:
        url = emu.stream_url + "/stream?streams=ethusdt@depth/ethusdt@depth@100ms"
        async with session.ws_connect(url) as ws:
            fast, slow = [], []
            async with asyncio.timeout(6):
                while len(slow) < 2:
                    frame = await ws.receive_json()
                    (slow if frame["stream"] == "ethusdt@depth" else fast).append(frame["data"])
            for before, after in itertools.pairwise(slow):
                assert after["U"] == before["u"] + 1
            # A merged event spans the fast ones published in its second.
            covered = [e for e in fast if slow[1]["U"] <= e["U"] and e["u"] <= slow[1]["u"]]
            assert covered[0]["U"] == slow[1]["U"]
            assert covered[-1]["u"] == slow[1]["u"]
            merged = {}
            for event in covered:
                merged.update((p, q) for p, q in event["b"])
            assert dict(slow[1]["b"]) == merged


async def test_partial_depth_stream():
    async with (
        running_emulator() as emu,
        aiohttp.ClientSession() as session,
        session.ws_connect(emu.stream_url + "/ws/btcusdt@depth5@100ms") as ws,
    ):
        first = await ws.receive_json()
        second = await ws.receive_json()
        for book in (first, second):
            assert set(book) == {"lastUpdateId", "bids", "asks"}
            assert len(book["bids"]) == len(book["asks"]) == 5
        assert second["lastUpdateId"] >= first["lastUpdateId"]


async def test_server_shutdown_event():
    async with (
        running_emulator() as emu,
        aiohttp.ClientSession() as session,
        session.ws_connect(emu.stream_url + "/stream?streams=btcusdt@trade") as ws,
    ):
        await wait_until(lambda: len(emu.server.streams.connections) == 1)
        emu.server.announce_shutdown()
        notice = await _next(ws, lambda m: m.get("e") == "serverShutdown")
        assert notice["E"] <= emu.now_ms()


async def test_stop_closes_stream_sockets():
    async with running_emulator() as emu, aiohttp.ClientSession() as session:
        ws = await session.ws_connect(emu.stream_url + "/ws/btcusdt@depth@100ms")
        await ws.receive_json()
        await emu.server.stop()
        async with asyncio.timeout(5):
            while True:
                message = await ws.receive()
                if message.type in (
                    aiohttp.WSMsgType.CLOSE,
                    aiohttp.WSMsgType.CLOSED,
                    aiohttp.WSMsgType.ERROR,
                ):
                    break
        assert ws.closed
