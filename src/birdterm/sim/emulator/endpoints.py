"""The emulator's API operations, shared by REST routes and WebSocket API methods.

Each Endpoint names its REST route and WS API method, its security, its weight (NOTES §2, a
function of the params) and whether it counts as a new order or changes orders (the lost-response
fault applies to those). Handlers take the params as str -> str (signature, timestamp and
recvWindow removed) and return JSON-ready data or raise BinanceError.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from birdterm.sim.emulator import errors
from birdterm.sim.emulator.errors import BinanceError

if TYPE_CHECKING:
    from birdterm.sim.emulator.exchange import Exchange
    from birdterm.sim.emulator.rate_limits import RateLimiter

Security = Literal["NONE", "SIGNED"]
Params = Mapping[str, str]

KLINE_INTERVALS = frozenset(
    {"1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h"}
    | {"1d", "3d", "1w", "1M"}
)
# Binance's legal-range text for a `symbols` JSON array.
_SYMBOLS_RANGE = r'^\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\]$'
_INT_RANGE = "^-?[0-9]{1,20}$"


@dataclass
class Context:
    """What a handler may use: the exchange, the limiter and the server clock."""

    exchange: Exchange
    limiter: RateLimiter
    clock: Callable[[], int]


Handler = Callable[[Context, str | None, Params], Any]


@dataclass(frozen=True)
class Endpoint:
    """One operation: REST route, WS API method, security, weight and handler."""

    http_method: str
    path: str
    ws_method: str
    security: Security
    weight: Callable[[Params], int]
    handler: Handler
    is_order: bool = False  # counts toward the ORDERS limits
    mutating: bool = False  # changes orders: its response may be lost


def _fixed(weight: int) -> Callable[[Params], int]:
    return lambda _params: weight


# ---- parameter helpers ---------------------------------------------------------------------


def symbol_param(ctx: Context, params: Params) -> str:
    """The mandatory `symbol` param: -1102 if missing, -1121 if unknown."""
    symbol = optional_symbol(ctx, params)
    if symbol is None:
        raise errors.mandatory_param("symbol")
    return symbol


def optional_symbol(ctx: Context, params: Params) -> str | None:
    """The optional `symbol` param (None when absent), -1121 if unknown."""
    symbol = params.get("symbol")
    if symbol is None or symbol == "":
        return None
    if symbol not in ctx.exchange.symbols:
        raise errors.bad_symbol()
    return symbol


def symbols_param(ctx: Context, params: Params) -> list[str] | None:
    """The `symbol` or `symbols` (JSON array) param as a list; None when neither is sent."""
    single = optional_symbol(ctx, params)
    raw = params.get("symbols")
    if single is not None and raw is not None:
        raise BinanceError(-1128, "Combination of optional parameters invalid.")
    if single is not None:
        return [single]
    if raw is None:
        return None
    try:
        names = json.loads(raw)
    except ValueError:
        raise errors.illegal_chars("symbols", _SYMBOLS_RANGE) from None
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise errors.illegal_chars("symbols", _SYMBOLS_RANGE)
    if len(set(names)) != len(names):
        raise BinanceError(-1151, "Symbol is present multiple times in the list.")
    for name in names:
        if name not in ctx.exchange.symbols:
            raise errors.bad_symbol()
    return names


def int_param(params: Params, name: str, default: int | None = None) -> int | None:
    """An integer param (-1100 if not an integer); `default` when absent."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise errors.illegal_chars(name, _INT_RANGE) from None


def limit_param(params: Params, default: int, maximum: int, *, truncate: bool = False) -> int:
    """The `limit` param: default when absent; -1100 outside 1..maximum unless `truncate`."""
    limit = int_param(params, "limit", default)
    assert limit is not None
    if limit < 1 or (limit > maximum and not truncate):
        raise errors.illegal_chars("limit", f"1-{maximum}")
    return min(limit, maximum)


def bool_param(params: Params, name: str) -> bool:
    """A boolean param sent as true/false (case-insensitive); absent is false."""
    raw = params.get(name)
    if raw is None or raw == "":
        return False
    lowered = raw.lower()
    if lowered not in ("true", "false"):
        raise errors.illegal_chars(name, "true, false")
    return lowered == "true"


def depth_weight(params: Params) -> int:
    """Weight of a depth request by its limit (NOTES §2)."""
    try:
        limit = int(params.get("limit") or 100)
    except ValueError:
        limit = 100
    if limit <= 100:
        return 5
    if limit <= 500:
        return 25
    if limit <= 1000:
        return 50
    return 250


# ---- public handlers -----------------------------------------------------------------------


def _ping(_ctx: Context, _key: str | None, _params: Params) -> dict[str, Any]:
    return {}


def _time(ctx: Context, _key: str | None, _params: Params) -> dict[str, Any]:
    return {"serverTime": ctx.clock()}


def _exchange_info(ctx: Context, _key: str | None, params: Params) -> dict[str, Any]:
    names = symbols_param(ctx, params) or list(ctx.exchange.symbols)
    return {
        "timezone": "UTC",
        "serverTime": ctx.clock(),
        "rateLimits": [limit.to_json() for limit in ctx.limiter.limits],
        "exchangeFilters": [],
        "symbols": [ctx.exchange.symbols[name].to_exchange_info() for name in names],
    }


def _depth(ctx: Context, _key: str | None, params: Params) -> Any:
    symbol = symbol_param(ctx, params)
    # Binance truncates a depth limit above 5000 instead of refusing it.
    return ctx.exchange.depth(symbol, limit_param(params, 100, 5000, truncate=True))


def _trades(ctx: Context, _key: str | None, params: Params) -> Any:
    symbol = symbol_param(ctx, params)
    return ctx.exchange.recent_trades(symbol, limit_param(params, 500, 1000))


