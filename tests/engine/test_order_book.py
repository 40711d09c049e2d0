"""OrderBook against a naive dict-based reference, plus worked examples with real numbers."""

from __future__ import annotations

import importlib.machinery
import math
import random
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import birdterm.sim
from birdterm.engine.order_book import BookLevels, OrderBook, VwapResult
from birdterm.sim import PriceLevels, price_levels

# ---- naive reference -----------------------------------------------------------------------


class ReferenceBook:
    """The obvious implementation: a dict per side, sorted whenever asked."""

    def __init__(self) -> None:
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self.last_update_id = -1

    @staticmethod
    def _apply(side: dict[float, float], pairs) -> None:
        for price, qty in pairs:
            p, q = float(price), float(qty)
            if q == 0.0:
                side.pop(p, None)
            else:
                side[p] = q

    def snapshot(self, bids, asks, update_id: int) -> None:
        self.bids, self.asks = {}, {}
        self._apply(self.bids, bids)
        self._apply(self.asks, asks)
        self.last_update_id = update_id

    def diff(self, bids, asks, update_id: int) -> bool:
        if update_id <= self.last_update_id:
            return False
        self._apply(self.bids, bids)
        self._apply(self.asks, asks)
        self.last_update_id = update_id
        return True

    def sorted_bids(self) -> list[tuple[float, float]]:
        return sorted(self.bids.items(), key=lambda kv: -kv[0])

    def sorted_asks(self) -> list[tuple[float, float]]:
        return sorted(self.asks.items(), key=lambda kv: kv[0])

    def walk(self, is_buy: bool, volume: float) -> tuple[float | None, float | None, float, bool]:
        levels = self.sorted_asks() if is_buy else self.sorted_bids()
        remaining, cost, filled, worst = volume, 0.0, 0.0, None
        for price, qty in levels:
            if remaining <= 0.0:
                break
            take = min(qty, remaining)
            cost += take * price
            filled += take
            remaining -= take
            worst = price
        if filled == 0.0:
            return None, None, 0.0, remaining <= 0.0
        return cost / filled, worst, filled, remaining <= 0.0

    def volume_for_price(self, is_buy: bool, price: float) -> float:
        if is_buy:
            return sum(q for p, q in self.asks.items() if p <= price)
        return sum(q for p, q in self.bids.items() if p >= price)


def assert_same_book(book: OrderBook, ref: ReferenceBook) -> None:
    bid_prices, bid_qtys = book.levels(True)
    ask_prices, ask_qtys = book.levels(False)
    assert list(zip(bid_prices.tolist(), bid_qtys.tolist(), strict=True)) == ref.sorted_bids()
    assert list(zip(ask_prices.tolist(), ask_qtys.tolist(), strict=True)) == ref.sorted_asks()
    ref_bids, ref_asks = ref.sorted_bids(), ref.sorted_asks()
    assert book.best_bid == (ref_bids[0][0] if ref_bids else None)
    assert book.best_ask == (ref_asks[0][0] if ref_asks else None)
    assert book.best_bid_qty == (ref_bids[0][1] if ref_bids else None)
    assert book.best_ask_qty == (ref_asks[0][1] if ref_asks else None)
    assert book.bid_depth == len(ref_bids)
    assert book.ask_depth == len(ref_asks)
    assert book.last_update_id == ref.last_update_id


# ---- hypothesis strategies -----------------------------------------------------------------

# A coarse grid so prices repeat often: updates, deletes and re-inserts of the same level.
price_values = st.integers(min_value=1, max_value=60).map(lambda k: k * 0.25)
qty_values = st.one_of(
    st.just(0.0),
    st.integers(min_value=1, max_value=10_000).map(lambda k: k / 1000.0),
)


@st.composite
def level_pair(draw: st.DrawFn) -> list:
    price, qty = draw(price_values), draw(qty_values)
    as_str = draw(st.sampled_from(["float", "repr", "binance"]))
    if as_str == "repr":
        return [repr(price), repr(qty)]
    if as_str == "binance":  # Binance pads to 8 decimals
        return [f"{price:.8f}", f"{qty:.8f}"]
    return [price, qty]


pair_lists = st.lists(level_pair(), max_size=25)
diff_events = st.lists(
    st.tuples(pair_lists, pair_lists, st.integers(min_value=-3, max_value=4)), max_size=30
)


