"""Resting orders filled by the replay: queue position, trades through the price, crossing books."""

from decimal import Decimal

from birdterm.sim.emulator.matching_book import MatchingBook
from birdterm.sim.emulator.orders import Order

from tests.sim.emulator.test_exchange_fixtures import (
    SYMBOL,
    T0,
    Recorder,
    balances,
    limit,
    make_exchange,
)

D = Decimal


def status(exchange, order_id: int) -> tuple[str, str]:
    order = exchange.query_order("alice", {"symbol": SYMBOL, "orderId": str(order_id)})
    return order["status"], order["executedQty"]


def test_market_liquidity_ahead_trades_first() -> None:
    exchange, replay, clock = make_exchange()
    rec = Recorder(exchange)
    exchange.new_order("alice", limit("BUY", "0.5", "29999"))  # behind the market's 1.0
    replay.push(T0 + 100, trades=[("29999", "0.6", True)])
    clock.advance(100)
    exchange.step()
    assert status(exchange, 1) == ("NEW", "0.00000000")
    replay.push(T0 + 200, trades=[("29999", "0.6", True)])
    clock.advance(100)
    exchange.step()
    assert status(exchange, 1) == ("PARTIALLY_FILLED", "0.20000000")
    # The replay shrinks the level: only market quantity (behind us now) goes.
    replay.push(T0 + 300, bids=[("29999", "0.3")])
    clock.advance(100)
    exchange.step()
    assert exchange.book_levels(SYMBOL)[0][0] == (D(29999), D("0.6"))
    replay.push(T0 + 400, trades=[("29999", "0.5", True)])
    clock.advance(100)
    exchange.step()
    assert status(exchange, 1) == ("FILLED", "0.50000000")
    trades = [(t["t"], t["q"], t["T"]) for t in rec.stream("btcusdt@trade")]
    assert trades == [
        (1, "0.60000000", T0 + 100),
        (2, "0.20000000", T0 + 200),  # ours
        (3, "0.40000000", T0 + 200),  # the rest of the print
        (4, "0.30000000", T0 + 400),
        (5, "0.20000000", T0 + 400),
    ]
    fills = exchange.my_trades("alice", {"symbol": SYMBOL})
    assert [(f["id"], f["qty"], f["isMaker"], f["commission"]) for f in fills] == [
        (2, "0.20000000", True, "0.00020000"),
        (4, "0.30000000", True, "0.00030000"),
    ]
    assert balances(exchange, "alice") == {"USDT": (D("85000.5"), D(0)), "BTC": (D("2.4995"), D(0))}


def test_a_shrinking_level_moves_the_order_up_the_queue() -> None:
    exchange, replay, clock = make_exchange()
    exchange.new_order("alice", limit("BUY", "0.5", "29999"))
    replay.push(T0 + 100, bids=[("29999", "0.4")])
    replay.push(T0 + 200, trades=[("29999", "0.5", True)])
    clock.advance(200)
    exchange.step()
    assert status(exchange, 1) == ("PARTIALLY_FILLED", "0.10000000")


def test_a_print_through_the_price_fills_at_the_order_price() -> None:
    exchange, replay, clock = make_exchange()
    rec = Recorder(exchange)
    exchange.new_order("alice", limit("BUY", "0.5", "30000"))  # above the market's best bid
    replay.push(T0 + 100, trades=[("29999", "0.3", True)])
    clock.advance(100)
    exchange.step()
    assert status(exchange, 1) == ("PARTIALLY_FILLED", "0.30000000")
    # The whole print went to us; nothing else printed.
    assert [(t["p"], t["q"], t["m"]) for t in rec.stream("btcusdt@trade")] == [
        ("30000.00000000", "0.30000000", True)
    ]
    replay.push(T0 + 200, trades=[("29998", "1.0", True)])
    clock.advance(100)
    exchange.step()
    assert status(exchange, 1) == ("FILLED", "0.50000000")
    assert [(t["p"], t["q"]) for t in rec.stream("btcusdt@trade")][1:] == [
        ("30000.00000000", "0.20000000"),
        ("29998.00000000", "0.80000000"),
    ]
    assert balances(exchange, "alice")["USDT"] == (D(85000), D(0))


def test_a_print_on_the_other_side_does_not_fill() -> None:
    exchange, replay, clock = make_exchange()
    exchange.new_order("alice", limit("BUY", "0.5", "30000"))
    replay.push(T0 + 100, trades=[("30001", "1.0", False)])  # a buyer lifted the ask
    clock.advance(100)
    exchange.step()
    assert status(exchange, 1) == ("NEW", "0.00000000")


