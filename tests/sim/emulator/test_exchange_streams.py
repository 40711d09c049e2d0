"""Market streams: depth update-id continuity and sync, bookTicker, trades, aggTrades, kline_1s."""

import itertools
import random
from decimal import Decimal

from birdterm.sim.emulator.default_symbols import default_symbols
from birdterm.sim.emulator.exchange import Exchange
from birdterm.sim.emulator.synthetic_book import SyntheticBookReplay

from tests.sim.emulator.test_exchange_fixtures import (
    SYMBOL,
    T0,
    Clock,
    Recorder,
    limit,
    make_exchange,
    market,
)

D = Decimal
DEPTH = "btcusdt@depth@100ms"


class LocalBook:
    """A client's book kept in sync by Binance's spot procedure (NOTES §8)."""

    def __init__(self, snapshot: dict) -> None:
        self.update_id = snapshot["lastUpdateId"]
        self.bids = {D(p): D(q) for p, q in snapshot["bids"]}
        self.asks = {D(p): D(q) for p, q in snapshot["asks"]}
        self.applied = 0

    def on_diff(self, event: dict) -> None:
        if event["u"] <= self.update_id:
            return  # already in the snapshot
        assert event["U"] <= self.update_id + 1, f"gap: U={event['U']} after {self.update_id}"
        for side, levels in ((self.bids, event["b"]), (self.asks, event["a"])):
            for p, q in levels:
                if D(q) == 0:
                    side.pop(D(p), None)
                else:
                    side[D(p)] = D(q)
        self.update_id = event["u"]
        self.applied += 1

    def levels(self) -> tuple[list, list]:
        return (
            sorted(self.bids.items(), reverse=True),
            sorted(self.asks.items()),
        )


def synthetic_exchange(seed: int = 7) -> tuple[Exchange, Clock]:
    clock = Clock()
    replay = SyntheticBookReplay(
        SYMBOL, seed=seed, start_ms=T0, start_price=D(30000), tick_size=D("0.01"),
        lot_size=D("0.00001"),
    )  # fmt: skip
    exchange = Exchange(default_symbols(), {SYMBOL: replay}, clock)
    exchange.add_account("alice", "s", {"USDT": D(1_000_000), "BTC": D(30)})
    return exchange, clock


def random_orders(exchange: Exchange, rng: random.Random) -> None:
    """Place, cancel and take at random around the touch (changes our part of the book)."""
    bids, asks = exchange.book_levels(SYMBOL)
    mid = (bids[0][0] + asks[0][0]) / 2
    action = rng.random()
    if action < 0.5:
        side = rng.choice(["BUY", "SELL"])
        offset = D(rng.randint(-300, 3000)) / 100
        price = (mid - offset if side == "BUY" else mid + offset).quantize(D("0.01"))
        exchange.new_order("alice", limit(side, f"0.0{rng.randint(10, 99)}", str(price)))
    elif action < 0.8:
        open_orders = exchange.open_orders("alice", SYMBOL)
        if open_orders:
            order = rng.choice(open_orders)
            exchange.cancel_order("alice", {"symbol": SYMBOL, "orderId": str(order["orderId"])})
    else:
        exchange.new_order("alice", market(rng.choice(["BUY", "SELL"]), qty="0.01"))


def test_depth_events_are_continuous_and_a_late_joiner_syncs_exactly() -> None:
    exchange, clock = synthetic_exchange()
    rec = Recorder(exchange)
    rng = random.Random(3)
    joiners: list[tuple[int, LocalBook]] = []
    for step in range(3000):
        clock.advance(rng.choice([10, 30, 50, 100]))
        exchange.step()
        if rng.random() < 0.3:
            random_orders(exchange, rng)
        if step in (5, 777, 1999):
            # A client that buffered nothing yet: its snapshot is mid-interval.
            joiners.append((len(rec.stream(DEPTH)), LocalBook(exchange.depth(SYMBOL, 5000))))
    clock.advance(100)
    exchange.step()
    events = rec.stream(DEPTH)
    assert len(events) > 500
    for prev, event in itertools.pairwise(events):
        assert event["U"] == prev["u"] + 1
        assert event["E"] >= prev["E"]
        assert (event["e"], event["s"]) == ("depthUpdate", SYMBOL)
    assert events[-1]["u"] == exchange.depth(SYMBOL, 1)["lastUpdateId"]
    for first_event, book in joiners:
        for event in events[first_event:]:
            book.on_diff(event)
        assert book.applied > 0
        assert book.levels() == exchange.book_levels(SYMBOL)


def test_the_published_book_is_market_plus_our_orders() -> None:
    exchange, replay, clock = make_exchange(
        accounts={"alice": {"USDT": "100000"}, "bob": {"USDT": "100000"}}
    )
    exchange.new_order("alice", limit("BUY", "0.25", "29998"))
    exchange.new_order("bob", limit("BUY", "0.5", "29998"))
    exchange.new_order("bob", limit("BUY", "0.1", "29998.50"))
    bids, _ = exchange.book_levels(SYMBOL)
    assert bids == [
        (D(29999), D(1)),
        (D("29998.50"), D("0.1")),
        (D(29998), D("2.75")),
        (D(29997), D(3)),
    ]
    assert exchange.depth(SYMBOL, 2)["bids"] == [
        ["29999.00000000", "1.00000000"],
        ["29998.50000000", "0.10000000"],
    ]
    replay.push(T0 + 50, bids=[("29998", "0")])  # the market leaves; our orders stay
    clock.advance(100)
    exchange.step()
    assert exchange.book_levels(SYMBOL)[0][2] == (D(29998), D("0.75"))


