"""RateLimiter: epoch-aligned windows, usage headers, 429 -> 418 bans, order counts."""

import pytest

from birdterm.sim.emulator.errors import BinanceError
from birdterm.sim.emulator.rate_limits import DEFAULT_LIMITS, RateLimit, RateLimiter

T0 = 1_699_999_980_000  # 2023-11-14 22:13:00 UTC: a whole minute (and a whole 10 s)
DAY = 1_699_920_000_000  # 2023-11-14 00:00:00 UTC
IP = "127.0.0.1"
BAN_MSG = (
    "Way too much request weight used; IP banned until {}. "
    "Please use WebSocket Streams for live updates to avoid bans."
)


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def limiter(*limits: RateLimit, now: int = T0) -> tuple[RateLimiter, Clock]:
    clock = Clock(now)
    return RateLimiter(list(limits) or list(DEFAULT_LIMITS), clock), clock


def refused(call) -> BinanceError:
    with pytest.raises(BinanceError) as info:
        call()
    return info.value


WEIGHT_100 = RateLimit("REQUEST_WEIGHT", "MINUTE", 1, 100)


def test_rate_limit_json_and_suffixes():
    assert [lim.to_json() for lim in DEFAULT_LIMITS] == [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 50},
        {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 160000},
        {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
    ]
    assert [lim.header_suffix for lim in DEFAULT_LIMITS] == ["1M", "10S", "1D", "5M"]
    assert RateLimit("REQUEST_WEIGHT", "HOUR", 2, 9).header_suffix == "2H"
    assert DEFAULT_LIMITS[3].window_ms == 300_000
    assert DEFAULT_LIMITS[1].label == "10 SECOND"
    with pytest.raises(ValueError):
        RateLimit("ORDERS", "WEEK", 1, 5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        RateLimit("ORDERS", "DAY", 0, 5)


def test_used_weight_header_accumulates():
    rl, clock = limiter()
    assert rl.charge(IP, 1) == {"X-MBX-USED-WEIGHT-1M": "1"}
    clock.now += 1500
    assert rl.charge(IP, 20) == {"X-MBX-USED-WEIGHT-1M": "21"}
    clock.now += 30_000
    assert rl.charge(IP, 4) == {"X-MBX-USED-WEIGHT-1M": "25"}
    assert rl.charge("10.0.0.2", 5) == {"X-MBX-USED-WEIGHT-1M": "5"}  # per IP
    assert rl.headers(IP) == {"X-MBX-USED-WEIGHT-1M": "25"}


def test_minute_window_resets_at_the_whole_minute():
    rl, clock = limiter()
    clock.now = T0 + 59_999
    rl.charge(IP, 50)
    assert rl.charge(IP, 10)["X-MBX-USED-WEIGHT-1M"] == "60"
    clock.now = T0 + 60_000
    assert rl.charge(IP, 10)["X-MBX-USED-WEIGHT-1M"] == "10"
    clock.now = T0 + 60_000 + 59_999
    assert rl.headers(IP)["X-MBX-USED-WEIGHT-1M"] == "10"
    clock.now = T0 + 120_000
    assert rl.headers(IP)["X-MBX-USED-WEIGHT-1M"] == "0"


def test_429_with_retry_after_to_the_window_end_then_418_ban():
    rl, clock = limiter(WEIGHT_100)
    clock.now = T0 + 15_500
    rl.charge(IP, 90)
    assert rl.charge(IP, 10)["X-MBX-USED-WEIGHT-1M"] == "100"  # exactly the limit is fine
    err = refused(lambda: rl.charge(IP, 1))
    assert (err.http_status, err.code, err.retry_after) == (429, -1003, 45)  # 44.5 s, rounded up
    assert err.msg == (
        "Too much request weight used; current limit is 100 request weight per 1 MINUTE. "
        "Please use WebSocket Streams for live updates to avoid polling the API."
    )
    assert err.headers == {"X-MBX-USED-WEIGHT-1M": "100"}
    clock.now = T0 + 20_000
    assert refused(lambda: rl.charge(IP, 1)).retry_after == 40  # violation 1
    clock.now = T0 + 30_000
    assert refused(lambda: rl.charge(IP, 1)).retry_after == 30  # violation 2
    clock.now = T0 + 40_000
    ban = refused(lambda: rl.charge(IP, 1))  # violation 3 -> banned
    assert (ban.http_status, ban.code, ban.retry_after) == (418, -1003, 120)
    assert ban.msg == BAN_MSG.format(T0 + 160_000)
    assert rl.banned_until(IP) == T0 + 160_000
    clock.now = T0 + 100_000  # new minute, still banned
    during = refused(lambda: rl.charge(IP, 1))
    assert (during.http_status, during.retry_after) == (418, 60)
    clock.now = T0 + 159_001
    assert refused(lambda: rl.charge(IP, 1)).retry_after == 1
    clock.now = T0 + 160_000
    assert rl.charge(IP, 1) == {"X-MBX-USED-WEIGHT-1M": "1"}
    assert rl.charge("10.0.0.2", 1) == {"X-MBX-USED-WEIGHT-1M": "1"}  # others unaffected


def offend(rl: RateLimiter, clock: Clock) -> BinanceError:
    """Fill the current minute, get a 429, keep sending until banned; return the 418."""
    clock.now += 60_000 - clock.now % 60_000  # start of the next minute
    rl.charge(IP, 100)
    assert refused(lambda: rl.charge(IP, 1)).http_status == 429
    for _ in range(2):
        clock.now += 1
        assert refused(lambda: rl.charge(IP, 1)).http_status == 429
    clock.now += 1
    ban = refused(lambda: rl.charge(IP, 1))
    assert ban.http_status == 418
    clock.now = rl.banned_until(IP)
    return ban


def test_bans_double_for_repeat_offences_up_to_three_days():
    rl, clock = limiter(WEIGHT_100)
    lengths = [offend(rl, clock).retry_after for _ in range(14)]
    assert lengths[:4] == [120, 240, 480, 960]
    assert lengths[11] == 245_760  # 120 * 2**11
    assert lengths[12:] == [259_200, 259_200]  # capped at 3 days


def test_violations_clear_when_the_throttled_window_ends():
    rl, clock = limiter(WEIGHT_100)
    rl.charge(IP, 100)
    refused(lambda: rl.charge(IP, 1))
    refused(lambda: rl.charge(IP, 1))
    refused(lambda: rl.charge(IP, 1))  # two violations so far
    clock.now = T0 + 60_000
    rl.charge(IP, 100)
    assert refused(lambda: rl.charge(IP, 1)).http_status == 429  # a new 429, count restarts
    assert refused(lambda: rl.charge(IP, 1)).http_status == 429
    assert refused(lambda: rl.charge(IP, 1)).http_status == 429
    assert refused(lambda: rl.charge(IP, 1)).http_status == 418


def test_refused_requests_are_not_counted():
    rl, _clock = limiter(WEIGHT_100)
    rl.charge(IP, 60)
    err = refused(lambda: rl.charge(IP, 50))
    assert err.headers == {"X-MBX-USED-WEIGHT-1M": "60"}
    assert rl.headers(IP) == {"X-MBX-USED-WEIGHT-1M": "60"}


def test_raw_request_limit_over_five_minutes():
    raw = RateLimit("RAW_REQUESTS", "MINUTE", 5, 3)
    rl, clock = limiter(WEIGHT_100, raw, now=T0 + 60_000)  # T0 + 1 min; 5-min window ends later
    for _ in range(3):
        rl.charge(IP, 1)
    err = refused(lambda: rl.charge(IP, 1))
    window_end = (T0 + 60_000) - (T0 + 60_000) % 300_000 + 300_000
    assert (err.http_status, err.code) == (429, -1003)
    assert err.retry_after == (window_end - clock.now) // 1000
    assert err.msg == "Too many requests; current limit is 3 requests per 5 MINUTE."
    assert rl.headers(IP) == {"X-MBX-USED-WEIGHT-1M": "3"}


def test_order_counts_per_ten_seconds_and_per_day():
    orders_10s = RateLimit("ORDERS", "SECOND", 10, 3)
    orders_day = RateLimit("ORDERS", "DAY", 1, 1000)
    rl, clock = limiter(WEIGHT_100, orders_10s, orders_day, now=T0 + 1_000)
    for n in (1, 2, 3):
        headers = rl.charge(IP, 1, account="alice", is_order=True)
        assert headers == {
            "X-MBX-USED-WEIGHT-1M": str(n),
            "X-MBX-ORDER-COUNT-10S": str(n),
            "X-MBX-ORDER-COUNT-1D": str(n),
        }
        clock.now += 2_000
    clock.now = T0 + 7_300
    err = refused(lambda: rl.charge(IP, 1, account="alice", is_order=True))
    assert (err.http_status, err.code, err.retry_after) == (429, -1015, 3)  # 2.7 s to :10
    assert err.msg == "Too many new orders; current limit is 3 orders per 10 SECOND."
    assert err.headers["X-MBX-USED-WEIGHT-1M"] == "4"  # weight still spent
    assert err.headers["X-MBX-ORDER-COUNT-10S"] == "3"
    # Another account on the same IP has its own count; plain requests carry no order headers.
    assert rl.charge(IP, 1, account="bob", is_order=True)["X-MBX-ORDER-COUNT-10S"] == "1"
    assert rl.charge(IP, 1) == {"X-MBX-USED-WEIGHT-1M": "6"}
    clock.now = T0 + 10_000
    headers = rl.charge(IP, 1, account="alice", is_order=True)
    assert (headers["X-MBX-ORDER-COUNT-10S"], headers["X-MBX-ORDER-COUNT-1D"]) == ("1", "4")


def test_order_limit_breaches_never_ban():
    rl, clock = limiter(RateLimit("ORDERS", "SECOND", 10, 1), now=DAY)
    rl.charge(IP, 1, account="alice", is_order=True)
    for _ in range(10):
        clock.now += 1
        assert refused(lambda: rl.charge(IP, 1, account="alice", is_order=True)).code == -1015
    assert rl.banned_until(IP) == 0
    assert rl.charge(IP, 1) == {}


def test_usage_gives_ws_rate_limits_array():
    rl, _clock = limiter()
    rl.charge(IP, 20, account="alice", is_order=True)
    assert rl.usage(IP, "alice") == [
        {
            "rateLimitType": "REQUEST_WEIGHT",
            "interval": "MINUTE",
            "intervalNum": 1,
            "limit": 6000,
            "count": 20,
        },
        {
            "rateLimitType": "ORDERS",
            "interval": "SECOND",
            "intervalNum": 10,
            "limit": 50,
            "count": 1,
        },
        {
            "rateLimitType": "ORDERS",
            "interval": "DAY",
            "intervalNum": 1,
            "limit": 160000,
            "count": 1,
        },
        {
            "rateLimitType": "RAW_REQUESTS",
            "interval": "MINUTE",
            "intervalNum": 5,
            "limit": 61000,
            "count": 1,
        },
    ]
