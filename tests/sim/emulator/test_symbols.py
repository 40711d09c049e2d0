"""SymbolRules: exchangeInfo parsing, exact JSON round trip, default symbols, TradingRule."""

import copy
import json
from dataclasses import replace
from decimal import Decimal

import pytest

from birdterm.engine.types import OrderRuleError, TradeType, TradingRule
from birdterm.sim.emulator.default_symbols import default_symbols
from birdterm.sim.emulator.symbol_filters import fmt_fixed
from birdterm.sim.emulator.symbols import (
    LotSize,
    MinNotional,
    Notional,
    PriceFilter,
    SymbolRules,
    parse_exchange_info,
    to_trading_rule,
)

from tests.sim.emulator.symbol_fixtures import (
    BTCUSDT_2021,
    ODD_SYMBOL,
    error_of,
    filter_failure,
    limit,
    load_recording,
    recorded_symbol,
)

D = Decimal


@pytest.fixture(scope="module")
def recording() -> dict:
    return load_recording()


def test_hand_written_btcusdt_is_the_recorded_one(recording):
    assert recorded_symbol(recording, "BTCUSDT") == BTCUSDT_2021


@pytest.mark.parametrize("symbol", ["BTCUSDT", "ETHUSDT", "NKNUSDT", "BLZETH"])
def test_recorded_symbol_round_trips_exactly(recording, symbol):
    original = recorded_symbol(recording, symbol)
    out = SymbolRules.from_exchange_info(original).to_exchange_info()
    assert out["filters"] == original["filters"]
    assert out == original
    assert json.dumps(out) == json.dumps(original)  # same key and filter order too


def test_every_recorded_symbol_round_trips(recording):
    rules = parse_exchange_info(recording)
    assert len(rules) == 1695
    mismatched = [
        s["symbol"] for s in recording["symbols"] if rules[s["symbol"]].to_exchange_info() != s
    ]
    assert mismatched == []


def test_recorded_btcusdt_parses_to_typed_decimals(recording):
    rules = parse_exchange_info(recording)["BTCUSDT"]
    assert rules.price_filter == PriceFilter(D("0.01"), D("1000000"), D("0.01"))
    assert rules.lot_size == LotSize(D("0.00001"), D("9000"), D("0.00001"))
    assert rules.market_lot_size == LotSize(D(0), D("100.05381873"), D(0))
    assert rules.min_notional == MinNotional(D(10), True, 5)
    assert rules.notional is None
    assert rules.max_num_orders is not None and rules.max_num_orders.max_num_orders == 200
    assert [f["filterType"] for f in rules.other_filters] == [
        "ICEBERG_PARTS",
        "MAX_NUM_ALGO_ORDERS",
    ]


def test_recorded_quote_precision_2_symbols_keep_two_decimals(recording):
    # Binance writes prices and notionals with the quote asset's decimals ("1.00").
    two = [s for s in recording["symbols"] if s["quoteAssetPrecision"] == 2]
    assert two
    for s in two:
        assert SymbolRules.from_exchange_info(s).to_exchange_info()["filters"] == s["filters"]


@pytest.mark.parametrize("symbol_json", [BTCUSDT_2021, ODD_SYMBOL], ids=["btc2021", "odd"])
def test_hand_written_symbol_round_trips(symbol_json):
    original = copy.deepcopy(symbol_json)
    rules = SymbolRules.from_exchange_info(original)
    assert original == symbol_json  # input untouched
    assert json.dumps(rules.to_exchange_info()) == json.dumps(symbol_json)
    assert SymbolRules.from_exchange_info(rules.to_exchange_info()) == rules


def test_unknown_filters_and_fields_are_kept_raw_and_ignored():
    rules = SymbolRules.from_exchange_info(ODD_SYMBOL)
    assert {f["filterType"] for f in rules.other_filters} == {"ICEBERG_PARTS", "SOMETHING_NEW"}
    assert dict(rules.extra_fields)["permissionSets"] == [["SPOT"]]
    assert rules.notional == Notional(D(5), False, D(1000), True, 5)
    limit(rules, price="10.0500", qty="1.005")  # SOMETHING_NEW does not get in the way


def test_symbol_built_in_code_writes_binance_strings_in_todays_order():
    rules = SymbolRules(
        symbol="BTCUSDT",
        base_asset="BTC",
        quote_asset="USDT",
        price_filter=PriceFilter(D("0.01"), D(1000000), D("0.01")),
        lot_size=LotSize(D("0.00001"), D(9000), D("0.00001")),
        market_lot_size=LotSize(D(0), D(100), D(0)),
        notional=Notional(D(5), True, D(9000000), False, 5),
    )
    out = rules.to_exchange_info()
    assert [f["filterType"] for f in out["filters"]] == [
        "PRICE_FILTER",
        "LOT_SIZE",
        "MARKET_LOT_SIZE",
        "NOTIONAL",
    ]
    assert out["filters"][0] == {
        "filterType": "PRICE_FILTER",
        "minPrice": "0.01000000",
        "maxPrice": "1000000.00000000",
        "tickSize": "0.01000000",
    }
    assert out["filters"][2]["stepSize"] == "0.00000000"
    assert out["filters"][3]["minNotional"] == "5.00000000"
    assert list(out)[:3] == ["symbol", "status", "baseAsset"]
    assert SymbolRules.from_exchange_info(out) == rules


def test_formatting_refuses_to_round():
    assert fmt_fixed(D("0.1"), 4) == "0.1000"
    with pytest.raises(ValueError, match="more than 2 decimals"):
        fmt_fixed(D("0.001"), 2)
    rules = SymbolRules.from_exchange_info(ODD_SYMBOL)
    with pytest.raises(ValueError):  # 5 decimals on a 4-decimal quote asset
        replace(rules, price_filter=PriceFilter(D("0.00001"), D(1), D("0.1"))).to_exchange_info()