def test_market_moving_through_a_resting_order_fills_it_at_its_price() -> None:
    exchange, replay, clock = make_exchange()
    rec = Recorder(exchange)
    exchange.new_order("alice", limit("BUY", "0.5", "30000"))
    replay.push(T0 + 100, asks=[("30000", "0.2"), ("30001", "0")])
    clock.advance(100)
    exchange.step()
    assert status(exchange, 1) == ("PARTIALLY_FILLED", "0.20000000")
    bids, asks = exchange.book_levels(SYMBOL)
    assert bids[0] == (D(30000), D("0.3"))
    assert asks[0] == (D(30002), D(2))
    replay.push(T0 + 200, asks=[("29999.50", "1.0")])
    clock.advance(100)
    exchange.step()
    assert status(exchange, 1) == ("FILLED", "0.50000000")
    bids, asks = exchange.book_levels(SYMBOL)
    assert bids[0] == (D(29999), D(1))
    assert asks[0] == (D("29999.50"), D("0.7"))
    assert [(t["p"], t["q"], t["m"], t["T"]) for t in rec.stream("btcusdt@trade")] == [
        ("30000.00000000", "0.20000000", True, T0 + 100),
        ("30000.00000000", "0.30000000", True, T0 + 200),
    ]
    trade = rec.events("alice", "executionReport")[-1]
    assert (trade["x"], trade["X"], trade["m"], trade["L"]) == (
        "TRADE",
        "FILLED",
        True,
        "30000.00000000",
    )
    assert balances(exchange, "alice") == {"USDT": (D(85000), D(0)), "BTC": (D("2.4995"), D(0))}


def test_bids_moving_through_a_resting_sell() -> None:
    exchange, replay, clock = make_exchange()
    exchange.new_order("alice", limit("SELL", "0.5", "30000.50"))
    replay.push(T0 + 100, bids=[("30000.60", "2")])
    clock.advance(100)
    exchange.step()
    assert status(exchange, 1) == ("FILLED", "0.50000000")
    assert exchange.book_levels(SYMBOL)[0][0] == (D("30000.60"), D("1.5"))
    # 15,000.25 USDT less the 0.1 % maker commission.
    assert balances(exchange, "alice") == {
        "USDT": (D("114985.24975"), D(0)),
        "BTC": (D("1.5"), D(0)),
    }


def _order(order_id: int, side: str, qty: str, price: str, account: str = "a") -> Order:
    return Order(
        account=account,
        symbol=SYMBOL,
        order_id=order_id,
        client_order_id=str(order_id),
        side=side,
        type="LIMIT",
        time_in_force="GTC",
        price=D(price),
        orig_qty=D(qty),
        orig_quote_qty=D(0),
        time=T0,
        stp_mode="EXPIRE_MAKER",
    )


def test_taker_walk_follows_price_time_priority_through_market_and_orders() -> None:
    book = MatchingBook(SYMBOL)
    book.set_market(False, D(100), D(2))
    first, second = _order(1, "SELL", "1", "100"), _order(2, "SELL", "1", "100", "b")
    book.rest(first)  # behind market 2
    book.set_market(False, D(100), D(3))  # one more market unit, behind `first`
    book.rest(second)  # behind market 3
    book.set_market(False, D(101), D(5))
    matches, expired = book.take(True, D(101), D("5.5"), None, D("0.001"), "c")
    assert expired == []
    assert [(m.maker.order_id if m.maker else None, m.price, m.qty) for m in matches] == [
        (None, D(100), D(2)),
        (1, D(100), D(1)),
        (None, D(100), D(1)),
        (2, D(100), D(1)),
        (None, D(101), D("0.5")),
    ]
    assert book.levels(False) == [(D(101), D("4.5"))]


def test_available_and_take_agree_for_quote_amounts() -> None:
    book = MatchingBook(SYMBOL)
    book.set_market(False, D("100.5"), D("0.3"))
    book.set_market(False, D(101), D(1))
    qty, cost = book.available(True, None, None, D(100), D("0.001"), "c")
    matches, _ = book.take(True, None, qty, None, D("0.001"), "c")
    assert (qty, cost) == (D("0.991"), D("0.3") * D("100.5") + D("0.691") * 101)
    assert sum(m.qty for m in matches) == qty
    assert sum(m.qty * m.price for m in matches) == cost


def test_each_published_change_takes_one_update_id() -> None:
    book = MatchingBook(SYMBOL, first_update_id=10)
    book.set_market(True, D(99), D(1))
    book.set_market(True, D(99), D(1))  # no change, no id
    book.set_market(False, D(101), D(1))
    order = _order(1, "BUY", "2", "99")
    book.rest(order)
    assert book.update_id == 13
    assert book.drain_changes() == (11, 13, [(D(99), D(3))], [(D(101), D(1))])
    book.remove(order)
    book.set_market(False, D(101), D(0))
    assert book.drain_changes() == (14, 15, [(D(99), D(1))], [(D(101), D(0))])
    assert book.drain_changes() is None
