"""Backtest performance metrics: pure numpy functions over an equity series and executor results.

Conventions used throughout:
- `equity` is the portfolio value in quote (initial value + total P&L), one sample per period.
- Fields and results named `*_pct` are in percent (25.0 means 25 %); other ratios are fractions.
- A figure that is undefined for the data (too few points, zero spread, no losses) is `None`,
  never NaN or inf.
- A year is 365 days (crypto trades every day), so per-minute samples give 525,600 periods.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

YEAR_MS = 365 * 24 * 60 * 60 * 1000
# Spreads smaller than this fraction of the largest value are float noise, not risk.
NOISE = 1e-12

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class MetricsError(ValueError):
    """Inputs a metric cannot be computed from; the message names the argument."""


def _floats(name: str, values: npt.ArrayLike, *, positive: bool = False) -> FloatArray:
    """`values` as a 1-D float64 array, rejecting NaN, inf and (optionally) values <= 0."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MetricsError(f"{name}: expected numbers ({exc})") from None
    if arr.ndim != 1:
        raise MetricsError(f"{name}: expected a 1-D series, got shape {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise MetricsError(f"{name}: value {arr[bad[0]]} at index {bad[0]} is not a finite number")
    if positive:
        low = np.flatnonzero(arr <= 0.0)
        if low.size:
            raise MetricsError(f"{name}: value {arr[low[0]]} at index {low[0]} must be > 0")
    return arr


def _timestamps(name: str, values: npt.ArrayLike) -> IntArray:
    """`values` as a strictly increasing 1-D int64 array of epoch milliseconds."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise MetricsError(f"{name}: expected a 1-D series, got shape {arr.shape}")
    if arr.size and arr.dtype.kind not in "iu":
        raise MetricsError(f"{name}: expected integer epoch milliseconds, got {arr.dtype}")
    arr = arr.astype(np.int64)
    bad = np.flatnonzero(np.diff(arr) <= 0)
    if bad.size:
        i = int(bad[0]) + 1
        raise MetricsError(
            f"{name}: must be strictly increasing, but index {i} ({arr[i]}) follows {arr[i - 1]}"
        )
    return arr


def _positive(name: str, value: float) -> float:
    """`value` as a float, rejecting NaN, inf and values <= 0."""
    number = float(value)
    if not np.isfinite(number) or number <= 0.0:
        raise MetricsError(f"{name}: must be a finite number > 0, got {value!r}")
    return number


def _finite(name: str, value: float) -> float:
    """`value` as a float, rejecting NaN and inf."""
    number = float(value)
    if not np.isfinite(number):
        raise MetricsError(f"{name}: must be a finite number, got {value!r}")
    return number


def _ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator as a plain float, or None if that is not finite."""
    value = float(numerator) / float(denominator)
    return value + 0.0 if np.isfinite(value) else None  # + 0.0 turns -0.0 into 0.0


def _spread_is_noise(spread: float, values: FloatArray) -> bool:
    """True when `spread` is zero up to float noise relative to the largest |value|."""
    return spread <= NOISE * float(np.max(np.abs(values)))


@dataclass(frozen=True, slots=True)
class Drawdown:
    """The deepest fall of equity below its running peak, and where it started and ended."""

    amount: float  # quote lost from peak to trough (>= 0)
    pct: float  # the same fall in percent of the peak (>= 0)
    peak_index: int
    trough_index: int
    recovery_index: int | None  # first index back at the peak; None if never (or no drawdown)


def max_drawdown(equity: npt.ArrayLike) -> Drawdown:
    """The largest (peak - equity) / peak, with peak the running maximum of equity.

    The deepest fall in percent picks the episode (the first one on a tie); `amount` is the quote
    lost in that same episode. peak_index is the last index at the peak before the trough,
    recovery_index the first index after it back at or above the peak (None if never). Falls
    smaller than 1e-12 of the peak are float noise: no drawdown gives Drawdown(0, 0, 0, 0, None).
    """
    eq = _floats("equity", equity, positive=True)
    if eq.size == 0:
        raise MetricsError("equity: needs at least one value")
    peaks = np.maximum.accumulate(eq)
    depth = (peaks - eq) / peaks
    depth[depth <= NOISE] = 0.0
    trough = int(np.argmax(depth))
    if depth[trough] == 0.0:
        return Drawdown(0.0, 0.0, 0, 0, None)
    peak_value = peaks[trough]
    at_peak = np.flatnonzero(eq[: trough + 1] >= peak_value)
    back = np.flatnonzero(eq[trough + 1 :] >= peak_value)
    return Drawdown(
        amount=float(peak_value - eq[trough]),
        pct=float(depth[trough] * 100.0),
        peak_index=int(at_peak[-1]),
        trough_index=trough,
        recovery_index=int(trough + 1 + back[0]) if back.size else None,
    )


def returns_from_equity(equity: npt.ArrayLike) -> FloatArray:
    """Simple per-period returns equity[i] / equity[i-1] - 1 (one fewer value than equity)."""
    eq = _floats("equity", equity, positive=True)
    return eq[1:] / eq[:-1] - 1.0


def sharpe(returns: npt.ArrayLike, periods_per_year: float, risk_free: float = 0.0) -> float | None:
    """Annualised Sharpe: mean(r - rf/ppy) / std(r - rf/ppy, ddof=1) * sqrt(ppy).

    `risk_free` is an annual rate (0.04 = 4 %), applied per period as risk_free / ppy. None when
    there are fewer than 2 returns or the std is 0 (up to 1e-12 of the largest |excess return|).
    """
    r = _floats("returns", returns)
    ppy = _positive("periods_per_year", periods_per_year)
    excess = r - _finite("risk_free", risk_free) / ppy
    if excess.size < 2:
        return None
    std = float(np.std(excess, ddof=1))
    if _spread_is_noise(std, excess):
        return None
    return _ratio(float(np.mean(excess)) * np.sqrt(ppy), std)


def sortino(returns: npt.ArrayLike, periods_per_year: float, target: float = 0.0) -> float | None:
    """Annualised Sortino: mean(r - t/ppy) / sqrt(mean(min(r - t/ppy, 0)^2)) * sqrt(ppy).

    The downside deviation averages over ALL periods (those above target count as 0), not only
    the losing ones. `target` is an annual rate applied per period as target / ppy. None when no
    period is below target (downside deviation 0) or there are no returns.
    """
    r = _floats("returns", returns)
    ppy = _positive("periods_per_year", periods_per_year)
    excess = r - _finite("target", target) / ppy
    if excess.size == 0:
        return None
    downside = float(np.sqrt(np.mean(np.minimum(excess, 0.0) ** 2)))
    if _spread_is_noise(downside, excess):
        return None
    return _ratio(float(np.mean(excess)) * np.sqrt(ppy), downside)


def annualised_return_pct(
    equity: npt.ArrayLike, timestamps_ms: npt.ArrayLike, initial_value: float
) -> float | None:
    """Return in percent per 365-day year: (equity[-1] / initial - 1) * 100 * year / span.

    Simple, not compounded, so a short backtest does not explode; span = t[-1] - t[0]. None when
    the span is 0 (a single sample).
    """
    eq = _floats("equity", equity, positive=True)
    ts = _timestamps("timestamps_ms", timestamps_ms)
    _same_length(eq, ts)
    initial = _positive("initial_value", initial_value)
    if ts.size < 2:
        return None
    return _ratio((eq[-1] / initial - 1.0) * 100.0 * YEAR_MS, float(ts[-1] - ts[0]))


def calmar(
    equity: npt.ArrayLike, timestamps_ms: npt.ArrayLike, initial_value: float
) -> float | None:
    """Calmar: annualised_return_pct / max_drawdown(equity).pct (both in percent).

    None when there is no drawdown or the span is 0.
    """
    yearly = annualised_return_pct(equity, timestamps_ms, initial_value)
    depth = max_drawdown(equity).pct
    if yearly is None or depth == 0.0:
        return None
    return _ratio(yearly, depth)


def profit_factor(pnls: npt.ArrayLike) -> float | None:
    """Sum of winning P&Ls / |sum of losing P&Ls|; None when there are no losing trades."""
    p = _floats("pnls", pnls)
    loss = float(-np.sum(p[p < 0.0]))
    if loss == 0.0:
        return None
    return _ratio(float(np.sum(p[p > 0.0])), loss)


def win_rate(pnls: npt.ArrayLike) -> float | None:
    """Fraction of trades with P&L > 0 (break-even trades count as not won); None with no trades."""
    p = _floats("pnls", pnls)
    return _ratio(np.count_nonzero(p > 0.0), p.size) if p.size else None


def expectancy(pnls: npt.ArrayLike) -> float | None:
    """Mean P&L per trade, in the unit of `pnls`; None with no trades."""
    p = _floats("pnls", pnls)
    return _ratio(float(np.mean(p)), 1.0) if p.size else None


def sqn(pnls: npt.ArrayLike) -> float | None:
    """Van Tharp's SQN: sqrt(min(N, 100)) * mean / std(ddof=1); None if N < 2 or std is 0."""
    p = _floats("pnls", pnls)
    if p.size < 2:
        return None
    std = float(np.std(p, ddof=1))
    if _spread_is_noise(std, p):
        return None
    return _ratio(np.sqrt(min(p.size, 100)) * float(np.mean(p)), std)


def time_in_market(intervals: npt.ArrayLike, start_ms: int, end_ms: int) -> float | None:
    """Fraction of [start_ms, end_ms] covered by the union of the (open_ms, close_ms) intervals.

    Intervals are clipped to the span and overlapping ones merged, so the result is in [0, 1].
    None when the span is 0.
    """
    arr = np.asarray(intervals)
    if arr.size == 0:
        arr = np.empty((0, 2), dtype=np.int64)
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.dtype.kind not in "iu":
        raise MetricsError("intervals: expected (open_ms, close_ms) integer pairs, shape (n, 2)")
    if int(end_ms) < int(start_ms):
        raise MetricsError(f"end_ms: {end_ms} is before start_ms {start_ms}")
    bad = np.flatnonzero(arr[:, 1] < arr[:, 0])
    if bad.size:
        raise MetricsError(f"intervals: interval {bad[0]} closes before it opens")
    span = int(end_ms) - int(start_ms)
    if span == 0:
        return None
    clipped = np.clip(arr.astype(np.int64), int(start_ms), int(end_ms))
    clipped = clipped[np.argsort(clipped[:, 0], kind="stable")]
    if clipped.shape[0] == 0:
        return 0.0
    opens, reach = clipped[:, 0], np.maximum.accumulate(clipped[:, 1])
    # A new merged block starts where an interval opens after everything before it has closed.
    first = np.concatenate(([True], opens[1:] > reach[:-1]))
    last = np.concatenate((first[1:], [True]))
    covered = int(np.sum(reach[last] - opens[first]))
    return covered / span


def turnover(volume_quote: float, initial_value: float) -> float:
    """Traded volume as a multiple of the initial portfolio value (volume_quote / initial_value)."""
    return float(_finite("volume_quote", volume_quote) / _positive("initial_value", initial_value))


def infer_periods_per_year(timestamps_ms: npt.ArrayLike) -> float | None:
    """Year (365 d) / median sampling step: 525,600 for per-minute samples; None if < 2 samples."""
    ts = _timestamps("timestamps_ms", timestamps_ms)
    if ts.size < 2:
        return None
    return YEAR_MS / float(np.median(np.diff(ts)))


def _same_length(equity: FloatArray, timestamps: IntArray) -> None:
    """Reject an equity series and a timestamp series of different lengths."""
    if equity.size != timestamps.size:
        raise MetricsError(
            f"equity: has {equity.size} values but timestamps_ms has {timestamps.size}"
        )
