"""Reading Binance's order, trade, account and user-data JSON (recorded examples + hand-written)."""

from decimal import Decimal as D

import pytest

from birdterm.engine.connectors.binance.parsing import (
    parse_account,
    parse_account_position,
    parse_commission_rates,
    parse_execution_report,
    parse_my_trade,
    parse_order,
    parse_response_fills,
)
from birdterm.engine.types import OrderState, TokenAmount, TradeFee

from tests.helpers import REPO

SPOT_API = REPO.parent / "shared" / "reference" / "binance" / "spot_api.yaml"
NEEDS_SPEC = "needs ../shared/reference/binance/spot_api.yaml beside the checkout"

# The executionReport example of Binance's user-data-stream docs, every field of NOTES §9.
EXECUTION_REPORT_NEW = {
    "e": "executionReport",
    "E": 1499405658658,
    "s": "ETHBTC",
    "c": "mUvoqJxFIILMdfAW5iGSOW",
    "S": "BUY",
    "o": "LIMIT",
    "f": "GTC",
    "q": "1.00000000",
    "p": "0.10264410",
    "P": "0.00000000",
    "F": "0.00000000",
    "g": -1,
    "C": "",
    "x": "NEW",
    "X": "NEW",
    "r": "NONE",
    "i": 4293153,
    "l": "0.00000000",
    "z": "0.00000000",
    "L": "0.00000000",
    "n": "0",
    "N": None,
    "T": 1499405658657,
    "t": -1,
    "v": 3,
    "I": 8641984,
    "w": True,
    "m": False,
    "M": False,
    "O": 1499405658657,
    "Z": "0.00000000",
    "Y": "0.00000000",
    "Q": "0.00000000",
    "W": 1499405658657,
    "V": "NONE",
}


def _mini_yaml(lines):
    """The mapping subset of YAML the spec's schemas use (lists and scalars kept as text)."""
    root: dict = {}
    stack = [(-1, root)]
    for raw in lines:
        text = raw.split(" #")[0].rstrip()
        stripped = text.lstrip()
        if not stripped or stripped.startswith(("#", "- ")):
            continue
        indent = len(text) - len(stripped)
        key, _, value = stripped.partition(":")
        while stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1]
        if value.strip():
            parent[key] = value.strip().strip("'\"")
        else:
            parent[key] = {}
            stack.append((indent, parent[key]))
    return root


def _example(schema):
    """An example object built from a schema's per-field `example` values."""
    kind = schema.get("type")
    if kind == "object":
        return {name: _example(prop) for name, prop in schema.get("properties", {}).items()}
    if kind == "array":
        return [_example(schema["items"])] if isinstance(schema.get("items"), dict) else []
    value = schema.get("example")
    if kind == "integer" and value is not None:
        return int(value)
    if kind == "boolean":
        return value == "true"
    return value


def _spec_schema(name):
    if not SPOT_API.exists():
        pytest.skip(NEEDS_SPEC)
    lines = SPOT_API.read_text().splitlines()
    start = lines.index("  schemas:")
    schemas = _mini_yaml(lines[start + 1 :])
    return schemas[name]


def test_recorded_full_order_answer_from_the_spec():
    data = _example(_spec_schema("orderResponseFull"))
    assert data["cummulativeQuoteQty"] == "10.00000000"
    report = parse_order(data)
    assert (report.symbol, report.client_order_id, report.exchange_order_id) == (
        "BTCUSDT",
        "6gCrw2kRUAF9CvJDGP16IP",
        "28",
    )
    assert report.state is OrderState.FILLED and report.executed == D("10")
    assert report.orig_qty == D("10") and report.timestamp == 1507725176.595
    # the 2024 spec's fills have no tradeId: they cannot be de-duplicated, so they are skipped
    assert parse_response_fills(data, "x") == []


def test_recorded_cancel_answer_names_our_order_by_orig_client_id():
    data = _example(_spec_schema("order"))
    report = parse_order(data)
    assert report.client_order_id == "msXkySR3u5uYwpvRMFsi3u"  # not the cancel's own id
    assert report.state is OrderState.FILLED and report.executed == D("10")


def test_recorded_my_trade_row():
    row = _example(_spec_schema("myTrade"))
    fill = parse_my_trade(row, "ours")
    assert (fill.trade_id, fill.client_order_id, fill.price, fill.amount) == (
        "28457",
        "ours",
        D("4.00000100"),
        D("12"),
    )
    assert fill.fee == TradeFee(flat_fees=(TokenAmount("BNB", D("10.1")),))
    assert fill.timestamp == 1499865549.590 and fill.is_maker is False


def test_recorded_account_balances():
    data = _example(_spec_schema("account"))
    balances = parse_account(data)
    assert len(balances) == 1
    ((asset, (free, locked)),) = balances.items()
    assert isinstance(asset, str) and free >= 0 and locked >= 0


