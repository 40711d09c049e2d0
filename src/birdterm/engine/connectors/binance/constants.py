"""Binance spot: URLs, endpoint paths, request weights and the default rate limit pools.

Weights and limits follow ../shared/reference/binance/NOTES.md §2 and §6. A limit id names what a
request costs: `"GET /api/v3/depth limit<=100"`, `"POST /api/v3/order"`, `"ws order.place"`.
Pick one with `rest_limit_id(method, path, params)` or `ws_limit_id(method, params)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from birdterm.engine.connectors.throttler import AsyncThrottler, RateLimitRule

REST_URL = "https://api.binance.com"
STREAM_URL = "wss://stream.binance.com:9443"
WS_API_URL = "wss://ws-api.binance.com:443/ws-api/v3"
TESTNET_REST_URL = "https://testnet.binance.vision"
TESTNET_STREAM_URL = "wss://stream.testnet.binance.vision"
TESTNET_WS_API_URL = "wss://ws-api.testnet.binance.vision/ws-api/v3"


@dataclass(frozen=True, slots=True)
class BinanceUrls:
    """Where the connector talks to: REST, market streams and the WebSocket API."""

    rest_url: str = REST_URL
    stream_url: str = STREAM_URL
    ws_api_url: str = WS_API_URL


# ---- endpoint paths -------------------------------------------------------------------------

PING_PATH = "/api/v3/ping"
TIME_PATH = "/api/v3/time"
EXCHANGE_INFO_PATH = "/api/v3/exchangeInfo"
DEPTH_PATH = "/api/v3/depth"
TRADES_PATH = "/api/v3/trades"
AGG_TRADES_PATH = "/api/v3/aggTrades"
KLINES_PATH = "/api/v3/klines"
BOOK_TICKER_PATH = "/api/v3/ticker/bookTicker"
AVG_PRICE_PATH = "/api/v3/avgPrice"
ACCOUNT_PATH = "/api/v3/account"
ORDER_PATH = "/api/v3/order"
ORDER_TEST_PATH = "/api/v3/order/test"
AMEND_KEEP_PRIORITY_PATH = "/api/v3/order/amend/keepPriority"
OPEN_ORDERS_PATH = "/api/v3/openOrders"
ALL_ORDERS_PATH = "/api/v3/allOrders"
MY_TRADES_PATH = "/api/v3/myTrades"

# ---- rate limit pools (exchangeInfo.rateLimits; NOTES §6) -----------------------------------

REQUEST_WEIGHT = "REQUEST_WEIGHT"
ORDERS_10S = "ORDERS_10S"
ORDERS_1D = "ORDERS_1D"
RAW_REQUESTS = "RAW_REQUESTS"

POOL_RULES: tuple[RateLimitRule, ...] = (
    RateLimitRule(REQUEST_WEIGHT, 6000, 60.0),
    RateLimitRule(ORDERS_10S, 50, 10.0),
    RateLimitRule(ORDERS_1D, 160_000, 86_400.0),
    RateLimitRule(RAW_REQUESTS, 61_000, 300.0),
)

# exchangeInfo (rateLimitType, interval, intervalNum) -> pool id
EXCHANGE_POOLS: dict[tuple[str, str, int], str] = {
    ("REQUEST_WEIGHT", "MINUTE", 1): REQUEST_WEIGHT,
    ("ORDERS", "SECOND", 10): ORDERS_10S,
    ("ORDERS", "DAY", 1): ORDERS_1D,
    ("RAW_REQUESTS", "MINUTE", 5): RAW_REQUESTS,
}

# Response header (lowercase) -> pool id it reports.
HEADER_POOLS: dict[str, str] = {
    "x-mbx-used-weight-1m": REQUEST_WEIGHT,
    "x-mbx-order-count-10s": ORDERS_10S,
    "x-mbx-order-count-1d": ORDERS_1D,
}

# Depth weight by `limit` tier: (highest limit of the tier, weight).
DEPTH_TIERS: tuple[tuple[int, int], ...] = ((100, 5), (500, 25), (1000, 50), (5000, 250))

# limit id -> (request weight, counts as a new order)
_REST_WEIGHTS: dict[str, tuple[int, bool]] = {
    f"GET {PING_PATH}": (1, False),
    f"GET {TIME_PATH}": (1, False),
    f"GET {EXCHANGE_INFO_PATH}": (20, False),
    **{f"GET {DEPTH_PATH} limit<={top}": (weight, False) for top, weight in DEPTH_TIERS},
    f"GET {TRADES_PATH}": (25, False),
    f"GET {AGG_TRADES_PATH}": (4, False),
    f"GET {KLINES_PATH}": (2, False),
    f"GET {BOOK_TICKER_PATH}": (2, False),
    f"GET {AVG_PRICE_PATH}": (2, False),
    f"GET {ACCOUNT_PATH}": (20, False),
    f"POST {ORDER_PATH}": (1, True),
    f"POST {ORDER_TEST_PATH}": (1, False),
    f"DELETE {ORDER_PATH}": (1, False),
    f"GET {ORDER_PATH}": (4, False),
    f"PUT {AMEND_KEEP_PRIORITY_PATH}": (4, False),
    f"GET {OPEN_ORDERS_PATH}": (6, False),
    f"GET {OPEN_ORDERS_PATH} all": (80, False),
    f"DELETE {OPEN_ORDERS_PATH}": (1, False),
    f"GET {ALL_ORDERS_PATH}": (20, False),
    f"GET {MY_TRADES_PATH}": (20, False),
    f"GET {MY_TRADES_PATH} orderId": (5, False),
}

# WebSocket API methods share the IP's request weight with REST.
_WS_WEIGHTS: dict[str, tuple[int, bool]] = {
    "ws connect": (2, False),
    "ws ping": (1, False),
    "ws time": (1, False),
    "ws exchangeInfo": (20, False),
    **{f"ws depth limit<={top}": (weight, False) for top, weight in DEPTH_TIERS},
    "ws session.logon": (2, False),
    "ws session.status": (2, False),
    "ws session.logout": (2, False),
    "ws userDataStream.subscribe": (2, False),
    "ws userDataStream.subscribe.signature": (2, False),
    "ws userDataStream.unsubscribe": (2, False),
    "ws order.place": (1, True),
    "ws order.cancel": (1, False),
    "ws order.status": (4, False),
    "ws order.amend.keepPriority": (4, False),
    "ws openOrders.status": (6, False),
    "ws openOrders.status all": (80, False),
    "ws openOrders.cancelAll": (1, False),
    "ws account.status": (20, False),
    "ws myTrades": (20, False),
    "ws myTrades orderId": (5, False),
}

# Each limit id is its own (generous) pool so that only the shared pools ever bind.
_ENDPOINT_LIMIT = 1_000_000
_ENDPOINT_INTERVAL_S = 60.0


def _endpoint_rule(limit_id: str, weight: int, is_order: bool) -> RateLimitRule:
    linked: list[tuple[str, int]] = [(REQUEST_WEIGHT, weight)]
    if not limit_id.startswith("ws "):
        linked.append((RAW_REQUESTS, 1))  # RAW_REQUESTS counts HTTP requests only
    if is_order:
        linked += [(ORDERS_10S, 1), (ORDERS_1D, 1)]
    return RateLimitRule(limit_id, _ENDPOINT_LIMIT, _ENDPOINT_INTERVAL_S, tuple(linked))


ENDPOINT_RULES: tuple[RateLimitRule, ...] = tuple(
    _endpoint_rule(limit_id, weight, is_order)
    for limit_id, (weight, is_order) in {**_REST_WEIGHTS, **_WS_WEIGHTS}.items()
)
DEFAULT_RULES: tuple[RateLimitRule, ...] = POOL_RULES + ENDPOINT_RULES
# What an unlisted endpoint is charged (and logged once by the throttler).
DEFAULT_LINKED: tuple[tuple[str, int], ...] = ((REQUEST_WEIGHT, 1), (RAW_REQUESTS, 1))


def make_throttler() -> AsyncThrottler:
    """A throttler with Binance's default pools and endpoint weights."""
    return AsyncThrottler(DEFAULT_RULES, default_linked=DEFAULT_LINKED, header_pools=HEADER_POOLS)


