"""Loaders on generated files: candle/trade CSVs, Lean zips, hftbacktest recordings.

The same formats read from the real files in ../shared/data are in test_data_recorded.py.
"""

import gzip
import json
import re
import zipfile

import pytest

from birdterm.sim.data import UNKNOWN_TRADES, DataError, candles_from_trades
from birdterm.sim.data_loaders import (
    lean_interval,
    load_candles_csv,
    load_hftbacktest_trades,
    load_lean_bars,
    load_trades_csv,
)
from birdterm.sim.data_quality import find_gaps

T0 = 1_699_999_980_000  # 2023-11-14 22:13:00 UTC
KLINE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_asset_volume,number_of_trades,"
    "taker_buy_base_asset_volume,taker_buy_quote_asset_volume,ignore"
)


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def kline_rows(scale):
    return (
        f"{T0 * scale // 1000},100.0,101.5,99.5,101.0,2.0,0,201.0,7,1.0,100.0,0\n"
        f"{(T0 + 60_000) * scale // 1000},101.0,102.0,100.0,100.5,3.0,0,303.0,9,1.5,150.0,0\n"
    )


EXPECTED_KLINES = [
    (T0, 100.0, 101.5, 99.5, 101.0, 2.0, 201.0, 7),
    (T0 + 60_000, 101.0, 102.0, 100.0, 100.5, 3.0, 303.0, 9),
]


@pytest.mark.parametrize("scale", [1, 1_000, 1_000_000], ids=["seconds", "ms", "us"])
def test_binance_kline_csv_with_any_timestamp_unit(tmp_path, scale):
    path = write(tmp_path / "k.csv", KLINE_HEADER + "\n" + kline_rows(scale))
    assert load_candles_csv(path, "1m").tolist() == EXPECTED_KLINES


def test_headerless_binance_kline_csv(tmp_path):
    path = write(tmp_path / "BTCUSDT-1m-2023-11-14.csv", kline_rows(1_000))
    candles = load_candles_csv(path, "1m")
    assert candles.tolist() == EXPECTED_KLINES and candles.flags.c_contiguous


def test_our_own_header_in_any_order_and_without_optional_columns(tmp_path):
    text = "Close,Volume,Timestamp,Open,High,Low\n101.0,2.0,1699999980000,100.0,101.5,99.5\n"
    candles = load_candles_csv(write(tmp_path / "c.csv", text), "1m")
    assert candles["ts"].tolist() == [T0] and candles["close"].tolist() == [101.0]
    assert candles["quote_volume"][0] == pytest.approx(2.0 * (101.5 + 99.5 + 101.0) / 3)
    assert candles["trades"][0] == UNKNOWN_TRADES


def test_csv_errors_name_file_line_and_column(tmp_path):
    header = "ts,open,high,low,close,volume\n"
    bad_number = write(tmp_path / "n.csv", header + f"{T0},1,2,1,2,5\n\n{T0 + 60_000},1,x,1,1,1\n")
    with pytest.raises(DataError) as caught:
        load_candles_csv(bad_number, "1m")
    assert str(caught.value) == f"{bad_number}, line 4: column 'high': 'x' is not a number"

    bad_bar = write(tmp_path / "b.csv", header + f"{T0},1,2,1,2,5\n{T0 + 60_000},1,0.5,0.4,1,1\n")
    with pytest.raises(
        DataError, match=rf"^{re.escape(str(bad_bar))}, line 3: bad candle .*: high 0.5 is below"
    ):
        load_candles_csv(bad_bar, "1m")

    short = write(tmp_path / "s.csv", header + f"{T0},1,2,1,2\n")
    with pytest.raises(
        DataError, match=rf"^{re.escape(str(short))}, line 2: expected 6 columns, found 5"
    ):
        load_candles_csv(short, "1m")

    missing = write(tmp_path / "m.csv", "ts,open,high,close\n")
    with pytest.raises(
        DataError, match=rf"^{re.escape(str(missing))}, line 1: .*missing column\(s\) low, volume"
    ):
        load_candles_csv(missing, "1m")

    misaligned = write(tmp_path / "a.csv", header + f"{T0 + 1_000},1,2,1,2,5\n")
    with pytest.raises(DataError, match=r"line 2: .*not aligned to the 1m interval"):
        load_candles_csv(misaligned, "1m")

    with pytest.raises(DataError, match="bad interval"):
        load_candles_csv(tmp_path / "does-not-matter.csv", "1 minute")


