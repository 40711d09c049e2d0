"""Exchange order lifecycle: place, fill, cancel, amend; balances, locks, events, JSON shapes."""

from decimal import Decimal

import pytest

from birdterm.sim.emulator.errors import BinanceError

from tests.sim.emulator.test_exchange_fixtures import (
    SYMBOL,
    T0,
    Recorder,
    balances,
    limit,
    make_exchange,
    market,
)

D = Decimal
EXECUTION_REPORT_KEYS = [
    "e", "E", "s", "c", "S", "o", "f", "q", "p", "P", "F", "g", "C", "x", "X", "r", "i", "l",
    "z", "L", "n", "N", "T", "t", "I", "w", "m", "M", "O", "Z", "Y", "Q", "W", "V",
]  # fmt: skip
ORDER_KEYS = [
    "symbol", "orderId", "orderListId", "clientOrderId", "price", "origQty", "executedQty",
    "cummulativeQuoteQty", "status", "timeInForce", "type", "side", "stopPrice", "icebergQty",
    "time", "updateTime", "isWorking", "workingTime", "origQuoteOrderQty",
    "selfTradePreventionMode",
]  # fmt: skip
RESULT_KEYS = [
    "symbol", "orderId", "orderListId", "clientOrderId", "transactTime", "price", "origQty",
    "executedQty", "origQuoteOrderQty", "cummulativeQuoteQty", "status", "timeInForce", "type",
    "side", "workingTime", "selfTradePreventionMode",
]  # fmt: skip
TWO = {"alice": {"USDT": "100000", "BTC": "2"}, "bob": {"USDT": "100000", "BTC": "2"}}


def maker(side: str, qty: str, price: str) -> dict[str, str]:
    params = limit(side, qty, price)
    del params["timeInForce"]
    return {**params, "type": "LIMIT_MAKER"}


def error_of(call, *args) -> BinanceError:
    with pytest.raises(BinanceError) as info:
        call(*args)
    return info.value


def test_limit_buy_rests_locks_quote_and_reports_new() -> None:
    exchange, _, _ = make_exchange()
    rec = Recorder(exchange)
    answer = exchange.new_order("alice", limit("BUY", "0.5", "30000", newClientOrderId="a1"))
    assert list(answer) == [*RESULT_KEYS, "fills"]
    assert answer["status"] == "NEW"
    assert answer["orderId"] == 1
    assert answer["clientOrderId"] == "a1"
    assert answer["price"] == "30000.00000000"
    assert answer["origQty"] == "0.50000000"
    assert answer["transactTime"] == T0
    assert answer["fills"] == []
    assert balances(exchange, "alice") == {"USDT": (D(85000), D(15000)), "BTC": (D(2), D(0))}
    bids, _ = exchange.book_levels(SYMBOL)
    assert bids[0] == (D("30000.00"), D("0.5"))
    new, position = rec.events("alice")
    assert list(new) == EXECUTION_REPORT_KEYS
    assert (new["x"], new["X"], new["c"], new["C"], new["t"], new["w"]) == (
        "NEW",
        "NEW",
        "a1",
        "",
        -1,
        True,
    )
    assert (new["q"], new["p"], new["l"], new["z"], new["n"], new["N"]) == (
        "0.50000000", "30000.00000000", "0.00000000", "0.00000000", "0", None
    )  # fmt: skip
    assert position == {
        "e": "outboundAccountPosition",
        "E": T0,
        "u": T0,
        "B": [{"a": "USDT", "f": "85000.00000000", "l": "15000.00000000"}],
    }
    queried = exchange.query_order("alice", {"symbol": SYMBOL, "orderId": "1"})
    assert list(queried) == ORDER_KEYS
    assert queried == exchange.query_order("alice", {"symbol": SYMBOL, "origClientOrderId": "a1"})
    assert exchange.open_orders("alice", SYMBOL) == [queried]