def test_depth_event_lists_changed_levels_with_absolute_quantities() -> None:
    exchange, replay, clock = make_exchange()
    rec = Recorder(exchange)
    start = exchange.depth(SYMBOL, 100)["lastUpdateId"]
    exchange.new_order("alice", limit("BUY", "0.5", "29999"))  # +1: level 29999
    exchange.new_order("alice", market("BUY", qty="1.5"))  # +2: levels 30001, 30002
    replay.push(T0 + 20, asks=[("30003", "0"), ("30004", "1.25")])  # +2
    clock.advance(99)
    exchange.step()
    assert rec.stream(DEPTH) == []  # not due before the 100 ms boundary
    assert exchange.depth(SYMBOL, 100)["lastUpdateId"] == start + 5
    clock.advance(1)
    exchange.step()
    assert rec.stream(DEPTH) == [
        {
            "e": "depthUpdate",
            "E": T0 + 100,
            "s": SYMBOL,
            "U": start + 1,
            "u": start + 5,
            "b": [["29999.00000000", "1.50000000"]],
            "a": [
                ["30001.00000000", "0.00000000"],
                ["30002.00000000", "1.50000000"],
                ["30003.00000000", "0.00000000"],
                ["30004.00000000", "1.25000000"],
            ],
        }
    ]
    clock.advance(500)
    exchange.step()
    assert len(rec.stream(DEPTH)) == 1  # nothing changed, nothing sent


def test_book_ticker_is_sent_when_the_best_level_changes() -> None:
    exchange, replay, clock = make_exchange()
    rec = Recorder(exchange)
    exchange.new_order("alice", limit("BUY", "0.5", "29998"))  # not the best level
    assert rec.stream("btcusdt@bookTicker") == []
    exchange.new_order("alice", limit("BUY", "0.5", "29999"))
    replay.push(T0 + 10, asks=[("30001", "0.4")])
    clock.advance(10)
    exchange.step()
    assert rec.stream("btcusdt@bookTicker") == [
        {
            "u": exchange.depth(SYMBOL, 1)["lastUpdateId"] - 1,
            "s": SYMBOL,
            "b": "29999.00000000",
            "B": "1.50000000",
            "a": "30001.00000000",
            "A": "1.00000000",
        },
        {
            "u": exchange.depth(SYMBOL, 1)["lastUpdateId"],
            "s": SYMBOL,
            "b": "29999.00000000",
            "B": "1.50000000",
            "a": "30001.00000000",
            "A": "0.40000000",
        },
    ]
    assert exchange.book_ticker(SYMBOL) == {
        "symbol": SYMBOL,
        "bidPrice": "29999.00000000",
        "bidQty": "1.50000000",
        "askPrice": "30001.00000000",
        "askQty": "0.40000000",
    }


def test_kline_1s_stream_closes_each_second_from_the_trades() -> None:
    exchange, replay, clock = make_exchange()
    rec = Recorder(exchange)
    replay.push(T0 + 100, trades=[("30001", "0.1", False)])
    replay.push(T0 + 400, trades=[("29999", "0.3", True)])
    replay.push(T0 + 700, trades=[("30001", "0.2", False)])
    for _ in range(25):
        clock.advance(100)
        exchange.step()
    klines = rec.stream("btcusdt@kline_1s")
    assert [k["k"]["t"] for k in klines] == [T0, T0 + 1000]
    first = klines[0]
    assert (first["e"], first["E"], first["s"]) == ("kline", T0 + 1000, SYMBOL)
    assert first["k"] == {
        "t": T0, "T": T0 + 999, "s": SYMBOL, "i": "1s", "f": 1, "L": 3,
        "o": "30001.00000000", "c": "30001.00000000", "h": "30001.00000000",
        "l": "29999.00000000", "v": "0.60000000", "n": 3, "x": True,
        "q": "18000.00000000", "V": "0.30000000", "Q": "9000.30000000", "B": "0",
    }  # fmt: skip
    empty = klines[1]["k"]
    assert (empty["o"], empty["c"], empty["v"], empty["n"], empty["f"], empty["L"]) == (
        "30001.00000000", "30001.00000000", "0.00000000", 0, -1, -1
    )  # fmt: skip
    assert exchange.klines(SYMBOL, "1s", None, None, 2)[0][0] == T0 + 1000


def test_our_trades_reach_the_public_trade_list_and_agg_trades() -> None:
    exchange, replay, clock = make_exchange()
    exchange.new_order("alice", market("BUY", qty="1.5"))
    replay.push(T0 + 100, trades=[("29999", "0.2", True)])
    clock.advance(100)
    exchange.step()
    assert [
        (t["id"], t["price"], t["qty"], t["isBuyerMaker"])
        for t in exchange.recent_trades(SYMBOL, 10)
    ] == [
        (1, "30001.00000000", "1.00000000", False),
        (2, "30002.00000000", "0.50000000", False),
        (3, "29999.00000000", "0.20000000", True),
    ]
    assert exchange.recent_trades(SYMBOL, 1)[0]["quoteQty"] == "5999.80000000"
    aggs = exchange.agg_trades(SYMBOL, None, None, None, 500)
    assert [(a["a"], a["f"], a["l"], a["q"]) for a in aggs] == [
        (1, 1, 1, "1.00000000"),
        (2, 2, 2, "0.50000000"),
        (3, 3, 3, "0.20000000"),
    ]
    assert exchange.avg_price(SYMBOL) == {
        "mins": 5,
        "price": "30001.05882353",  # (30001 + 15001 + 5999.8) / 1.7
        "closeTime": T0 + 100,
    }
