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


def test_a_live_feed_appends_only_newer_candles_and_recomputes_indicators():
    from birdterm.engine.candle_feed import LiveCandleFeed

    path = [100.0, 101.0, 102.0, 103.0, 104.0]
    candles = candles_from_path(path, START_MS, "1m")
    feed = LiveCandleFeed(candles[:3], 60_000)
    first = feed.indicator("close_sum", lambda c: np.cumsum(c["close"]))
    assert first.tolist() == [100.0, 201.0, 303.0]
    assert feed.extend(candles[1:4]) == 1  # rows 1 and 2 are already in
    assert len(feed) == 4
    assert feed.closed_count(START_MS / 1000 + 240) == 4
    again = feed.indicator("close_sum", lambda c: np.cumsum(c["close"]))
    assert again.tolist() == [100.0, 201.0, 303.0, 406.0]  # old rows unchanged, one more
    assert feed.extend(candles[:2]) == 0