def test_empty_csv_is_an_empty_array(tmp_path):
    empty = write(tmp_path / "e.csv", "ts,open,high,low,close,volume\n")
    assert load_candles_csv(empty, "1m").size == 0


def test_trades_csv_with_header_and_side(tmp_path):
    text = (
        "timestamp,price,quantity,side,id\n"
        f"{T0 // 1000},100.5,0.25,buy,7\n"
        f"{T0 // 1000 + 1},100.0,1.5,sell,8\n"
    )
    trades = load_trades_csv(write(tmp_path / "t.csv", text))
    assert trades.tolist() == [(T0, 100.5, 0.25, False, 7), (T0 + 1_000, 100.0, 1.5, True, 8)]


def test_headerless_binance_trades_csv(tmp_path):
    text = f"101,100.5,0.25,25.125,{T0 + 5},True,True\n102,100.4,1.0,100.4,{T0 + 9},false,True\n"
    trades = load_trades_csv(write(tmp_path / "BTCUSDT-trades.csv", text))
    assert trades.tolist() == [(T0 + 5, 100.5, 0.25, True, 101), (T0 + 9, 100.4, 1.0, False, 102)]


def test_trades_csv_errors(tmp_path):
    flag = write(tmp_path / "f.csv", f"ts,price,qty,m\n{T0},1,1,maybe\n")
    with pytest.raises(
        DataError, match=rf"^{re.escape(str(flag))}, line 2: column 'is_buyer_maker': 'maybe'"
    ):
        load_trades_csv(flag)
    back = write(tmp_path / "b.csv", f"T,p,q,m,t\n{T0},1,1,true,1\n{T0 - 1},1,1,true,2\n")
    with pytest.raises(
        DataError, match=rf"^{re.escape(str(back))}, line 3: bad trade .*before the previous ts"
    ):
        load_trades_csv(back)
    no_side = write(tmp_path / "n.csv", f"ts,price,qty\n{T0},1,1\n")
    with pytest.raises(DataError, match=r"is_buyer_maker .* or a side column"):
        load_trades_csv(no_side)


def lean_zip(path, inner, rows):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(inner, "".join(f"{line}\n" for line in rows))
    return path


MIDNIGHT_2022_12_13 = 1_670_889_600_000


def test_lean_minute_zip_counts_ms_from_midnight_of_the_date_in_the_name(tmp_path):
    path = lean_zip(
        tmp_path / "20221213_trade.zip",
        "20221213_btcbusd_minute_trade.csv",
        ["0,17212.12,17216.55,17208.88,17208.88,110.66042", "120000,17209,17210,17200,17201,2"],
    )
    assert lean_interval(path) == "1m"
    candles = load_lean_bars(path)
    assert candles["ts"].tolist() == [MIDNIGHT_2022_12_13, MIDNIGHT_2022_12_13 + 120_000]
    assert candles["close"].tolist() == [17208.88, 17201.0]
    assert (candles["trades"] == UNKNOWN_TRADES).all()
    assert find_gaps(candles, "1m") == [find_gaps(candles, "1m")[0]]
    assert find_gaps(candles, "1m")[0].missing == 1
    moved = load_lean_bars(path, date="2022-12-14")
    assert moved["ts"][0] == MIDNIGHT_2022_12_13 + 86_400_000


def test_lean_second_zip_is_sparse_and_hour_zip_has_date_times(tmp_path):
    seconds = lean_zip(
        tmp_path / "coinbase_btcusd_second_20161007_trade.zip",
        "20161007_btcusd_second_trade.csv",
        ["4000,611.78,611.87,611.78,611.87,0.60046", "30000,611.9,611.91,611.89,611.9,0.53826"],
    )
    bars = load_lean_bars(seconds)
    day = 1_475_798_400_000  # 2016-10-07
    assert bars["ts"].tolist() == [day + 4_000, day + 30_000]
    missing = [g.missing for g in find_gaps(bars, "1s", day, day + 86_400_000)]
    assert missing == [4, 25, 86_369]  # 2 rows + 86,398 missing = a whole day
    hours = lean_zip(
        tmp_path / "binance_btcusdt_hour_trade.zip",
        "btcusdt.csv",
        ["20180501 00:00,9246.01,9248.99,8934.44,8955.01,5263.799551",
         "20180501 01:00,8955.13,9020.99,8870,8994.99,4347.876744"],
    )  # fmt: skip
    assert lean_interval(hours) == "1h"
    assert load_lean_bars(hours)["ts"].tolist() == [1_525_132_800_000, 1_525_136_400_000]


