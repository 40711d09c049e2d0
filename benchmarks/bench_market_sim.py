"""Benchmark: MarketSim walking a synthetic day of 1 s candles (86,400 rows).

Setup: birdterm.sim.synthetic.synthetic_candles (seeded, from 30,000), 6 resting limit orders and
12 triggers far from the market (+-20 %), so nothing happens. Timed cases (best of 3):

  no_events          one advance_candles call over the whole day
  one_row_calls      86,400 advance_candles calls of one row each (the per-call overhead)
  active_trails      one call with 4 of the 12 triggers active trailing stops (wide deltas), so
                     the skip check also tracks peaks and troughs
  replace_after_fill 6 orders 0.02 / 0.04 / 0.06 % either side of the price, all re-quoted
                     around the current price after every fill (remove_order + add_limit from
                     Python), so the day is a stream of events

The last lines printed are the figures, one per case:
  bench market_sim_no_events wall_ms=1.2 candles_per_s=72000000

Usage: python benchmarks/bench_market_sim.py
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from birdterm.sim.market_sim import (
    ABOVE,
    AT_TIME,
    BELOW,
    FILL,
    TRAIL_LONG,
    TRAIL_SHORT,
    MarketSim,
)
from birdterm.sim.synthetic import synthetic_candles

DAY = 1_699_920_000_000  # 2023-11-14 00:00:00 UTC
ROWS = 86_400
SEED = 20240601
REPEATS = 3
START = 30_000.0
OFFSET = 0.0002  # replace_after_fill: orders this far (relative) from the price


def best_of(work: Callable[[], object]) -> tuple[float, object]:
    """The fastest of REPEATS runs in seconds, with the last run's result."""
    best, result = float("inf"), None
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - start)
    return best, result


def quiet_sim(active_trails: bool = False) -> MarketSim:
    """6 orders and 12 triggers that the synthetic day never reaches."""
    sim = MarketSim(participation=0.25)
    for k in range(3):
        sim.add_limit(k + 1, 1, START * (0.8 - 0.01 * k), 0.1)
        sim.add_limit(k + 4, -1, START * (1.2 + 0.01 * k), 0.1)
    for k in range(4):
        sim.add_trigger(k + 1, ABOVE, START * (1.2 + 0.01 * k), group=k + 1)
        sim.add_trigger(k + 5, BELOW, START * (0.8 - 0.01 * k), group=k + 1, adverse=True)
    if active_trails:  # activated at the first open, never 20 % away from their peak
        for k in range(2):
            sim.add_trigger(k + 9, TRAIL_LONG, START, trail_delta=START * 0.2, adverse=True)
            sim.add_trigger(k + 11, TRAIL_SHORT, START, trail_delta=START * 0.2, adverse=True)
    else:
        sim.add_trigger(9, TRAIL_LONG, START * 1.25, trail_delta=100.0)
        sim.add_trigger(10, TRAIL_LONG, START * 1.3, trail_delta=100.0)
        sim.add_trigger(11, TRAIL_SHORT, START * 0.75, trail_delta=100.0)
        sim.add_trigger(12, AT_TIME, DAY + 2 * ROWS * 1000)
    return sim


def run_no_events(candles: np.ndarray) -> int:
    """One call over the day; returns the cursor row."""
    sim = quiet_sim()
    assert sim.advance_candles(candles, ROWS) == []
    return sim.current_row


def run_one_row_calls(candles: np.ndarray) -> int:
    """One call per row; returns the cursor row."""
    sim = quiet_sim()
    advance = sim.advance_candles
    for row in range(1, ROWS + 1):
        if advance(candles, row):
            raise AssertionError("the quiet day produced an event")
    return sim.current_row


def run_active_trails(candles: np.ndarray) -> int:
    """One call per event (the 4 activations at the first open), then the quiet day."""
    sim = quiet_sim(active_trails=True)
    batches = 0
    while sim.advance_candles(candles, ROWS):
        batches += 1
    assert batches == 1 and sim.current_row == ROWS
    return sim.current_row


def quote(sim: MarketSim, price: float, first_id: int) -> list[int]:
    """Rest 3 buys and 3 sells at 1, 2 and 3 x OFFSET around `price`; returns their ids."""
    ids = []
    for k in range(3):
        for side in (1, -1):
            order_id = first_id + len(ids)
            sim.add_limit(order_id, side, round(price * (1 - side * OFFSET * (k + 1)), 2), 0.001)
            ids.append(order_id)
    return ids


def run_replace_after_fill(candles: np.ndarray) -> int:
    """Re-quote the 6 orders around the price after every fill; returns the number of events."""
    sim = MarketSim(participation=0.25)
    resting = quote(sim, float(candles["open"][0]), 1)
    next_id = 7
    events = 0
    advance = sim.advance_candles
    while batch := advance(candles, ROWS):
        events += len(batch)
        if any(kind == FILL for kind, *_ in batch):
            for order_id in resting:
                sim.remove_order(order_id)
            resting = quote(sim, sim.current_price, next_id)
            next_id += len(resting)
    return events


def main() -> None:
    """Generate the day, time each case, print one figure per case."""
    candles = synthetic_candles(SEED, DAY, ROWS)
    lo, hi = float(candles["low"].min()), float(candles["high"].max())
    print(f"{ROWS} synthetic 1 s candles, price range {lo:.2f} .. {hi:.2f}")
    assert lo > START * 0.8 and hi < START * 1.2, "the quiet cases need a calmer day"
    figures = []
    wall, _ = best_of(lambda: run_no_events(candles))
    figures.append(
        f"bench market_sim_no_events wall_ms={wall * 1e3:.2f} candles_per_s={round(ROWS / wall)}"
    )
    wall, _ = best_of(lambda: run_one_row_calls(candles))
    figures.append(
        f"bench market_sim_one_row_calls wall_ms={wall * 1e3:.1f} "
        f"calls_per_s={round(ROWS / wall)} us_per_call={wall / ROWS * 1e6:.2f}"
    )
    wall, _ = best_of(lambda: run_active_trails(candles))
    figures.append(
        f"bench market_sim_active_trails wall_ms={wall * 1e3:.2f} "
        f"candles_per_s={round(ROWS / wall)}"
    )
    wall, events = best_of(lambda: run_replace_after_fill(candles))
    figures.append(
        f"bench market_sim_replace_after_fill wall_ms={wall * 1e3:.1f} events={events} "
        f"events_per_s={round(events / wall)} candles_per_s={round(ROWS / wall)}"
    )
    print(f"best of {REPEATS} runs per case")
    for line in figures:
        print(line)


if __name__ == "__main__":
    main()
