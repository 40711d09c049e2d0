"""Benchmark: whole backtests, controllers and executors included (issue 3's speed targets).

Cases (each in a fresh process, so peak RSS is the case's own):
  pmm_24h_1s       pmm_inventory (configs/pmm_inventory.toml: 3 levels a side), 24 h of seeded
                   synthetic 1 s candles (86,400 rows), controller deciding every second.
                   Target: <= 1.5 s wall, <= 300 MB.
  bollinger_1y_1m  bollinger (configs/bollinger.toml), one year of synthetic 1 m candles
                   (525,600 rows). Target: <= 2 s wall.
  pmm_trades_real  pmm_inventory in trades mode (queue-position fills) on the recorded Binance
                   BTCUSDT trades in ../shared/data/hftbacktest (skipped when absent).

wall_s times BacktestEngine.run() only (data generation is reported as data_s); rss_mb is the
process's peak resident memory. The last lines printed are the figures:
  bench backtest_pmm_24h_1s wall_s=0.52 candles_per_s=166000 rss_mb=70 fills=287 executors=568

Usage: python benchmarks/backtest_speed.py [case]
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_TRADES = REPO.parent / "shared" / "data" / "hftbacktest" / "binance_spot_btcusdt_20240808.gz"
CASES = ("pmm_24h_1s", "bollinger_1y_1m", "pmm_trades_real")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run(name: str, controller_file: str, synthetic: dict | None, trades: Path | None) -> str:
    from birdterm.sim.backtest import BacktestEngine, MarketData
    from birdterm.sim.backtest_config import SyntheticMarket, load_backtest_file
    from birdterm.sim.backtest_data import load_market_data
    from birdterm.sim.data_loaders import load_hftbacktest_trades

    controller, settings = load_backtest_file(REPO / controller_file)
    started = time.perf_counter()
    if trades is not None:
        data = MarketData(controller.trading_pair, load_hftbacktest_trades(trades), "trades")
        settings = settings.model_copy(update={"data_kind": "trades"})
    else:
        spec = SyntheticMarket(start=datetime(2023, 1, 1, tzinfo=UTC), **(synthetic or {}))
        settings = settings.model_copy(update={"synthetic": spec, "data": None})
        data = load_market_data(controller.trading_pair, settings)
    data_s = time.perf_counter() - started
    started = time.perf_counter()
    result = BacktestEngine([controller], [data], settings).run()
    wall = time.perf_counter() - started
    rows = len(data.data)
    unit = "trades" if trades is not None else "candles"
    return (
        f"bench backtest_{name} wall_s={wall:.3f} {unit}_per_s={rows / wall:.0f} rows={rows} "
        f"rss_mb={_rss_mb():.0f} data_s={data_s:.3f} fills={len(result.fills)} "
        f"executors={len(result.executors)} pnl_quote={float(result.pnl.total):.4f}"
    )


def run_case(case: str) -> str | None:
    """Run one case in this process; None when its data is not available."""
    if case == "pmm_24h_1s":
        return _run(case, "configs/pmm_inventory.toml", {"days": 1, "interval": "1s"}, None)
    if case == "bollinger_1y_1m":
        return _run(case, "configs/bollinger.toml", {"days": 365, "interval": "1m"}, None)
    if case == "pmm_trades_real":
        if not SHARED_TRADES.exists():
            return None
        return _run(case, "configs/pmm_inventory.toml", None, SHARED_TRADES)
    raise SystemExit(f"unknown case {case!r}; valid: {', '.join(CASES)}")


def main() -> None:
    """Run every case in a child process and print the figures last."""
    if len(sys.argv) > 1:
        line = run_case(sys.argv[1])
        print(line or f"skip backtest_{sys.argv[1]}: ../shared/data is not beside the checkout")
        return
    lines = []
    for case in CASES:
        done = subprocess.run(
            [sys.executable, __file__, case], capture_output=True, text=True, check=True
        )
        lines.append(done.stdout.strip().splitlines()[-1])
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
