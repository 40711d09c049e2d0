"""Data quality: gaps and outliers in candle arrays, reported and never filled or dropped."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from birdterm.sim.data import CANDLE_DTYPE, format_ts, interval_ms, require_dtype


@dataclass(frozen=True, slots=True)
class Gap:
    """Missing candles: open times from start_ts up to (not including) end_ts."""

    start_ts: int
    end_ts: int
    missing: int


@dataclass(frozen=True, slots=True)
class Outlier:
    """A suspicious candle: 'return' (jump), 'spike' (jump and back) or 'range' (wide bar)."""

    index: int
    ts: int
    reason: str
    value: float


def find_gaps(
    candles: np.ndarray, interval: str, start_ms: int | None = None, end_ms: int | None = None
) -> list[Gap]:
    """Runs of missing candles, including before/after the data when [start_ms, end_ms) given."""
    require_dtype(candles, CANDLE_DTYPE, "candles")
    step = interval_ms(interval)
    ts = candles["ts"]
    before = [start_ms - step] if start_ms is not None else []
    after = [end_ms] if end_ms is not None else []
    edges = np.concatenate([np.array(before, np.int64), ts, np.array(after, np.int64)])
    holes = np.flatnonzero(np.diff(edges) > step)
    return [
        Gap(int(edges[i] + step), int(edges[i + 1]), int((edges[i + 1] - edges[i]) // step - 1))
        for i in holes
    ]


def _side_medians(values: np.ndarray, half: int) -> np.ndarray:
    """Per point, the larger of the medians of the `half` + 1 values ending / starting there.

    Taking the larger side keeps a bar right at a calm -> volatile switch from being judged
    against the calm stretch alone.
    """
    views = np.lib.stride_tricks.sliding_window_view
    behind = np.median(views(np.pad(values, (half, 0), mode="edge"), half + 1), axis=1)
    ahead = np.median(views(np.pad(values, (0, half), mode="edge"), half + 1), axis=1)
    return np.maximum(behind, ahead)


def _side_means(values: np.ndarray, half: int) -> np.ndarray:
    """Per point, the larger of the means of the `half` values before / after it (not itself).

    A mean, unlike a median, stays above zero where most bars are flat (sparse or tick-bound
    data), and leaving the point out keeps an absurd bar from raising its own yardstick.
    """
    sums = np.r_[0.0, np.cumsum(values)]
    index = np.arange(values.size)
    first = np.maximum(index - half, 0)
    behind = (sums[index] - sums[first]) / np.maximum(index - first, 1)
    stop = np.minimum(index + 1 + half, values.size)
    ahead = (sums[stop] - sums[index + 1]) / np.maximum(stop - index - 1, 1)
    return np.maximum(behind, ahead)


def _robust_floor(magnitudes: np.ndarray) -> float:
    """Median of the non-zero magnitudes: a scale floor for flat stretches of sparse data."""
    nonzero = magnitudes[magnitudes > 0]
    return float(np.median(nonzero)) if nonzero.size else math.inf


def find_outliers(
    candles: np.ndarray, z: float = 10.0, range_factor: float = 20.0, window: int = 30
) -> list[Outlier]:
    """Bars whose log return has a robust z-score above z, or whose range dwarfs neighbours'.

    The return scale is the largest of the normal-consistent sds implied by the median and by
    the mean |log return| of the `window` bars before or after a bar (means leave the bar out),
    and by the series' median non-zero |return|: calm and volatile stretches are each judged
    against themselves, and flat, tick-bound stretches do not make every tick an outlier.
    A jump and a jump back is one spike.
    A bar's log(high / low) is compared with the mean of its `window` neighbours on either side
    (the larger). A spike's bad price usually widens its bars too, so they may also be 'range'.
    """
    require_dtype(candles, CANDLE_DTYPE, "candles")
    window = max(2, window)
    found: list[Outlier] = []
    ts = candles["ts"]
    if candles.size >= 3:
        returns = np.diff(np.log(candles["close"]))
        magnitude = np.abs(returns)
        scale = np.maximum(
            np.maximum(
                1.4826 * _side_medians(magnitude, window), 1.2533 * _side_means(magnitude, window)
            ),
            1.4826 * _robust_floor(magnitude),
        )
        scores = returns / scale
        flagged = np.abs(scores) > z
        spike = flagged[:-1] & flagged[1:] & (np.sign(returns[:-1]) != np.sign(returns[1:]))
        echo = np.r_[False, spike]  # the way back from a spike is not a second outlier
        for i in np.flatnonzero(flagged & ~echo):
            reason = "spike" if i < spike.size and spike[i] else "return"
            found.append(Outlier(int(i + 1), int(ts[i + 1]), reason, float(scores[i])))
    if candles.size >= 3:
        ranges = np.log(candles["high"] / candles["low"])
        typical = np.maximum(_side_means(ranges, window), _robust_floor(ranges))
        ratio = ranges / typical
        for i in np.flatnonzero(ratio > range_factor):
            found.append(Outlier(int(i), int(ts[i]), "range", float(ratio[i])))
    found.sort(key=lambda outlier: (outlier.index, outlier.reason))
    return found


@dataclass(frozen=True, slots=True)
class DataReport:
    """What a candle series holds: rows, span, gaps and outliers (nothing is changed)."""

    interval: str
    rows: int
    start_ts: int | None
    end_ts: int | None
    gaps: list[Gap] = field(default_factory=list)
    outliers: list[Outlier] = field(default_factory=list)

    @property
    def missing(self) -> int:
        """Total number of missing candles across all gaps."""
        return sum(gap.missing for gap in self.gaps)

    def summary(self, limit: int = 5) -> str:
        """A few lines for a trader: span, gap and outlier counts, the first of each."""
        if self.rows == 0 or self.start_ts is None or self.end_ts is None:
            return f"{self.interval} candles: no rows"
        lines = [
            f"{self.interval} candles: {self.rows:,} rows, {format_ts(self.start_ts)} to "
            f"{format_ts(self.end_ts)} UTC; {len(self.gaps):,} gaps ({self.missing:,} missing), "
            f"{len(self.outliers):,} outliers"
        ]
        for gap in self.gaps[:limit]:
            lines.append(
                f"  gap {format_ts(gap.start_ts)} .. {format_ts(gap.end_ts)}: "
                f"{gap.missing:,} missing"
            )
        if len(self.gaps) > limit:
            lines.append(f"  ... and {len(self.gaps) - limit:,} more gaps")
        for outlier in self.outliers[:limit]:
            lines.append(
                f"  outlier row {outlier.index} {format_ts(outlier.ts)}: "
                f"{outlier.reason} {outlier.value:.1f}"
            )
        if len(self.outliers) > limit:
            lines.append(f"  ... and {len(self.outliers) - limit:,} more outliers")
        return "\n".join(lines)


def data_report(
    candles: np.ndarray,
    interval: str,
    start_ms: int | None = None,
    end_ms: int | None = None,
    z: float = 10.0,
    range_factor: float = 20.0,
) -> DataReport:
    """Gaps and outliers of a candle series; its span runs to the end of the last candle."""
    require_dtype(candles, CANDLE_DTYPE, "candles")
    if candles.size == 0:
        return DataReport(interval, 0, None, None)
    return DataReport(
        interval=interval,
        rows=int(candles.size),
        start_ts=int(candles["ts"][0]),
        end_ts=int(candles["ts"][-1]) + interval_ms(interval),
        gaps=find_gaps(candles, interval, start_ms, end_ms),
        outliers=find_outliers(candles, z=z, range_factor=range_factor),
    )