def _agg_trades(ctx: Context, _key: str | None, params: Params) -> Any:
    symbol = symbol_param(ctx, params)
    return ctx.exchange.agg_trades(
        symbol,
        int_param(params, "fromId"),
        int_param(params, "startTime"),
        int_param(params, "endTime"),
        limit_param(params, 500, 1000),
    )


def _klines(ctx: Context, _key: str | None, params: Params) -> Any:
    symbol = symbol_param(ctx, params)
    interval = params.get("interval")
    if not interval:
        raise errors.mandatory_param("interval")
    if interval not in KLINE_INTERVALS:
        raise BinanceError(-1120, "Invalid interval.")
    return ctx.exchange.klines(
        symbol,
        interval,
        int_param(params, "startTime"),
        int_param(params, "endTime"),
        limit_param(params, 500, 1000),
    )


def _book_ticker(ctx: Context, _key: str | None, params: Params) -> Any:
    names = symbols_param(ctx, params)
    if names is not None and params.get("symbol"):
        return ctx.exchange.book_ticker(names[0])
    return [ctx.exchange.book_ticker(name) for name in names or ctx.exchange.symbols]


def _book_ticker_weight(params: Params) -> int:
    return 2 if params.get("symbol") else 4


def _avg_price(ctx: Context, _key: str | None, params: Params) -> Any:
    symbol = symbol_param(ctx, params)
    return ctx.exchange.avg_price(symbol)


# ---- signed handlers -----------------------------------------------------------------------


def _key(api_key: str | None) -> str:
    assert api_key is not None  # signed endpoints always run authenticated
    return api_key


def _new_order(ctx: Context, api_key: str | None, params: Params) -> Any:
    symbol_param(ctx, params)
    return ctx.exchange.new_order(_key(api_key), params)


def _cancel_order(ctx: Context, api_key: str | None, params: Params) -> Any:
    symbol_param(ctx, params)
    return ctx.exchange.cancel_order(_key(api_key), params)


def _query_order(ctx: Context, api_key: str | None, params: Params) -> Any:
    symbol_param(ctx, params)
    return ctx.exchange.query_order(_key(api_key), params)


def _amend(ctx: Context, api_key: str | None, params: Params) -> Any:
    symbol_param(ctx, params)
    return ctx.exchange.amend_keep_priority(_key(api_key), params)


def _open_orders(ctx: Context, api_key: str | None, params: Params) -> Any:
    return ctx.exchange.open_orders(_key(api_key), optional_symbol(ctx, params))


def _open_orders_weight(params: Params) -> int:
    return 6 if params.get("symbol") else 80


def _cancel_open_orders(ctx: Context, api_key: str | None, params: Params) -> Any:
    symbol = symbol_param(ctx, params)
    return ctx.exchange.cancel_open_orders(_key(api_key), symbol)


def _account(ctx: Context, api_key: str | None, params: Params) -> Any:
    return ctx.exchange.account(_key(api_key), omit_zero=bool_param(params, "omitZeroBalances"))


def _my_trades(ctx: Context, api_key: str | None, params: Params) -> Any:
    symbol_param(ctx, params)
    return ctx.exchange.my_trades(_key(api_key), params)


def _my_trades_weight(params: Params) -> int:
    return 5 if params.get("orderId") else 20


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/api/v3/ping", "ping", "NONE", _fixed(1), _ping),
    Endpoint("GET", "/api/v3/time", "time", "NONE", _fixed(1), _time),
    Endpoint("GET", "/api/v3/exchangeInfo", "exchangeInfo", "NONE", _fixed(20), _exchange_info),
    Endpoint("GET", "/api/v3/depth", "depth", "NONE", depth_weight, _depth),
    Endpoint("GET", "/api/v3/trades", "trades.recent", "NONE", _fixed(25), _trades),
    Endpoint("GET", "/api/v3/aggTrades", "trades.aggregate", "NONE", _fixed(4), _agg_trades),
    Endpoint("GET", "/api/v3/klines", "klines", "NONE", _fixed(2), _klines),
    Endpoint(
        "GET", "/api/v3/ticker/bookTicker", "ticker.book", "NONE", _book_ticker_weight, _book_ticker
    ),
    Endpoint("GET", "/api/v3/avgPrice", "avgPrice", "NONE", _fixed(2), _avg_price),
    Endpoint(
        "POST",
        "/api/v3/order",
        "order.place",
        "SIGNED",
        _fixed(1),
        _new_order,
        is_order=True,
        mutating=True,
    ),
    Endpoint(
        "DELETE", "/api/v3/order", "order.cancel", "SIGNED", _fixed(1), _cancel_order, mutating=True
    ),
    Endpoint("GET", "/api/v3/order", "order.status", "SIGNED", _fixed(4), _query_order),
    Endpoint(
        "PUT",
        "/api/v3/order/amend/keepPriority",
        "order.amend.keepPriority",
        "SIGNED",
        _fixed(4),
        _amend,
        mutating=True,
    ),
    Endpoint(
        "GET",
        "/api/v3/openOrders",
        "openOrders.status",
        "SIGNED",
        _open_orders_weight,
        _open_orders,
    ),
    Endpoint(
        "DELETE",
        "/api/v3/openOrders",
        "openOrders.cancelAll",
        "SIGNED",
        _fixed(1),
        _cancel_open_orders,
        mutating=True,
    ),
    Endpoint("GET", "/api/v3/account", "account.status", "SIGNED", _fixed(20), _account),
    Endpoint("GET", "/api/v3/myTrades", "myTrades", "SIGNED", _my_trades_weight, _my_trades),
)

BY_WS_METHOD: dict[str, Endpoint] = {e.ws_method: e for e in ENDPOINTS}