def test_malformed_and_duplicate_filters_are_errors_naming_the_symbol():
    bad = copy.deepcopy(BTCUSDT_2021)
    del bad["filters"][2]["stepSize"]
    with pytest.raises(ValueError, match="BTCUSDT: malformed LOT_SIZE"):
        SymbolRules.from_exchange_info(bad)
    twice = copy.deepcopy(BTCUSDT_2021)
    twice["filters"].append(twice["filters"][0])
    with pytest.raises(ValueError, match="PRICE_FILTER appears twice"):
        SymbolRules.from_exchange_info(twice)
    with pytest.raises(ValueError, match="required field"):
        SymbolRules.from_exchange_info({"symbol": "X", "filters": []})


def test_parse_exchange_info_keys_by_symbol():
    doc = {"timezone": "UTC", "symbols": [BTCUSDT_2021, ODD_SYMBOL]}
    rules = parse_exchange_info(doc)
    assert list(rules) == ["BTCUSDT", "ODDUSD4"]
    assert rules["ODDUSD4"].quote_asset == "USD4"


def test_default_symbols_look_like_todays_binance():
    symbols = default_symbols()
    assert list(symbols) == ["BTCUSDT", "ETHUSDT"]
    btc, eth = symbols["BTCUSDT"], symbols["ETHUSDT"]
    assert btc.price_filter == eth.price_filter == PriceFilter(D("0.01"), D(1000000), D("0.01"))
    assert btc.lot_size == LotSize(D("0.00001"), D(9000), D("0.00001"))
    assert eth.lot_size == LotSize(D("0.0001"), D(9000), D("0.0001"))
    assert btc.notional == Notional(D(5), True, D(9000000), False, 5)
    assert btc.min_notional is None and btc.percent_price is None
    assert btc.percent_price_by_side is not None
    for rules in symbols.values():
        assert SymbolRules.from_exchange_info(rules.to_exchange_info()) == rules
    btc_json = btc.to_exchange_info()
    assert btc_json["filters"][0]["tickSize"] == "0.01000000"
    assert btc_json["permissionSets"] == [["SPOT", "MARGIN"]]


def test_to_trading_rule_of_recorded_and_default_btcusdt():
    assert to_trading_rule(SymbolRules.from_exchange_info(BTCUSDT_2021), "BTC-USDT") == (
        TradingRule("BTC-USDT", D("0.01"), D("0.00001"), D("0.00001"), D(9000), D(10))
    )
    assert to_trading_rule(default_symbols()["ETHUSDT"], "ETH-USDT") == (
        TradingRule("ETH-USDT", D("0.01"), D("0.0001"), D("0.0001"), D(9000), D(5))
    )


def test_to_trading_rule_edge_cases():
    rules = SymbolRules.from_exchange_info(BTCUSDT_2021)
    with pytest.raises(ValueError, match="does not match BTCUSDT"):
        to_trading_rule(rules, "ETH-USDT")
    # A disabled tick / max (0) falls back to the asset precision / no maximum.
    loose = replace(
        rules,
        price_filter=PriceFilter(D(0), D(0), D(0)),
        lot_size=LotSize(D(0), D(0), D(0)),
        min_notional=None,
        notional=Notional(D(5), True, D(0), False, 5),
    )
    assert to_trading_rule(loose, "BTC-USDT") == TradingRule(
        "BTC-USDT", D("1E-8"), D("1E-8"), D(0), None, D(5)
    )


# (side, price, amount) as a strategy might want them, before quantizing.
ENGINE_ORDERS = [
    (TradeType.BUY, "43210.987", "0.0123456"),
    (TradeType.SELL, "43210.981", "0.0123456"),
    (TradeType.BUY, "0.015", "1000"),
    (TradeType.BUY, "39999.999", "0.00025"),
    (TradeType.SELL, "39999.991", "0.00025"),
    (TradeType.BUY, "50000", "0.0000099"),
    (TradeType.BUY, "0.01", "9000.5"),
    (TradeType.SELL, "999999.999", "0.00001"),
]


@pytest.mark.parametrize(("side", "price", "amount"), ENGINE_ORDERS)
@pytest.mark.parametrize("source", ["btc2021", "default"])
def test_trading_rule_and_validate_order_agree(source, side, price, amount):
    rules = (
        SymbolRules.from_exchange_info(BTCUSDT_2021)
        if source == "btc2021"
        else default_symbols()["BTCUSDT"]
    )
    rule = to_trading_rule(rules, "BTC-USDT")
    q_price, q_amount = rule.quantize_price(D(price), side), rule.quantize_amount(D(amount))
    try:
        rule.check(q_price, q_amount)
    except OrderRuleError:
        code, _ = error_of(limit, rules, str(q_price), str(q_amount), side.value)
        assert code == -1013
    else:
        limit(rules, str(q_price), str(q_amount), side.value)
    # The engine's rounding always lands on Binance's grids.
    assert (q_price - rules.price_filter.min_price) % rules.price_filter.tick_size == 0
    assert (q_amount - rules.lot_size.min_qty) % rules.lot_size.step_size == 0


def test_trading_rule_min_notional_matches_the_filter_boundary():
    rules = SymbolRules.from_exchange_info(BTCUSDT_2021)
    rule = to_trading_rule(rules, "BTC-USDT")
    rule.check(D("40000.00"), D("0.00025"))  # exactly 10
    limit(rules, "40000.00", "0.00025")
    with pytest.raises(OrderRuleError):
        rule.check(D("39999.99"), D("0.00025"))
    assert error_of(limit, rules, "39999.99", "0.00025") == filter_failure("MIN_NOTIONAL")
