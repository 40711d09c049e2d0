"""Parsing of order request parameters (strings) with Binance's error codes and messages."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from birdterm.sim.emulator.errors import (
    BinanceError,
    bad_precision,
    bad_symbol,
    illegal_chars,
    mandatory_param,
)
from birdterm.sim.emulator.symbols import SymbolRules

DECIMAL_RANGE = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"
LONG_RANGE = r"^[0-9]{1,20}$"
CLIENT_ID_RANGE = r"^[\.A-Z\:/a-z0-9_-]{1,36}$"
RESP_TYPES = ("ACK", "RESULT", "FULL")
_DECIMAL_RE = re.compile(DECIMAL_RANGE)
_LONG_RE = re.compile(r"^-?[0-9]{1,20}$")
_CLIENT_ID_RE = re.compile(CLIENT_ID_RANGE)
# Parameters of order kinds the emulator does not model.
_UNSUPPORTED = ("stopPrice", "trailingDelta", "icebergQty", "pegPriceType", "pegOffsetValue")


def start_after_end() -> BinanceError:
    """-1023: startTime after endTime."""
    return BinanceError(-1023, "Start time is greater than end time.")


def check_time_range(start_ms: int | None, end_ms: int | None) -> None:
    """-1023 when both are sent and start is after end."""
    if start_ms is not None and end_ms is not None and start_ms > end_ms:
        raise start_after_end()


def not_supported() -> BinanceError:
    """-1020: a feature the emulator (or the symbol) does not offer."""
    return BinanceError(-1020, "This operation is not supported.")


def get(params: Mapping[str, str], name: str) -> str | None:
    """A parameter's value; an empty string counts as not sent."""
    value = params.get(name)
    return value if value else None


def require(params: Mapping[str, str], name: str) -> str:
    """A mandatory parameter (-1102 when missing or empty)."""
    value = get(params, name)
    if value is None:
        raise mandatory_param(name)
    return value


def symbol_rules(params: Mapping[str, str], symbols: Mapping[str, SymbolRules]) -> SymbolRules:
    """The rules of the request's `symbol` (-1102 missing, -1121 unknown)."""
    rules = symbols.get(require(params, "symbol"))
    if rules is None:
        raise bad_symbol()
    return rules


def decimal_param(params: Mapping[str, str], name: str) -> Decimal | None:
    """An unsigned decimal parameter, None when not sent (-1100 when malformed)."""
    raw = get(params, name)
    if raw is None:
        return None
    if not _DECIMAL_RE.match(raw):
        raise illegal_chars(name, DECIMAL_RANGE)
    try:
        return Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        raise illegal_chars(name, DECIMAL_RANGE) from None


def check_precision(name: str, value: Decimal, places: int) -> Decimal:
    """`value` unless it has more than `places` decimals (-1111, trailing zeros do not count)."""
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        raise bad_precision(name)
    return value


def int_param(params: Mapping[str, str], name: str) -> int | None:
    """An integer parameter, None when not sent (-1100 when malformed)."""
    raw = get(params, name)
    if raw is None:
        return None
    if not _LONG_RE.match(raw):
        raise illegal_chars(name, LONG_RANGE)
    return int(raw)


def limit_param(params: Mapping[str, str], default: int, maximum: int) -> int:
    """The `limit` parameter within 1..maximum (-1100 outside)."""
    value = int_param(params, "limit")
    return check_limit(default if value is None else value, maximum)


def check_limit(value: int, maximum: int) -> int:
    """`value` if it is within 1..maximum, else -1100 as Binance answers."""
    if not 1 <= value <= maximum:
        raise illegal_chars("limit", f"1-{maximum}")
    return value


def client_id_param(params: Mapping[str, str], name: str) -> str | None:
    """A client order id parameter (-1100 when it breaks Binance's pattern)."""
    raw = get(params, name)
    if raw is not None and not _CLIENT_ID_RE.match(raw):
        raise illegal_chars(name, CLIENT_ID_RANGE)
    return raw


@dataclass(frozen=True, slots=True)
class NewOrderRequest:
    """The parsed parameters of POST /api/v3/order."""

    side: str
    type: str
    time_in_force: str | None
    quantity: Decimal | None
    price: Decimal | None
    quote_order_qty: Decimal | None
    client_order_id: str | None
    resp_type: str
    stp_mode: str


def parse_new_order(params: Mapping[str, str], rules: SymbolRules) -> NewOrderRequest:
    """Parse a new order's parameters (values are checked later by validate_order)."""
    side = require(params, "side")
    order_type = require(params, "type")
    for name in _UNSUPPORTED:
        if get(params, name) is not None:
            raise not_supported()
    default_resp = "FULL" if order_type in ("LIMIT", "MARKET") else "ACK"
    resp_type = get(params, "newOrderRespType") or default_resp
    if resp_type not in RESP_TYPES:
        raise illegal_chars("newOrderRespType", "^(ACK|RESULT|FULL)$")
    extra = dict(rules.extra_fields)
    default_stp = str(extra.get("defaultSelfTradePreventionMode", "NONE"))
    stp = get(params, "selfTradePreventionMode") or default_stp
    if stp not in ("NONE", "EXPIRE_MAKER"):
        raise not_supported()  # only these two are modelled
    if stp != default_stp and stp not in extra.get("allowedSelfTradePreventionModes", ()):
        raise BinanceError(
            -1013, "This symbol does not allow the specified self-trade prevention mode."
        )
    return NewOrderRequest(
        side=side,
        type=order_type,
        time_in_force=get(params, "timeInForce"),
        quantity=decimal_param(params, "quantity"),
        price=decimal_param(params, "price"),
        quote_order_qty=decimal_param(params, "quoteOrderQty"),
        client_order_id=client_id_param(params, "newClientOrderId"),
        resp_type=resp_type,
        stp_mode=stp,
    )