def test_taker_fills_maker_at_maker_price_with_commissions_on_both_sides() -> None:
    exchange, _, clock = make_exchange(accounts=TWO)
    rec = Recorder(exchange)
    exchange.new_order("alice", limit("BUY", "0.5", "30000"))
    clock.advance(250)
    answer = exchange.new_order("bob", limit("SELL", "0.2", "29999"))
    assert answer["status"] == "FILLED"
    assert answer["cummulativeQuoteQty"] == "6000.00000000"
    assert answer["fills"] == [
        {
            "price": "30000.00000000",
            "qty": "0.20000000",
            "commission": "6.00000000",
            "commissionAsset": "USDT",
            "tradeId": 1,
        }
    ]
    assert balances(exchange, "bob") == {"USDT": (D("105994"), D(0)), "BTC": (D("1.8"), D(0))}
    assert balances(exchange, "alice") == {
        "USDT": (D(85000), D(9000)),
        "BTC": (D("2.1998"), D(0)),
    }
    trade = rec.events("alice", "executionReport")[-1]
    assert (trade["x"], trade["X"], trade["l"], trade["z"], trade["L"]) == (
        "TRADE", "PARTIALLY_FILLED", "0.20000000", "0.20000000", "30000.00000000"
    )  # fmt: skip
    assert (trade["n"], trade["N"], trade["t"], trade["m"], trade["w"], trade["T"]) == (
        "0.00020000", "BTC", 1, True, True, T0 + 250
    )  # fmt: skip
    assert (trade["Z"], trade["Y"]) == ("6000.00000000", "6000.00000000")
    assert rec.events("alice", "outboundAccountPosition")[-1]["B"] == [
        {"a": "USDT", "f": "85000.00000000", "l": "9000.00000000"},
        {"a": "BTC", "f": "2.19980000", "l": "0.00000000"},
    ]
    assert rec.stream("btcusdt@trade") == [
        {
            "e": "trade", "E": T0 + 250, "s": SYMBOL, "t": 1, "p": "30000.00000000",
            "q": "0.20000000", "T": T0 + 250, "m": True, "M": True,
        }
    ]  # fmt: skip
    assert rec.stream("btcusdt@aggTrade") == [
        {
            "e": "aggTrade", "E": T0 + 250, "s": SYMBOL, "a": 1, "p": "30000.00000000",
            "q": "0.20000000", "f": 1, "l": 1, "T": T0 + 250, "m": True, "M": True,
        }
    ]  # fmt: skip
    mine = exchange.my_trades("alice", {"symbol": SYMBOL})
    assert mine == [
        {
            "symbol": SYMBOL, "id": 1, "orderId": 1, "orderListId": -1,
            "price": "30000.00000000", "qty": "0.20000000", "quoteQty": "6000.00000000",
            "commission": "0.00020000", "commissionAsset": "BTC", "time": T0 + 250,
            "isBuyer": True, "isMaker": True, "isBestMatch": True,
        }
    ]  # fmt: skip


def test_market_sell_walks_resting_order_then_market_levels() -> None:
    exchange, _, _ = make_exchange(accounts=TWO)
    exchange.new_order("alice", limit("BUY", "0.3", "30000"))
    answer = exchange.new_order("bob", market("SELL", qty="0.4"))
    assert answer["status"] == "FILLED"
    assert [(f["price"], f["qty"], f["commission"], f["tradeId"]) for f in answer["fills"]] == [
        ("30000.00000000", "0.30000000", "9.00000000", 1),
        ("29999.00000000", "0.10000000", "2.99990000", 2),
    ]
    assert answer["price"] == "0.00000000"
    assert answer["timeInForce"] == "GTC"
    assert balances(exchange, "bob") == {
        "USDT": (D("111987.9001"), D(0)),
        "BTC": (D("1.6"), D(0)),
    }
    assert balances(exchange, "alice") == {"USDT": (D(91000), D(0)), "BTC": (D("2.2997"), D(0))}
    assert exchange.query_order("alice", {"symbol": SYMBOL, "orderId": "1"})["status"] == "FILLED"
    bids, _ = exchange.book_levels(SYMBOL)
    assert bids == [(D("29999"), D("0.9")), (D("29998"), D(2)), (D("29997"), D(3))]


