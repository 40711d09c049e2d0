"""The loaders on the real recordings in ../shared/data (Lean bars, hftbacktest Binance trades).

Needs ../shared/data beside the checkout; each behaviour is also covered on generated files in
test_data_loaders.py and test_data.py.
"""

import gzip

import numpy as np
import pytest

from birdterm.sim.data import candles_from_trades, resample, validate_candles
from birdterm.sim.data_loaders import lean_interval, load_hftbacktest_trades, load_lean_bars
from birdterm.sim.data_quality import Gap, data_report, find_gaps, find_outliers

from tests.helpers import REPO

SHARED = REPO.parent / "shared" / "data"
LEAN = SHARED / "quantconnect-lean"
HFT = SHARED / "hftbacktest"

pytestmark = pytest.mark.skipif(
    not (LEAN.is_dir() and HFT.is_dir()),
    reason="needs ../shared/data (quantconnect-lean, hftbacktest recordings) beside the checkout",
)

DAY_MS = 86_400_000


def test_lean_binance_minute_day():
    path = LEAN / "binance_btcbusd_minute_20221213_trade.zip"
    candles = load_lean_bars(path)
    assert lean_interval(path) == "1m" and candles.size == 1_440
    validate_candles(candles, "1m")
    midnight = 1_670_889_600_000  # 2022-12-13 00:00 UTC
    assert candles["ts"][0] == midnight and candles["ts"][-1] == midnight + DAY_MS - 60_000
    assert candles[0][["open", "high", "low", "close", "volume"]].tolist() == (
        17212.12, 17216.55, 17208.88, 17208.88, 110.66042,
    )  # fmt: skip
    assert find_gaps(candles, "1m", midnight, midnight + DAY_MS) == []
    hours = resample(candles, "1h")
    assert hours.size == 24 and hours["volume"].sum() == pytest.approx(candles["volume"].sum())
    # 13:30 UTC is the US CPI release of that day: +1.7 % in a minute, reported, not removed.
    assert [(o.index, o.reason) for o in find_outliers(candles)] == [(810, "return")]


def test_lean_binance_hour_file():
    candles = load_lean_bars(LEAN / "binance_btcusdt_hour_trade.zip")
    assert candles.size == 120
    validate_candles(candles, "1h")
    assert candles["ts"][0] == 1_525_132_800_000  # 2018-05-01 00:00 UTC
    assert candles["ts"][-1] == 1_525_132_800_000 + 119 * 3_600_000  # 2018-05-05 23:00
    assert candles["close"][-1] == 9864.0
    assert data_report(candles, "1h").gaps == []


@pytest.mark.parametrize(
    ("day", "rows", "first_ms"),
    [("20161007", 4_063, 4_000), ("20161008", 3_453, 1_000), ("20161009", 4_004, 1_000)],
)
def test_lean_coinbase_second_days_are_sparse_and_the_gaps_are_reported(day, rows, first_ms):
    candles = load_lean_bars(LEAN / f"coinbase_btcusd_second_{day}_trade.zip")
    assert candles.size == rows
    validate_candles(candles, "1s")
    start = int(candles["ts"][0]) - first_ms
    assert start % DAY_MS == 0
    report = data_report(candles, "1s", start, start + DAY_MS)
    assert report.gaps[0] == Gap(start, start + first_ms, first_ms // 1_000)
    assert report.rows + report.missing == 86_400
    assert f"{len(report.gaps):,} gaps ({report.missing:,} missing)" in report.summary()


@pytest.mark.parametrize(
    ("name", "count"),
    [("binance_spot_btcusdt_20240808.gz", 9_757), ("binance_spot_btcusdt_20240809.gz", 10_147)],
)
def test_hftbacktest_btcusdt_trades_make_1s_candles_matching_a_direct_count(name, count):
    trades = load_hftbacktest_trades(HFT / name)
    assert trades.size == count
    with gzip.open(HFT / name, "rt") as lines:
        assert sum('"e":"trade"' in line for line in lines) == count
    assert (np.diff(trades["trade_id"]) == 1).all()  # no trade missing from the recording
    candles = candles_from_trades(trades, "1s")
    validate_candles(candles, "1s")
    seconds, per_second = np.unique(trades["ts"] // 1_000, return_counts=True)
    assert candles["ts"].tolist() == (seconds * 1_000).tolist()
    assert candles["trades"].tolist() == per_second.tolist()
    assert candles["volume"].sum() == pytest.approx(trades["qty"].sum(), rel=1e-12)
    first = trades[trades["ts"] // 1_000 == seconds[0]]
    assert candles[0]["open"] == first["price"][0] and candles[0]["close"] == first["price"][-1]
    assert candles[0]["high"] == first["price"].max() and candles[0]["low"] == first["price"].min()