def test_execution_report_new_from_the_docs():
    report = parse_execution_report(EXECUTION_REPORT_NEW)
    assert report.execution_type == "NEW" and report.fill is None
    order = report.order
    assert (order.symbol, order.client_order_id, order.exchange_order_id) == (
        "ETHBTC",
        "mUvoqJxFIILMdfAW5iGSOW",
        "4293153",
    )
    assert order.state is OrderState.OPEN and order.orig_qty == D("1") and order.executed == 0
    assert order.timestamp == 1499405658.657 and order.reason == ""


def test_execution_report_trade_cancel_and_expiry():
    trade = {
        **EXECUTION_REPORT_NEW,
        "x": "TRADE",
        "X": "PARTIALLY_FILLED",
        "l": "0.4",
        "z": "0.4",
        "L": "0.10264000",
        "n": "0.0004",
        "N": "ETH",
        "t": 77,
        "m": True,
    }
    report = parse_execution_report(trade)
    assert report.order.state is OrderState.PARTIALLY_FILLED and report.order.executed == D("0.4")
    fill = report.fill
    assert (fill.trade_id, fill.amount, fill.price, fill.is_maker) == (
        "77",
        D("0.4"),
        D("0.10264"),
        True,
    )
    assert fill.fee.amounts("ETH", "BTC", fill.amount, fill.price, None) == {"ETH": D("0.0004")}
    cancel = {
        **EXECUTION_REPORT_NEW,
        "x": "CANCELED",
        "X": "CANCELED",
        "c": "cancel-req-id",
        "C": "mUvoqJxFIILMdfAW5iGSOW",
        "z": "0.4",
    }
    report = parse_execution_report(cancel)
    assert report.order.client_order_id == "mUvoqJxFIILMdfAW5iGSOW"
    assert report.order.state is OrderState.CANCELED
    expired = parse_execution_report({**EXECUTION_REPORT_NEW, "x": "EXPIRED", "X": "EXPIRED"})
    assert expired.order.state is OrderState.FAILED
    assert expired.order.reason == "expired by the exchange (EXPIRED)"
    rejected = parse_execution_report(
        {**EXECUTION_REPORT_NEW, "x": "REJECTED", "X": "REJECTED", "r": "INSUFFICIENT_BALANCES"}
    )
    assert rejected.order.state is OrderState.FAILED
    assert rejected.order.reason == "rejected by the exchange: INSUFFICIENT_BALANCES"


def test_hand_written_answers_cover_the_same_parsing():
    full = {
        "symbol": "BTCUSDT",
        "orderId": 28,
        "orderListId": -1,
        "clientOrderId": "bt-1",
        "transactTime": 1507725176595,
        "price": "0.00000000",
        "origQty": "10.00000000",
        "executedQty": "10.00000000",
        "cummulativeQuoteQty": "40000.00000000",
        "status": "FILLED",
        "timeInForce": "GTC",
        "type": "MARKET",
        "side": "SELL",
        "workingTime": 1507725176595,
        "selfTradePreventionMode": "NONE",
        "fills": [
            {
                "price": "4000.00000000",
                "qty": "1.00000000",
                "commission": "4.00000000",
                "commissionAsset": "USDT",
                "tradeId": 56,
            },
            {
                "price": "3999.00000000",
                "qty": "9.00000000",
                "commission": "0",
                "commissionAsset": "USDT",
                "tradeId": 57,
            },
        ],
    }
    fills = parse_response_fills(full, "bt-1")
    assert [(f.trade_id, f.price, f.amount, f.is_maker) for f in fills] == [
        ("56", D("4000"), D("1"), False),
        ("57", D("3999"), D("9"), False),
    ]
    assert fills[0].fee == TradeFee(flat_fees=(TokenAmount("USDT", D("4")),))
    assert fills[1].fee == TradeFee()
    ack = {
        "symbol": "BTCUSDT",
        "orderId": 3,
        "orderListId": -1,
        "clientOrderId": "bt-2",
        "transactTime": 1,
    }
    assert parse_order(ack).state is OrderState.OPEN
    account = {
        "balances": [{"asset": "BTC", "free": "1.5", "locked": "0.5"}],
        "commissionRates": {"maker": "0.00100000", "taker": "0.00200000"},
    }
    assert parse_account(account) == {"BTC": (D("1.5"), D("0.5"))}
    assert parse_commission_rates(account) == (D("0.001"), D("0.002"))
    position = {
        "e": "outboundAccountPosition",
        "E": 1,
        "u": 2,
        "B": [{"a": "USDT", "f": "10.0", "l": "2.5"}],
    }
    assert parse_account_position(position) == {"USDT": (D("10"), D("2.5"))}
    with pytest.raises(ValueError, match="unknown Binance order status"):
        parse_order({**ack, "status": "WEIRD"})