@settings(max_examples=300, deadline=None)
@given(
    snap_bids=pair_lists,
    snap_asks=pair_lists,
    snap_id=st.integers(min_value=0, max_value=100),
    events=diff_events,
    walk_volumes=st.lists(
        st.integers(min_value=0, max_value=40_000).map(lambda k: k / 1000.0), max_size=4
    ),
    query_prices=st.lists(price_values, max_size=4),
    top_n=st.integers(min_value=0, max_value=70),
)
def test_matches_reference_on_random_streams(
    snap_bids, snap_asks, snap_id, events, walk_volumes, query_prices, top_n
):
    book, ref = OrderBook("BTC-USDT"), ReferenceBook()
    book.apply_snapshot(snap_bids, snap_asks, snap_id)
    ref.snapshot(snap_bids, snap_asks, snap_id)
    assert_same_book(book, ref)

    update_id = snap_id
    for bids, asks, step in events:
        update_id += step  # steps <= 0 make stale events that must be ignored
        assert book.apply_diff(bids, asks, update_id) == ref.diff(bids, asks, update_id)
        assert_same_book(book, ref)

    top = book.top(top_n)
    assert top.bids == ref.sorted_bids()[:top_n]
    assert top.asks == ref.sorted_asks()[:top_n]

    for volume in walk_volumes:
        for is_buy in (True, False):
            got = book.price_for_volume(is_buy, volume)
            vwap, worst, filled, complete = ref.walk(is_buy, volume)
            assert got.worst_price == worst
            assert got.filled_volume == pytest.approx(filled, rel=1e-12, abs=1e-12)
            if vwap is None:
                assert got.vwap is None
            else:
                assert got.vwap == pytest.approx(vwap, rel=1e-12)
            assert got.complete == complete

    for price in query_prices:
        for is_buy in (True, False):
            assert book.volume_for_price(is_buy, price) == pytest.approx(
                ref.volume_for_price(is_buy, price), rel=1e-12, abs=1e-12
            )


@settings(max_examples=100, deadline=None)
@given(
    updates=st.lists(st.tuples(st.booleans(), price_values, qty_values), max_size=200),
)
def test_level_and_array_paths_match_reference(updates):
    per_level, batched, ref = OrderBook("X-Y"), OrderBook("X-Y"), ReferenceBook()
    for is_bid, price, qty in updates:
        per_level.apply_level(is_bid, price, qty)
        ReferenceBook._apply(ref.bids if is_bid else ref.asks, [(price, qty)])
    for is_bid in (True, False):
        side = [(p, q) for b, p, q in updates if b == is_bid]
        batched.apply_arrays(is_bid, [p for p, _ in side], [q for _, q in side])
    assert_same_book(per_level, ref)
    assert_same_book(batched, ref)


# ---- worked examples -----------------------------------------------------------------------


@pytest.fixture
def book() -> OrderBook:
    b = OrderBook("BTC-USDT")
    b.apply_snapshot(
        bids=[["99.5", "3"], ["99", "4"], ["98", "10"]],
        asks=[["100", "1"], ["101", "2"], ["102", "5"]],
        update_id=10,
    )
    return b


def test_buying_walks_the_asks(book: OrderBook):
    result = book.price_for_volume(True, 2.5)
    assert isinstance(result, VwapResult)
    assert result.vwap == pytest.approx((100 * 1 + 101 * 1.5) / 2.5)
    assert result.vwap == pytest.approx(100.6)
    assert result.worst_price == 101.0
    assert result.filled_volume == 2.5
    assert result.complete is True


def test_buying_more_than_the_book_holds_is_incomplete(book: OrderBook):
    result = book.price_for_volume(True, 10.0)
    assert result.filled_volume == 8.0
    assert result.complete is False
    assert result.worst_price == 102.0
    assert result.vwap == pytest.approx((100 * 1 + 101 * 2 + 102 * 5) / 8)


def test_selling_walks_the_bids(book: OrderBook):
    result = book.price_for_volume(False, 5.0)
    assert result.vwap == pytest.approx((99.5 * 3 + 99 * 2) / 5)
    assert result.worst_price == 99.0
    assert result.complete is True


def test_exact_level_boundary_fill(book: OrderBook):
    result = book.price_for_volume(True, 3.0)
    assert result.filled_volume == 3.0
    assert result.worst_price == 101.0
    assert result.vwap == pytest.approx((100 + 202) / 3)


def test_zero_volume_walk(book: OrderBook):
    result = book.price_for_volume(True, 0.0)
    assert result == VwapResult(vwap=None, worst_price=None, filled_volume=0.0, complete=True)


