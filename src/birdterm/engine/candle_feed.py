"""CandleFeed: the closed candles a controller may see at a moment, and cached indicators.

A controller reads candles "as of now": only candles whose close time (open + interval) is
at or before now, so a backtest can never look ahead. Indicators are computed over the whole
array at once and cached; because every indicator is causal (a value at row i uses rows <= i
only), reading row i of a precomputed array equals computing it live at that moment.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable

import numpy as np

from birdterm.sim.data import CANDLE_DTYPE, require_dtype


class CandleFeed:
    """Closed candles of one pair and interval, indexed by time, with cached indicators."""

    def __init__(self, candles: np.ndarray, interval_ms: int) -> None:
        require_dtype(candles, CANDLE_DTYPE, "candles")
        self.candles = candles
        self.interval_ms = interval_ms
        self._close_ms: list[int] = (candles["ts"] + interval_ms).tolist()  # bisect: no numpy call
        self._cache: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.candles)

    def closed_count(self, now_s: float) -> int:
        """How many candles have closed by `now_s` (seconds)."""
        return bisect.bisect_right(self._close_ms, round(now_s * 1000))

    def indicator(self, name: str, compute: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """`compute(candles)` over the whole feed, computed once and cached under `name`."""
        values = self._cache.get(name)
        if values is None:
            values = self._cache[name] = compute(self.candles)
        return values


class LiveCandleFeed(CandleFeed):
    """A feed that grows as candles close (live and paper trading); indicators recompute on
    the first read after each append, over the whole array (they are causal, so the values
    of older rows never change)."""

    def extend(self, candles: np.ndarray) -> int:
        """Append closed candles newer than the last one; returns how many were added."""
        require_dtype(candles, CANDLE_DTYPE, "candles")
        if len(self.candles):
            candles = candles[candles["ts"] > self.candles["ts"][-1]]
        if not len(candles):
            return 0
        self.candles = np.concatenate((self.candles, candles))
        self._close_ms.extend((candles["ts"] + self.interval_ms).tolist())
        self._cache.clear()
        return len(candles)
