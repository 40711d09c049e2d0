"""Benchmark: the market-data path of the backtester on 24 h of 1 s candles (86,400 rows).

Timed steps (best of 3, time.perf_counter):

  synthetic_1s_24h     generate a seeded day of 1 s candles
  resample_1s_to_1m    aggregate them into 1,440 one-minute candles
  cache_write_1s_24h   write the day into a CandleCache (atomic .npy write)
  cache_read_1s_24h    read the day back (memory-mapped, sliced, concatenated)
  outliers_1s_24h      gap + outlier report over the day
  trades_to_1s_1h      bucket an hour of synthetic trades into 1 s candles

The last lines printed are the figures, one per step:
  bench synthetic_1s_24h rows=86400 wall_s=0.025

Usage: python benchmarks/bench_data.py
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable

from birdterm.sim.data import candles_from_trades, resample
from birdterm.sim.data_cache import CandleCache
from birdterm.sim.data_quality import data_report
from birdterm.sim.synthetic import synthetic_candles, synthetic_trades

DAY = 1_699_920_000_000  # 2023-11-14 00:00:00 UTC
ROWS = 86_400
SEED = 20240601
REPEATS = 3


def best_of(work: Callable[[], object]) -> float:
    """The fastest of REPEATS runs, in seconds."""
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    candles = synthetic_candles(SEED, DAY, ROWS)
    trades = synthetic_trades(SEED, DAY, 3_600)
    figures = []
    figures.append(("synthetic_1s_24h", ROWS, best_of(lambda: synthetic_candles(SEED, DAY, ROWS))))
    figures.append(("resample_1s_to_1m", ROWS, best_of(lambda: resample(candles, "1m"))))
    with tempfile.TemporaryDirectory() as root:
        cache = CandleCache(root)
        figures.append(
            ("cache_write_1s_24h", ROWS, best_of(lambda: cache.write("BTCUSDT", "1s", candles)))
        )
        read = cache.read("BTCUSDT", "1s", DAY, DAY + 86_400_000)
        assert read.tobytes() == candles.tobytes()
        figures.append(
            (
                "cache_read_1s_24h",
                ROWS,
                best_of(lambda: cache.read("BTCUSDT", "1s", DAY, DAY + 86_400_000)),
            )
        )
    figures.append(("outliers_1s_24h", ROWS, best_of(lambda: data_report(candles, "1s"))))
    figures.append(("trades_to_1s_1h", trades.size, best_of(lambda: candles_from_trades(trades))))
    for name, rows, wall in figures:
        print(f"bench {name} rows={rows} wall_s={wall:.4f}")


if __name__ == "__main__":
    main()
