"""Kline open times for every Binance interval: fixed lengths, Monday weeks, calendar months."""

from __future__ import annotations

from datetime import UTC, datetime

from birdterm.sim.data import DAY_MS

INTERVALS_MS: dict[str, int] = {
    "1s": 1_000,
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": DAY_MS,
    "3d": 3 * DAY_MS,
    "1w": 7 * DAY_MS,
    "1M": 0,  # calendar months
}
WEEK_OFFSET_MS = 4 * DAY_MS  # weekly bars open on Mondays; 1970-01-01 was a Thursday


class KlineGrid:
    """Open times of an interval: fixed lengths (weeks from Monday) or calendar months."""

    def __init__(self, interval: str) -> None:
        if interval not in INTERVALS_MS:
            raise ValueError(f"unknown interval {interval!r}")
        self.size = INTERVALS_MS[interval]
        self.offset = WEEK_OFFSET_MS if interval == "1w" else 0

    def floor(self, ts: int) -> int:
        """Open time of the bar containing ts."""
        if self.size:
            return (ts - self.offset) // self.size * self.size + self.offset
        moment = datetime.fromtimestamp(ts / 1000, tz=UTC)
        return _ms(datetime(moment.year, moment.month, 1, tzinfo=UTC))

    def ceil(self, ts: int) -> int:
        """Open time of the first bar opening at or after ts."""
        start = self.floor(ts)
        return start if start == ts else self.next(start)

    def next(self, open_time: int) -> int:
        """Open time of the bar after the one opening at open_time."""
        if self.size:
            return open_time + self.size
        moment = datetime.fromtimestamp(open_time / 1000, tz=UTC)
        year, month = (
            (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
        )
        return _ms(datetime(year, month, 1, tzinfo=UTC))

    def prev(self, open_time: int) -> int:
        """Open time of the bar before the one opening at open_time."""
        if self.size:
            return open_time - self.size
        return self.floor(open_time - 1)

    def run_forward(self, lo: int, hi: int, limit: int) -> list[int]:
        """Up to `limit` open times from lo to hi inclusive."""
        out: list[int] = []
        t = lo
        while t <= hi and len(out) < limit:
            out.append(t)
            t = self.next(t)
        return out

    def run_backward(self, hi: int, lo: int, limit: int) -> list[int]:
        """The last `limit` open times from lo to hi inclusive, ascending."""
        out: list[int] = []
        t = hi
        while t >= lo and len(out) < limit:
            out.append(t)
            t = self.prev(t)
        out.reverse()
        return out


def _ms(moment: datetime) -> int:
    return int(moment.timestamp()) * 1000


def _ms(moment: datetime) -> int:
    return int(moment.timestamp()) * 1000