def test_cancel_releases_the_lock_and_reports_both_client_ids() -> None:
    exchange, _, clock = make_exchange()
    rec = Recorder(exchange)
    exchange.new_order("alice", limit("BUY", "0.1", "29000", newClientOrderId="mine"))
    clock.advance(10)
    answer = exchange.cancel_order(
        "alice", {"symbol": SYMBOL, "origClientOrderId": "mine", "newClientOrderId": "undo"}
    )
    assert answer == {
        "symbol": SYMBOL, "origClientOrderId": "mine", "orderId": 1, "orderListId": -1,
        "clientOrderId": "undo", "transactTime": T0 + 10, "price": "29000.00000000",
        "origQty": "0.10000000", "executedQty": "0.00000000",
        "origQuoteOrderQty": "0.00000000", "cummulativeQuoteQty": "0.00000000",
        "status": "CANCELED", "timeInForce": "GTC", "type": "LIMIT", "side": "BUY",
        "selfTradePreventionMode": "EXPIRE_MAKER",
    }  # fmt: skip
    assert balances(exchange, "alice") == {"USDT": (D(100000), D(0)), "BTC": (D(2), D(0))}
    canceled = rec.events("alice", "executionReport")[-1]
    assert (canceled["x"], canceled["X"], canceled["c"], canceled["C"]) == (
        "CANCELED", "CANCELED", "undo", "mine"
    )  # fmt: skip
    assert rec.events("alice")[-1]["B"] == [
        {"a": "USDT", "f": "100000.00000000", "l": "0.00000000"}
    ]
    assert exchange.book_levels(SYMBOL)[0][0] == (D("29999"), D(1))
    again = error_of(exchange.cancel_order, "alice", {"symbol": SYMBOL, "orderId": "1"})
    assert (again.code, again.msg) == (-2011, "Unknown order sent.")
    queried = exchange.query_order("alice", {"symbol": SYMBOL, "orderId": "1"})
    assert (queried["status"], queried["clientOrderId"], queried["updateTime"]) == (
        "CANCELED", "mine", T0 + 10
    )  # fmt: skip
    missing = error_of(exchange.query_order, "alice", {"symbol": SYMBOL, "orderId": "7"})
    assert (missing.code, missing.msg) == (-2013, "Order does not exist.")
    neither = error_of(exchange.cancel_order, "alice", {"symbol": SYMBOL})
    assert neither.code == -1102


def test_cancel_open_orders_cancels_every_open_order_of_the_symbol() -> None:
    exchange, _, _ = make_exchange()
    exchange.new_order("alice", limit("BUY", "0.1", "29000"))
    exchange.new_order("alice", limit("SELL", "0.2", "31000"))
    answers = exchange.cancel_open_orders("alice", SYMBOL)
    assert [(a["orderId"], a["status"]) for a in answers] == [(1, "CANCELED"), (2, "CANCELED")]
    assert balances(exchange, "alice") == {"USDT": (D(100000), D(0)), "BTC": (D(2), D(0))}
    assert exchange.open_orders("alice", None) == []
    assert error_of(exchange.cancel_open_orders, "alice", SYMBOL).code == -2011


