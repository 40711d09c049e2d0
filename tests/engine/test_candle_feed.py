"""CandleFeed: a candle is visible only once it has closed; indicators are computed once."""

import numpy as np

from birdterm.engine.candle_feed import CandleFeed
from birdterm.sim.synthetic import candles_from_path

START_MS = 1_704_067_200_000  # candles open at :00, :60, :120 ... and close a minute later


def test_a_candle_counts_only_from_its_close():
    feed = CandleFeed(candles_from_path([100.0, 101.0, 102.0], START_MS, "1m"), 60_000)
    start = START_MS / 1000
    assert feed.closed_count(start) == 0  # the first candle just opened
    assert feed.closed_count(start + 59.999) == 0
    assert feed.closed_count(start + 60) == 1  # closed at its close time, not before
    assert feed.closed_count(start + 179.9) == 2
    assert feed.closed_count(start + 180) == 3 == len(feed)


def test_an_indicator_is_computed_once_over_the_whole_feed():
    feed = CandleFeed(candles_from_path([1.0, 2.0, 4.0], START_MS, "1m"), 60_000)
    calls = []

    def double_close(candles: np.ndarray) -> np.ndarray:
        calls.append(len(candles))
        return candles["close"] * 2

    first = feed.indicator("x2", double_close)
    assert feed.indicator("x2", double_close) is first
    assert first.tolist() == [2.0, 4.0, 8.0] and calls == [3]
