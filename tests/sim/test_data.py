"""Candle/trade arrays: intervals, validation, trades -> candles, resampling, gaps, outliers."""

from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from birdterm.sim.data import (
    CANDLE_DTYPE,
    TRADE_DTYPE,
    UNKNOWN_TRADES,
    DataError,
    candles_from_trades,
    canonical_interval,
    format_ts,
    interval_ms,
    resample,
    validate_candles,
    validate_trades,
)
from birdterm.sim.data_quality import Gap, data_report, find_gaps, find_outliers
from birdterm.sim.synthetic import candles_from_path, synthetic_candles, synthetic_trades

T0 = 1_699_999_980_000  # 2023-11-14 22:13:00 UTC, aligned to the second and the minute
DAY = 1_699_920_000_000  # 2023-11-14 00:00:00 UTC


def trades_of(rows):
    """Trades from (ts, price, qty, is_buyer_maker) tuples; ids count from 1."""
    trades = np.zeros(len(rows), dtype=TRADE_DTYPE)
    for i, (ts, price, qty, maker) in enumerate(rows):
        trades[i] = (ts, price, qty, maker, i + 1)
    return trades


def test_dtypes_have_the_documented_fields_and_types():
    assert CANDLE_DTYPE.names == (
        "ts", "open", "high", "low", "close", "volume", "quote_volume", "trades",
    )  # fmt: skip
    assert CANDLE_DTYPE["ts"] == np.int64 and CANDLE_DTYPE["trades"] == np.int64
    assert all(CANDLE_DTYPE[name] == np.float64 for name in CANDLE_DTYPE.names[1:7])
    assert TRADE_DTYPE.names == ("ts", "price", "qty", "is_buyer_maker", "trade_id")
    assert TRADE_DTYPE["is_buyer_maker"] == np.bool_ and TRADE_DTYPE["trade_id"] == np.int64
    # C struct layouts, as a Cython struct memoryview expects them.
    assert CANDLE_DTYPE.itemsize == 64 and CANDLE_DTYPE.fields["trades"][1] == 56
    assert TRADE_DTYPE.itemsize == 40 and TRADE_DTYPE.fields["trade_id"][1] == 32


@pytest.mark.parametrize(
    ("text", "ms"),
    [("1s", 1_000), ("5m", 300_000), ("1m", 60_000), ("1h", 3_600_000), ("1d", 86_400_000),
     ("15m", 900_000), ("90s", 90_000)],
)  # fmt: skip
def test_interval_ms(text, ms):
    assert interval_ms(text) == ms


@pytest.mark.parametrize("bad", ["", "1", "s", "0s", "1w", "1M", "m1", "1.5m", " 1m", "-1s"])
def test_bad_interval_lists_the_valid_forms(bad):
    with pytest.raises(DataError, match=r"bad interval .*'1s', '1m', '5m', '1h', '1d'"):
        interval_ms(bad)
    assert issubclass(DataError, ValueError)


def test_canonical_interval():
    assert canonical_interval("60s") == "1m"
    assert canonical_interval("24h") == "1d"
    assert canonical_interval("90s") == "90s"
    assert canonical_interval("120m") == "2h"


def test_format_ts():
    assert format_ts(DAY) == "2023-11-14 00:00:00"
    assert format_ts(DAY + 1_234) == "2023-11-14 00:00:01.234"


def five_candles():
    return candles_from_path([100.0, 101.0, 99.5, 102.0, 101.0], T0, "1m")


def test_a_scripted_path_is_valid():
    validate_candles(five_candles(), "1m")


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("ts", T0 + 2 * 60_000, "does not come after the previous ts"),
        ("ts", T0 + 3 * 60_000 + 1, "not aligned to the 1m interval"),
        ("high", 101.0, "high 101.0 is below max(open, close) 102.0"),
        ("low", 100.0, "low 100.0 is above min(open, close) 99.5"),
        ("volume", -1.0, "volume -1.0 is negative"),
        ("close", np.nan, "close is nan"),
        ("open", 0.0, "open 0.0 is not positive"),
        ("trades", -5, "trade count -5 is negative"),
    ],
)
def test_validate_candles_names_the_row_and_the_reason(field, value, reason):
    candles = five_candles()
    candles[field][3] = value
    with pytest.raises(DataError) as caught:
        validate_candles(candles, "1m")
    assert caught.value.row == 3
    assert str(caught.value).startswith("row 3: bad candle (2023-11-14 22:1")
    assert reason in str(caught.value)
    assert caught.value.detail == str(caught.value).removeprefix("row 3: ")


