"""Injected faults, each observed over the network with a fixed seed, and a clean run without."""

import asyncio
import itertools

import aiohttp
import pytest

from birdterm.sim.emulator.faults import STAT_KEYS, FaultConfig, FaultInjector

from tests.emulator_fixtures import running_emulator, wait_until, ws_request

BUY_FAR = {
    "symbol": "BTCUSDT",
    "side": "BUY",
    "type": "LIMIT",
    "timeInForce": "GTC",
    "quantity": "0.001",
    "price": "50000",
}
FAULT_COUNTERS = (
    "latency_injected",
    "lost_responses",
    "server_errors_before",
    "server_errors_after",
    "rate_limit_bursts",
    "rate_limited_by_burst",
    "ws_drops",
    "depth_gaps",
    "depth_reorders",
    "user_events_delayed",
    "user_events_duplicated",
)


def _dice(config: FaultConfig, draw: str, count: int) -> list:
    """What the server's injector will decide for its first `count` events of one kind."""
    injector = FaultInjector(config, dict.fromkeys(STAT_KEYS, 0))
    return [getattr(injector, draw)() for _ in range(count)]


async def _post_order(session, emu, **extra):
    url = emu.rest_url + "/api/v3/order?" + emu.signed_query({**BUY_FAR, **extra})
    async with session.post(url, headers=emu.headers()) as resp:
        return resp.status, resp.headers, await resp.json()


async def _pings(session, emu, count):
    statuses = []
    for _ in range(count):
        async with session.get(emu.rest_url + "/api/v3/ping") as resp:
            statuses.append(resp.status)
    return statuses


async def test_faults_off_is_clean():
    async with (
        running_emulator(faults=FaultConfig(seed=9)) as emu,
        aiohttp.ClientSession() as session,
        session.ws_connect(emu.ws_api_url) as api,
        session.ws_connect(emu.stream_url + "/stream?streams=btcusdt@depth@100ms") as stream,
    ):
        events: list[dict] = []
        await ws_request(api, "userDataStream.subscribe.signature", emu.signed_ws_params())
        for i in range(5):
            status, _, _ = await _post_order(session, emu, newClientOrderId=f"clean{i}")
            assert status == 200
        assert await _pings(session, emu, 20) == [200] * 20
        await wait_until(lambda: len(emu.exchange.orders_of(emu.api_key)) == 5)
        answer = await ws_request(api, "ping", others=events)
        assert answer["status"] == 200
        reports = [e["event"]["c"] for e in events if e["event"]["e"] == "executionReport"]
        assert reports == [f"clean{i}" for i in range(5)]
        depth = [(await stream.receive_json())["data"] for _ in range(8)]
        assert all(b["U"] == a["u"] + 1 for a, b in itertools.pairwise(depth))
        assert {k: emu.server.stats[k] for k in FAULT_COUNTERS} == dict.fromkeys(FAULT_COUNTERS, 0)
        assert emu.server.stats["step_errors"] == emu.server.stats["internal_errors"] == 0


async def test_lost_rest_response_after_the_order_was_placed():
    async with (
        running_emulator(faults=FaultConfig(lost_response_rate=1.0)) as emu,
        aiohttp.ClientSession() as session,
    ):
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await _post_order(session, emu, newClientOrderId="lost1")
        orders = emu.exchange.orders_of(emu.api_key)
        assert [(o["clientOrderId"], o["status"]) for o in orders] == [("lost1", "NEW")]
        # Queries are not order changes: they are answered.
        query = emu.signed_query(symbol="BTCUSDT", origClientOrderId="lost1")
        async with session.get(emu.rest_url + "/api/v3/order?" + query, headers=emu.headers()) as r:
            assert r.status == 200
            assert (await r.json())["status"] == "NEW"
        assert emu.server.stats["lost_responses"] == 1


async def test_lost_ws_api_answer_after_the_order_was_placed():
    async with (
        running_emulator(faults=FaultConfig(lost_response_rate=1.0)) as emu,
        aiohttp.ClientSession() as session,
        session.ws_connect(emu.ws_api_url) as ws,
    ):
        await ws.send_json(
            {"id": "lost", "method": "order.place", "params": emu.signed_ws_params(BUY_FAR)}
        )
        answer = await ws_request(ws, "ping", request_id="after")
        assert answer["id"] == "after"  # the order's answer never came; the next one did
        assert len(emu.exchange.orders_of(emu.api_key)) == 1
        assert emu.server.stats["lost_responses"] == 1