def test_cancel_restrictions() -> None:
    exchange, _, _ = make_exchange(accounts=TWO)
    exchange.new_order("alice", limit("BUY", "0.5", "30000"))
    exchange.new_order("bob", limit("SELL", "0.1", "30000"))
    err = error_of(
        exchange.cancel_order,
        "alice",
        {"symbol": SYMBOL, "orderId": "1", "cancelRestrictions": "ONLY_NEW"},
    )
    assert (err.code, err.msg) == (-2011, "Order was not canceled due to cancel restrictions.")
    done = exchange.cancel_order(
        "alice", {"symbol": SYMBOL, "orderId": "1", "cancelRestrictions": "ONLY_PARTIALLY_FILLED"}
    )
    assert (done["status"], done["executedQty"]) == ("CANCELED", "0.10000000")
    # 0.1 bought at 30,000: 3,000 spent, the other 12,000 of the lock is back.
    assert balances(exchange, "alice") == {"USDT": (D(97000), D(0)), "BTC": (D("2.0999"), D(0))}


def test_amend_keep_priority_reduces_quantity_and_keeps_the_queue_place() -> None:
    accounts = {**TWO, "carol": {"BTC": "5"}}
    exchange, _, clock = make_exchange(accounts=accounts)
    rec = Recorder(exchange)
    exchange.new_order("alice", limit("BUY", "0.5", "29999", newClientOrderId="a"))
    exchange.new_order("bob", limit("BUY", "0.5", "29999"))
    clock.advance(5)
    answer = exchange.amend_keep_priority(
        "alice", {"symbol": SYMBOL, "orderId": "1", "newQty": "0.2", "newClientOrderId": "a"}
    )
    assert answer["transactTime"] == T0 + 5
    assert answer["amendedOrder"] == {
        "symbol": SYMBOL, "orderId": 1, "orderListId": -1, "origClientOrderId": "a",
        "clientOrderId": "a", "price": "29999.00000000", "qty": "0.20000000",
        "executedQty": "0.00000000", "preventedQty": "0.00000000",
        "quoteOrderQty": "0.00000000", "cumulativeQuoteQty": "0.00000000", "status": "NEW",
        "timeInForce": "GTC", "type": "LIMIT", "side": "BUY", "workingTime": T0,
        "selfTradePreventionMode": "EXPIRE_MAKER",
    }  # fmt: skip
    replaced = rec.events("alice", "executionReport")[-1]
    assert (replaced["x"], replaced["X"], replaced["q"], replaced["I"]) == (
        "REPLACED", "NEW", "0.20000000", answer["executionId"]
    )  # fmt: skip
    assert balances(exchange, "alice")["USDT"] == (D("94000.2"), D("5999.8"))
    assert exchange.book_levels(SYMBOL)[0][0] == (D(29999), D("1.7"))
    # Market 1.0 queued first, then alice (still ahead of bob), then bob.
    sold = exchange.new_order("carol", market("SELL", qty="1.3"))
    assert [(f["qty"], f["tradeId"]) for f in sold["fills"]] == [
        ("1.00000000", 1), ("0.20000000", 2), ("0.10000000", 3)
    ]  # fmt: skip
    assert exchange.query_order("alice", {"symbol": SYMBOL, "orderId": "1"})["status"] == "FILLED"
    bob = exchange.query_order("bob", {"symbol": SYMBOL, "orderId": "2"})
    assert (bob["status"], bob["executedQty"]) == ("PARTIALLY_FILLED", "0.10000000")
    assert exchange.book_levels(SYMBOL)[0][0] == (D(29999), D("0.4"))
    assert balances(exchange, "alice") == {"USDT": (D("94000.2"), D(0)), "BTC": (D("2.1998"), D(0))}


@pytest.mark.parametrize(
    ("new_qty", "code", "msg"),
    [
        ("0.5", -2038, "The requested action would change no state; rejecting"),
        ("0.6", -2038, "Order amend (quantity increase) is not supported."),
        ("0.1", -1013, "Filter failure: LOT_SIZE"),  # not above the executed 0.1
        ("0.123456789", -1111, "Parameter 'newQty' has too much precision."),
    ],
)
def test_amend_rejections(new_qty: str, code: int, msg: str) -> None:
    exchange, _, _ = make_exchange(accounts=TWO)
    exchange.new_order("alice", limit("BUY", "0.5", "30000"))
    exchange.new_order("bob", limit("SELL", "0.1", "30000"))
    err = error_of(
        exchange.amend_keep_priority, "alice", {"symbol": SYMBOL, "orderId": "1", "newQty": new_qty}
    )
    assert (err.code, err.msg) == (code, msg)