def test_validate_candles_reports_the_earliest_bad_row():
    candles = five_candles()
    candles["volume"][4] = -1.0
    candles["high"][2] = 1.0
    with pytest.raises(DataError, match=r"row 2: .*high 1\.0 is below"):
        validate_candles(candles, "1m")


def test_validate_candles_rejects_a_wrong_interval_and_a_foreign_array():
    with pytest.raises(DataError, match="not aligned to the 1h interval"):
        validate_candles(five_candles(), "1h")
    with pytest.raises(DataError, match="CANDLES_DTYPE"):
        validate_candles(np.zeros(3), "1m")


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [("ts", T0 - 1, "is before the previous ts"), ("price", 0.0, "price 0.0 is not positive"),
     ("qty", -0.5, "qty -0.5 is not positive"), ("qty", np.nan, "qty nan is not positive")],
)  # fmt: skip
def test_validate_trades_names_the_row_and_the_reason(field, value, reason):
    trades = trades_of([(T0, 100.0, 1.0, False), (T0 + 5, 100.5, 1.0, True), (T0 + 5, 99.0, 2.0,
                        False)])  # fmt: skip
    validate_trades(trades)  # equal timestamps are fine
    trades[field][2] = value
    with pytest.raises(DataError, match=f"row 2: .*{reason.replace('(', '.').replace(')', '.')}"):
        validate_trades(trades)


HAND_TRADES = [
    (1_000, 100.0, 1.0, False),
    (1_500, 102.0, 0.5, False),
    (1_999, 99.0, 2.0, True),
    (3_000, 101.0, 1.0, False),
    (3_250, 101.5, 0.25, True),
]


def test_candles_from_trades_by_hand():
    candles = candles_from_trades(trades_of(HAND_TRADES), "1s")
    assert candles.dtype == CANDLE_DTYPE and candles.flags.c_contiguous
    # The second at 2,000 ms had no trades, so it has no candle.
    assert candles.tolist() == [
        (1_000, 100.0, 102.0, 99.0, 99.0, 3.5, 349.0, 3),  # 100*1 + 102*0.5 + 99*2
        (3_000, 101.0, 101.5, 101.0, 101.5, 1.25, 126.375, 2),  # 101*1 + 101.5*0.25
    ]
    minute = candles_from_trades(trades_of(HAND_TRADES), "1m")
    assert minute.tolist() == [(0, 100.0, 102.0, 99.0, 101.5, 4.75, 475.375, 5)]


def test_candles_from_trades_edge_cases():
    assert candles_from_trades(np.zeros(0, dtype=TRADE_DTYPE)).size == 0
    backwards = trades_of([(2_000, 1.0, 1.0, False), (1_000, 1.0, 1.0, False)])
    with pytest.raises(DataError, match="row 1 goes back in time"):
        candles_from_trades(backwards)


