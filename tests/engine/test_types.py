"""Order state machine, fills, quantization and fees."""

from decimal import Decimal as D

import pytest

from birdterm.engine.types import (
    ORDER_TRANSITIONS,
    FillError,
    IllegalTransitionError,
    InFlightOrder,
    OrderRuleError,
    OrderState,
    OrderType,
    TokenAmount,
    TradeFee,
    TradeFeeSchema,
    TradeType,
    TradeUpdate,
    TradingRule,
    split_trading_pair,
)

ALL_PAIRS = [(a, b) for a in OrderState for b in OrderState]
LEGAL = [(a, b) for a, b in ALL_PAIRS if b in ORDER_TRANSITIONS[a]]
ILLEGAL = [(a, b) for a, b in ALL_PAIRS if b not in ORDER_TRANSITIONS[a]]


def make_order(amount="1", price="100", state=OrderState.PENDING_CREATE, side=TradeType.BUY):
    order = InFlightOrder(
        client_order_id="c1",
        trading_pair="BTC-USDT",
        order_type=OrderType.LIMIT,
        trade_type=side,
        amount=D(amount),
        price=D(price),
        creation_timestamp=1.0,
    )
    order.state = state
    return order


NO_FEE = TradeFee()


def fill(trade_id, amount, price="100", fee=NO_FEE):
    return TradeUpdate(trade_id, "c1", D(price), D(amount), fee, timestamp=2.0)


def test_transition_table_covers_every_state_and_final_states_are_dead_ends():
    assert set(ORDER_TRANSITIONS) == set(OrderState)
    for state in (OrderState.FILLED, OrderState.CANCELED, OrderState.FAILED):
        assert ORDER_TRANSITIONS[state] == frozenset()
        assert state.is_done
    # moves that would lose track of an order or resurrect it must be illegal
    for move in [
        (OrderState.OPEN, OrderState.PENDING_CREATE),
        (OrderState.PARTIALLY_FILLED, OrderState.OPEN),
        (OrderState.PARTIALLY_FILLED, OrderState.FAILED),  # it traded: it exists
        (OrderState.PENDING_CANCEL, OrderState.FAILED),
        (OrderState.FILLED, OrderState.CANCELED),
        (OrderState.CANCELED, OrderState.OPEN),
        (OrderState.OPEN, OrderState.OPEN),
    ]:
        assert move in ILLEGAL
    assert len(LEGAL) == 19 and len(ILLEGAL) == 30


@pytest.mark.parametrize(("current", "requested"), ILLEGAL, ids=lambda s: s.value)
def test_every_illegal_transition_is_rejected(current, requested):
    order = make_order(state=current)
    with pytest.raises(IllegalTransitionError) as info:
        order.transition(requested)
    assert order.state is current
    assert current.value in str(info.value) and requested.value in str(info.value)


@pytest.mark.parametrize(("current", "requested"), LEGAL, ids=lambda s: s.value)
def test_every_legal_transition_is_accepted(current, requested):
    order = make_order(state=current)
    order.transition(requested, timestamp=5.0)
    assert order.state is requested
    assert order.last_update_timestamp == 5.0


def test_partial_fills_accumulate_average_price_and_fees():
    order = make_order(amount="1.5", state=OrderState.OPEN)
    fee = TradeFee(percent=D("0.001"))
    assert order.apply_fill(fill("t1", "0.5", "100", fee))
    assert order.state is OrderState.PARTIALLY_FILLED
    assert order.apply_fill(fill("t2", "1.0", "103", fee))
    assert order.state is OrderState.FILLED
    assert order.executed_base == D("1.5")
    assert order.executed_quote == D("153")
    assert order.average_price == D("102")
    # a buy pays a percent fee in the base asset it receives
    assert order.fees == {"BTC": D("0.0015")}
    assert order.remaining_amount == D("0")


