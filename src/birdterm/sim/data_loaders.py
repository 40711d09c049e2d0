"""Loaders: candle and trade CSVs, QuantConnect Lean bar zips, hftbacktest Binance recordings.

Every loader returns validated arrays (see `birdterm.sim.data`) or raises DataError naming the
file, the line and, for unreadable values, the column. Nothing is sorted, filled or dropped.
Parquet files would need pyarrow, which birdterm does not depend on, so they are not read.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from datetime import date as calendar_date
from pathlib import Path
from typing import Any

import numpy as np

from birdterm.sim.data import (
    CANDLE_DTYPE,
    DAY_MS,
    TRADE_DTYPE,
    UNKNOWN_TRADES,
    DataError,
    interval_ms,
    validate_candles,
    validate_trades,
)

try:  # orjson parses the recordings about 3x faster; the stdlib is the fallback
    import orjson

    _json_loads: Callable[[str], Any] = orjson.loads
except ImportError:
    _json_loads = json.loads

# Header aliases -> our field names, matched as written, then lower-cased with spaces and dashes
# as underscores ("Quote asset volume"). Single letters are Binance's JSON keys and must match
# exactly: in a trade T is the time and t the id; in a kline t is the open time, T the close.
_CANDLE_COLUMNS = {
    "ts": "ts", "timestamp": "ts", "time": "ts", "open_time": "ts", "opentime": "ts", "t": "ts",
    "open": "open", "o": "open", "high": "high", "h": "high", "low": "low", "l": "low",
    "close": "close", "c": "close", "volume": "volume", "vol": "volume", "v": "volume",
    "base_volume": "volume", "quote_volume": "quote_volume",
    "quote_asset_volume": "quote_volume", "quote_av": "quote_volume", "q": "quote_volume",
    "trades": "trades", "number_of_trades": "trades", "num_trades": "trades",
    "trade_count": "trades", "count": "trades", "n": "trades",
}  # fmt: skip
_TRADE_COLUMNS = {
    "ts": "ts", "timestamp": "ts", "time": "ts", "T": "ts", "trade_time": "ts",
    "transact_time": "ts", "price": "price", "p": "price", "qty": "qty", "quantity": "qty",
    "q": "qty", "amount": "qty", "size": "qty", "is_buyer_maker": "is_buyer_maker",
    "buyer_maker": "is_buyer_maker", "isbuyermaker": "is_buyer_maker", "m": "is_buyer_maker",
    "side": "side", "taker_side": "side", "trade_id": "trade_id", "id": "trade_id",
    "t": "trade_id", "tradeid": "trade_id", "agg_trade_id": "trade_id", "a": "trade_id",
}  # fmt: skip
# data.vision CSVs have no header; these are their column orders.
_BINANCE_KLINE_ORDER = ["ts", "open", "high", "low", "close", "volume", None, "quote_volume",
                        "trades"]  # fmt: skip
_BINANCE_TRADE_ORDER = ["trade_id", "price", "qty", None, "ts", "is_buyer_maker"]
_TRUE = {"true", "1", "t", "yes", "y"}
_FALSE = {"false", "0", "f", "no", "n"}
_LEAN_RESOLUTIONS = {"second": "1s", "minute": "1m", "hour": "1h", "daily": "1d"}


class _Table:
    """A CSV's columns by field name, with the physical line number of every data row."""

    def __init__(
        self, source: str, columns: dict[str, list[str]], lines: list[int], width: int = 0
    ) -> None:
        self.source = source
        self.columns = columns
        self.lines = lines
        self.width = width

    def __len__(self) -> int:
        return len(self.lines)

    def numbers(self, field: str, dtype: type = np.float64) -> np.ndarray:
        """One column as numbers; a bad value raises naming its line and column."""
        values = self.columns[field]
        try:
            return np.asarray(np.asarray(values, dtype=np.float64), dtype=dtype)
        except ValueError:
            for index, text in enumerate(values):
                try:
                    float(text)
                except ValueError:
                    raise self.error(index, f"column {field!r}: {text!r} is not a number") from None
            raise DataError(f"{self.source}: column {field!r} is not all numbers") from None

    def error(self, index: int, message: str) -> DataError:
        """A DataError pointing at data row `index` of this file."""
        return DataError(f"{self.source}, line {self.lines[index]}: {message}", index, message)

    def check(self, validate: Callable[[], None]) -> None:
        """Run a validator, re-raising its error with this file's line number."""
        try:
            validate()
        except DataError as exc:
            if exc.row is None:
                raise DataError(f"{self.source}: {exc}") from None
            raise self.error(exc.row, exc.detail) from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_table(
    text: Iterable[str],
    source: str,
    aliases: dict[str, str],
    headerless: Sequence[str | None],
    required: Sequence[str],
    header: bool | None = None,
) -> _Table:
    """Parse a CSV with a header (names mapped through aliases) or with the given headerless
    column order; header=None means headerless when the first row starts with a number."""
    reader = csv.reader(text)
    positions: list[tuple[int, str]] | None = None
    columns: dict[str, list[str]] = {}
    lines: list[int] = []
    width = 0
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        if positions is None:
            width = len(row)
            if header is None:
                header = not _is_number(row[0])
            names = _field_names(row, aliases, source) if header else list(headerless)[:width]
            missing = [name for name in required if name not in names]
            if missing:
                found = f"header {row}: " if header else f"no header, {width} columns: "
                raise DataError(
                    f"{source}, line {reader.line_num}: {found}missing column(s) "
                    f"{', '.join(missing)}"
                )
            positions = [(i, name) for i, name in enumerate(names) if name is not None]
            columns = {name: [] for _, name in positions}
            if header:
                continue
        if len(row) != width:
            raise DataError(
                f"{source}, line {reader.line_num}: expected {width} columns, found {len(row)}"
            )
        for i, name in positions:
            columns[name].append(row[i].strip())
        lines.append(reader.line_num)
    return _Table(source, columns, lines, width)