def test_limit_maker_that_would_take_is_rejected() -> None:
    exchange, _, _ = make_exchange()
    err = error_of(exchange.new_order, "alice", maker("BUY", "0.1", "30001"))
    assert (err.code, err.msg) == (-2010, "Order would immediately match and take.")
    answer = exchange.new_order("alice", maker("BUY", "0.1", "30000.99"))
    assert list(answer) == ["symbol", "orderId", "orderListId", "clientOrderId", "transactTime"]
    assert exchange.book_levels(SYMBOL)[0][0] == (D("30000.99"), D("0.1"))
    assert exchange.orders_of("alice")[0]["status"] == "NEW"


@pytest.mark.parametrize(
    "params",
    [
        limit("BUY", "3.4", "30000"),  # 102,000 USDT
        limit("SELL", "2.00001", "31000"),
        market("BUY", qty="4"),  # the book asks 120,008 USDT for 4 BTC
        market("BUY", quote="100000.01"),
    ],
)
def test_insufficient_balance(params: dict[str, str]) -> None:
    exchange, _, _ = make_exchange()
    err = error_of(exchange.new_order, "alice", params)
    assert (err.code, err.msg) == (-2010, "Account has insufficient balance for requested action.")
    assert exchange.orders_of("alice") == []
    assert balances(exchange, "alice") == {"USDT": (D(100000), D(0)), "BTC": (D(2), D(0))}


def test_duplicate_open_client_order_id_is_rejected_until_the_first_is_done() -> None:
    exchange, _, _ = make_exchange(accounts=TWO)
    exchange.new_order("alice", limit("BUY", "0.1", "30000", newClientOrderId="dup"))
    err = error_of(
        exchange.new_order, "alice", limit("BUY", "0.1", "29000", newClientOrderId="dup")
    )
    assert (err.code, err.msg) == (-2010, "Duplicate order sent.")
    # Another account may use the same id.
    exchange.new_order("bob", limit("SELL", "0.1", "30000", newClientOrderId="dup"))
    again = exchange.new_order("alice", limit("BUY", "0.1", "29000", newClientOrderId="dup"))
    assert (again["orderId"], again["status"]) == (3, "NEW")
    assert (
        exchange.query_order("alice", {"symbol": SYMBOL, "origClientOrderId": "dup"})["orderId"]
        == 3
    )


def test_generated_client_order_ids_are_binance_like_and_deterministic() -> None:
    first = make_exchange()[0].new_order("alice", limit("BUY", "0.1", "29000"))["clientOrderId"]
    second = make_exchange()[0].new_order("alice", limit("BUY", "0.1", "29000"))["clientOrderId"]
    assert first == second
    assert len(first) == 22 and first.isalnum()


def test_ioc_fills_what_it_can_and_expires_the_rest() -> None:
    exchange, _, _ = make_exchange()
    rec = Recorder(exchange)
    answer = exchange.new_order("alice", limit("BUY", "3.2", "30002", tif="IOC"))
    assert (answer["status"], answer["executedQty"], answer["cummulativeQuoteQty"]) == (
        "EXPIRED", "3.00000000", "90005.00000000"
    )  # fmt: skip
    assert balances(exchange, "alice") == {"USDT": (D(9995), D(0)), "BTC": (D("4.997"), D(0))}
    reports = [(e["x"], e["X"]) for e in rec.events("alice", "executionReport")]
    assert reports == [
        ("NEW", "NEW"), ("TRADE", "PARTIALLY_FILLED"), ("TRADE", "PARTIALLY_FILLED"),
        ("EXPIRED", "EXPIRED"),
    ]  # fmt: skip
    assert rec.user[-1][1]["e"] == "outboundAccountPosition"
    assert exchange.book_levels(SYMBOL)[1] == [(D(30003), D(3))]
    assert [a["q"] for a in rec.stream("btcusdt@aggTrade")] == ["1.00000000", "2.00000000"]