def test_negative_volume_walk_raises(book: OrderBook):
    with pytest.raises(ValueError, match=r"-1\.0"):
        book.price_for_volume(True, -1.0)


def test_volume_for_price(book: OrderBook):
    assert book.volume_for_price(True, 101.0) == 3.0  # asks at or below 101
    assert book.volume_for_price(True, 100.5) == 1.0
    assert book.volume_for_price(True, 99.0) == 0.0
    assert book.volume_for_price(False, 99.0) == 7.0  # bids at or above 99
    assert book.volume_for_price(False, 1.0) == 17.0
    assert book.quote_volume_for_price(True, 101.0) == 100.0 + 202.0


def test_top_of_book(book: OrderBook):
    assert book.best_bid == 99.5
    assert book.best_ask == 100.0
    assert book.best_bid_qty == 3.0
    assert book.best_ask_qty == 1.0
    assert book.mid_price == 99.75
    assert book.spread == 0.5
    assert book.spread_bps == pytest.approx(0.5 / 99.75 * 10_000)
    assert book.is_crossed is False
    assert book.top(2) == BookLevels(
        bids=[(99.5, 3.0), (99.0, 4.0)], asks=[(100.0, 1.0), (101.0, 2.0)]
    )
    assert book.qty_at(True, 99.0) == 4.0
    assert book.qty_at(True, 99.25) == 0.0
    assert "BTC-USDT" in repr(book) and "99.5" in repr(book)


def test_diff_updates_deletes_and_inserts(book: OrderBook):
    applied = book.apply_diff(
        bids=[["99.5", "0"], ["99.75", "0.5"], ["97", "0"]],  # delete best, new best, no-op
        asks=[["100", "2.5"], ["102", "0"]],
        update_id=11,
    )
    assert applied is True
    assert book.last_update_id == 11
    assert book.top(5).bids == [(99.75, 0.5), (99.0, 4.0), (98.0, 10.0)]
    assert book.top(5).asks == [(100.0, 2.5), (101.0, 2.0)]


def test_stale_diff_is_ignored(book: OrderBook):
    assert book.apply_diff([["99.5", "0"]], [], update_id=10) is False
    assert book.apply_diff([["99.5", "0"]], [], update_id=3) is False
    assert book.best_bid == 99.5
    assert book.last_update_id == 10
    assert book.apply_diff([["99.5", "0"]], [], update_id=12) is True
    assert book.best_bid == 99.0


def test_crossed_book_is_reported():
    b = OrderBook("A-B")
    b.apply_snapshot([[101.0, 1.0]], [[100.0, 1.0]], update_id=1)
    assert b.is_crossed is True
    assert b.spread == -1.0


def test_empty_book_gives_none():
    b = OrderBook("A-B")
    assert b.best_bid is None and b.best_ask is None
    assert b.best_bid_qty is None and b.best_ask_qty is None
    assert b.mid_price is None and b.spread is None and b.spread_bps is None
    assert b.is_crossed is False
    assert b.top(5) == BookLevels(bids=[], asks=[])
    assert b.price_for_volume(True, 1.0) == VwapResult(None, None, 0.0, False)
    assert b.volume_for_price(True, 1e9) == 0.0
    b.apply_snapshot([[1.0, 1.0]], [], update_id=1)
    assert b.best_bid == 1.0 and b.mid_price is None and b.spread is None


def test_clear_empties_and_resets_update_id(book: OrderBook):
    book.clear()
    assert book.best_bid is None and book.best_ask is None
    assert book.last_update_id == -1
    assert book.apply_diff([["1", "1"]], [], update_id=0) is True


@pytest.mark.parametrize(
    ("bids", "needle"),
    [
        ([["100", "-1"]], "-1.0"),
        ([["-5", "1"]], "-5.0"),
        ([["0", "1"]], "0.0"),
        ([["nan", "1"]], "nan"),
        ([["100", "inf"]], "inf"),
        ([["abc", "1"]], "abc"),
    ],
)
def test_invalid_level_in_diff_raises_and_changes_nothing(book: OrderBook, bids, needle):
    before = (book.levels(True)[0].tolist(), book.levels(False)[0].tolist())
    with pytest.raises(ValueError, match=re.escape(needle)):
        # The first bid and the ask are valid: they must not be applied either.
        book.apply_diff([["99.5", "0"], *bids], [["100", "0"]], update_id=11)
    assert (book.levels(True)[0].tolist(), book.levels(False)[0].tolist()) == before
    assert book.last_update_id == 10