def _field_names(header: list[str], aliases: dict[str, str], source: str) -> list[str | None]:
    """Our field name for each header cell (None if unused); one-letter names match exactly."""
    names: list[str | None] = []
    for cell in header:
        name = cell.strip()
        field = aliases.get(name)
        if field is None and len(name) > 1:
            field = aliases.get(re.sub(r"[\s\-]+", "_", name.lower()))
        if field is not None and field in names:
            other = header[names.index(field)].strip()
            raise DataError(f"{source}, line 1: columns {other!r} and {name!r} both mean {field}")
        names.append(field)
    return names


def _to_ms(raw: np.ndarray) -> np.ndarray:
    """Epoch timestamps in s, ms, us or ns (told apart by magnitude) as int64 ms."""
    if raw.size == 0:
        return raw.astype(np.int64)
    size = abs(float(raw[0]))
    factor = 1000.0 if size < 1e11 else 1.0 if size < 1e14 else 1e-3 if size < 1e17 else 1e-6
    return np.rint(raw * factor).astype(np.int64)


def load_candles_csv(path: str | Path, interval: str) -> np.ndarray:
    """Candles from a CSV with a header (ours or Binance kline names) or a headerless kline CSV."""
    interval_ms(interval)  # a bad interval fails before the file is read
    with open(path, newline="", encoding="utf-8") as handle:
        table = _read_table(
            handle,
            str(path),
            _CANDLE_COLUMNS,
            _BINANCE_KLINE_ORDER,
            ["ts", "open", "high", "low", "close", "volume"],
        )
    candles = np.zeros(len(table), dtype=CANDLE_DTYPE)
    candles["ts"] = _to_ms(table.numbers("ts"))
    for name in ("open", "high", "low", "close", "volume"):
        candles[name] = table.numbers(name)
    if "quote_volume" in table.columns:
        candles["quote_volume"] = table.numbers("quote_volume")
    else:
        candles["quote_volume"] = candles["volume"] * _typical_price(candles)
    candles["trades"] = (
        table.numbers("trades", np.int64) if "trades" in table.columns else UNKNOWN_TRADES
    )
    table.check(lambda: validate_candles(candles, interval))
    return candles


def _typical_price(candles: np.ndarray) -> np.ndarray:
    return (candles["high"] + candles["low"] + candles["close"]) / 3


def _flags(table: _Table, field: str, true: set[str], false: set[str]) -> np.ndarray:
    values = [text.lower() for text in table.columns[field]]
    for index, text in enumerate(values):
        if text not in true and text not in false:
            raise table.error(index, f"column {field!r}: {table.columns[field][index]!r} "
                                     f"is not one of {sorted(true | false)}")  # fmt: skip
    return np.fromiter((text in true for text in values), dtype=np.bool_, count=len(values))


def load_trades_csv(path: str | Path) -> np.ndarray:
    """Trades from a CSV with a header, or a headerless Binance trades CSV (data.vision order).

    The aggressor comes from is_buyer_maker (true/false) or a taker side column (sell means the
    buyer was the maker); without a trade id column, ids are the row numbers.
    """
    with open(path, newline="", encoding="utf-8") as handle:
        table = _read_table(
            handle, str(path), _TRADE_COLUMNS, _BINANCE_TRADE_ORDER, ["ts", "price", "qty"]
        )
    if "is_buyer_maker" not in table.columns and "side" not in table.columns:
        raise DataError(f"{path}: needs an is_buyer_maker (or m) column or a side column")
    trades = np.zeros(len(table), dtype=TRADE_DTYPE)
    trades["ts"] = _to_ms(table.numbers("ts"))
    trades["price"] = table.numbers("price")
    trades["qty"] = table.numbers("qty")
    if "is_buyer_maker" in table.columns:
        trades["is_buyer_maker"] = _flags(table, "is_buyer_maker", _TRUE, _FALSE)
    else:
        trades["is_buyer_maker"] = _flags(table, "side", {"sell", "s", "ask"}, {"buy", "b", "bid"})
    trades["trade_id"] = (
        table.numbers("trade_id", np.int64)
        if "trade_id" in table.columns
        else np.arange(len(table), dtype=np.int64)
    )
    table.check(lambda: validate_trades(trades))
    return trades