async def test_server_error_before_processing_places_nothing():
    async with (
        running_emulator(faults=FaultConfig(server_error_rate=1.0)) as emu,
        aiohttp.ClientSession() as session,
        session.ws_connect(emu.ws_api_url) as ws,
    ):
        status, _, body = await _post_order(session, emu)
        assert status == 503
        assert body["code"] == -1008
        answer = await ws_request(ws, "order.place", emu.signed_ws_params(BUY_FAR))
        assert answer["status"] == 503
        assert answer["error"]["code"] == -1008
        assert emu.exchange.orders_of(emu.api_key) == []
        assert emu.server.stats["server_errors_before"] == 2


async def test_server_error_after_processing_placed_the_order():
    async with (
        running_emulator(faults=FaultConfig(server_error_after_rate=1.0)) as emu,
        aiohttp.ClientSession() as session,
        session.ws_connect(emu.ws_api_url) as ws,
    ):
        status, _, body = await _post_order(session, emu)
        assert status == 500
        assert body["code"] == -1007
        assert "execution status unknown" in body["msg"]
        answer = await ws_request(ws, "order.place", emu.signed_ws_params(BUY_FAR))
        assert (answer["status"], answer["error"]["code"]) == (500, -1007)
        assert len(emu.exchange.orders_of(emu.api_key)) == 2
        assert emu.server.stats["server_errors_after"] == 2


@pytest.mark.parametrize("seed", [4, 5])
async def test_rate_limit_bursts_follow_the_seed(seed):
    config = FaultConfig(seed=seed, rate_limit_burst_rate=0.15, rate_limit_burst_len=3)
    expected = [429 if refused else 200 for refused in _dice(config, "rate_limit_burst", 40)]
    assert 429 in expected
    async with running_emulator(faults=config) as emu, aiohttp.ClientSession() as session:
        assert await _pings(session, emu, 40) == expected
        async with session.get(emu.rest_url + "/api/v3/time") as resp:
            status = resp.status
            if status == 429:
                assert resp.headers["Retry-After"] == "1"
                assert (await resp.json())["code"] == -1003
        bursts = emu.server.stats["rate_limit_bursts"]
        assert emu.server.stats["rate_limited_by_burst"] == expected.count(429) + (status == 429)
        assert bursts >= 1


async def test_same_seed_same_server_errors_other_seed_other():
    async def run(seed):
        config = FaultConfig(seed=seed, server_error_rate=0.3)
        async with running_emulator(faults=config) as emu, aiohttp.ClientSession() as session:
            return await _pings(session, emu, 30)

    first, again, other = await run(21), await run(21), await run(22)
    assert first == again
    assert first != other
    assert first == [
        503 if hit else 200
        for hit in _dice(FaultConfig(seed=21, server_error_rate=0.3), "server_error_before", 30)
    ]


async def test_latency_is_added_and_can_reorder_ws_api_answers():
    # Find a seed whose first two delays differ by at least 40 ms, the first one longer.
    seed = next(
        s
        for s in range(200)
        if (d := _dice(FaultConfig(seed=s, latency_ms=(0, 80)), "latency_s", 2))[0] - d[1] >= 0.04
    )
    config = FaultConfig(seed=seed, latency_ms=(0, 80))
    async with (
        running_emulator(faults=config) as emu,
        aiohttp.ClientSession() as session,
        session.ws_connect(emu.ws_api_url) as ws,
    ):
        await ws.send_json({"id": "slow", "method": "ping"})
        await ws.send_json({"id": "fast", "method": "time"})
        first, second = await ws.receive_json(), await ws.receive_json()
        assert (first["id"], second["id"]) == ("fast", "slow")
        assert await _pings(session, emu, 3) == [200, 200, 200]
        expected = sum(d > 0 for d in _dice(config, "latency_s", 5))
        assert emu.server.stats["latency_injected"] == expected


async def test_ws_drop_cuts_a_stream_after_the_seeded_number_of_messages():
    config = FaultConfig(seed=8, ws_drop_rate=0.2)
    delivered = _dice(config, "ws_drop", 100).index(True)
    async with (
        running_emulator(faults=config) as emu,
        aiohttp.ClientSession() as session,
        session.ws_connect(emu.stream_url + "/ws/btcusdt@depth@100ms") as ws,
    ):
        received = 0
        async with asyncio.timeout(10):
            while True:
                message = await ws.receive()
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                received += 1
        assert message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
        assert received == delivered
        assert emu.server.stats["ws_drops"] == 1