def test_invalid_level_paths_raise_with_value(book: OrderBook):
    with pytest.raises(ValueError, match=r"quantity -2\.5"):
        book.apply_level(True, 99.0, -2.5)
    with pytest.raises(ValueError, match=r"price -99\.0"):
        book.apply_level(False, -99.0, 1.0)
    with pytest.raises(ValueError, match="nan"):
        book.apply_arrays(True, [1.0, float("nan")], [1.0, 1.0])
    with pytest.raises(ValueError, match=r"-7\.0"):
        book.apply_snapshot([["1", "-7"]], [], update_id=20)
    # A rejected snapshot keeps the previous book.
    assert book.best_bid == 99.5 and book.last_update_id == 10
    with pytest.raises(ValueError, match="pairs"):
        book.apply_snapshot([["1", "1", "1"]], [], update_id=20)


def test_snapshot_duplicates_last_wins_and_zeros_skipped():
    b = OrderBook("A-B")
    b.apply_snapshot(
        bids=[["10", "1"], ["10", "2"], ["9", "0"], ["8", "3"], ["8", "0"]],
        asks=[["11", "0"], ["12", "4"]],
        update_id=5,
    )
    assert b.top(10) == BookLevels(bids=[(10.0, 2.0)], asks=[(12.0, 4.0)])


def test_removing_a_missing_level_is_a_no_op(book: OrderBook):
    book.apply_level(True, 50.0, 0.0)
    book.apply_level(False, 500.0, 0.0)
    assert book.bid_depth == 3 and book.ask_depth == 3


def test_growing_beyond_initial_capacity():
    rng = random.Random(7)
    prices = [round(1000.0 + k * 0.01, 2) for k in range(10_000)]
    rng.shuffle(prices)
    qtys = {p: rng.randint(1, 1000) / 100.0 for p in prices}
    b = OrderBook("A-B")
    for p in prices:
        b.apply_level(True, p, qtys[p])
        b.apply_level(False, p + 200.0, qtys[p])
    got_prices, got_qtys = b.levels(True)
    expected = sorted(qtys, reverse=True)
    assert got_prices.tolist() == expected
    assert got_qtys.tolist() == [qtys[p] for p in expected]
    assert b.bid_depth == 10_000 and b.ask_depth == 10_000
    assert b.best_bid == max(prices) and b.best_ask == min(prices) + 200.0
    assert b.volume_for_price(False, 0.01) == pytest.approx(sum(qtys.values()))
    # Deleting every other level shrinks the side and keeps it sorted.
    for p in expected[::2]:
        b.apply_level(True, p, 0.0)
    assert b.levels(True)[0].tolist() == expected[1::2]


def test_large_snapshot_load():
    rng = np.random.default_rng(3)
    prices = np.round(rng.uniform(1.0, 100.0, 20_000), 2)
    qtys = rng.integers(0, 5, 20_000).astype(np.float64)
    side = PriceLevels(False)
    side.load(prices, qtys)
    ref: dict[float, float] = {}
    for p, q in zip(prices.tolist(), qtys.tolist(), strict=True):
        ref[p] = q
    expected = sorted((p, q) for p, q in ref.items() if q != 0.0)
    got_p, got_q = side.to_arrays()
    assert list(zip(got_p.tolist(), got_q.tolist(), strict=True)) == expected
    assert len(side) == len(expected)


def test_price_levels_direct_api():
    asks = PriceLevels(False)
    asks.update_pairs([["100", "1"], ("101", "2"), [102.0, 5.0]])
    assert asks.best() == (100.0, 1.0)
    assert asks.get(101.0) == 2.0 and asks.get(103.0) == 0.0
    assert asks.top(2) == [(100.0, 1.0), (101.0, 2.0)]
    assert asks.vwap_for_volume(2.5) == (pytest.approx(100.6), 101.0, 2.5)
    assert asks.volume_up_to(101.0) == 3.0
    assert asks.quote_volume_up_to(100.0) == 100.0
    asks.set(100.0, 0.0)
    assert asks.best() == (101.0, 2.0)
    asks.clear()
    assert asks.best() is None and len(asks) == 0
    assert math.isclose(PriceLevels(True).volume_up_to(1.0), 0.0)


def test_sim_package_loads_a_compiled_extension():
    module_file = price_levels.__file__
    assert module_file is not None
    assert module_file.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)), module_file
    assert birdterm.sim.PriceLevels is PriceLevels
