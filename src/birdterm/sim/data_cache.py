"""An on-disk cache of candles and trades: one .npy file per symbol, interval and UTC day.

Layout: `root/<SYMBOL>/<interval>/<YYYY-MM-DD>.npy` for candles (interval canonical, so '60s'
and '1m' share a folder) and `root/<SYMBOL>/trades/<YYYY-MM-DD>.npy` for trades. Each file is a
plain numpy array of CANDLE_DTYPE or TRADE_DTYPE, readable with `np.load` by any tool. Files are
replaced atomically (temp file + fsync + os.replace), so a reader never sees half a day.
"""

from __future__ import annotations

import os
import re
import tempfile
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from birdterm.sim.data import (
    CANDLE_DTYPE,
    DAY_MS,
    TRADE_DTYPE,
    DataError,
    canonical_interval,
    validate_candles,
    validate_trades,
)

_EPOCH = date(1970, 1, 1)
_SYMBOL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_DAY_FILE_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.npy$")
TRADES_FOLDER = "trades"


def _day_of(ts_ms: int) -> date:
    return _EPOCH + timedelta(days=ts_ms // DAY_MS)


def _write_atomic(path: Path, array: np.ndarray) -> None:
    """Write an .npy so that the old file or the new one exists, never a torn one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.save(handle, array, allow_pickle=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class _DayFiles:
    """Day files of one dtype under one folder; merging is up to the caller."""

    def __init__(self, folder: Path, dtype: np.dtype) -> None:
        self.folder = folder
        self.dtype = dtype

    def path(self, day: date) -> Path:
        return self.folder / f"{day.isoformat()}.npy"

    def days(self) -> list[date]:
        if not self.folder.is_dir():
            return []
        found = (_DAY_FILE_RE.match(entry.name) for entry in self.folder.iterdir())
        return sorted(date.fromisoformat(match.group(1)) for match in found if match)

    def load(self, day: date, mmap: bool = True) -> np.ndarray:
        path = self.path(day)
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        if array.dtype != self.dtype or array.ndim != 1:
            raise DataError(f"{path}: holds {array.dtype}, not the expected cache dtype")
        # .npy headers drop the aligned flag; without it numpy packs the records when it
        # concatenates, so view the data as our own dtype (same layout, no copy).
        return array.view(self.dtype)

    def split_by_day(self, array: np.ndarray) -> list[tuple[date, np.ndarray]]:
        day_numbers = array["ts"] // DAY_MS
        starts = np.flatnonzero(np.r_[True, day_numbers[1:] != day_numbers[:-1]])
        ends = np.r_[starts[1:], array.size]
        return [
            (_EPOCH + timedelta(days=int(day_numbers[s])), array[s:e])
            for s, e in zip(starts, ends, strict=True)
        ]

    def read(self, start_ms: int | None, end_ms: int | None) -> np.ndarray:
        """Rows with start_ms <= ts < end_ms from the memory-mapped days, as one new array."""
        first = _day_of(start_ms) if start_ms is not None else date.min
        last = _day_of(end_ms - 1) if end_ms is not None else date.max
        pieces = []
        for day in self.days():
            if not first <= day <= last:
                continue
            mapped = self.load(day)
            ts = mapped["ts"]
            lo = int(np.searchsorted(ts, start_ms, "left")) if start_ms is not None else 0
            hi = int(np.searchsorted(ts, end_ms, "left")) if end_ms is not None else ts.size
            if hi > lo:
                pieces.append(mapped[lo:hi])
        if not pieces:
            return np.zeros(0, dtype=self.dtype)
        return np.concatenate(pieces)


def _keep_last(keys: np.ndarray) -> np.ndarray:
    """Indices of the last occurrence of each key, ordered by key (stable, so later wins)."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    last = np.r_[sorted_keys[1:] != sorted_keys[:-1], True]
    return order[last]


def _checked_symbol(symbol: str) -> str:
    if not _SYMBOL_RE.match(symbol):
        raise DataError(f"bad symbol {symbol!r}: use letters, digits, '.', '_' or '-'")
    return symbol.upper()


class CandleCache:
    """Candles cached as one memory-mappable .npy per symbol, interval and UTC day."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _files(self, symbol: str, interval: str) -> _DayFiles:
        folder = self.root / _checked_symbol(symbol) / canonical_interval(interval)
        return _DayFiles(folder, CANDLE_DTYPE)

    def path(self, symbol: str, interval: str, day: date) -> Path:
        """Where one day of candles lives (whether or not it is cached)."""
        return self._files(symbol, interval).path(day)

    def days(self, symbol: str, interval: str) -> list[date]:
        """The UTC days cached for a symbol and interval, oldest first."""
        return self._files(symbol, interval).days()

    def write(self, symbol: str, interval: str, candles: np.ndarray) -> list[date]:
        """Merge candles into their days (a ts already cached is replaced); returns the days."""
        validate_candles(candles, interval)
        files = self._files(symbol, interval)
        written = []
        for day, rows in files.split_by_day(candles):
            if files.path(day).exists():
                merged = np.concatenate([files.load(day, mmap=False), rows])
                rows = merged[_keep_last(merged["ts"])]
            _write_atomic(files.path(day), np.ascontiguousarray(rows))
            written.append(day)
        return written

    def read(
        self, symbol: str, interval: str, start_ms: int | None = None, end_ms: int | None = None
    ) -> np.ndarray:
        """Cached candles with start_ms <= ts < end_ms (open ends when None), contiguous."""
        return self._files(symbol, interval).read(start_ms, end_ms)


class TradeCache:
    """Trades cached as one memory-mappable .npy per symbol and UTC day, keyed by trade id."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _files(self, symbol: str) -> _DayFiles:
        return _DayFiles(self.root / _checked_symbol(symbol) / TRADES_FOLDER, TRADE_DTYPE)

    def days(self, symbol: str) -> list[date]:
        """The UTC days of trades cached for a symbol, oldest first."""
        return self._files(symbol).days()

    def write(self, symbol: str, trades: np.ndarray) -> list[date]:
        """Merge trades into their days (a trade id already cached is replaced)."""
        validate_trades(trades)
        files = self._files(symbol)
        written = []
        for day, rows in files.split_by_day(trades):
            if files.path(day).exists():
                merged = np.concatenate([files.load(day, mmap=False), rows])
                unique = merged[_keep_last(merged["trade_id"])]
                rows = unique[np.lexsort((unique["trade_id"], unique["ts"]))]
            _write_atomic(files.path(day), np.ascontiguousarray(rows))
            written.append(day)
        return written

    def read(
        self, symbol: str, start_ms: int | None = None, end_ms: int | None = None
    ) -> np.ndarray:
        """Cached trades with start_ms <= ts < end_ms (open ends when None), contiguous."""
        return self._files(symbol).read(start_ms, end_ms)
