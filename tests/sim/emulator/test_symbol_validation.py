"""validate_order: Binance's parameter checks and filters, on the 2021 BTCUSDT and odd symbols."""

from dataclasses import replace
from decimal import Decimal

import pytest

from birdterm.sim.emulator.symbols import MinNotional, Notional, SymbolRules

from tests.sim.emulator.symbol_fixtures import (
    BTCUSDT_2021,
    ODD_SYMBOL,
    check,
    error_of,
    filter_failure,
    limit,
    load_recording,
    market,
    recorded_symbol,
)

D = Decimal


@pytest.fixture(params=["hand-written", "recorded"])
def btc(request) -> SymbolRules:
    """BTCUSDT of 2021: tick 0.01, step 0.00001, MIN_NOTIONAL 10, MARKET_LOT_SIZE max 100.05."""
    if request.param == "recorded":
        return SymbolRules.from_exchange_info(recorded_symbol(load_recording(), "BTCUSDT"))
    return SymbolRules.from_exchange_info(BTCUSDT_2021)


@pytest.fixture
def odd() -> SymbolRules:
    return SymbolRules.from_exchange_info(ODD_SYMBOL)


@pytest.mark.parametrize(
    ("price", "qty", "failure"),
    [
        ("0.01", "1000", None),  # minPrice, notional exactly 10
        ("0.009", "2000", "PRICE_FILTER"),  # below minPrice
        ("1000000", "0.00001", None),  # maxPrice, minQty
        ("1000000.01", "0.00001", "PRICE_FILTER"),
        ("50000.01", "0.001", None),
        ("50000.015", "0.001", "PRICE_FILTER"),  # off the tick grid
        ("2000000", "0.000009", "PRICE_FILTER"),  # PRICE_FILTER is checked before LOT_SIZE
        ("50000", "0.000009", "LOT_SIZE"),  # below minQty (and the notional: LOT_SIZE first)
        ("0.01", "9000", None),  # maxQty
        ("0.01", "9000.00001", "LOT_SIZE"),
        ("50000", "0.000015", "LOT_SIZE"),  # off the step grid
        ("40000.00", "0.00025", None),  # notional exactly 10
        ("39999.99", "0.00025", "MIN_NOTIONAL"),  # one tick under
        ("40000", "100.05382", None),  # MARKET_LOT_SIZE does not apply to LIMIT
    ],
)
def test_limit_order_filters(btc, price, qty, failure):
    if failure is None:
        limit(btc, price, qty)
        check(btc, "LIMIT_MAKER", "SELL", qty=qty, price=price)
    else:
        assert error_of(limit, btc, price, qty) == filter_failure(failure)
        assert error_of(check, btc, "LIMIT_MAKER", qty=qty, price=price) == filter_failure(failure)


@pytest.mark.parametrize(
    ("qty", "ref", "qoq", "failure"),
    [
        ("0.00025", "40000", None, None),  # notional at the reference price exactly 10
        ("0.00025", "39999.99", None, "MIN_NOTIONAL"),  # applyToMarket is true
        ("0.00025", None, None, None),  # no reference price yet: no notional check
        ("0.000015", "40000", None, "LOT_SIZE"),  # LOT_SIZE's step applies to MARKET too
        ("100.05381", "40000", None, None),  # MARKET_LOT_SIZE maxQty 100.05381873
        ("100.05382", "40000", None, "MARKET_LOT_SIZE"),
        (None, None, "10", None),  # quoteOrderQty is the notional itself
        (None, "40000", "9.99999999", "MIN_NOTIONAL"),
    ],
)
def test_market_order_filters(btc, qty, ref, qoq, failure):
    if failure is None:
        market(btc, qty=qty, ref=ref, qoq=qoq)
    else:
        assert error_of(market, btc, qty=qty, ref=ref, qoq=qoq) == filter_failure(failure)


def test_min_notional_apply_to_market_false_spares_market_orders_only(btc):
    lenient = replace(btc, min_notional=MinNotional(D(10), False, 5))
    market(lenient, qty="0.00025", ref="39999.99")
    market(lenient, qoq="1")
    assert error_of(limit, lenient, "39999.99", "0.00025") == filter_failure("MIN_NOTIONAL")


@pytest.mark.parametrize(
    ("side", "price", "failure"),
    [
        ("BUY", "200000.00", None),  # reference 40000 x multiplierUp 5
        ("BUY", "200000.01", "PERCENT_PRICE"),
        ("SELL", "8000.00", None),  # x multiplierDown 0.2
        ("SELL", "7999.99", "PERCENT_PRICE"),
    ],
)
def test_percent_price_uses_the_reference_price(btc, side, price, failure):
    if failure is None:
        limit(btc, price, "0.01", side, ref="40000")
    else:
        assert error_of(limit, btc, price, "0.01", side, ref="40000") == filter_failure(failure)
    limit(btc, price, "0.01", side)  # without a reference price the band is not checked


def test_price_and_lot_grids_count_from_min_price_and_min_qty(odd):
    # minPrice 0.05, tick 0.1: 0.15 is on the grid, 0.2 is not; minQty 0.015, step 0.01.
    limit(odd, "40.15", "0.125")
    assert error_of(limit, odd, "40.2", "0.125") == filter_failure("PRICE_FILTER")
    assert error_of(limit, odd, "40.15", "0.12") == filter_failure("LOT_SIZE")
    assert error_of(limit, odd, "0.04", "1") == filter_failure("PRICE_FILTER")


