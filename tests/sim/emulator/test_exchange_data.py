"""Exchange public data and queries: history + live trades, myTrades selection, errors."""

from decimal import Decimal

import pytest

from birdterm.sim.emulator.default_symbols import default_symbols
from birdterm.sim.emulator.errors import BinanceError
from birdterm.sim.emulator.exchange import Exchange
from birdterm.sim.emulator.history import MarketHistory
from birdterm.sim.emulator.synthetic_book import SyntheticBookReplay

from tests.sim.emulator.test_exchange_fixtures import (
    SYMBOL,
    T0,
    Clock,
    ScriptedReplay,
    limit,
    make_exchange,
    market,
)

D = Decimal


def error_of(call, *args) -> BinanceError:
    with pytest.raises(BinanceError) as info:
        call(*args)
    return info.value


def test_live_trades_continue_the_synthetic_history() -> None:
    clock = Clock()
    history = MarketHistory.synthetic(SYMBOL, seed=3, end_ms=T0, days=0.05, start_price=D(30000))
    past = history.trade_count
    replay = ScriptedReplay([("29999.00", "1")], [("30001.00", "1")])
    exchange = Exchange(default_symbols(), {SYMBOL: replay}, clock, history={SYMBOL: history})
    exchange.add_account("alice", "s", {"USDT": D(100_000)})
    assert exchange.recent_trades(SYMBOL, 1)[0]["id"] == past
    clock.advance(1500)
    answer = exchange.new_order("alice", market("BUY", qty="0.5"))
    assert answer["fills"][0]["tradeId"] == past + 1
    newest = exchange.agg_trades(SYMBOL, None, None, None, 1)[0]
    assert (newest["f"], newest["T"], newest["p"]) == (past + 1, T0 + 1500, "30001.00000000")
    assert newest["a"] == past + 1  # every historic trade is its own aggTrade
    # The last two 1 s bars: the one with our trade, then the current (empty) one.
    # The newest 1 s bars: an empty one carrying the history's last price, then ours.
    bars = exchange.klines(SYMBOL, "1s", None, None, 2)
    assert [(b[0], b[4], b[5], b[8]) for b in bars] == [
        (T0, "30000.00000000", "0.00000000", 0),
        (T0 + 1000, "30001.00000000", "0.50000000", 1),
    ]
    assert exchange.klines(SYMBOL, "1h", None, None, 2)[-1][0] == T0 // 3_600_000 * 3_600_000
    assert D(exchange.avg_price(SYMBOL)["price"]) > 0


def test_history_must_fit_the_symbol_grid() -> None:
    coarse = MarketHistory(SYMBOL, tick_size=D("0.1"), lot_size=D("0.00001"), start_ms=T0)
    with pytest.raises(ValueError, match="tick"):
        Exchange(default_symbols(), {}, Clock(), history={SYMBOL: coarse})


def test_a_symbol_without_replay_holds_only_our_orders() -> None:
    exchange, _, _ = make_exchange(accounts={"alice": {"USDT": "10000", "ETH": "5"}})
    assert exchange.depth("ETHUSDT", 10) == {"lastUpdateId": 1_000_000, "bids": [], "asks": []}
    assert exchange.book_ticker("ETHUSDT")["bidPrice"] == "0.00000000"
    empty = error_of(
        exchange.new_order, "alice", {**market("BUY", quote="100"), "symbol": "ETHUSDT"}
    )
    assert (empty.code, empty.msg) == (
        -2010,
        "Order book liquidity is less than symbol minimum quantity.",
    )
    placed = exchange.new_order("alice", {**limit("SELL", "1", "2000"), "symbol": "ETHUSDT"})
    assert placed["orderId"] == 1  # ids count per symbol
    assert exchange.depth("ETHUSDT", 10) == {
        "lastUpdateId": 1_000_001,
        "bids": [],
        "asks": [["2000.00000000", "1.00000000"]],
    }
    assert [o["symbol"] for o in exchange.open_orders("alice", None)] == ["ETHUSDT"]


def test_public_data_errors() -> None:
    exchange, _, _ = make_exchange()
    cases = [
        (exchange.depth, ("NOPE", 10), -1121),
        (exchange.depth, (SYMBOL, 0), -1100),
        (exchange.depth, (SYMBOL, 5001), -1100),
        (exchange.klines, (SYMBOL, "2m", None, None, 10), -1120),
        (exchange.klines, (SYMBOL, "1m", None, None, 1001), -1100),
        (exchange.klines, (SYMBOL, "1m", T0 + 1, T0, 10), -1023),
        (exchange.agg_trades, (SYMBOL, None, T0 + 1, T0, 10), -1023),
        (exchange.recent_trades, (SYMBOL, 1001), -1100),
        (exchange.avg_price, ("NOPE",), -1121),
    ]
    for call, args, code in cases:
        assert error_of(call, *args).code == code, (call.__name__, args)


def test_my_trades_selection() -> None:
    exchange, _, clock = make_exchange()
    for _ in range(3):
        exchange.new_order("alice", market("BUY", qty="0.1"))  # trade ids 1, 2, 3
        clock.advance(1000)
    exchange.new_order("alice", market("SELL", qty="0.2"))  # id 4, order 4
    query = lambda **p: [t["id"] for t in exchange.my_trades("alice", {"symbol": SYMBOL, **p})]  # noqa: E731
    assert query() == [1, 2, 3, 4]
    assert query(limit="2") == [3, 4]  # newest
    assert query(fromId="2", limit="2") == [2, 3]
    assert query(orderId="4") == [4]
    assert query(startTime=str(T0 + 1000)) == [2, 3, 4]
    assert query(endTime=str(T0 + 1000), limit="1") == [2]
    assert query(startTime=str(T0 + 1000), endTime=str(T0 + 2000)) == [2, 3]
    too_long = {"symbol": SYMBOL, "startTime": str(T0), "endTime": str(T0 + 86_400_001)}
    err = error_of(exchange.my_trades, "alice", too_long)
    assert (err.code, err.msg) == (-1127, "More than 24 hours between startTime and endTime.")
    assert error_of(exchange.my_trades, "alice", {"symbol": SYMBOL, "limit": "1001"}).code == -1100


def test_step_is_deterministic_for_a_seed_and_clock() -> None:
    def session() -> list:
        clock = Clock()
        replay = SyntheticBookReplay(
            SYMBOL, seed=4, start_ms=T0, start_price="30000", tick_size="0.01", lot_size="0.00001"
        )
        exchange = Exchange(default_symbols(), {SYMBOL: replay}, clock)
        exchange.add_account("alice", "s", {"USDT": D(100_000), "BTC": D(1)})
        events: list = []
        exchange.add_market_listener(lambda s, p: events.append((s, p)))
        exchange.add_user_listener(lambda k, e: events.append((k, e)))
        bids, _ = exchange.book_levels(SYMBOL)
        exchange.new_order("alice", limit("BUY", "0.2", str(bids[0][0] - D("0.5"))))
        for _ in range(600):
            clock.advance(50)
            exchange.step()
        return events

    first = session()
    assert first == session()
    assert {stream for stream, _ in first} >= {
        "btcusdt@depth@100ms", "btcusdt@trade", "btcusdt@aggTrade", "btcusdt@bookTicker",
        "btcusdt@kline_1s", "alice",
    }  # fmt: skip