def test_fok_fills_entirely_or_not_at_all() -> None:
    exchange, _, _ = make_exchange()
    short = exchange.new_order("alice", limit("BUY", "3.00001", "30002", tif="FOK"))
    assert (short["status"], short["executedQty"], short["fills"]) == ("EXPIRED", "0.00000000", [])
    assert balances(exchange, "alice") == {"USDT": (D(100000), D(0)), "BTC": (D(2), D(0))}
    assert exchange.book_levels(SYMBOL)[1][0] == (D(30001), D(1))
    full = exchange.new_order("alice", limit("BUY", "3", "30002", tif="FOK"))
    assert (full["status"], full["executedQty"]) == ("FILLED", "3.00000000")


def test_market_buy_by_quote_order_qty_spends_at_most_the_quote_amount() -> None:
    exchange, _, _ = make_exchange()
    answer = exchange.new_order("alice", market("BUY", quote="45000"))
    assert (answer["status"], answer["origQty"], answer["executedQty"]) == (
        "FILLED", "1.49993000", "1.49993000"
    )  # fmt: skip
    assert (answer["origQuoteOrderQty"], answer["cummulativeQuoteQty"]) == (
        "45000.00000000", "44999.89986000"
    )  # fmt: skip
    assert [(f["price"], f["qty"], f["commission"]) for f in answer["fills"]] == [
        ("30001.00000000", "1.00000000", "0.00100000"),
        ("30002.00000000", "0.49993000", "0.00049993"),
    ]
    assert balances(exchange, "alice") == {
        "USDT": (D("55000.10014"), D(0)),
        "BTC": (D("3.49843007"), D(0)),
    }


def test_market_sell_by_quote_order_qty() -> None:
    exchange, _, _ = make_exchange()
    answer = exchange.new_order("alice", market("SELL", quote="29999"))
    assert (answer["status"], answer["executedQty"], answer["cummulativeQuoteQty"]) == (
        "FILLED", "1.00000000", "29999.00000000"
    )  # fmt: skip
    assert balances(exchange, "alice") == {"USDT": (D("129969.001"), D(0)), "BTC": (D(1), D(0))}


def test_market_order_beyond_the_book_expires_the_rest() -> None:
    exchange, _, _ = make_exchange(accounts={"whale": {"BTC": "10"}})
    answer = exchange.new_order("whale", market("SELL", qty="7"))
    assert (answer["status"], answer["executedQty"]) == ("EXPIRED", "6.00000000")
    assert exchange.book_levels(SYMBOL)[0] == []
    assert balances(exchange, "whale")["BTC"] == (D(4), D(0))


def test_response_types_and_validation_errors() -> None:
    exchange, _, _ = make_exchange()
    ack = exchange.new_order("alice", limit("BUY", "0.1", "29000", newOrderRespType="ACK"))
    assert list(ack) == ["symbol", "orderId", "orderListId", "clientOrderId", "transactTime"]
    result = exchange.new_order("alice", limit("BUY", "0.1", "29000", newOrderRespType="RESULT"))
    assert list(result) == RESULT_KEYS
    cases = [
        (limit("BUY", "0.1", "29000.001"), -1013),  # off the 0.01 tick
        (limit("BUY", "0.000001", "29000"), -1013),  # off the 0.00001 step
        (limit("BUY", "0.000000001", "29000"), -1111),  # more decimals than BTC has
        (limit("BUY", "0.1", "29000.1x"), -1100),
        (limit("BUY", "0.0001", "29000"), -1013),  # 2.9 USDT < NOTIONAL 5
        ({**limit("BUY", "0.1", "29000"), "symbol": "NOPE"}, -1121),
        ({**limit("BUY", "0.1", "29000"), "timeInForce": ""}, -1102),
        ({**limit("BUY", "0.1", "29000"), "stopPrice": "1"}, -1020),
    ]
    for params, code in cases:
        assert error_of(exchange.new_order, "alice", params).code == code, params
    assert error_of(exchange.new_order, "nobody", limit("BUY", "0.1", "29000")).code == -2015