def test_lean_errors(tmp_path):
    undated = lean_zip(tmp_path / "minute_trade.zip", "btc_minute.csv", ["0,1,1,1,1,1"])
    with pytest.raises(DataError, match="no YYYYMMDD date"):
        load_lean_bars(undated)
    quotes = lean_zip(tmp_path / "20221213_minute_quote.zip", "q.csv", ["0" + ",1" * 10])
    with pytest.raises(DataError, match="11 columns; only Lean trade bars"):
        load_lean_bars(quotes)
    bad_time = lean_zip(tmp_path / "hour_trade.zip", "b.csv", ["20180501 0:00:00,1,1,1,1,1"])
    with pytest.raises(DataError, match=r"b.csv, line 1: column 'time': .* not YYYYMMDD HH:MM"):
        load_lean_bars(bad_time)
    nameless = lean_zip(tmp_path / "x.zip", "x.csv", ["0,1,1,1,1,1"])
    with pytest.raises(DataError, match="pass interval="):
        load_lean_bars(nameless)
    assert load_lean_bars(nameless, date="20200101", interval="1s").size == 1


def recording(path, messages):
    with gzip.open(path, "wt") as out:
        for i, message in enumerate(messages):
            out.write(f"{1_723_161_254_000_000_000 + i} {json.dumps(message)}\n")
    return path


def trade_message(t, price, qty, ts, maker):
    data = {"e": "trade", "E": ts + 1, "s": "BTCUSDT", "t": t, "p": price, "q": qty, "T": ts,
            "m": maker, "M": True}  # fmt: skip
    return {"stream": "btcusdt@trade", "data": data}


def test_hftbacktest_trades_take_only_trade_messages_on_exchange_time(tmp_path):
    ts = 1_723_161_255_342
    path = recording(
        tmp_path / "rec.gz",
        [
            {"lastUpdateId": 1, "bids": [["1.0", "1.0"]], "asks": []},
            {"stream": "btcusdt@depth@100ms", "data": {"e": "depthUpdate", "U": 2, "u": 3}},
            trade_message(10, "61837.63000000", "0.02000000", ts, True),
            {"stream": "btcusdt@bookTicker", "data": {"u": 4, "b": "1", "a": "2"}},
            trade_message(11, "61838.00000000", "0.50000000", ts + 700, False),
            trade_message(12, "61836.00000000", "0.10000000", ts + 900, True),
        ],
    )
    trades = load_hftbacktest_trades(path)
    assert trades.tolist() == [
        (ts, 61837.63, 0.02, True, 10),
        (ts + 700, 61838.0, 0.5, False, 11),
        (ts + 900, 61836.0, 0.1, True, 12),
    ]
    candles = candles_from_trades(trades)
    assert candles["ts"].tolist() == [1_723_161_255_000, 1_723_161_256_000]
    assert candles["trades"].tolist() == [1, 2]
    assert candles["volume"].tolist() == [0.02, 0.6]


def test_hftbacktest_bad_trade_message_names_the_line(tmp_path):
    broken = trade_message(10, "1.0", "1.0", 5, True)
    del broken["data"]["T"]
    path = recording(tmp_path / "bad.gz", [{"lastUpdateId": 1}, broken])
    with pytest.raises(DataError, match=r"bad.gz, line 2: bad trade message"):
        load_hftbacktest_trades(path)


def test_spelled_out_headers_and_ambiguous_columns(tmp_path):
    text = "Open time,Open,High,Low,Close,Volume,Number of trades\n1699999980,1,2,1,2,5,3\n"
    candles = load_candles_csv(write(tmp_path / "h.csv", text), "1m")
    assert candles.tolist() == [(T0, 1.0, 2.0, 1.0, 2.0, 5.0, 5.0 * 5 / 3, 3)]
    twice = write(tmp_path / "d.csv", "time,timestamp,open,high,low,close,volume\n")
    with pytest.raises(DataError, match="columns 'time' and 'timestamp' both mean ts"):
        load_candles_csv(twice, "1m")