def test_duplicate_fill_is_ignored():
    order = make_order(amount="2", state=OrderState.OPEN)
    assert order.apply_fill(fill("t1", "0.5"))
    assert not order.apply_fill(fill("t1", "0.5"))
    assert order.executed_base == D("0.5")
    assert list(order.fills) == ["t1"]


def test_overfill_and_foreign_fill_are_rejected():
    order = make_order(amount="1", state=OrderState.OPEN)
    order.apply_fill(fill("t1", "0.6"))
    with pytest.raises(FillError, match="overfill"):
        order.apply_fill(fill("t2", "0.5"))
    assert order.executed_base == D("0.6")
    foreign = TradeUpdate("t3", "other", D("100"), D("0.1"), TradeFee(), 3.0)
    with pytest.raises(FillError, match="other"):
        order.apply_fill(foreign)
    with pytest.raises(FillError, match="must be > 0"):
        order.apply_fill(fill("t4", "0"))


def test_fill_on_a_final_order_is_rejected():
    order = make_order(state=OrderState.CANCELED)
    with pytest.raises(IllegalTransitionError):
        order.apply_fill(fill("t1", "0.5"))
    assert order.executed_base == 0


def test_partial_fill_while_cancel_pending_keeps_pending_cancel_and_full_fill_ends_it():
    order = make_order(amount="1", state=OrderState.PENDING_CANCEL)
    order.apply_fill(fill("t1", "0.4"))
    assert order.state is OrderState.PENDING_CANCEL
    order.apply_fill(fill("t2", "0.6"))
    assert order.state is OrderState.FILLED


def test_market_fill_straight_from_pending_create():
    order = InFlightOrder("c1", "BTC-USDT", OrderType.MARKET, TradeType.SELL, D("1"), None, 1.0)
    order.apply_fill(fill("t1", "1", "250", TradeFee(percent=D("0.001"))))
    assert order.state is OrderState.FILLED
    # a sell pays the percent fee in quote: 1 * 250 * 0.001
    assert order.fees == {"USDT": D("0.250")}


def test_order_validation():
    with pytest.raises(ValueError, match="amount must be > 0"):
        make_order(amount="0")
    with pytest.raises(ValueError, match="needs a price"):
        InFlightOrder("c", "BTC-USDT", OrderType.LIMIT, TradeType.BUY, D("1"), None, 0.0)


RULE = TradingRule(
    "BTC-USDT",
    tick_size=D("0.01"),
    step_size=D("0.00001"),
    min_amount=D("0.0001"),
    min_notional=D("5"),
)


@pytest.mark.parametrize(
    ("price", "side", "expected"),
    [
        ("100.019", TradeType.BUY, "100.01"),  # bids round down: never pay more than asked
        ("100.011", TradeType.SELL, "100.02"),  # asks round up: never sell cheaper than asked
        ("100.01", TradeType.BUY, "100.01"),  # on-grid prices are kept exactly
        ("100.01", TradeType.SELL, "100.01"),
        ("100.019", None, "100.01"),
        ("0.004", TradeType.BUY, "0.00"),
        ("99999.999", TradeType.SELL, "100000.00"),
    ],
)
def test_quantize_price_rounds_away_from_aggression(price, side, expected):
    q = RULE.quantize_price(D(price), side)
    assert q == D(expected)
    assert str(q) == expected  # exponent of the tick size, as the exchange expects


@pytest.mark.parametrize(
    ("amount", "expected"),
    [("0.123456789", "0.12345"), ("0.00001", "0.00001"), ("0.000009", "0.00000"), ("5", "5.00000")],
)
def test_quantize_amount_rounds_down(amount, expected):
    assert str(RULE.quantize_amount(D(amount))) == expected


def test_non_decimal_tick_sizes_quantize_on_their_grid():
    rule = TradingRule("ETH-BTC", tick_size=D("0.05"), step_size=D("0.25"))
    assert rule.quantize_price(D("1.07"), TradeType.BUY) == D("1.05")
    assert rule.quantize_price(D("1.07"), TradeType.SELL) == D("1.10")
    assert rule.quantize_amount(D("0.99")) == D("0.75")


