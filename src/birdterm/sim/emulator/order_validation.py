"""Binance's checks of a new order against a symbol's rules, with its error codes and messages."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from birdterm.sim.emulator.errors import (
    BinanceError,
    bad_precision,
    either_param,
    filter_failure,
    illegal_chars,
    invalid_message,
    mandatory_param,
    new_order_rejected,
)

if TYPE_CHECKING:
    from birdterm.sim.emulator.symbol_filters import LotSize
    from birdterm.sim.emulator.symbols import SymbolRules

ORDER_TYPES = frozenset(
    {
        "LIMIT",
        "MARKET",
        "STOP_LOSS",
        "STOP_LOSS_LIMIT",
        "TAKE_PROFIT",
        "TAKE_PROFIT_LIMIT",
        "LIMIT_MAKER",
    }
)
SUPPORTED_ORDER_TYPES = frozenset({"LIMIT", "MARKET", "LIMIT_MAKER"})
TIME_IN_FORCE = frozenset({"GTC", "IOC", "FOK"})

# What the matching engine says when the symbol's orderTypes lacks the type (errors.md);
# LIMIT and LIMIT_MAKER have no message of their own there.
_TYPE_NOT_SUPPORTED = {
    "MARKET": "Market orders are not supported for this symbol.",
    "STOP_LOSS": "Stop loss orders are not supported for this symbol.",
    "STOP_LOSS_LIMIT": "Stop loss limit orders are not supported for this symbol.",
    "TAKE_PROFIT": "Take profit orders are not supported for this symbol.",
    "TAKE_PROFIT_LIMIT": "Take profit limit orders are not supported for this symbol.",
}
_UNSUPPORTED_COMBINATION = "Unsupported order combination"
_DECIMAL_SYNTAX = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"


def param_not_required(name: str) -> BinanceError:
    """-1106: a parameter was sent that this order type does not take."""
    return BinanceError(-1106, f"Parameter '{name}' sent when not required.")


def validate_order(
    rules: SymbolRules,
    side: str,
    type: str,  # Binance's parameter name
    quantity: Decimal | None,
    price: Decimal | None,
    quote_order_qty: Decimal | None,
    reference_price: Decimal | None,
    time_in_force: str | None,
) -> None:
    """Raise BinanceError as Binance would for a new order, or return if it passes."""
    # reference_price is the symbol's average price (what /api/v3/avgPrice answers): it prices
    # MARKET orders for MIN_NOTIONAL/NOTIONAL and anchors PERCENT_PRICE(_BY_SIDE). None (a
    # symbol that has never traded) skips those checks rather than rejecting every order.
    _check_enums(side, type, time_in_force)
    _check_params(type, quantity, price, quote_order_qty, time_in_force)
    _check_value("quantity", quantity, rules.base_asset_precision, "Invalid quantity.")
    _check_value("price", price, rules.quote_asset_precision, "Invalid price.")
    _check_value("quoteOrderQty", quote_order_qty, rules.quote_asset_precision, "Invalid quantity.")
    if rules.status != "TRADING":
        raise new_order_rejected("Market is closed.")
    if type not in rules.order_types:
        raise new_order_rejected(_TYPE_NOT_SUPPORTED.get(type, _UNSUPPORTED_COMBINATION))
    if quote_order_qty is not None and not rules.quote_order_qty_market_allowed:
        # Binance's typo'd errors.md text says "not support"; live responses say "supported".
        raise invalid_message("Quote order qty market orders are not supported for this symbol.")
    is_market = type == "MARKET"
    if price is not None:
        _check_price(rules, side, price, reference_price)
    if quantity is not None:
        _check_lot(rules.lot_size, quantity, "LOT_SIZE")
        if is_market:
            _check_lot(rules.market_lot_size, quantity, "MARKET_LOT_SIZE")
    if quote_order_qty is not None:
        notional: Decimal | None = quote_order_qty
    elif price is not None and quantity is not None:
        notional = price * quantity
    elif reference_price is not None and quantity is not None:
        notional = reference_price * quantity
    else:
        notional = None
    if notional is not None:
        _check_notional(rules, notional, is_market)


def _check_enums(side: str, type: str, time_in_force: str | None) -> None:
    if side not in ("BUY", "SELL"):
        raise BinanceError(-1117, "Invalid side.")
    if type not in ORDER_TYPES:
        raise BinanceError(-1116, "Invalid orderType.")
    if time_in_force is not None and time_in_force not in TIME_IN_FORCE:
        raise BinanceError(-1115, "Invalid timeInForce.")
    if type not in SUPPORTED_ORDER_TYPES:
        # Stop and take-profit orders need stopPrice/trailingDelta, which the emulator lacks.
        raise BinanceError(-1020, "This operation is not supported.")


def _check_params(
    type: str,
    quantity: Decimal | None,
    price: Decimal | None,
    quote_order_qty: Decimal | None,
    time_in_force: str | None,
) -> None:
    if type == "MARKET":
        if quantity is None and quote_order_qty is None:
            raise either_param("quantity", "quoteOrderQty")
        if quantity is not None and quote_order_qty is not None:
            raise param_not_required("quoteOrderQty")
        if price is not None:
            raise param_not_required("price")
        if time_in_force is not None:
            raise param_not_required("timeInForce")
        return
    if type == "LIMIT" and time_in_force is None:
        raise mandatory_param("timeInForce")
    if quantity is None:
        raise mandatory_param("quantity")
    if price is None:
        raise mandatory_param("price")
    if quote_order_qty is not None:
        raise param_not_required("quoteOrderQty")
    if type == "LIMIT_MAKER" and time_in_force is not None:
        raise param_not_required("timeInForce")


def _check_value(name: str, value: Decimal | None, places: int, zero_msg: str) -> None:
    if value is None:
        return
    if not value.is_finite() or value < 0:
        # Binance's parser accepts only unsigned plain decimals.
        raise illegal_chars(name, _DECIMAL_SYNTAX)
    if _decimals(value) > places:
        raise bad_precision(name)
    if value == 0:
        raise invalid_message(zero_msg)


def _decimals(value: Decimal) -> int:
    # Trailing zeros do not count ("0.10000000000" has 1 decimal); no normalize(), which rounds
    # to the context's 28 digits.
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # callers pass finite values
    end = len(digits)
    while exponent < 0 and end > 0 and digits[end - 1] == 0:
        end -= 1
        exponent += 1
    return max(-exponent, 0)


def _check_price(
    rules: SymbolRules, side: str, price: Decimal, reference_price: Decimal | None
) -> None:
    pf = rules.price_filter
    if pf is not None and (
        (pf.min_price > 0 and price < pf.min_price)
        or (pf.max_price > 0 and price > pf.max_price)
        or (pf.tick_size > 0 and (price - pf.min_price) % pf.tick_size != 0)
    ):
        raise filter_failure("PRICE_FILTER")
    if reference_price is None:
        return
    pp = rules.percent_price
    if pp is not None and not (
        reference_price * pp.multiplier_down <= price <= reference_price * pp.multiplier_up
    ):
        raise filter_failure("PERCENT_PRICE")
    by_side = rules.percent_price_by_side
    if by_side is not None:
        if side == "BUY":
            down, up = by_side.bid_multiplier_down, by_side.bid_multiplier_up
        else:
            down, up = by_side.ask_multiplier_down, by_side.ask_multiplier_up
        if not reference_price * down <= price <= reference_price * up:
            raise filter_failure("PERCENT_PRICE_BY_SIDE")


def _check_lot(lot: LotSize | None, quantity: Decimal, filter_type: str) -> None:
    if lot is not None and (
        (lot.min_qty > 0 and quantity < lot.min_qty)
        or (lot.max_qty > 0 and quantity > lot.max_qty)
        or (lot.step_size > 0 and (quantity - lot.min_qty) % lot.step_size != 0)
    ):
        raise filter_failure(filter_type)


def _check_notional(rules: SymbolRules, notional: Decimal, is_market: bool) -> None:
    mn = rules.min_notional
    if mn is not None and (mn.apply_to_market or not is_market) and notional < mn.min_notional:
        raise filter_failure("MIN_NOTIONAL")
    nf = rules.notional
    if nf is None:
        return
    if (nf.apply_min_to_market or not is_market) and notional < nf.min_notional:
        raise filter_failure("NOTIONAL")
    if (
        (nf.apply_max_to_market or not is_market)
        and nf.max_notional > 0
        and notional > nf.max_notional
    ):
        raise filter_failure("NOTIONAL")
