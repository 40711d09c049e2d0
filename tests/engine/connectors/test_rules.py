"""Trading rules from exchangeInfo: the real 2021 answer, a generated one, and pair naming."""

import json
import logging
from decimal import Decimal

import pytest

from birdterm.engine.connectors.binance.rules import (
    pair_to_symbol,
    parse_trading_rules,
    symbol_pairs,
    symbol_status,
    symbol_to_pair,
)
from birdterm.engine.types import TradeType, TradingRule

from tests.engine.connectors.public_fixtures import CRYPTOFEED_INFO, NEEDS_SHARED


def recorded_exchange_info() -> dict:
    if not CRYPTOFEED_INFO.exists():
        pytest.skip(NEEDS_SHARED)
    with CRYPTOFEED_INFO.open() as lines:
        first = lines.readline()
    return json.loads(first.split(": ", 1)[1])


def generated_symbol(symbol, base, quote, filters, status="TRADING", precision=8):
    return {
        "symbol": symbol,
        "status": status,
        "baseAsset": base,
        "baseAssetPrecision": precision,
        "quoteAsset": quote,
        "quotePrecision": precision,
        "quoteAssetPrecision": precision,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
        "filters": filters,
    }


def generated_exchange_info() -> dict:
    return {
        "timezone": "UTC",
        "serverTime": 1_700_000_000_000,
        "rateLimits": [],
        "exchangeFilters": [],
        "symbols": [
            generated_symbol(
                "BTCUSDT",
                "BTC",
                "USDT",
                [
                    {
                        "filterType": "PRICE_FILTER",
                        "minPrice": "0.01000000",
                        "maxPrice": "1000000.00000000",
                        "tickSize": "0.01000000",
                    },
                    {
                        "filterType": "LOT_SIZE",
                        "minQty": "0.00001000",
                        "maxQty": "9000.00000000",
                        "stepSize": "0.00001000",
                    },
                    {
                        "filterType": "NOTIONAL",
                        "minNotional": "5.00000000",
                        "applyMinToMarket": True,
                        "maxNotional": "9000000.00000000",
                        "applyMaxToMarket": False,
                        "avgPriceMins": 5,
                    },
                ],
            ),
            generated_symbol(
                "1INCHBTC",
                "1INCH",
                "BTC",
                [
                    {
                        "filterType": "PRICE_FILTER",
                        "minPrice": "0",
                        "maxPrice": "0",
                        "tickSize": "0",
                    },
                    {"filterType": "LOT_SIZE", "minQty": "1.0", "maxQty": "0", "stepSize": "0"},
                ],
                precision=4,
            ),
            generated_symbol(
                "SHIBUSDT",
                "SHIB",
                "USDT",
                [
                    {
                        "filterType": "PRICE_FILTER",
                        "minPrice": "0.00000010",
                        "maxPrice": "1.00000000",
                        "tickSize": "0.00000010",
                    },
                    {
                        "filterType": "LOT_SIZE",
                        "minQty": "10.00000000",
                        "maxQty": "46116860414.00000000",
                        "stepSize": "10.00000000",
                    },
                    {"filterType": "MIN_NOTIONAL", "minNotional": "10.0", "applyToMarket": True},
                ],
                status="BREAK",
            ),
        ],
    }


def test_recorded_2021_exchange_info_gives_btc_eth_and_ltc_rules():
    info = recorded_exchange_info()
    rules = parse_trading_rules(info, ["BTC-USDT", "ETH-USDT", "LTC-BTC"])
    assert rules["BTC-USDT"] == TradingRule(
        "BTC-USDT",
        tick_size=Decimal("0.01"),
        step_size=Decimal("0.00001"),
        min_amount=Decimal("0.00001"),
        max_amount=Decimal("9000"),
        min_notional=Decimal("10"),  # the older MIN_NOTIONAL filter in 2021
    )
    assert rules["ETH-USDT"].step_size == Decimal("0.0001")
    assert rules["LTC-BTC"].tick_size == Decimal("0.000001")
    assert rules["LTC-BTC"].min_notional == Decimal("0.0001")
    # padding zeros are gone, so quantizing yields plain values
    assert str(rules["BTC-USDT"].quantize_price(Decimal("61837.639"), TradeType.BUY)) == "61837.63"
    assert str(rules["BTC-USDT"].quantize_amount(Decimal("0.123456789"))) == "0.12345"
    pairs = symbol_pairs(info)
    assert len(pairs) == 1695
    assert symbol_to_pair("BTCUSDT", pairs) == "BTC-USDT"
    assert symbol_to_pair("ethusdt", pairs) == "ETH-USDT"
    assert symbol_status(info, "BTC-USDT") == "TRADING"


def test_generated_exchange_info_notional_fallbacks_and_status(caplog):
    info = generated_exchange_info()
    with caplog.at_level(logging.WARNING, logger="birdterm.binance.rules"):
        rules = parse_trading_rules(info, ["BTC-USDT", "1INCH-BTC", "SHIB-USDT"])
    btc = rules["BTC-USDT"]
    assert (btc.tick_size, btc.step_size, btc.min_notional) == (
        Decimal("0.01"),
        Decimal("0.00001"),
        Decimal("5"),
    )
    inch = rules["1INCH-BTC"]  # tick and step disabled (0): the asset precision is the grid
    assert (inch.tick_size, inch.step_size, inch.min_amount) == (
        Decimal("0.0001"),
        Decimal("0.0001"),
        Decimal("1"),
    )
    assert inch.max_amount is None and inch.min_notional == 0
    shib = rules["SHIB-USDT"]
    assert str(shib.step_size) == "10"  # not 1E+1
    assert str(shib.quantize_amount(Decimal("12345"))) == "12340"
    assert shib.tick_size == Decimal("0.0000001")
    assert shib.min_notional == Decimal("10")
    assert "SHIB-USDT (SHIBUSDT) has status BREAK" in caplog.text
    assert symbol_status(info, "SHIB-USDT") == "BREAK"
    assert symbol_status(info, "DOGE-USDT") is None


def test_unlisted_pairs_are_named():
    with pytest.raises(KeyError, match="does not list DOGE-USDT, XRP-BTC"):
        parse_trading_rules(generated_exchange_info(), ["BTC-USDT", "DOGE-USDT", "XRP-BTC"])
    with pytest.raises(KeyError, match="'DOGEUSDT' is not in the exchange info"):
        symbol_to_pair("DOGEUSDT", symbol_pairs(generated_exchange_info()))


def test_pair_to_symbol():
    assert pair_to_symbol("BTC-USDT") == "BTCUSDT"
    assert pair_to_symbol("1INCH-BTC") == "1INCHBTC"
    with pytest.raises(ValueError, match="BASE-QUOTE"):
        pair_to_symbol("btcusdt")


def test_rules_agree_with_the_emulators_own_conversion():
    emulator_symbols = pytest.importorskip("birdterm.sim.emulator.default_symbols")
    from birdterm.sim.emulator.symbols import to_trading_rule

    rules = emulator_symbols.default_symbols()
    info = {"symbols": [r.to_exchange_info() for r in rules.values()]}
    ours = parse_trading_rules(info, ["BTC-USDT", "ETH-USDT"])
    assert ours["BTC-USDT"] == to_trading_rule(rules["BTCUSDT"], "BTC-USDT")
    assert ours["ETH-USDT"] == to_trading_rule(rules["ETHUSDT"], "ETH-USDT")