def reference_candles_from_trades(trades, step):
    buckets = defaultdict(list)
    for ts, price, qty, _, _ in trades.tolist():
        buckets[ts // step].append((price, qty))
    rows = []
    for bucket, fills in buckets.items():
        prices = [p for p, _ in fills]
        volume = sum(q for _, q in fills)
        quote = sum(p * q for p, q in fills)
        rows.append(
            (
                bucket * step,
                prices[0],
                max(prices),
                min(prices),
                prices[-1],
                volume,
                quote,
                len(fills),
            )
        )
    return rows


@pytest.mark.parametrize("interval", ["1s", "1m"])
def test_candles_from_trades_matches_a_python_loop(interval):
    trades = synthetic_trades(7, T0, 600)
    got = candles_from_trades(trades, interval)
    want = reference_candles_from_trades(trades, interval_ms(interval))
    assert got.size == len(want)
    for field, index in (("ts", 0), ("open", 1), ("high", 2), ("low", 3), ("close", 4)):
        assert got[field].tolist() == [row[index] for row in want]
    assert got["trades"].tolist() == [row[7] for row in want]
    np.testing.assert_allclose(got["volume"], [row[5] for row in want], rtol=1e-12)
    np.testing.assert_allclose(got["quote_volume"], [row[6] for row in want], rtol=1e-12)
    assert got["trades"].sum() == trades.size
    validate_candles(got, interval)


def reference_resample(candles, step):
    groups = defaultdict(list)
    for row in candles.tolist():
        groups[row[0] // step].append(row)
    out = []
    for bucket, rows in groups.items():
        counts = [r[7] for r in rows]
        out.append((bucket * step, rows[0][1], max(r[2] for r in rows), min(r[3] for r in rows),
                    rows[-1][4], sum(r[5] for r in rows), sum(r[6] for r in rows),
                    -1 if min(counts) < 0 else sum(counts)))  # fmt: skip
    return out


def assert_same_candles(got, want):
    assert got.size == len(want)
    exact = ("ts", "open", "high", "low", "close", "trades")
    for field in exact:
        assert got[field].tolist() == [row[CANDLE_DTYPE.names.index(field)] for row in want]
    for field in ("volume", "quote_volume"):
        column = [row[CANDLE_DTYPE.names.index(field)] for row in want]
        np.testing.assert_allclose(got[field], column, rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 4_000),
    keep=st.floats(0.05, 1.0),
    offset_s=st.integers(0, 3_599),
    target=st.sampled_from(["1m", "5m", "15m", "1h"]),
)
def test_resample_1s_matches_a_python_loop(seed, n, keep, offset_s, target):
    candles = synthetic_candles(seed, DAY + offset_s * 1_000, n)
    sparse = candles[np.random.default_rng(seed).random(n) < keep]
    if sparse.size:
        sparse["trades"][0] = UNKNOWN_TRADES  # one unknown count makes its bucket unknown
    got = resample(sparse, target, source="1s")
    assert_same_candles(got, reference_resample(sparse, interval_ms(target)))
    validate_candles(got, target)


def test_resample_chains_1s_to_1m_to_1h_like_1s_to_1h():
    seconds = synthetic_candles(3, DAY, 3 * 3_600 + 17)
    minutes = resample(seconds, "1m")
    assert minutes.size == 181 and minutes.flags.c_contiguous
    hours = resample(minutes, "1h")
    direct = resample(seconds, "1h")
    assert hours.size == 4
    for field in ("ts", "open", "high", "low", "close", "trades"):
        assert hours[field].tolist() == direct[field].tolist()
    np.testing.assert_allclose(hours["volume"], direct["volume"], rtol=1e-12)
    assert hours["volume"].sum() == pytest.approx(seconds["volume"].sum(), rel=1e-12)


def test_resample_hand_example_leaves_empty_buckets_out():
    candles = candles_from_path([10.0, 12.0, 11.0, 9.0], 0, "1m", volume=2.0, trades=3)
    candles["ts"] = [0, 60_000, 600_000, 660_000]  # 2 bars in 0-5m, none in 5-10m, 2 in 10-15m
    out = resample(candles, "5m", source="1m")
    assert out.tolist() == [
        (0, 10.0, 12.0, 10.0, 12.0, 4.0, out["quote_volume"][0], 6),
        (600_000, 12.0, 12.0, 9.0, 9.0, 4.0, out["quote_volume"][1], 6),
    ]
    assert out["quote_volume"][0] == pytest.approx(2 * (10 + 10 + 10) / 3 + 2 * (12 + 10 + 12) / 3)


def test_resample_refuses_a_target_that_is_not_a_multiple():
    minutes = synthetic_candles(1, DAY, 100, "1m")
    with pytest.raises(DataError, match="not a multiple of 1m"):
        resample(minutes, "90s", source="1m")
    with pytest.raises(DataError, match="inferred from the candle spacing; pass source="):
        resample(minutes, "90s")
    every_7s = synthetic_candles(1, DAY, 100)[::7]
    with pytest.raises(DataError, match="7000 ms"):
        resample(every_7s, "1m")
    assert resample(every_7s, "1m", source="1s")["ts"].tolist() == [DAY, DAY + 60_000]
    assert resample(np.zeros(0, dtype=CANDLE_DTYPE), "1h").size == 0
    half_past = synthetic_candles(1, DAY + 30_000, 100, "30s")[::2]  # 1m bars at :30
    with pytest.raises(DataError, match=r"row 0: .* not aligned to the source interval"):
        resample(half_past, "1h")


def gapped_candles():
    candles = candles_from_path([100.0] * 6, 0, "1s")
    candles["ts"] = T0 + 1_000 * np.array([0, 1, 2, 5, 6, 10])
    return candles


def test_find_gaps_exact():
    candles = gapped_candles()
    assert find_gaps(candles, "1s") == [
        Gap(T0 + 3_000, T0 + 5_000, 2),
        Gap(T0 + 7_000, T0 + 10_000, 3),
    ]
    assert find_gaps(candles, "1s", start_ms=T0 - 2_000, end_ms=T0 + 13_000) == [
        Gap(T0 - 2_000, T0, 2),
        Gap(T0 + 3_000, T0 + 5_000, 2),
        Gap(T0 + 7_000, T0 + 10_000, 3),
        Gap(T0 + 11_000, T0 + 13_000, 2),
    ]
    assert find_gaps(candles, "1s", start_ms=T0, end_ms=T0 + 11_000)[0].start_ts == T0 + 3_000
    assert find_gaps(synthetic_candles(0, DAY, 500), "1s", DAY, DAY + 500_000) == []
    assert find_gaps(np.zeros(0, dtype=CANDLE_DTYPE), "1m", 0, 180_000) == [Gap(0, 180_000, 3)]


def test_data_report_summary_by_hand():
    report = data_report(gapped_candles(), "1s")
    assert (report.rows, report.missing, report.outliers) == (6, 5, [])
    assert report.summary() == (
        "1s candles: 6 rows, 2023-11-14 22:13:00 to 2023-11-14 22:13:11 UTC; "
        "2 gaps (5 missing), 0 outliers\n"
        "  gap 2023-11-14 22:13:03 .. 2023-11-14 22:13:05: 2 missing\n"
        "  gap 2023-11-14 22:13:07 .. 2023-11-14 22:13:10: 3 missing"
    )
    assert report.summary(limit=1).endswith("  ... and 1 more gaps")
    assert data_report(np.zeros(0, dtype=CANDLE_DTYPE), "1m").summary() == "1m candles: no rows"


@pytest.mark.parametrize(("seed", "interval"), [(0, "1s"), (1, "1s"), (2, "1m"), (3, "1h")])
def test_no_outliers_on_clean_synthetic_data(seed, interval):
    assert find_outliers(synthetic_candles(seed, DAY, 20_000, interval)) == []


def test_a_bad_tick_is_one_spike_at_its_row():
    candles = synthetic_candles(5, DAY, 20_000)
    bad = 12_345
    candles["close"][bad] *= 1.02
    candles["high"][bad] = max(candles["high"][bad], candles["close"][bad])
    candles["open"][bad + 1] = candles["close"][bad]
    candles["high"][bad + 1] = max(candles["high"][bad + 1], candles["open"][bad + 1])
    validate_candles(candles, "1s")
    found = find_outliers(candles)
    assert [o.index for o in found if o.reason != "range"] == [bad]
    spike = next(o for o in found if o.reason == "spike")
    assert spike.ts == DAY + bad * 1_000 and spike.value > 10
    assert {o.index for o in found} <= {bad, bad + 1}  # the widened bars may be 'range' too


def test_a_level_jump_is_a_return_outlier_at_its_row():
    candles = synthetic_candles(6, DAY, 20_000)
    jump = 8_000
    for field in ("open", "high", "low", "close"):
        candles[field][jump:] *= 0.97
    candles["open"][jump] = candles["close"][jump - 1]
    candles["high"][jump] = max(candles["high"][jump], candles["open"][jump])
    validate_candles(candles, "1s")
    found = [o for o in find_outliers(candles) if o.reason != "range"]
    assert [(o.index, o.reason) for o in found] == [(jump, "return")]
    assert found[0].value < -10


def test_an_absurd_range_is_reported_at_its_row():
    candles = synthetic_candles(8, DAY, 20_000)
    wide = 4_321
    candles["low"][wide] = candles["low"][wide] * 0.99
    found = find_outliers(candles)
    assert [(o.index, o.reason) for o in found] == [(wide, "range")]
    assert found[0].value > 20


def test_outliers_do_not_change_the_data():
    candles = synthetic_candles(8, DAY, 2_000)
    candles["low"][100] *= 0.9
    before = candles.tobytes()
    report = data_report(candles, "1s")
    assert report.outliers and candles.tobytes() == before
    assert "outlier row 100 2023-11-14 00:01:40: range" in report.summary()