def test_self_trade_expires_the_resting_maker() -> None:
    exchange, _, _ = make_exchange()
    rec = Recorder(exchange)
    exchange.new_order("alice", limit("SELL", "0.5", "30000.50"))
    answer = exchange.new_order("alice", market("BUY", qty="1"))
    # The own ask is expired, not traded; the market ask at 30,001 fills the order.
    assert [(f["price"], f["qty"]) for f in answer["fills"]] == [("30001.00000000", "1.00000000")]
    maker = exchange.query_order("alice", {"symbol": SYMBOL, "orderId": "1"})
    assert maker["status"] == "EXPIRED_IN_MATCH"
    prevented = [e for e in rec.events("alice", "executionReport") if e["x"] == "TRADE_PREVENTION"]
    assert len(prevented) == 1 and prevented[0]["X"] == "EXPIRED_IN_MATCH"
    assert balances(exchange, "alice") == {
        "USDT": (D(100000) - D(30001), D(0)),
        "BTC": (D("2.999"), D(0)),
    }


def test_account_json() -> None:
    exchange, _, _ = make_exchange()
    account = exchange.account("alice", omit_zero=True)
    assert account["balances"] == [
        {"asset": "USDT", "free": "100000.00000000", "locked": "0.00000000"},
        {"asset": "BTC", "free": "2.00000000", "locked": "0.00000000"},
    ]
    assert (account["makerCommission"], account["takerCommission"]) == (10, 10)
    assert account["commissionRates"] == {
        "maker": "0.00100000", "taker": "0.00100000", "buyer": "0.00000000", "seller": "0.00000000"
    }  # fmt: skip
    assert list(account) == [
        "makerCommission", "takerCommission", "buyerCommission", "sellerCommission",
        "commissionRates", "canTrade", "canWithdraw", "canDeposit", "brokered",
        "requireSelfTradePrevention", "preventSor", "updateTime", "accountType", "balances",
        "permissions", "uid",
    ]  # fmt: skip
    assert {b["asset"] for b in exchange.account("alice")["balances"]} == {"USDT", "BTC", "ETH"}
    assert exchange.secrets() == {"alice": "secret-alice"}


def test_amend_to_a_new_client_order_id_renames_the_order() -> None:
    exchange, _, _ = make_exchange()
    rec = Recorder(exchange)
    exchange.new_order("alice", limit("SELL", "1", "31000", newClientOrderId="old"))
    answer = exchange.amend_keep_priority(
        "alice",
        {"symbol": SYMBOL, "origClientOrderId": "old", "newQty": "0.4", "newClientOrderId": "new"},
    )
    amended = answer["amendedOrder"]
    assert (amended["origClientOrderId"], amended["clientOrderId"]) == ("old", "new")
    replaced = rec.events("alice", "executionReport")[-1]
    assert (replaced["c"], replaced["C"], replaced["q"]) == ("new", "old", "0.40000000")
    by_new = {"symbol": SYMBOL, "origClientOrderId": "new"}
    assert exchange.query_order("alice", by_new)["orderId"] == 1
    by_old = {"symbol": SYMBOL, "origClientOrderId": "old"}
    assert error_of(exchange.query_order, "alice", by_old).code == -2013
    assert balances(exchange, "alice")["BTC"] == (D("1.6"), D("0.4"))
    assert rec.events("alice")[-1]["B"] == [{"a": "BTC", "f": "1.60000000", "l": "0.40000000"}]
