"""AsyncThrottler: weighted linked pools, pauses and header sync, measured in virtual time."""

import asyncio

import pytest

from birdterm.engine.connectors.binance import constants as c
from birdterm.engine.connectors.throttler import AsyncThrottler, RateLimitRule

from tests.engine.connectors.public_fixtures import VirtualTime

BIG = 1_000_000


def make(vt: VirtualTime, *rules: RateLimitRule, **kwargs) -> AsyncThrottler:
    return AsyncThrottler(rules, time_fn=vt.time, sleep=vt.sleep, **kwargs)


async def timed(vt: VirtualTime, throttler: AsyncThrottler, limit_id: str) -> float:
    async with throttler.acquire(limit_id):
        return vt.now - 1_000.0


async def test_weighted_pool_makes_the_third_request_wait_for_the_window():
    vt = VirtualTime()
    t = make(
        vt,
        RateLimitRule("W", 10, 60.0),
        RateLimitRule("depth", BIG, 60.0, linked=(("W", 4),)),
    )
    starts = await vt.run(*(timed(vt, t, "depth") for _ in range(3)))
    assert starts == [0.0, 0.0, 60.0]
    assert t.usage("W") == 4  # the first two aged out at t=60
    assert t.usage("depth") == 1


async def test_concurrent_waiters_go_in_slots_of_the_sliding_window():
    vt = VirtualTime()
    t = make(vt, RateLimitRule("W", 2, 1.0), RateLimitRule("x", BIG, 1.0, linked=(("W", 1),)))
    starts = await vt.run(*(timed(vt, t, "x") for _ in range(5)))
    assert sorted(starts) == [0.0, 0.0, 1.0, 1.0, 2.0]


async def test_linked_order_pools_bind_orders_but_not_market_data():
    vt = VirtualTime()
    t = make(
        vt,
        RateLimitRule("W", 100, 60.0),
        RateLimitRule("O", 2, 10.0),
        RateLimitRule("order", BIG, 60.0, linked=(("W", 1), ("O", 1))),
        RateLimitRule("depth", BIG, 60.0, linked=(("W", 5),)),
    )
    orders = [timed(vt, t, "order") for _ in range(3)]
    starts = await vt.run(*orders, timed(vt, t, "depth"))
    assert starts == [0.0, 0.0, 10.0, 0.0]
    assert t.usage("O") == 1  # the first two orders left the 10 s window at t=10
    assert t.usage("W") == 3 + 5


async def test_request_heavier_than_the_limit_goes_when_the_pool_is_empty():
    vt = VirtualTime()
    t = make(vt, RateLimitRule("W", 10, 60.0), RateLimitRule("big", BIG, 60, linked=(("W", 25),)))
    assert await vt.run(timed(vt, t, "big"), timed(vt, t, "big")) == [0.0, 60.0]


async def test_pause_blocks_every_request_and_can_be_extended_while_waiting():
    vt = VirtualTime()
    t = make(vt, RateLimitRule("W", 100, 60.0), RateLimitRule("x", BIG, 60, linked=(("W", 1),)))
    t.pause(5.0)
    assert t.paused_for == 5.0
    assert t.wait_time("x") == 5.0

    async def extend_at_3() -> None:
        await vt.sleep(3.0)
        t.pause(4.0)  # until t=7
        t.pause(1.0)  # a shorter pause never shortens the current one

    starts = await vt.run(timed(vt, t, "x"), extend_at_3())
    assert starts == [7.0, None]
    assert t.paused_for == 0.0


async def test_used_weight_header_raises_the_local_count_but_never_lowers_it():
    vt = VirtualTime()
    t = make(
        vt,
        RateLimitRule("REQUEST_WEIGHT", 10, 60.0),
        RateLimitRule("x", BIG, 60.0, linked=(("REQUEST_WEIGHT", 4),)),
        header_pools=c.HEADER_POOLS,
    )
    await vt.run(timed(vt, t, "x"))
    assert t.usage("REQUEST_WEIGHT") == 4
    t.update_from_headers({"X-MBX-USED-WEIGHT-1M": "9", "Content-Type": "application/json"})
    assert t.usage("REQUEST_WEIGHT") == 9
    t.update_from_headers({"x-mbx-used-weight-1m": "2"})
    assert t.usage("REQUEST_WEIGHT") == 9
    t.update_from_headers({"x-mbx-used-weight-1m": "junk"})
    assert t.usage("REQUEST_WEIGHT") == 9
    # 9 used + 4 > 10: the next request waits until the synced weight ages out
    assert await vt.run(timed(vt, t, "x")) == [60.0]


