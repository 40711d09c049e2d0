"""The seeded synthetic market: determinism, validity, regimes, volume, speed, scripted paths."""

import time

import numpy as np
import pytest

from birdterm.sim.data import DataError, candles_from_trades, validate_candles, validate_trades
from birdterm.sim.data_quality import find_gaps
from birdterm.sim.synthetic import (
    candles_from_path,
    synthetic_candles,
    synthetic_regimes,
    synthetic_trades,
)

DAY = 1_699_920_000_000  # 2023-11-14 00:00:00 UTC


def test_same_seed_gives_identical_bytes_and_another_seed_differs():
    first = synthetic_candles(42, DAY, 10_000)
    again = synthetic_candles(42, DAY, 10_000)
    other = synthetic_candles(43, DAY, 10_000)
    assert first.tobytes() == again.tobytes()
    assert first.tobytes() != other.tobytes()
    assert synthetic_trades(42, DAY, 300).tobytes() == synthetic_trades(42, DAY, 300).tobytes()
    assert synthetic_trades(42, DAY, 300).tobytes() != synthetic_trades(43, DAY, 300).tobytes()


@pytest.mark.parametrize("interval", ["1s", "1m", "5m", "1h", "1d"])
def test_candles_are_valid_contiguous_and_start_where_asked(interval):
    candles = synthetic_candles(1, DAY, 5_000, interval, start_price=1_234.5)
    validate_candles(candles, interval)
    assert candles.flags.c_contiguous and candles.size == 5_000
    assert candles["ts"][0] == DAY and find_gaps(candles, interval) == []
    assert candles["open"][0] == 1_234.5
    assert np.array_equal(candles["open"][1:], candles["close"][:-1])
    assert (candles["trades"] >= 1).all() and (candles["volume"] > 0).all()
    prices = np.concatenate([candles[f] for f in ("open", "high", "low", "close")])
    assert np.allclose(prices * 100, np.round(prices * 100))  # on the 0.01 tick


def test_regimes_have_measurably_different_volatility_and_volume():
    n = 86_400
    candles = synthetic_candles(11, DAY, n)
    volatile = synthetic_regimes(11, n)[1:]
    assert 0.05 < volatile.mean() < 0.5  # both regimes occur
    returns = np.diff(np.log(candles["close"]))
    ratio = returns[volatile].std() / returns[~volatile].std()
    assert 3.5 < ratio < 4.5  # the default volatile vol is 4x the calm vol
    volume = candles["volume"][1:]
    assert volume[volatile].mean() > 2.5 * volume[~volatile].mean()
    calm = ~volatile
    assert np.corrcoef(np.abs(returns[calm]), volume[calm])[0, 1] > 0.3


def test_regime_and_vol_parameters_are_honoured():
    flat = synthetic_candles(2, DAY, 20_000, calm_vol=2e-4, volatile_vol=2e-4, tick=None)
    returns = np.diff(np.log(flat["close"]))
    assert returns.std() == pytest.approx(2e-4, rel=0.05)
    rising = synthetic_candles(2, DAY, 20_000, drift=1e-4, tick=None)
    assert rising["close"][-1] > rising["open"][0] * 1.5  # exp(2) drift swamps the noise
    always_switching = synthetic_regimes(2, 1_000, mean_calm_bars=1, mean_volatile_bars=1)
    assert always_switching[:6].tolist() == [False, True, False, True, False, True]


def test_bad_arguments_are_refused():
    with pytest.raises(DataError, match="not aligned to the 1m interval"):
        synthetic_candles(1, DAY + 1_000, 10, "1m")
    with pytest.raises(DataError):
        synthetic_candles(1, DAY, 10, start_price=0.0)
    with pytest.raises(DataError, match="at least one bar"):
        synthetic_candles(1, DAY, 10, mean_calm_bars=0.5)


def test_a_day_of_1s_candles_is_fast():
    best = min(_timed(lambda: synthetic_candles(0, DAY, 86_400)) for _ in range(3))
    assert best < 0.5


def _timed(work):
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def test_synthetic_trades_are_valid_and_make_valid_candles():
    trades = synthetic_trades(4, DAY, 1_800, trades_per_second=5.0, first_trade_id=1_000)
    validate_trades(trades)
    assert trades["trade_id"][0] == 1_000
    assert (np.diff(trades["trade_id"]) == 1).all()
    assert trades.size == pytest.approx(1_800 * 5.0, rel=0.5)
    assert trades["ts"][0] >= DAY and trades["ts"][-1] < DAY + 1_800_000
    moves = np.diff(trades["price"])
    assert trades["is_buyer_maker"][1:][moves < 0].all()  # down-ticks are taker sells
    assert not trades["is_buyer_maker"][1:][moves > 0].any()
    candles = candles_from_trades(trades)
    validate_candles(candles, "1s")
    assert candles["trades"].sum() == trades.size


def test_candles_from_path_by_hand():
    candles = candles_from_path([100.0, 103.0, 101.0], DAY, "1m", volume=2.0, trades=4)
    assert candles.tolist() == [
        (DAY, 100.0, 100.0, 100.0, 100.0, 2.0, 200.0, 4),
        (DAY + 60_000, 100.0, 103.0, 100.0, 103.0, 2.0, 2.0 * (103 + 100 + 103) / 3, 4),
        (DAY + 120_000, 103.0, 103.0, 101.0, 101.0, 2.0, 2.0 * (103 + 101 + 101) / 3, 4),
    ]
    wicks = candles_from_path([100.0, 103.0], DAY, "1m", highs=[105.0, 104.0], lows=[99, 98])
    assert wicks["high"].tolist() == [105.0, 104.0] and wicks["low"].tolist() == [99.0, 98.0]
    with pytest.raises(DataError, match=r"row 1: .*high 102\.0 is below"):
        candles_from_path([100.0, 103.0], DAY, "1m", highs=[100.0, 102.0])
