"""How close REALTIME clock ticks land to their wall-clock slots (goal: every tick within 5 ms).

Usage: python benchmarks/bench_clock_jitter.py [--ticks 60] [--tick-size 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from birdterm.engine.clock import Clock, ClockMode, TimeIterator


class LatenessProbe(TimeIterator):
    """Records how late each tick started relative to its slot, then stops the clock."""

    def __init__(self, ticks: int) -> None:
        self.ticks = ticks
        self.lateness_ms: list[float] = []
        self.clock: Clock | None = None

    def start(self, clock: Clock, timestamp: float) -> None:
        self.clock = clock

    def tick(self, timestamp: float) -> None:
        self.lateness_ms.append((time.time() - timestamp) * 1000.0)
        if len(self.lateness_ms) >= self.ticks and self.clock is not None:
            self.clock.request_stop()


async def measure(ticks: int, tick_size: float) -> tuple[list[float], int]:
    clock = Clock(ClockMode.REALTIME, tick_size=tick_size)
    probe = LatenessProbe(ticks)
    clock.add_iterator(probe)
    await clock.run()
    return probe.lateness_ms, clock.missed_ticks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ticks", type=int, default=60)
    parser.add_argument("--tick-size", type=float, default=1.0)
    args = parser.parse_args()
    lateness, missed = asyncio.run(measure(args.ticks, args.tick_size))
    ordered = sorted(lateness)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    within = sum(1 for x in lateness if abs(x) <= 5.0)
    print(
        f"bench clock_jitter ticks={len(lateness)} tick_size_s={args.tick_size:g} "
        f"mean_ms={statistics.fmean(lateness):.3f} p99_ms={p99:.3f} max_ms={max(lateness):.3f} "
        f"min_ms={min(lateness):.3f} within_5ms={within}/{len(lateness)} missed={missed}"
    )


if __name__ == "__main__":
    main()
