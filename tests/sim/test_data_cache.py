"""The .npy day cache: layout, round trips across midnight, merge/dedupe, mmap, atomic writes."""

from datetime import date

import numpy as np
import pytest

from birdterm.sim import data_cache
from birdterm.sim.data import CANDLE_DTYPE, TRADE_DTYPE, DataError
from birdterm.sim.data_cache import CandleCache, TradeCache
from birdterm.sim.synthetic import synthetic_candles, synthetic_trades

MIDNIGHT = 1_700_006_400_000  # 2023-11-15 00:00:00 UTC
BEFORE = MIDNIGHT - 60_000  # 23:59:00 the day before


def two_minutes_over_midnight():
    return synthetic_candles(9, BEFORE, 120)  # 60 rows on each side of midnight


def test_round_trip_across_a_day_boundary(tmp_path):
    cache = CandleCache(tmp_path)
    candles = two_minutes_over_midnight()
    assert cache.write("btcusdt", "1s", candles) == [date(2023, 11, 14), date(2023, 11, 15)]
    assert cache.days("BTCUSDT", "1s") == [date(2023, 11, 14), date(2023, 11, 15)]
    assert (tmp_path / "BTCUSDT" / "1s" / "2023-11-14.npy").is_file()
    assert np.load(tmp_path / "BTCUSDT" / "1s" / "2023-11-15.npy").size == 60

    everything = cache.read("BTCUSDT", "1s")
    assert everything.tobytes() == candles.tobytes()
    assert everything.dtype == CANDLE_DTYPE and everything.flags.c_contiguous
    assert everything.flags.writeable and not isinstance(everything, np.memmap)

    window = cache.read("BTCUSDT", "1s", MIDNIGHT - 5_000, MIDNIGHT + 5_000)  # [start, end)
    assert window.tobytes() == candles[55:65].tobytes()
    assert cache.read("BTCUSDT", "1s", MIDNIGHT, MIDNIGHT).size == 0
    assert cache.read("BTCUSDT", "1s", MIDNIGHT + 10 * 86_400_000).size == 0
    assert cache.read("ETHUSDT", "1s").dtype == CANDLE_DTYPE


def test_merge_replaces_cached_timestamps_and_keeps_the_rest(tmp_path):
    cache = CandleCache(tmp_path)
    candles = two_minutes_over_midnight()
    cache.write("BTCUSDT", "1s", candles[:70])
    update = candles[50:120].copy()
    update["volume"] += 1.0  # a later download of the same seconds, e.g. a corrected feed
    update["quote_volume"] += 1.0
    cache.write("BTCUSDT", "1s", update)
    merged = cache.read("BTCUSDT", "1s")
    assert merged["ts"].tolist() == candles["ts"].tolist()  # no duplicates, in order
    assert merged[:50].tobytes() == candles[:50].tobytes()
    assert merged[50:].tobytes() == update.tobytes()  # the later write wins


def test_reads_memory_map_each_day(tmp_path, monkeypatch):
    cache = CandleCache(tmp_path)
    cache.write("BTCUSDT", "1s", two_minutes_over_midnight())
    modes = []
    real_load = np.load

    def spy(path, *args, **kwargs):
        modes.append(kwargs.get("mmap_mode"))
        loaded = real_load(path, *args, **kwargs)
        assert isinstance(loaded, np.memmap)
        return loaded

    monkeypatch.setattr(data_cache.np, "load", spy)
    assert cache.read("BTCUSDT", "1s").size == 120
    assert modes == ["r", "r"]


def test_writes_are_atomic(tmp_path, monkeypatch):
    cache = CandleCache(tmp_path)
    candles = two_minutes_over_midnight()[:60]
    cache.write("BTCUSDT", "1s", candles)

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(data_cache.np, "save", broken_save)
    changed = candles.copy()
    changed["volume"] *= 2
    with pytest.raises(OSError, match="disk full"):
        cache.write("BTCUSDT", "1s", changed)
    monkeypatch.undo()
    assert cache.read("BTCUSDT", "1s").tobytes() == candles.tobytes()
    assert [p.name for p in (tmp_path / "BTCUSDT" / "1s").iterdir()] == ["2023-11-14.npy"]


def test_intervals_are_canonical_and_bad_input_is_refused(tmp_path):
    cache = CandleCache(tmp_path)
    minutes = synthetic_candles(1, MIDNIGHT, 10, "1m")
    cache.write("BTCUSDT", "60s", minutes)
    assert cache.read("BTCUSDT", "1m").tobytes() == minutes.tobytes()
    assert cache.path("BTCUSDT", "1m", date(2023, 11, 15)).parent.name == "1m"
    with pytest.raises(DataError, match="bad symbol"):
        cache.write("../etc", "1m", minutes)
    with pytest.raises(DataError, match="not aligned to the 1h interval"):
        cache.write("BTCUSDT", "1h", minutes)
    assert cache.days("BTCUSDT", "1h") == []


def test_a_foreign_file_in_the_cache_is_an_error(tmp_path):
    cache = CandleCache(tmp_path)
    folder = tmp_path / "BTCUSDT" / "1m"
    folder.mkdir(parents=True)
    np.save(folder / "2023-11-15.npy", np.arange(5))
    with pytest.raises(DataError, match="not the expected cache dtype"):
        cache.read("BTCUSDT", "1m")


def test_trade_cache_round_trip_and_dedupe_by_trade_id(tmp_path):
    cache = TradeCache(tmp_path)
    trades = synthetic_trades(2, MIDNIGHT - 30_000, 60)
    days = cache.write("BTCUSDT", trades)
    assert days == [date(2023, 11, 14), date(2023, 11, 15)]
    assert cache.days("BTCUSDT") == days
    assert (tmp_path / "BTCUSDT" / "trades" / "2023-11-15.npy").is_file()
    assert np.array_equal(cache.read("BTCUSDT"), trades)  # fields only: trades have pad bytes
    again = trades[-20:].copy()
    again["qty"] = 9.0
    cache.write("BTCUSDT", again)
    merged = cache.read("BTCUSDT")
    assert merged.size == trades.size and merged.dtype == TRADE_DTYPE
    assert merged.dtype.itemsize == 40  # still the aligned layout after a merge and two days
    assert merged["trade_id"].tolist() == trades["trade_id"].tolist()
    assert (merged["qty"][-20:] == 9.0).all()
    assert np.array_equal(merged[:-20], trades[:-20])
    after = cache.read("BTCUSDT", start_ms=MIDNIGHT)
    assert after.size > 0 and np.array_equal(after, merged[merged["ts"] >= MIDNIGHT])
