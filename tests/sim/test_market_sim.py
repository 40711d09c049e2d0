"""MarketSim: hand-computed fills and triggers on candles and trades, plus a brute-force twin."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from birdterm.sim.data import TRADE_DTYPE, build_candles
from birdterm.sim.market_sim import (
    ABOVE,
    AT_TIME,
    BELOW,
    FILL,
    TRAIL_ACTIVATED,
    TRAIL_LONG,
    TRAIL_SHORT,
    TRIGGER,
    MarketSim,
)

from tests.sim.market_sim_reference import ReferenceMarketSim

T0 = 1_700_000_000_000  # candle / trade timestamps start here (ms)
BUY, SELL = 1, -1


def make_candles(rows: list[tuple[float, float, float, float, float]]) -> np.ndarray:
    """1 s candles from (open, high, low, close, volume) rows, starting at T0."""
    o, h, lo, c, v = (np.array(col, dtype=np.float64) for col in zip(*rows, strict=True))
    return build_candles(T0 + 1000 * np.arange(len(rows)), o, h, lo, c, v, 1)


def make_trades(rows: list[tuple[int, float, float, bool]]) -> np.ndarray:
    """Trades from (ts offset ms, price, qty, is_buyer_maker) rows."""
    trades = np.zeros(len(rows), dtype=TRADE_DTYPE)
    for i, (dt, price, qty, maker) in enumerate(rows):
        trades[i] = (T0 + dt, price, qty, maker, i + 1)
    return trades


def run_all(sim: MarketSim, candles: np.ndarray, end: int | None = None) -> list[list[tuple]]:
    """Every non-empty event batch until the cursor reaches `end` (default: all rows)."""
    end = len(candles) if end is None else end
    batches = []
    while batch := sim.advance_candles(candles, end):
        batches.append(batch)
    return batches


# ---- candle mode: limit orders ---------------------------------------------------------------


def test_buy_fills_only_when_traded_through_unless_touch_fills():
    # row 0 dips to exactly 99, row 1 to 98.5: path 100 -> 99 (nearer) -> 101 -> 100
    candles = make_candles([(100, 101, 99, 100, 10), (100, 100.5, 98.5, 99.5, 10)])
    strict = MarketSim()
    strict.add_limit(1, BUY, 99.0, 2.0)
    assert strict.advance_candles(candles, 1) == []  # touched 99, never below
    assert strict.order_remaining(1) == 2.0
    assert strict.advance_candles(candles, 2) == [(FILL, 1, T0 + 1000, 99.0, 2.0)]
    touch = MarketSim(touch_fills=True)
    touch.add_limit(1, BUY, 99.0, 2.0)
    assert touch.advance_candles(candles, 2) == [(FILL, 1, T0, 99.0, 2.0)]
    assert touch.current_row == 0 and touch.current_price == 99.0
    sell = MarketSim()
    sell.add_limit(2, SELL, 101.0, 1.0)
    assert sell.advance_candles(candles, 2) == []  # the high 101 only touched it
    assert sell.n_orders == 1 and sell.current_row == 2 and sell.current_price == 99.5


def test_participation_caps_a_fill_and_the_rest_fills_in_a_later_crossing_candle():
    candles = make_candles(
        [
            (100, 100.5, 98, 99, 4),  # crosses 99.5: budget 0.5 x 4 = 2 of the 3
            (99, 99.8, 99, 99.6, 4),  # low 99 < 99.5: fills 1 more (budget 2)
            (100, 101, 99.9, 100, 4),
        ]
    )
    sim = MarketSim(participation=0.5)
    sim.add_limit(7, BUY, 99.5, 3.0)
    assert sim.advance_candles(candles, 3) == [(FILL, 7, T0, 99.5, 2.0)]
    assert sim.budget_left == 0.0 and sim.order_remaining(7) == 1.0
    assert sim.recent_volume == 4.0
    # no budget left: the rest of row 0 (98 and back up) fills nothing more
    assert sim.advance_candles(candles, 3) == [(FILL, 7, T0 + 1000, 99.5, 1.0)]
    assert sim.budget_left == 1.0 and sim.n_orders == 0
    assert sim.advance_candles(candles, 3) == []
    assert sim.current_row == 3 and sim.budget_left == 2.0


def test_partial_rest_waits_for_a_candle_whose_path_is_beyond_the_price_again():
    candles = make_candles([(100, 100, 98, 99, 1), (100, 101, 99.5, 100, 5), (100, 100, 98, 98, 5)])
    sim = MarketSim()
    sim.add_limit(1, BUY, 99.0, 3.0)
    assert run_all(sim, candles) == [
        [(FILL, 1, T0, 99.0, 1.0)],  # volume 1 caps it
        [(FILL, 1, T0 + 2000, 99.0, 2.0)],  # row 1 stays above 99
    ]


def test_two_orders_share_one_candle_budget_in_path_order():
    # path 100 -> 97 (nearer) -> 104 -> 103: 99 is reached before 98
    candles = make_candles([(100, 104, 97, 103, 3)])
    sim = MarketSim()
    sim.add_limit(1, BUY, 98.0, 2.0)
    sim.add_limit(2, BUY, 99.0, 2.0)
    assert sim.advance_candles(candles, 1) == [(FILL, 2, T0, 99.0, 2.0)]
    assert sim.advance_candles(candles, 1) == [(FILL, 1, T0, 98.0, 1.0)]
    assert sim.budget_left == 0.0 and sim.order_remaining(1) == 1.0
    sim.add_limit(3, SELL, 102.0, 1.0)
    assert sim.advance_candles(candles, 1) == []  # 104 crosses it, but the budget is spent
    assert sim.order_remaining(3) == 1.0


def test_gap_fills_a_resting_order_at_its_own_limit_price():
    candles = make_candles([(100, 100.5, 99.5, 100, 10), (95, 96, 94, 95.5, 10)])
    sim = MarketSim()
    sim.add_limit(1, BUY, 98.0, 1.0)
    assert sim.advance_candles(candles, 2) == [(FILL, 1, T0 + 1000, 98.0, 1.0)]
    assert sim.current_price == 95.0  # the cursor is at the open, the jump's only point


def test_stop_fired_by_a_gap_fires_at_the_open():
    candles = make_candles([(100, 100.5, 99.5, 100, 10), (95, 96, 94, 95.5, 10)])
    sim = MarketSim()
    sim.add_trigger(1, BELOW, 97.0)
    sim.add_trigger(2, BELOW, 94.5)
    assert sim.advance_candles(candles, 2) == [(TRIGGER, 1, T0 + 1000, 95.0, 0.0)]
    # path 95 -> 94 (nearer) -> 96 -> 95.5: the second stop is reached inside the candle
    assert sim.advance_candles(candles, 2) == [(TRIGGER, 2, T0 + 1000, 94.5, 0.0)]


# ---- candle mode: triggers -------------------------------------------------------------------


def long_bracket(sim: MarketSim) -> None:
    """TP at 103 and SL at 97 for one long position (group 1)."""
    sim.add_trigger(10, ABOVE, 103.0, group=1, adverse=False)
    sim.add_trigger(11, BELOW, 97.0, group=1, adverse=True)


def test_take_profit_reached_first_is_replaced_by_the_stop_when_pessimistic():
    # high nearer: 100 -> 104 -> 95 -> 100, so the path reaches the TP first
    candles = make_candles([(100, 104, 95, 100, 10)])
    sim = MarketSim()
    long_bracket(sim)
    assert sim.advance_candles(candles, 1) == [(TRIGGER, 11, T0, 97.0, 0.0)]
    assert sim.current_price == 103.0  # the moment the TP would have fired
    assert sim.n_triggers == 1  # the TP did not fire and stays armed: executors drop the group
    assert sim.advance_candles(candles, 1) == [(TRIGGER, 10, T0, 103.0, 0.0)]  # if they do not
    path_order = MarketSim(pessimistic=False)
    long_bracket(path_order)
    assert path_order.advance_candles(candles, 1) == [(TRIGGER, 10, T0, 103.0, 0.0)]
    assert path_order.advance_candles(candles, 1) == [(TRIGGER, 11, T0, 97.0, 0.0)]


def test_stop_reached_first_fires_first_either_way():
    # low nearer: 100 -> 96 -> 105 -> 104
    candles = make_candles([(100, 105, 96, 104, 10)])
    for pessimistic in (True, False):
        sim = MarketSim(pessimistic=pessimistic)
        long_bracket(sim)
        assert sim.advance_candles(candles, 1) == [(TRIGGER, 11, T0, 97.0, 0.0)]
        assert sim.current_price == 97.0


def test_pessimistic_rule_needs_the_same_nonzero_group_and_a_reachable_stop():
    candles = make_candles([(100, 104, 98, 100, 10)])  # 100 -> 98 -> 104 -> 100
    unreachable = MarketSim()
    long_bracket(unreachable)  # SL 97 is below this candle's low
    assert unreachable.advance_candles(candles, 1) == [(TRIGGER, 10, T0, 103.0, 0.0)]
    other_group = MarketSim()
    other_group.add_trigger(10, ABOVE, 103.0, group=1)
    other_group.add_trigger(11, BELOW, 99.0, group=2, adverse=True)
    other_group.add_trigger(12, BELOW, 99.0, group=0, adverse=True)
    # both stops fire on the way down first; then the TP, untouched by them
    assert other_group.advance_candles(candles, 1) == [
        (TRIGGER, 11, T0, 99.0, 0.0),
        (TRIGGER, 12, T0, 99.0, 0.0),
    ]
    assert other_group.advance_candles(candles, 1) == [(TRIGGER, 10, T0, 103.0, 0.0)]


def test_pessimistic_rule_fires_the_stop_the_rest_of_the_path_reaches_first():
    # 100 -> 104 -> 95 -> 100: TP 103 fires on the way up; of the two stops 98 comes first
    candles = make_candles([(100, 104, 95, 100, 10)])
    sim = MarketSim()
    sim.add_trigger(1, ABOVE, 103.0, group=4)
    sim.add_trigger(2, BELOW, 96.0, group=4, adverse=True)
    sim.add_trigger(3, BELOW, 98.0, group=4, adverse=True)
    assert sim.advance_candles(candles, 1) == [(TRIGGER, 3, T0, 98.0, 0.0)]


def test_a_trailing_stop_activating_with_the_take_profit_does_not_replace_it():
    # 100 -> 99.5 -> 103 -> 100: at 102 the TP fires and the trail only activates
    candles = make_candles([(100, 103, 99.5, 100, 10)])
    sim = MarketSim()
    sim.add_trigger(1, ABOVE, 102.0, group=1)
    sim.add_trigger(2, TRAIL_LONG, 102.0, group=1, adverse=True, trail_delta=1.0)
    assert sim.advance_candles(candles, 1) == [
        (TRIGGER, 1, T0, 102.0, 0.0),
        (TRAIL_ACTIVATED, 2, T0, 102.0, 0.0),
    ]
    assert sim.advance_candles(candles, 1) == [(TRIGGER, 2, T0, 102.0, 0.0)]  # peak 103 - 1


# ---- candle mode: take-profit orders of a trigger group -------------------------------------

TP_FIRST = (100.5, 101.5, 98.5, 100, 10)  # 100.5 -> 101.5 (nearer) -> 98.5 -> 100


def long_exit(sim: MarketSim, order_group: int = 5) -> None:
    """A long already entered: TP resting as a limit sell at 101, SL BELOW 99 (group 5)."""
    sim.add_limit(1, SELL, 101.0, 2.0, group=order_group)
    sim.add_trigger(2, BELOW, 99.0, group=5, adverse=True)


def test_take_profit_order_met_first_gives_way_to_the_stop_when_pessimistic():
    candles = make_candles([TP_FIRST])
    sim = MarketSim()
    long_exit(sim)
    # the path trades through 101 first, but 99 is still ahead in this candle: the stop fires
    assert sim.advance_candles(candles, 1) == [(TRIGGER, 2, T0, 99.0, 0.0)]
    assert sim.current_price == 101.0  # the moment the order would have filled
    assert (sim.n_orders, sim.order_remaining(1), sim.budget_left) == (1, 2.0, 10.0)
    assert sim.n_triggers == 0
    # executors cancel the order when the stop fires; if they do not, it fills where it is met
    assert sim.advance_candles(candles, 1) == [(FILL, 1, T0, 101.0, 2.0)]
    path_order = MarketSim(pessimistic=False)
    long_exit(path_order)
    assert path_order.advance_candles(candles, 1) == [(FILL, 1, T0, 101.0, 2.0)]
    assert path_order.advance_candles(candles, 1) == [(TRIGGER, 2, T0, 99.0, 0.0)]


def test_take_profit_order_fills_when_the_stop_is_not_reachable():
    # low 99.5 ties with the high: 100.5 -> 99.5 -> 101.5 -> 100, and never reaches 99
    candles = make_candles([(100.5, 101.5, 99.5, 100, 10)])
    sim = MarketSim()
    long_exit(sim)
    assert sim.advance_candles(candles, 1) == [(FILL, 1, T0, 101.0, 2.0)]
    assert sim.advance_candles(candles, 1) == []
    assert (sim.n_orders, sim.n_triggers, sim.budget_left) == (0, 1, 8.0)


def test_orders_of_group_zero_or_another_group_are_never_pre_empted():
    candles = make_candles([TP_FIRST])
    for order_group in (0, 6):
        sim = MarketSim()
        long_exit(sim, order_group)
        sim.add_trigger(3, BELOW, 99.5, group=0, adverse=True)  # group 0 ties nothing
        assert sim.advance_candles(candles, 1) == [(FILL, 1, T0, 101.0, 2.0)]
        # then the way down reaches 99.5 before 99
        assert sim.advance_candles(candles, 1) == [(TRIGGER, 3, T0, 99.5, 0.0)]
        assert sim.advance_candles(candles, 1) == [(TRIGGER, 2, T0, 99.0, 0.0)]


def test_other_orders_at_the_point_fill_and_the_pre_empted_one_uses_no_budget():
    candles = make_candles([(100.5, 101.5, 98.5, 100, 3)])  # budget 3
    sim = MarketSim()
    long_exit(sim)  # order 1: group 5, amount 2
    sim.add_limit(3, SELL, 101.0, 3.0)  # group 0, met at the same point
    assert sim.advance_candles(candles, 1) == [
        (FILL, 3, T0, 101.0, 3.0),  # the whole budget: order 1 took none of it
        (TRIGGER, 2, T0, 99.0, 0.0),
    ]
    assert sim.order_remaining(1) == 2.0 and sim.budget_left == 0.0


def test_a_take_profit_trigger_and_order_at_one_point_fire_the_stop_once():
    candles = make_candles([TP_FIRST])
    sim = MarketSim()
    long_exit(sim)
    sim.add_trigger(3, ABOVE, 101.0, group=5)  # met at the same point as the order
    assert sim.advance_candles(candles, 1) == [(TRIGGER, 2, T0, 99.0, 0.0)]
    assert (sim.n_orders, sim.n_triggers, sim.order_remaining(1)) == (1, 1, 2.0)


def test_a_gap_below_the_stop_fires_it_at_the_open_and_leaves_the_order_alone():
    # row 1 opens at 98 below the stop: 98 -> 97.5 (nearer) -> 101.5 -> 100
    candles = make_candles([(100, 100.5, 99.5, 100, 10), (98, 101.5, 97.5, 100, 10)])
    sim = MarketSim()
    long_exit(sim)
    assert sim.advance_candles(candles, 2) == [(TRIGGER, 2, T0 + 1000, 98.0, 0.0)]
    assert (sim.n_orders, sim.order_remaining(1), sim.budget_left) == (1, 2.0, 10.0)
    assert sim.advance_candles(candles, 2) == [(FILL, 1, T0 + 1000, 101.0, 2.0)]  # no stop left


def test_a_trailing_stop_activating_with_the_take_profit_order_does_not_pre_empt_it():
    # 100 -> 99.5 -> 103 -> 100: at 102 the order fills and the trail only activates
    candles = make_candles([(100, 103, 99.5, 100, 10)])
    sim = MarketSim()
    sim.add_limit(1, SELL, 102.0, 1.0, group=1)
    sim.add_trigger(2, TRAIL_LONG, 102.0, group=1, adverse=True, trail_delta=1.0)
    assert sim.advance_candles(candles, 1) == [
        (FILL, 1, T0, 102.0, 1.0),
        (TRAIL_ACTIVATED, 2, T0, 102.0, 0.0),
    ]


def test_pre_emption_after_a_skipped_quiet_stretch():
    rows = [(100, 100.5, 99.5, 100, 10)] * 300 + [TP_FIRST]  # 99.5..100.5: nothing can happen
    candles = make_candles(rows)
    sim, ref = MarketSim(), ReferenceMarketSim()
    for s in (sim, ref):
        long_exit(s)
    expected = [(TRIGGER, 2, T0 + 300_000, 99.0, 0.0)]
    assert sim.advance_candles(candles, len(rows)) == expected
    assert ref.advance_candles(candles, len(rows)) == expected
    assert_same_state(sim, ref, [1])


def test_at_time_fires_at_the_start_of_the_first_candle_at_or_after_it():
    candles = make_candles(
        [(100, 101, 99, 100.5, 1), (100, 102, 98, 101, 1), (101, 101, 101, 101, 1)]
    )
    sim = MarketSim()
    sim.add_trigger(1, AT_TIME, T0 + 1500)
    sim.add_trigger(2, AT_TIME, T0 + 2000)
    sim.add_trigger(3, AT_TIME, T0)
    assert sim.advance_candles(candles, 3) == [(TRIGGER, 3, T0, 100.0, 0.0)]  # the first open
    # before row 2's jump, at the previous close
    assert sim.advance_candles(candles, 3) == [
        (TRIGGER, 1, T0 + 2000, 101.0, 0.0),
        (TRIGGER, 2, T0 + 2000, 101.0, 0.0),
    ]
    assert sim.current_row == 2 and sim.current_ts == T0 + 1000
    assert sim.advance_candles(candles, 3) == []


def test_trailing_long_activates_tracks_the_peak_and_fires_at_peak_minus_delta():
    candles = make_candles(
        [
            (100, 104, 99, 103, 1),  # 100 -> 99 -> 104 -> 103: activates at 102, peak 104
            (103, 104.5, 102.5, 103, 1),  # 103 -> 102.5 -> 104.5: 102.5 > 102, peak 104.5
            (104, 106, 101, 101.5, 1),  # 104 -> 106 -> 101: peak 106, fires at 104
        ]
    )
    sim = MarketSim()
    sim.add_trigger(5, TRAIL_LONG, 102.0, trail_delta=2.0, adverse=True)
    assert sim.advance_candles(candles, 3) == [(TRAIL_ACTIVATED, 5, T0, 102.0, 0.0)]
    assert sim.n_triggers == 1
    assert sim.advance_candles(candles, 3) == [(TRIGGER, 5, T0 + 2000, 104.0, 0.0)]
    assert sim.n_triggers == 0


def test_trailing_stop_does_not_fire_on_the_rising_stretch_that_set_its_peak():
    # 100 -> 100 (low) -> 110 -> 109: the peak rises to 110, the fall to 109 is less than 2
    candles = make_candles([(100, 110, 100, 109, 1), (109, 109, 105, 105, 1)])
    sim = MarketSim()
    sim.add_trigger(1, TRAIL_LONG, 101.0, trail_delta=2.0)
    assert sim.advance_candles(candles, 2) == [(TRAIL_ACTIVATED, 1, T0, 101.0, 0.0)]
    assert sim.advance_candles(candles, 2) == [(TRIGGER, 1, T0 + 1000, 108.0, 0.0)]


def test_trailing_short_mirrors():
    # 100 -> 101 -> 95 -> 97.5: activates at 98, trough 95, fires at 97
    candles = make_candles([(100, 101, 95, 97.5, 1)])
    sim = MarketSim()
    sim.add_trigger(1, TRAIL_SHORT, 98.0, trail_delta=2.0)
    assert sim.advance_candles(candles, 1) == [(TRAIL_ACTIVATED, 1, T0, 98.0, 0.0)]
    assert sim.advance_candles(candles, 1) == [(TRIGGER, 1, T0, 97.0, 0.0)]


def test_trailing_peak_is_kept_across_skipped_candles():
    rows = [(100, 102, 100, 102, 1)] + [(102 + i, 103 + i, 102 + i, 103 + i, 1) for i in range(50)]
    rows.append((152, 152, 149.5, 150, 1))  # peak 152: fires at 150
    candles = make_candles(rows)
    sim = MarketSim()
    sim.add_trigger(1, TRAIL_LONG, 101.0, trail_delta=2.0)
    assert sim.advance_candles(candles, len(rows)) == [(TRAIL_ACTIVATED, 1, T0, 101.0, 0.0)]
    assert sim.advance_candles(candles, len(rows)) == [
        (TRIGGER, 1, T0 + 1000 * (len(rows) - 1), 150.0, 0.0)
    ]


def test_resume_mid_candle_sees_only_the_rest_of_the_path():
    # high nearer: 100 -> 104 -> 95.5 -> 101
    candles = make_candles([(100, 104, 95.5, 101, 10)])
    sim = MarketSim()
    sim.add_limit(1, BUY, 98.0, 1.0)
    assert sim.advance_candles(candles, 1) == [(FILL, 1, T0, 98.0, 1.0)]
    assert (sim.current_row, sim.current_price, sim.budget_left) == (0, 98.0, 9.0)
    sim.add_trigger(2, ABOVE, 103.0)  # the path passed 104 already: not in this candle
    sim.add_trigger(3, BELOW, 97.0)  # still ahead on the way down
    sim.add_trigger(4, ABOVE, 100.5)  # ahead on the final rise
    assert sim.advance_candles(candles, 1) == [(TRIGGER, 3, T0, 97.0, 0.0)]
    assert sim.advance_candles(candles, 1) == [(TRIGGER, 4, T0, 100.5, 0.0)]
    assert sim.advance_candles(candles, 1) == []
    assert sim.n_triggers == 1 and sim.current_price == 101.0


def test_a_trigger_added_beyond_the_market_fires_at_the_cursor_price():
    candles = make_candles([(100, 104, 95.5, 101, 10)])
    sim = MarketSim()
    sim.add_limit(1, BUY, 98.0, 1.0)
    sim.advance_candles(candles, 1)
    sim.add_trigger(2, BELOW, 99.0)  # the price (98) is already below it
    assert sim.advance_candles(candles, 1) == [(TRIGGER, 2, T0, 98.0, 0.0)]


def test_events_at_one_point_come_together_fills_first_then_by_id():
    candles = make_candles([(100, 100.5, 98, 99, 3)])  # 100 -> 100.5 -> 98 -> 99
    sim = MarketSim(touch_fills=True)
    sim.add_limit(5, BUY, 99.0, 2.0)
    sim.add_limit(2, BUY, 99.0, 2.0)
    sim.add_trigger(9, BELOW, 99.0)
    sim.add_trigger(4, BELOW, 99.0)
    sim.add_trigger(6, BELOW, 98.5)
    assert sim.advance_candles(candles, 1) == [
        (FILL, 2, T0, 99.0, 2.0),
        (FILL, 5, T0, 99.0, 1.0),  # the rest of the 3.0 budget
        (TRIGGER, 4, T0, 99.0, 0.0),
        (TRIGGER, 9, T0, 99.0, 0.0),
    ]
    assert sim.advance_candles(candles, 1) == [(TRIGGER, 6, T0, 98.5, 0.0)]


def test_seek_restarts_at_a_row_open_and_remove_calls_report_what_they_did():
    candles = make_candles([(100, 101, 99, 100, 5), (90, 91, 89, 90, 5), (80, 81, 79, 80, 5)])
    sim = MarketSim()
    sim.add_trigger(1, BELOW, 95.0, group=3)
    sim.add_trigger(2, ABOVE, 150.0, group=3)
    sim.add_trigger(3, AT_TIME, 0.0)
    sim.seek(2)
    assert math.isnan(sim.current_price) and sim.current_row == 2
    assert sim.advance_candles(candles, 3) == [(TRIGGER, 3, T0 + 2000, 80.0, 0.0)]
    assert sim.advance_candles(candles, 3) == [(TRIGGER, 1, T0 + 2000, 80.0, 0.0)]
    assert sim.remove_trigger(1) is False
    assert sim.remove_group(3) == 1 and sim.n_triggers == 0
    sim.add_limit(4, SELL, 200.0, 1.0)
    assert sim.remove_order(4) is True and sim.remove_order(4) is False
    assert math.isnan(sim.order_remaining(4))


def test_cursor_state_after_a_quiet_walk():
    candles = make_candles([(100, 101, 99, 100.5, 2), (100.5, 102, 100, 101.5, 3)])
    sim = MarketSim(participation=0.5)
    assert math.isnan(sim.current_price) and sim.current_ts == 0 and sim.current_row == 0
    sim.add_limit(1, BUY, 50.0, 1.0)
    assert sim.advance_candles(candles, 2) == []
    assert (sim.current_row, sim.current_price, sim.current_ts) == (2, 101.5, T0 + 1000)
    assert (sim.recent_volume, sim.budget_left) == (3.0, 1.5)
    assert sim.advance_candles(candles, 2) == []  # nothing left to walk


# ---- trades mode -----------------------------------------------------------------------------


def test_queue_model_waits_for_the_queue_ahead_then_fills_the_excess():
    trades = make_trades(
        [
            (0, 100.0, 1.0, True),  # a seller hits the bids at 100: queue 3 -> 2
            (1, 100.0, 5.0, False),  # a buyer lifts the asks at 100: not our side
            (2, 100.5, 9.0, True),  # above our bid
            (3, 100.0, 2.5, True),  # queue 2 eaten, 0.5 fills us
            (4, 100.0, 1.0, True),  # 1.0 more
            (5, 100.0, 1.0, True),  # the last 0.5
        ]
    )
    sim = MarketSim()
    sim.add_limit(1, BUY, 100.0, 2.0, queue_ahead=3.0)
    assert sim.advance_trades(trades, 6) == [(FILL, 1, T0 + 3, 100.0, 0.5)]
    assert sim.current_row == 4 and sim.current_price == 100.0 and sim.current_ts == T0 + 3
    assert sim.advance_trades(trades, 6) == [(FILL, 1, T0 + 4, 100.0, 1.0)]
    assert sim.advance_trades(trades, 6) == [(FILL, 1, T0 + 5, 100.0, 0.5)]
    assert sim.n_orders == 0 and sim.budget_left == math.inf


def test_a_trade_through_the_level_fills_the_whole_order_at_once():
    trades = make_trades([(0, 100.2, 0.01, True), (1, 99.9, 0.01, True), (2, 100.0, 1.0, False)])
    sim = MarketSim()
    sim.add_limit(1, BUY, 100.0, 5.0, queue_ahead=50.0)
    sim.add_limit(2, SELL, 100.1, 2.0, queue_ahead=50.0)
    assert sim.advance_trades(trades, 3) == [(FILL, 2, T0, 100.1, 2.0)]
    assert sim.advance_trades(trades, 3) == [(FILL, 1, T0 + 1, 100.0, 5.0)]


def test_sell_queue_counts_only_buyer_taker_trades_at_its_price():
    trades = make_trades([(0, 101.0, 4.0, True), (1, 101.0, 1.5, False), (2, 101.0, 1.0, False)])
    sim = MarketSim()
    sim.add_limit(3, SELL, 101.0, 1.0, queue_ahead=2.0)
    assert sim.advance_trades(trades, 3) == [(FILL, 3, T0 + 2, 101.0, 0.5)]
    assert sim.order_remaining(3) == 0.5


def test_trades_mode_ignores_the_order_group():
    trades = make_trades([(0, 100.0, 1, True), (1, 101.5, 1, False), (2, 98.0, 1, True)])
    sim = MarketSim()
    sim.add_limit(1, SELL, 101.0, 1.0, group=5)
    sim.add_trigger(2, BELOW, 99.0, group=5, adverse=True)
    assert sim.advance_trades(trades, 3) == [(FILL, 1, T0 + 1, 101.0, 1.0)]
    assert sim.advance_trades(trades, 3) == [(TRIGGER, 2, T0 + 2, 98.0, 0.0)]


def test_trades_triggers_fire_at_the_trade_price_and_at_time_before_the_trade():
    trades = make_trades(
        [(0, 100.0, 1, True), (10, 102.5, 1, False), (20, 99.0, 1, True), (30, 100.0, 1, True)]
    )
    sim = MarketSim()
    sim.add_trigger(1, ABOVE, 102.0)
    sim.add_trigger(2, AT_TIME, T0 + 15)
    sim.add_trigger(3, TRAIL_LONG, 101.0, trail_delta=1.5)
    assert sim.advance_trades(trades, 4) == [
        (TRIGGER, 1, T0 + 10, 102.5, 0.0),
        (TRAIL_ACTIVATED, 3, T0 + 10, 102.5, 0.0),
    ]
    assert sim.advance_trades(trades, 4) == [(TRIGGER, 2, T0 + 20, 102.5, 0.0)]
    assert sim.current_row == 2
    assert sim.advance_trades(trades, 4) == [(TRIGGER, 3, T0 + 20, 99.0, 0.0)]
    assert sim.advance_trades(trades, 4) == []
    assert sim.current_row == 4 and sim.current_price == 100.0


def test_estimate_queue_sums_same_side_trades_at_the_price_within_the_window():
    trades = make_trades(
        [
            (0, 100.0, 7.0, True),  # outside the 1 s window of the last trade (ts 1500)
            (600, 100.0, 1.0, True),
            (700, 100.0, 2.0, False),  # sell-side: a buyer lifted the asks
            (800, 100.5, 4.0, True),  # another price
            (1500, 100.0, 0.5, True),
            (1600, 100.0, 9.0, True),  # not yet walked
        ]
    )
    sim = MarketSim(volume_window_ms=1000)
    assert sim.estimate_queue(trades, 100.0, BUY) == 0.0  # nothing walked yet
    assert sim.advance_trades(trades, 5) == []
    assert sim.estimate_queue(trades, 100.0, BUY) == 1.5
    assert sim.estimate_queue(trades, 100.0, SELL) == 2.0
    assert sim.estimate_queue(trades, 100.5, BUY) == 4.0
    assert sim.estimate_queue(trades, 99.0, BUY) == 0.0


def test_recent_volume_trails_the_window_in_trades_and_is_the_candle_volume_in_candles():
    trades = make_trades([(0, 100, 1.0, True), (400, 100, 2.0, True), (1000, 100, 4.0, True)])
    sim = MarketSim(volume_window_ms=1000)
    assert sim.recent_volume == 0.0
    sim.advance_trades(trades, 2)
    assert sim.recent_volume == 3.0
    sim.advance_trades(trades, 3)
    assert sim.recent_volume == 6.0  # (0, 1000]: the trade at ts 0 dropped out
    sim.seek(2)  # the window is rebuilt from the trades before the cursor
    sim.advance_trades(trades, 3)
    assert sim.recent_volume == 6.0
    candles = make_candles([(100, 101, 99, 100, 2.5), (100, 101, 99, 100, 7.5)])
    sim.seek(0)
    sim.advance_candles(candles, 1)
    assert sim.recent_volume == 2.5


# ---- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.add_limit(1, 0, 100.0, 1.0), "side must be"),
        (lambda s: s.add_limit(1, 1, 0.0, 1.0), "price must be"),
        (lambda s: s.add_limit(1, 1, math.nan, 1.0), "price must be"),
        (lambda s: s.add_limit(1, 1, 100.0, -1.0), "amount must be"),
        (lambda s: s.add_limit(1, 1, 100.0, math.inf), "amount must be"),
        (lambda s: s.add_limit(1, 1, 100.0, 1.0, queue_ahead=-1), "queue_ahead"),
        (lambda s: s.add_limit(5, 1, 100.0, 1.0), "duplicate order id 5"),
        (lambda s: s.add_trigger(1, 9, 100.0), "unknown kind 9"),
        (lambda s: s.add_trigger(1, ABOVE, -3.0), "ABOVE level must be"),
        (lambda s: s.add_trigger(1, TRAIL_LONG, 100.0), "needs a finite trail_delta > 0"),
        (lambda s: s.add_trigger(1, TRAIL_SHORT, 100.0, trail_delta=-1), "trail_delta"),
        (lambda s: s.add_trigger(1, AT_TIME, math.inf), "AT_TIME level"),
        (lambda s: s.add_trigger(6, BELOW, 100.0), "duplicate trigger id 6"),
        (lambda s: s.seek(-1), "cannot seek"),
        (lambda s: s.estimate_queue(make_trades([(0, 1, 1, True)]), 1.0, 2), "side must be"),
    ],
)
def test_invalid_arguments_raise_value_error(call, message):
    sim = MarketSim()
    sim.add_limit(5, SELL, 100.0, 1.0)
    sim.add_trigger(6, ABOVE, 100.0)
    with pytest.raises(ValueError, match=message):
        call(sim)


def test_invalid_data_and_end_rows_raise_value_error():
    candles = make_candles([(100, 101, 99, 100, 1)] * 3)
    trades = make_trades([(0, 100, 1, True)])
    sim = MarketSim()
    with pytest.raises(ValueError, match="CANDLE_DTYPE, got float64"):
        sim.advance_candles(np.zeros(3), 1)
    with pytest.raises(ValueError, match="CANDLE_DTYPE"):
        sim.advance_candles(trades, 1)
    packed = np.zeros(1, dtype=[(name, TRADE_DTYPE[name]) for name in TRADE_DTYPE.names])
    with pytest.raises(ValueError, match="TRADE_DTYPE"):  # no padding: not the C layout
        MarketSim().advance_trades(packed, 1)
    with pytest.raises(ValueError, match="C-contiguous"):
        sim.advance_candles(np.concatenate([candles, candles])[::2], 1)
    with pytest.raises(ValueError, match="end_row 4 is beyond the 3 candles"):
        sim.advance_candles(candles, 4)
    sim.advance_candles(candles, 2)
    with pytest.raises(ValueError, match="before the cursor"):
        sim.advance_candles(candles, 1)
    with pytest.raises(ValueError, match="walking candles"):
        sim.advance_trades(trades, 1)
    with pytest.raises(ValueError, match="TRADE_DTYPE"):
        sim.advance_trades(candles, 1)
    with pytest.raises(ValueError, match="participation"):
        MarketSim(participation=-0.1)
    with pytest.raises(ValueError, match="volume_window_ms"):
        MarketSim(volume_window_ms=0)


def test_read_only_arrays_are_accepted():
    candles = make_candles([(100, 101, 98, 100, 1)])
    candles.flags.writeable = False
    sim = MarketSim()
    sim.add_limit(1, BUY, 99.0, 1.0)
    assert sim.advance_candles(candles, 1) == [(FILL, 1, T0, 99.0, 1.0)]


# ---- against the brute-force reference -------------------------------------------------------

PRICES = [float(p) for p in np.arange(96.0, 104.5, 0.5)]
AMOUNTS = [0.5, 1.0, 2.0, 4.0]
DELTAS = [0.5, 1.0, 2.0, 3.0]


@st.composite
def candle_arrays(draw: st.DrawFn) -> np.ndarray:
    """A few valid candles on a coarse price grid (so levels and prices often coincide)."""
    n = draw(st.integers(1, 10))
    rows = []
    close = draw(st.sampled_from(PRICES))
    for _ in range(n):
        open_ = close if draw(st.booleans()) else draw(st.sampled_from(PRICES))
        close = draw(st.sampled_from(PRICES))
        high = max(open_, close) + draw(st.sampled_from([0.0, 0.0, 0.5, 1.0, 2.5]))
        low = min(open_, close) - draw(st.sampled_from([0.0, 0.0, 0.5, 1.0, 2.5]))
        rows.append((open_, high, low, close, draw(st.sampled_from([0.0, 1.0, 2.5, 6.0]))))
    return make_candles(rows)


@st.composite
def trade_arrays(draw: st.DrawFn) -> np.ndarray:
    """A few trades on the price grid with repeated timestamps and both aggressor sides."""
    n = draw(st.integers(1, 14))
    ts, rows = 0, []
    for _ in range(n):
        ts += draw(st.sampled_from([0, 1, 1, 2, 3]))
        price = draw(st.sampled_from(PRICES[4:12]))
        rows.append((ts, price, draw(st.sampled_from([0.5, 1.0, 2.0])), draw(st.booleans())))
    return make_trades(rows)


def same(a: float, b: float) -> bool:
    """Equal floats, nan equal to nan."""
    return (math.isnan(a) and math.isnan(b)) or a == b


def assert_same_state(sim: MarketSim, ref: ReferenceMarketSim, order_ids: list[int]) -> None:
    """The cursor, the budgets and every order agree."""
    assert sim.current_row == ref.current_row
    assert same(sim.current_price, ref.current_price)
    assert sim.current_ts == ref.current_ts
    assert sim.budget_left == ref.budget_left
    assert sim.recent_volume == pytest.approx(ref.recent_volume)
    assert (sim.n_orders, sim.n_triggers) == (ref.n_orders, ref.n_triggers)
    for order_id in order_ids:
        assert same(sim.order_remaining(order_id), ref.order_remaining(order_id))


def play(data: st.DataObject, sims: tuple, market: np.ndarray, mode: str) -> None:
    """Drive both sims with the same random script and compare after every step."""
    sim, ref = sims
    order_ids: list[int] = []
    trigger_ids: list[int] = []
    span_ts = (int(market["ts"][0]) - 500, int(market["ts"][-1]) + 1500)
    advance = "advance_candles" if mode == "candles" else "advance_trades"
    actions = ["advance"] * 4 + ["order", "trigger", "trigger", "bracket", "remove", "seek"]
    actions += ["order", "order_bracket"]
    for _ in range(data.draw(st.integers(1, 30))):
        action = data.draw(st.sampled_from(actions))
        if action == "advance":
            end = data.draw(st.integers(sim.current_row, len(market)))
            assert getattr(sim, advance)(market, end) == getattr(ref, advance)(market, end)
        elif action == "order":
            args = (
                len(order_ids) + 100,
                data.draw(st.sampled_from([BUY, SELL])),
                data.draw(st.sampled_from(PRICES)),
                data.draw(st.sampled_from(AMOUNTS)),
                data.draw(st.sampled_from([0.0, 0.5, 1.5, 3.0])),
                data.draw(st.sampled_from([0, 0, 1, 2])),  # shared with random triggers
            )
            sim.add_limit(*args)
            ref.add_limit(*args)
            order_ids.append(args[0])
        elif action == "order_bracket":  # a take-profit resting as an order + its stop
            group = data.draw(st.sampled_from([1, 2]))
            long = data.draw(st.booleans())
            args = (
                len(order_ids) + 100,
                SELL if long else BUY,
                data.draw(st.sampled_from(PRICES)),
                data.draw(st.sampled_from(AMOUNTS)),
                0.0,
                group,
            )
            sim.add_limit(*args)
            ref.add_limit(*args)
            order_ids.append(args[0])
            stop_kind = data.draw(
                st.sampled_from([BELOW, TRAIL_LONG] if long else [ABOVE, TRAIL_SHORT])
            )
            args = (
                len(trigger_ids) + 1,
                stop_kind,
                data.draw(st.sampled_from(PRICES)),
                group,
                True,
                data.draw(st.sampled_from(DELTAS)),
            )
            sim.add_trigger(*args)
            ref.add_trigger(*args)
            trigger_ids.append(args[0])
        elif action == "trigger":
            kind = data.draw(st.sampled_from([ABOVE, BELOW, TRAIL_LONG, TRAIL_SHORT, AT_TIME]))
            level = (
                float(data.draw(st.integers(*span_ts)))
                if kind == AT_TIME
                else data.draw(st.sampled_from(PRICES))
            )
            args = (
                len(trigger_ids) + 1,
                kind,
                level,
                data.draw(st.sampled_from([0, 1, 2])),
                data.draw(st.booleans()),
                data.draw(st.sampled_from(DELTAS)),
            )
            sim.add_trigger(*args)
            ref.add_trigger(*args)
            trigger_ids.append(args[0])
        elif action == "bracket":  # TP + SL of one position
            group = data.draw(st.sampled_from([1, 2]))
            long = data.draw(st.booleans())
            stop_kind = data.draw(
                st.sampled_from([BELOW, TRAIL_LONG] if long else [ABOVE, TRAIL_SHORT])
            )
            for kind, adverse in ((ABOVE if long else BELOW, False), (stop_kind, True)):
                args = (
                    len(trigger_ids) + 1,
                    kind,
                    data.draw(st.sampled_from(PRICES)),
                    group,
                    adverse,
                    data.draw(st.sampled_from(DELTAS)),
                )
                sim.add_trigger(*args)
                ref.add_trigger(*args)
                trigger_ids.append(args[0])
        elif action == "remove":
            what = data.draw(st.sampled_from(["order", "trigger", "group"]))
            if what == "order" and order_ids:
                order_id = data.draw(st.sampled_from(order_ids))
                assert sim.remove_order(order_id) == ref.remove_order(order_id)
            elif what == "trigger" and trigger_ids:
                trigger_id = data.draw(st.sampled_from(trigger_ids))
                assert sim.remove_trigger(trigger_id) == ref.remove_trigger(trigger_id)
            elif what == "group":
                group = data.draw(st.sampled_from([0, 1, 2]))
                assert sim.remove_group(group) == ref.remove_group(group)
        else:
            row = data.draw(st.integers(0, len(market)))
            sim.seek(row)
            ref.seek(row)
        assert_same_state(sim, ref, order_ids)
        if mode == "trades":
            price = data.draw(st.sampled_from(PRICES[4:12]))
            side = data.draw(st.sampled_from([BUY, SELL]))
            assert sim.estimate_queue(market, price, side) == pytest.approx(
                ref.estimate_queue(market, price, side)
            )
    while True:  # walk to the end: the rest of the stream must agree too
        events = getattr(sim, advance)(market, len(market))
        assert events == getattr(ref, advance)(market, len(market))
        assert_same_state(sim, ref, order_ids)
        if not events:
            break


@settings(max_examples=600, deadline=None)
@given(data=st.data(), candles=candle_arrays())
def test_candles_match_the_reference(data, candles):
    options = {
        "participation": data.draw(st.sampled_from([0.5, 1.0])),
        "touch_fills": data.draw(st.booleans()),
        "pessimistic": data.draw(st.booleans()),
    }
    play(data, (MarketSim(**options), ReferenceMarketSim(**options)), candles, "candles")


@settings(max_examples=400, deadline=None)
@given(data=st.data(), trades=trade_arrays())
def test_trades_match_the_reference(data, trades):
    window = data.draw(st.sampled_from([1, 2, 4]))
    sims = (MarketSim(volume_window_ms=window), ReferenceMarketSim(volume_window_ms=window))
    play(data, sims, trades, "trades")


@pytest.mark.parametrize("order_group", [0, 1])
def test_long_quiet_stretches_match_the_reference(order_group):
    """The skip bounds on a long random walk with far and near levels (fast path heavy)."""
    rng = np.random.default_rng(7)
    n = 3_000
    close = 100 + np.cumsum(rng.choice([-0.5, 0.0, 0.5], n))
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) + rng.choice([0.0, 0.5], n)
    low = np.minimum(open_, close) - rng.choice([0.0, 0.5], n)
    candles = build_candles(T0 + 1000 * np.arange(n), open_, high, low, close, 1.0, 1)
    sim, ref = MarketSim(participation=0.5), ReferenceMarketSim(participation=0.5)
    for s in (sim, ref):
        s.add_limit(1, BUY, 90.0, 3.0, group=order_group)
        s.add_limit(2, SELL, 110.0, 3.0, group=order_group)
        s.add_trigger(1, TRAIL_LONG, 104.0, trail_delta=3.0, adverse=True, group=1)
        s.add_trigger(2, TRAIL_SHORT, 96.0, trail_delta=3.0, adverse=True, group=1)
        s.add_trigger(3, ABOVE, 112.0, group=1)
        s.add_trigger(4, AT_TIME, T0 + 1_000_000)
    batches = 0
    while True:
        events = sim.advance_candles(candles, n)
        assert events == ref.advance_candles(candles, n)
        assert_same_state(sim, ref, [1, 2])
        if not events:
            break
        batches += 1
    assert batches >= 3  # something actually happened along the way


def test_trades_at_time_after_a_long_quiet_stretch_fires_at_the_last_trade_price():
    # trades at 100, 101, ... 119 one second apart; a time trigger due at 10.5 s fires before the
    # trade at 11 s, at the price of the trade at 10 s (110), however the stretch is walked
    data = np.zeros(20, dtype=TRADE_DTYPE)
    for i in range(20):
        data[i] = (i * 1000, 100.0 + i, 1.0, i % 2 == 0, i + 1)
    for step in (100, 1):
        sim = MarketSim()
        sim.advance_trades(data, 1)
        sim.add_trigger(7, AT_TIME, 10_500.0)
        row, events = 1, []
        while not events and row < len(data):
            row = min(row + step, len(data))
            events = sim.advance_trades(data, row)
        assert events == [(TRIGGER, 7, 11_000, 110.0, 0.0)]