def test_min_notional_and_min_amount():
    # 0.0001 * 49_999.99 = 4.999999 < 5
    with pytest.raises(OrderRuleError, match="minimum notional 5"):
        RULE.quantize_order(TradeType.BUY, D("49999.99"), D("0.0001"))
    price, amount = RULE.quantize_order(TradeType.BUY, D("50000.004"), D("0.000109"))
    assert (price, amount) == (D("50000.00"), D("0.00010"))  # 5.0000 notional: exactly allowed
    with pytest.raises(OrderRuleError, match="below the minimum"):
        RULE.quantize_order(TradeType.SELL, D("60000"), D("0.000099"))  # rounds to 0.00009
    capped = TradingRule("BTC-USDT", D("0.01"), D("0.001"), max_amount=D("10"))
    with pytest.raises(OrderRuleError, match="above the maximum 10"):
        capped.check(D("1"), D("10.001"))


def test_trading_rule_rejects_bad_grid():
    with pytest.raises(ValueError, match="tick_size must be > 0"):
        TradingRule("BTC-USDT", D("0"), D("0.1"))


def test_trade_fee_amounts_and_value_in_quote():
    fee = TradeFee(percent=D("0.001"), flat_fees=(TokenAmount("USDT", D("0.5")),))
    amounts = fee.amounts("BTC", "USDT", D("2"), D("100"), TradeType.BUY)
    assert amounts == {"BTC": D("0.002"), "USDT": D("0.5")}
    assert fee.in_quote("BTC", "USDT", D("2"), D("100"), TradeType.BUY) == D("0.7")
    quote_fee = TradeFee(percent=D("0.00075"), percent_token="USDT")
    assert quote_fee.in_quote("BTC", "USDT", D("2"), D("100"), TradeType.BUY) == D("0.15")
    with pytest.raises(FillError, match="BNB"):
        TradeFee(percent=D("0.001"), percent_token="BNB").amounts(
            "BTC", "USDT", D("1"), D("1"), TradeType.BUY
        )


def test_fee_schema_picks_maker_or_taker_and_guards_range():
    schema = TradeFeeSchema(maker_percent=D("0.0002"), taker_percent=D("0.0007"))
    assert schema.fee(is_maker=True).percent == D("0.0002")
    assert schema.fee(is_maker=False).percent == D("0.0007")
    with pytest.raises(ValueError, match=r"taker_percent=0\.5"):
        TradeFeeSchema(taker_percent=D("0.5"))


@pytest.mark.parametrize("bad", ["BTCUSDT", "btc-usdt", "BTC-", "BTC-USDT-X", "-USDT"])
def test_split_trading_pair_rejects_malformed(bad):
    with pytest.raises(ValueError, match="BASE-QUOTE"):
        split_trading_pair(bad)
    assert split_trading_pair("ETH-BTC") == ("ETH", "BTC")


def test_quantize_is_the_same_for_equal_steps_written_differently():
    # D("0.01") == D("0.01000000"): a cache keyed on the step must not mix them up
    short = TradingRule("BTC-USDT", D("0.01"), D("0.00001"))
    long = TradingRule("BTC-USDT", D("0.01000000"), D("0.00001000"))
    for rule in (short, long, short):
        assert rule.quantize_price(D("39999.999"), TradeType.BUY) == D("39999.99")
        assert rule.quantize_price(D("39999.991"), TradeType.SELL) == D("40000.00")
        assert rule.quantize_amount(D("0.0123456")) == D("0.01234")
    assert str(long.quantize_price(D("1.005"), TradeType.BUY)) == "1.00000000"
    tick_3 = TradingRule("BTC-USDT", D("0.03"), D("1"))
    assert tick_3.quantize_price(D("1.00"), TradeType.BUY) == D("0.99")
