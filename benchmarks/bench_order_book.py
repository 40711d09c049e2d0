"""Benchmark: apply 1,000,000 random L2 diffs to OrderBook through three paths.

Diffs are generated up front with a seeded RNG (0.01 tick grid, within +-500 ticks of the mid,
~20 % deletes; bids below the mid, asks above it, so the book never crosses). Timed paths:

  events  Binance-style diff events of 20 levels, [str price, str qty] pairs, via apply_diff
  level   one OrderBook.apply_level call per level
  arrays  one OrderBook.apply_arrays call per side with all levels of that side

The last lines printed are the figures, one per path:
  bench order_book_diffs path=events diffs=1000000 wall_s=0.812 diffs_per_s=1231527

Usage: python benchmarks/bench_order_book.py
"""

from __future__ import annotations

import time

import numpy as np

from birdterm.engine.order_book import OrderBook

N_DIFFS = 1_000_000
LEVELS_PER_EVENT = 20
TICK = 0.01
MID_TICKS = 3_000_000  # mid = 30,000.00
MAX_OFFSET_TICKS = 500
DELETE_FRACTION = 0.2
SEED = 20240601


def generate_diffs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random (is_bid, price, qty) level diffs around the mid."""
    rng = np.random.default_rng(seed)
    is_bid = rng.random(n) < 0.5
    offset = rng.integers(1, MAX_OFFSET_TICKS + 1, n)
    ticks = np.where(is_bid, MID_TICKS - offset, MID_TICKS + offset)
    prices = np.round(ticks * TICK, 2)
    qtys = np.round(rng.uniform(0.001, 5.0, n), 5)
    qtys[rng.random(n) < DELETE_FRACTION] = 0.0
    return is_bid, prices, qtys


def build_snapshot() -> tuple:
    """A starting book: one level per tick on each side, as Binance-style strings."""
    bids = [[f"{(MID_TICKS - k) * TICK:.8f}", "1.00000000"] for k in range(1, MAX_OFFSET_TICKS + 1)]
    asks = [[f"{(MID_TICKS + k) * TICK:.8f}", "1.00000000"] for k in range(1, MAX_OFFSET_TICKS + 1)]
    return bids, asks


def build_events(is_bid: np.ndarray, prices: np.ndarray, qtys: np.ndarray) -> list:
    """Split the diffs into events of LEVELS_PER_EVENT string pairs, as Binance sends them."""
    price_strs = [f"{p:.8f}" for p in prices.tolist()]
    qty_strs = [f"{q:.8f}" for q in qtys.tolist()]
    sides = is_bid.tolist()
    events = []
    update_id = 1000
    for start in range(0, len(price_strs), LEVELS_PER_EVENT):
        bids, asks = [], []
        for k in range(start, min(start + LEVELS_PER_EVENT, len(price_strs))):
            (bids if sides[k] else asks).append([price_strs[k], qty_strs[k]])
        update_id += 1
        events.append((bids, asks, update_id))
    return events


def fresh_book(snapshot: tuple) -> OrderBook:
    """A book loaded with the starting snapshot at update id 1000."""
    book = OrderBook("BTC-USDT")
    book.apply_snapshot(snapshot[0], snapshot[1], update_id=1000)
    return book


def bench_events(snapshot: tuple, events: list) -> float:
    """Seconds to apply every event through OrderBook.apply_diff."""
    book = fresh_book(snapshot)
    apply_diff = book.apply_diff
    t0 = time.perf_counter()
    for bids, asks, update_id in events:
        apply_diff(bids, asks, update_id)
    wall = time.perf_counter() - t0
    assert book.last_update_id == events[-1][2]
    return wall


def bench_level(snapshot: tuple, is_bid: np.ndarray, prices: np.ndarray, qtys: np.ndarray) -> float:
    """Seconds to apply every diff with one OrderBook.apply_level call each."""
    book = fresh_book(snapshot)
    apply_level = book.apply_level
    rows = list(zip(is_bid.tolist(), prices.tolist(), qtys.tolist(), strict=True))
    t0 = time.perf_counter()
    for side, price, qty in rows:
        apply_level(side, price, qty)
    return time.perf_counter() - t0


def bench_arrays(
    snapshot: tuple, is_bid: np.ndarray, prices: np.ndarray, qtys: np.ndarray
) -> float:
    """Seconds to apply every diff as one array batch per side."""
    book = fresh_book(snapshot)
    bid_p, bid_q = np.ascontiguousarray(prices[is_bid]), np.ascontiguousarray(qtys[is_bid])
    ask_p, ask_q = np.ascontiguousarray(prices[~is_bid]), np.ascontiguousarray(qtys[~is_bid])
    t0 = time.perf_counter()
    book.apply_arrays(True, bid_p, bid_q)
    book.apply_arrays(False, ask_p, ask_q)
    return time.perf_counter() - t0


def check_paths_agree(
    snapshot: tuple, events: list, is_bid: np.ndarray, prices: np.ndarray, qtys: np.ndarray
) -> None:
    """All three paths must end in the same book, or the figures mean nothing."""
    a, b, c = fresh_book(snapshot), fresh_book(snapshot), fresh_book(snapshot)
    for bids, asks, update_id in events:
        a.apply_diff(bids, asks, update_id)
    for side, price, qty in zip(is_bid.tolist(), prices.tolist(), qtys.tolist(), strict=True):
        b.apply_level(side, price, qty)
    c.apply_arrays(True, prices[is_bid], qtys[is_bid])
    c.apply_arrays(False, prices[~is_bid], qtys[~is_bid])
    for side in (True, False):
        ref_p, ref_q = b.levels(side)
        for other in (a, c):
            p, q = other.levels(side)
            assert np.array_equal(p, ref_p) and np.array_equal(q, ref_q), "paths disagree"


def figure(path: str, wall: float) -> str:
    """One result line in the fixed, grep-able format."""
    return (
        f"bench order_book_diffs path={path} diffs={N_DIFFS} wall_s={wall:.3f} "
        f"diffs_per_s={round(N_DIFFS / wall)}"
    )


def main() -> None:
    """Generate the data, time the three paths (best of 3), print one figure per path."""
    t0 = time.perf_counter()
    is_bid, prices, qtys = generate_diffs(N_DIFFS, SEED)
    snapshot = build_snapshot()
    events = build_events(is_bid, prices, qtys)
    print(
        f"generated {N_DIFFS} diffs ({len(events)} events of {LEVELS_PER_EVENT} levels, "
        f"{float(np.mean(qtys == 0.0)):.1%} deletes) in {time.perf_counter() - t0:.2f} s"
    )
    check_paths_agree(snapshot, events, is_bid, prices, qtys)

    repeats = 3
    walls = {
        "events": min(bench_events(snapshot, events) for _ in range(repeats)),
        "level": min(bench_level(snapshot, is_bid, prices, qtys) for _ in range(repeats)),
        "arrays": min(bench_arrays(snapshot, is_bid, prices, qtys) for _ in range(repeats)),
    }
    print(f"best of {repeats} runs per path; total {time.perf_counter() - t0:.1f} s")
    for path, wall in walls.items():
        print(figure(path, wall))


if __name__ == "__main__":
    main()