async def test_unknown_limit_id_charges_the_default_pools():
    vt = VirtualTime()
    t = make(
        vt,
        RateLimitRule("W", 10, 60.0),
        RateLimitRule("R", 100, 60.0),
        default_linked=(("W", 3), ("R", 1)),
    )
    await vt.run(timed(vt, t, "GET /api/v3/unlisted"), timed(vt, t, "GET /api/v3/unlisted"))
    assert (t.usage("W"), t.usage("R")) == (6, 2)


def test_rules_are_validated():
    with pytest.raises(ValueError, match="limit must be >= 1"):
        RateLimitRule("W", 0, 60.0)
    with pytest.raises(ValueError, match="interval_s must be > 0"):
        RateLimitRule("W", 1, 0.0)
    with pytest.raises(ValueError, match="unknown pool 'nope'"):
        AsyncThrottler([RateLimitRule("x", 1, 1.0, linked=(("nope", 1),))])
    with pytest.raises(ValueError, match="defined twice"):
        AsyncThrottler([RateLimitRule("x", 1, 1.0), RateLimitRule("x", 2, 1.0)])


async def test_binance_defaults_charge_the_documented_weights():
    vt = VirtualTime()
    t = AsyncThrottler(
        c.DEFAULT_RULES,
        default_linked=c.DEFAULT_LINKED,
        header_pools=c.HEADER_POOLS,
        time_fn=vt.time,
        sleep=vt.sleep,
    )
    ids = [
        c.rest_limit_id("GET", c.DEPTH_PATH, {"symbol": "BTCUSDT", "limit": 1000}),
        c.rest_limit_id("POST", c.ORDER_PATH, {"symbol": "BTCUSDT"}),
        c.rest_limit_id("GET", c.ORDER_PATH, {"symbol": "BTCUSDT"}),
        c.rest_limit_id("GET", c.OPEN_ORDERS_PATH, None),
        c.rest_limit_id("GET", c.MY_TRADES_PATH, {"symbol": "BTCUSDT", "orderId": 5}),
        c.ws_limit_id("order.place", {"symbol": "BTCUSDT"}),
    ]
    assert ids == [
        "GET /api/v3/depth limit<=1000",
        "POST /api/v3/order",
        "GET /api/v3/order",
        "GET /api/v3/openOrders all",
        "GET /api/v3/myTrades orderId",
        "ws order.place",
    ]
    await vt.run(*(timed(vt, t, i) for i in ids))
    assert t.usage(c.REQUEST_WEIGHT) == 50 + 1 + 4 + 80 + 5 + 1
    assert t.usage(c.RAW_REQUESTS) == 5  # the WS API request is no HTTP request
    assert t.usage(c.ORDERS_10S) == 2
    assert t.usage(c.ORDERS_1D) == 2
    assert c.depth_tier(100) == 100 and c.depth_tier(101) == 500 and c.depth_tier(5000) == 5000
    with pytest.raises(ValueError, match="above Binance's maximum 5000"):
        c.depth_tier(5001)


def test_exchange_info_rate_limits_set_the_pool_limits():
    t = c.make_throttler()
    recorded_2021 = [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 50},
        {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 160000},
        {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 6100},
        {"rateLimitType": "ORDERS", "interval": "HOUR", "intervalNum": 1, "limit": 7},
    ]
    applied = c.apply_exchange_rate_limits(t, recorded_2021)
    assert applied == {
        c.REQUEST_WEIGHT: 1200,
        c.ORDERS_10S: 50,
        c.ORDERS_1D: 160000,
        c.RAW_REQUESTS: 6100,
    }
    assert t.limit(c.REQUEST_WEIGHT) == 1200


async def test_real_event_loop_sleep_path_lets_requests_through():
    t = AsyncThrottler(
        [RateLimitRule("W", 1, 0.01), RateLimitRule("x", BIG, 1.0, linked=(("W", 1),))]
    )

    async def one() -> int:
        async with t.acquire("x"):
            return 1

    assert sum(await asyncio.gather(*(one() for _ in range(3)))) == 3