def lean_interval(zip_path: str | Path) -> str:
    """The bar interval of a Lean zip, from 'second'/'minute'/'hour'/'daily' in its names."""
    with zipfile.ZipFile(zip_path) as archive:
        names = [*archive.namelist(), Path(zip_path).name]
    for name in names:
        for word, interval in _LEAN_RESOLUTIONS.items():
            if word in name.lower():
                return interval
    raise DataError(f"{zip_path}: cannot tell the resolution from its name; pass interval=")


def _parse_day(value: str | calendar_date) -> int:
    """Midnight UTC of a date ('YYYYMMDD', 'YYYY-MM-DD' or a date) in epoch ms."""
    if isinstance(value, str):
        try:
            value = datetime.strptime(value.replace("-", ""), "%Y%m%d").date()
        except ValueError:
            raise DataError(f"bad date {value!r}: use YYYYMMDD or YYYY-MM-DD") from None
    return (value - calendar_date(1970, 1, 1)).days * DAY_MS


def load_lean_bars(
    zip_path: str | Path, date: str | calendar_date | None = None, interval: str | None = None
) -> np.ndarray:
    """Trade bars from a QuantConnect Lean zip (time, open, high, low, close, volume; no header).

    Second/minute files count ms from midnight of the date in the file name (or `date`); hour
    and daily files carry 'YYYYMMDD HH:MM'. Lean has no quote volume or trade count.
    """
    interval = interval or lean_interval(zip_path)
    with zipfile.ZipFile(zip_path) as archive:
        inner = [name for name in archive.namelist() if name.lower().endswith(".csv")]
        if len(inner) != 1:
            raise DataError(f"{zip_path}: expected one CSV inside, found {inner}")
        text = archive.read(inner[0]).decode("utf-8")
    source = f"{zip_path}:{inner[0]}"
    order = ["ts", "open", "high", "low", "close", "volume"]
    table = _read_table(io.StringIO(text), source, {}, order, order, header=False)
    if table.width not in (0, len(order)):
        raise DataError(
            f"{source}: {table.width} columns; only Lean trade bars (time, open, high, low, "
            "close, volume) are supported, not quote bars"
        )
    times = table.columns["ts"]
    if times and " " in times[0]:
        stamps = []
        for index, value in enumerate(times):
            try:
                moment = datetime.strptime(value, "%Y%m%d %H:%M").replace(tzinfo=UTC)
            except ValueError:
                reason = f"column 'time': {value!r} is not YYYYMMDD HH:MM"
                raise table.error(index, reason) from None
            stamps.append(int(moment.timestamp()) * 1000)
        ts = np.asarray(stamps, dtype=np.int64)
    else:
        if date is None:
            found = re.search(r"(?<!\d)(\d{8})(?!\d)", f"{inner[0]} {Path(zip_path).name}")
            if found is None:
                raise DataError(f"{zip_path}: no YYYYMMDD date in the file name; pass date=")
            date = found.group(1)
        ts = _parse_day(date) + table.numbers("ts", np.int64)
    candles = np.zeros(len(table), dtype=CANDLE_DTYPE)
    candles["ts"] = ts
    for name in ("open", "high", "low", "close", "volume"):
        candles[name] = table.numbers(name)
    candles["quote_volume"] = candles["volume"] * _typical_price(candles)
    candles["trades"] = UNKNOWN_TRADES
    table.check(lambda: validate_candles(candles, interval))
    return candles


def load_hftbacktest_trades(gz_path: str | Path) -> np.ndarray:
    """The `@trade` messages of an hftbacktest Binance recording, on exchange trade time T."""
    ts: list[int] = []
    prices: list[str] = []
    qtys: list[str] = []
    makers: list[bool] = []
    ids: list[int] = []
    lines: list[int] = []
    with gzip.open(gz_path, "rt", encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if '@trade"' not in line:
                continue
            try:
                trade = _json_loads(line.split(" ", 1)[1])["data"]
                ts.append(int(trade["T"]))
                ids.append(int(trade["t"]))
                makers.append(bool(trade["m"]))
                prices.append(trade["p"])
                qtys.append(trade["q"])
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                raise DataError(f"{gz_path}, line {line_no}: bad trade message ({exc})") from None
            lines.append(line_no)
    table = _Table(str(gz_path), {"price": prices, "qty": qtys}, lines)
    trades = np.zeros(len(ts), dtype=TRADE_DTYPE)
    trades["ts"] = ts
    trades["price"] = table.numbers("price")
    trades["qty"] = table.numbers("qty")
    trades["is_buyer_maker"] = makers
    trades["trade_id"] = ids
    table.check(lambda: validate_trades(trades))
    return trades