def test_notional_min_max_and_their_market_flags(odd):
    limit(odd, "50.05", "0.105")  # 5.25525 >= 5
    assert error_of(limit, odd, "40.05", "0.115") == filter_failure("NOTIONAL")  # 4.60575
    limit(odd, "100.05", "9.995")  # 999.99975 <= 1000
    assert error_of(limit, odd, "100.05", "10.005") == filter_failure("NOTIONAL")  # 1001.00025
    market(odd, qty="0.015", ref="1")  # applyMinToMarket false: 0.015 is fine
    market(odd, qty="9.995", ref="100.05")
    assert error_of(market, odd, qty="10.005", ref="100.05") == filter_failure("NOTIONAL")
    off = replace(odd, notional=Notional(D(5), True, D(1000), False, 5))
    market(off, qty="10.005", ref="100.05")
    assert error_of(market, off, qty="0.015", ref="1") == filter_failure("NOTIONAL")


@pytest.mark.parametrize(
    ("side", "price", "failure"),
    [
        ("BUY", "119.95", None),  # bid band 0.2x-1.2x of 100
        ("BUY", "120.05", "PERCENT_PRICE_BY_SIDE"),
        ("BUY", "20.05", None),
        ("BUY", "19.95", "PERCENT_PRICE_BY_SIDE"),
        ("SELL", "499.95", None),  # ask band 0.8x-5x
        ("SELL", "500.05", "PERCENT_PRICE_BY_SIDE"),
        ("SELL", "80.05", None),
        ("SELL", "79.95", "PERCENT_PRICE_BY_SIDE"),
    ],
)
def test_percent_price_by_side(odd, side, price, failure):
    if failure is None:
        limit(odd, price, "1.005", side, ref="100")
    else:
        assert error_of(limit, odd, price, "1.005", side, ref="100") == filter_failure(failure)


MANDATORY = "Mandatory parameter '{}' was not sent, was empty/null, or malformed."
NOT_REQUIRED = "Parameter '{}' sent when not required."


@pytest.mark.parametrize(
    ("order", "code", "msg"),
    [
        ({"type": "LIMIT", "qty": "1", "price": "1"}, -1102, MANDATORY.format("timeInForce")),
        ({"type": "LIMIT", "price": "1", "tif": "GTC"}, -1102, MANDATORY.format("quantity")),
        ({"type": "LIMIT", "qty": "1", "tif": "IOC"}, -1102, MANDATORY.format("price")),
        ({"type": "LIMIT"}, -1102, MANDATORY.format("timeInForce")),
        ({"type": "LIMIT_MAKER", "price": "1"}, -1102, MANDATORY.format("quantity")),
        ({"type": "LIMIT_MAKER", "qty": "1"}, -1102, MANDATORY.format("price")),
        (
            {"type": "MARKET"},
            -1102,
            "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
        ),
        ({"type": "MARKET", "qty": "1", "qoq": "1"}, -1106, NOT_REQUIRED.format("quoteOrderQty")),
        ({"type": "MARKET", "qty": "1", "price": "1"}, -1106, NOT_REQUIRED.format("price")),
        ({"type": "MARKET", "qty": "1", "tif": "GTC"}, -1106, NOT_REQUIRED.format("timeInForce")),
        (
            {"type": "LIMIT", "qty": "1", "price": "1", "qoq": "1", "tif": "GTC"},
            -1106,
            NOT_REQUIRED.format("quoteOrderQty"),
        ),
        (
            {"type": "LIMIT_MAKER", "qty": "1", "price": "1", "tif": "GTC"},
            -1106,
            NOT_REQUIRED.format("timeInForce"),
        ),
        ({"type": "LIMIT", "side": "LONG"}, -1117, "Invalid side."),
        ({"type": "STOP"}, -1116, "Invalid orderType."),
        ({"type": "LIMIT", "tif": "GTX"}, -1115, "Invalid timeInForce."),
        ({"type": "STOP_LOSS_LIMIT"}, -1020, "This operation is not supported."),
    ],
)
def test_parameter_errors(btc, order, code, msg):
    assert error_of(check, btc, **order) == (code, msg)


@pytest.mark.parametrize(
    ("order", "code", "msg"),
    [
        (
            {"qty": "0.000000001", "price": "50000"},
            -1111,
            "Parameter 'quantity' has too much precision.",
        ),
        (
            {"qty": "0.001", "price": "1.123456789"},
            -1111,
            "Parameter 'price' has too much precision.",
        ),
        ({"qty": "0", "price": "50000"}, -1013, "Invalid quantity."),
        ({"qty": "0.001", "price": "0.00"}, -1013, "Invalid price."),
        (
            {"qty": "-0.001", "price": "50000"},
            -1100,
            "Illegal characters found in parameter 'quantity'; "
            r"legal range is '^([0-9]{1,20})(\.[0-9]{1,20})?$'.",
        ),
    ],
)
def test_value_errors(btc, order, code, msg):
    assert error_of(check, btc, "LIMIT", tif="GTC", **order) == (code, msg)


def test_trailing_zeros_are_not_precision(btc):
    limit(btc, "50000.0100000000000", "0.00100000000000")


def test_symbol_level_rejections(btc, odd):
    closed = replace(btc, status="BREAK")
    assert error_of(limit, closed, "50000", "0.001") == (-2010, "Market is closed.")
    limit_only = replace(btc, order_types=("LIMIT",))
    assert error_of(market, limit_only, qty="0.001") == (
        -2010,
        "Market orders are not supported for this symbol.",
    )
    assert error_of(check, limit_only, "LIMIT_MAKER", qty="0.001", price="50000") == (
        -2010,
        "Unsupported order combination",
    )
    # ODDUSD4 has quoteOrderQtyMarketAllowed false.
    assert error_of(market, odd, qoq="10") == (
        -1013,
        "Quote order qty market orders are not supported for this symbol.",
    )
    market(odd, qty="1.005", ref="10")