async def test_ws_drop_on_the_ws_api_loses_the_answer():
    async with (
        running_emulator(faults=FaultConfig(ws_drop_rate=1.0)) as emu,
        aiohttp.ClientSession() as session,
        session.ws_connect(emu.ws_api_url) as ws,
    ):
        await ws.send_json({"id": 1, "method": "ping"})
        message = await ws.receive()
        assert message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
        assert emu.server.stats["ws_drops"] == 1
        await wait_until(lambda: not emu.server.ws_api.connections)


async def _depth_until(emu, session, done):
    """Depth events of btcusdt until `done(events)` holds (5 s at most)."""
    events: list[dict] = []
    async with (
        session.ws_connect(emu.stream_url + "/ws/btcusdt@depth@100ms") as ws,
        asyncio.timeout(5),
    ):
        while not done(events):
            events.append(await ws.receive_json())
    return events


def _gap(events):
    return len(events) >= 2 and events[-1]["U"] > events[-2]["u"] + 1


async def test_depth_gaps():
    async with (
        running_emulator(faults=FaultConfig(seed=2, depth_gap_rate=0.5)) as emu,
        aiohttp.ClientSession() as session,
    ):
        events = await _depth_until(emu, session, _gap)
        # Every event before the gap chained; the gap skips ids but never goes backwards.
        assert all(b["U"] == a["u"] + 1 for a, b in itertools.pairwise(events[:-1]))
        assert events[-1]["U"] > events[-2]["u"] + 1
        assert emu.server.stats["depth_gaps"] >= 1


async def test_depth_reorders():
    async with (
        running_emulator(faults=FaultConfig(seed=2, depth_reorder_rate=0.5)) as emu,
        aiohttp.ClientSession() as session,
    ):
        events = await _depth_until(emu, session, lambda ev: len(ev) >= 2 and _gap(ev[:-1]))
        early, held = events[-2], events[-1]
        # The held-back event arrives right after the one that overtook it, and fills the hole.
        assert held["u"] == early["U"] - 1
        assert held["U"] == events[-3]["u"] + 1
        assert emu.server.stats["depth_reorders"] >= 1
        assert emu.server.stats["depth_gaps"] == 0


async def test_user_events_duplicated():
    async with (
        running_emulator(faults=FaultConfig(user_event_duplicate_rate=1.0)) as emu,
        aiohttp.ClientSession() as session,
        session.ws_connect(emu.ws_api_url) as ws,
    ):
        await ws_request(ws, "userDataStream.subscribe.signature", emu.signed_ws_params())
        events: list[dict] = []
        await ws_request(ws, "order.place", emu.signed_ws_params(BUY_FAR), others=events)
        kinds = [e["event"]["e"] for e in events]
        assert kinds == [
            "executionReport",
            "executionReport",
            "outboundAccountPosition",
            "outboundAccountPosition",
        ]
        assert events[0] == events[1]
        assert emu.server.stats["user_events_duplicated"] == 2


async def test_user_events_delayed_and_reordered():
    # A seed whose first event (executionReport) waits at least 40 ms longer than the second.
    seed = next(
        s
        for s in range(200)
        if (d := _dice(FaultConfig(seed=s, user_event_delay_ms=(1, 100)), "user_event_delay_s", 2))[
            0
        ]
        - d[1]
        >= 0.04
    )
    async with (
        running_emulator(faults=FaultConfig(seed=seed, user_event_delay_ms=(1, 100))) as emu,
        aiohttp.ClientSession() as session,
        session.ws_connect(emu.ws_api_url) as ws,
    ):
        await ws_request(ws, "userDataStream.subscribe.signature", emu.signed_ws_params())
        events: list[dict] = []
        await ws_request(ws, "order.place", emu.signed_ws_params(BUY_FAR), others=events)
        async with asyncio.timeout(5):
            while len(events) < 2:
                events.append(await ws.receive_json())
        assert [e["event"]["e"] for e in events] == ["outboundAccountPosition", "executionReport"]
        assert emu.server.stats["user_events_delayed"] == 2


async def test_faults_can_be_switched_at_runtime():
    async with running_emulator() as emu, aiohttp.ClientSession() as session:
        assert await _pings(session, emu, 1) == [200]
        emu.server.faults = FaultConfig(server_error_rate=1.0)
        assert await _pings(session, emu, 2) == [503, 503]
        emu.server.faults = FaultConfig()
        assert await _pings(session, emu, 1) == [200]
        assert emu.server.faults == FaultConfig()
        with pytest.raises(ValueError, match="ws_drop_rate"):
            emu.server.faults = FaultConfig(ws_drop_rate=2.0)