def depth_tier(limit: int) -> int:
    """The top of the weight tier a depth `limit` falls in (100, 500, 1000 or 5000)."""
    for top, _weight in DEPTH_TIERS:
        if limit <= top:
            return top
    raise ValueError(f"depth limit {limit} is above Binance's maximum 5000")


def rest_limit_id(method: str, path: str, params: Mapping[str, Any] | None = None) -> str:
    """The limit id of a REST request (weights that depend on parameters included)."""
    params = params or {}
    method = method.upper()
    if path == DEPTH_PATH:
        return f"GET {DEPTH_PATH} limit<={depth_tier(int(params.get('limit', 100)))}"
    if method == "GET" and path == OPEN_ORDERS_PATH and "symbol" not in params:
        return f"GET {OPEN_ORDERS_PATH} all"
    if method == "GET" and path == MY_TRADES_PATH and "orderId" in params:
        return f"GET {MY_TRADES_PATH} orderId"
    return f"{method} {path}"


def ws_limit_id(method: str, params: Mapping[str, Any] | None = None) -> str:
    """The limit id of a WebSocket API request."""
    params = params or {}
    if method == "depth":
        return f"ws depth limit<={depth_tier(int(params.get('limit', 100)))}"
    if method == "openOrders.status" and "symbol" not in params:
        return "ws openOrders.status all"
    if method == "myTrades" and "orderId" in params:
        return "ws myTrades orderId"
    return f"ws {method}"


def apply_exchange_rate_limits(
    throttler: AsyncThrottler, rate_limits: list[dict[str, Any]]
) -> dict[str, int]:
    """Set the pools' limits from exchangeInfo.rateLimits; returns what was set."""
    applied: dict[str, int] = {}
    pools = set(throttler.pool_ids)
    for entry in rate_limits:
        key = (entry.get("rateLimitType"), entry.get("interval"), entry.get("intervalNum"))
        pool_id = EXCHANGE_POOLS.get(key)  # type: ignore[arg-type]
        if pool_id is not None and pool_id in pools:
            throttler.set_limit(pool_id, int(entry["limit"]))
            applied[pool_id] = int(entry["limit"])
    return applied
