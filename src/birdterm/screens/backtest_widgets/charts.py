"""The backtest screen's charts: price with executor marks, P&L, position hold; one time window.

Every chart draws the same `TimeWindow` of a `BacktestView` (x in chart buckets), so zooming or
panning moves them together. Data is thinned to what the chart's width can show before plotext
sees it: plotext's cost grows with the points it is given, not the cells it draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from textual_plotext import PlotextPlot

from birdterm.backtest_worker import BacktestView, close_label

MAX_CANDLES = 150  # beyond this many visible candles (or one per column) the price is a line
MIN_WINDOW = 8  # buckets: the deepest zoom
MAX_MARKS = 400  # entry (and exit) marks per chart; more are thinned evenly
Rgb = tuple[int, int, int]
_MIN, _HOUR, _DAY = 60_000, 3_600_000, 86_400_000
TICK_STEPS_MS = (
    1_000, 5_000, 15_000, 30_000, _MIN, 5 * _MIN, 15 * _MIN, 30 * _MIN, _HOUR, 2 * _HOUR,
    3 * _HOUR, 6 * _HOUR, 12 * _HOUR, _DAY, 2 * _DAY, 7 * _DAY, 14 * _DAY, 30 * _DAY,
    91 * _DAY, 182 * _DAY, 365 * _DAY,
)  # fmt: skip

CLOSE_COLORS: dict[str, Rgb] = {
    "TAKE_PROFIT": (80, 200, 120),
    "STOP_LOSS": (235, 80, 80),
    "TIME_LIMIT": (230, 190, 70),
    "TRAILING_STOP": (190, 120, 235),
    "EARLY_STOP": (90, 160, 235),
    "POSITION_HOLD": (240, 140, 50),
    "COMPLETED": (110, 215, 215),
    "EXPIRED": (150, 150, 150),
    "FAILED": (255, 40, 120),
    "ACTIVE": (200, 200, 200),
}
SERIES_COLORS: dict[str, Rgb] = {
    "total": (235, 235, 235),
    "executors_realized": (80, 200, 120),
    "position_realized": (90, 160, 235),
    "position_unrealized": (240, 140, 50),
    "volume": (150, 110, 200),
    "hold_base": (240, 140, 50),
    "hold_break_even": (235, 80, 80),
    "price": (140, 140, 140),
}
UP, DOWN = (80, 200, 120), (235, 80, 80)


def close_color(close_type: str) -> Rgb:
    """The colour of a close type (unknown ones grey)."""
    return CLOSE_COLORS.get(close_type, (170, 170, 170))


def hex_color(rgb: Rgb) -> str:
    """(r, g, b) as '#rrggbb' for markup."""
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def swatch(rgb: Rgb, text: str, glyph: str = "━") -> str:
    """A coloured legend entry in markup."""
    return f"[{hex_color(rgb)}]{glyph}[/] {text}"


@dataclass
class TimeWindow:
    """The visible x range [lo, hi) of a chart grid of `n` buckets."""

    n: int
    lo: int = 0
    hi: int = 0

    def __post_init__(self) -> None:
        if self.hi <= self.lo:
            self.hi = self.n

    @property
    def width(self) -> int:
        """Buckets visible."""
        return self.hi - self.lo

    def zoom(self, factor: float) -> None:
        """Narrow (factor < 1) or widen the window around its centre."""
        width = min(self.n, max(min(MIN_WINDOW, self.n), round(self.width * factor)))
        centre = (self.lo + self.hi) / 2
        self.lo = round(centre - width / 2)
        self._place(width)

    def pan(self, fraction: float) -> None:
        """Move by a fraction of the window (negative: back in time)."""
        step = round(self.width * fraction) or (1 if fraction > 0 else -1)
        width = self.width
        self.lo += step
        self._place(width)

    def reset(self) -> None:
        """Everything visible."""
        self.lo, self.hi = 0, self.n

    def _place(self, width: int) -> None:
        self.lo = min(max(0, self.lo), self.n - width)
        self.hi = self.lo + width


def _thin(start: int, stop: int, limit: int) -> np.ndarray:
    """At most `limit` evenly spaced indices in [start, stop)."""
    if stop - start <= limit:
        return np.arange(start, stop)
    return np.unique(np.linspace(start, stop - 1, limit).round().astype(np.int64))


def time_format(span_ms: float) -> str:
    """strftime for tick labels of a window this long."""
    if span_ms <= 2 * 86_400_000:
        return "%H:%M"
    if span_ms <= 60 * 86_400_000:
        return "%m-%d %H:%M"
    return "%Y-%m-%d"


class BacktestChart(PlotextPlot):
    """A plot of one `BacktestView` over a shared `TimeWindow`; subclasses draw the data."""

    DEFAULT_CSS = """
    BacktestChart {
        height: 1fr;
        border: round $panel-lighten-2;
        border-title-align: left;
        border-subtitle-align: left;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view: BacktestView | None = None
        self.window: TimeWindow | None = None

    def show(self, view: BacktestView, window: TimeWindow) -> None:
        """Draw this view through this window (kept: later `replot` calls reuse them)."""
        self.view, self.window = view, window
        self.replot()

    def on_resize(self) -> None:
        """What fits depends on the width: re-thin."""
        self.replot()

    def replot(self) -> None:
        """Rebuild the plot for the current window and size."""
        plt = self.plt
        plt.clear_figure()
        if self.view is None or self.window is None:
            return
        self.draw(plt, self.view, self.window)
        self._time_axis(plt, self.view, self.window)
        self.refresh()

    @property
    def columns(self) -> int:
        """Cells across the plotting area (an estimate: the axis labels take some)."""
        return max(10, self.size.width - 10)

    def draw(self, plt, view: BacktestView, window: TimeWindow) -> None:  # noqa: ANN001
        """Plot the data (subclasses)."""
        raise NotImplementedError

    def series_slice(self, view: BacktestView, window: TimeWindow) -> np.ndarray:
        """Indices of the P&L samples in the window (one either side), thinned to the width."""
        x = view.series_x
        start = max(0, int(np.searchsorted(x, window.lo)) - 1)
        stop = min(len(x), int(np.searchsorted(x, window.hi)) + 1)
        return _thin(start, stop, 2 * self.columns)

    def line(self, plt, x: np.ndarray, y: np.ndarray, rgb: Rgb, yside: str = "left") -> None:  # noqa: ANN001
        """A line, split where y has no value (NaN)."""
        finite = np.isfinite(y)
        if not finite.any():
            return
        breaks = np.flatnonzero(np.diff(finite.astype(np.int8))) + 1
        for xs, ys, ok in zip(np.split(x, breaks), np.split(y, breaks),
                              np.split(finite, breaks), strict=True):  # fmt: skip
            if ok[0]:
                plt.plot(xs.tolist(), ys.tolist(), color=rgb, marker="braille", yside=yside)

    def _time_axis(self, plt, view: BacktestView, window: TimeWindow) -> None:  # noqa: ANN001
        plt.xlim(window.lo - 0.5, window.hi - 0.5)
        span_ms = window.width * view.bucket_ms
        form = time_format(span_ms)
        most = max(2, self.columns // (len(form) + 6))
        step = next((s for s in TICK_STEPS_MS if span_ms / s <= most), TICK_STEPS_MS[-1])
        first_ms = view.ts_of(window.lo)
        tick_ms = np.arange(-(-first_ms // step) * step, view.ts_of(window.hi), step)
        ticks = [view.x_of(t) for t in tick_ms.tolist()]
        labels = [datetime.fromtimestamp(t / 1000, UTC).strftime(form) for t in tick_ms.tolist()]
        plt.xticks(ticks, labels)


class PriceChart(BacktestChart):
    """Candles (or the close when too many for the width), entries ▲▼ and exits ● by close type."""

    def candles_fit(self, window: TimeWindow) -> bool:
        """Few enough buckets in the window to draw each as a candle."""
        return window.width <= min(MAX_CANDLES, self.columns)

    def draw(self, plt, view: BacktestView, window: TimeWindow) -> None:  # noqa: ANN001
        """Price, then the marks on top."""
        start = int(np.searchsorted(view.candle_x, window.lo))
        stop = int(np.searchsorted(view.candle_x, window.hi))
        mode = "candles" if self.candles_fit(window) else "close"
        if stop > start and mode == "candles":
            ohlc = view.ohlc[start:stop]
            columns = dict(zip(("Open", "High", "Low", "Close"), ohlc.T.tolist(), strict=True))
            plt.candlestick(view.candle_x[start:stop].tolist(), columns, colors=[UP, DOWN])
        elif stop > start:
            pick = _thin(start, stop, 2 * self.columns)
            plt.plot(view.candle_x[pick].tolist(), view.ohlc[pick, 3].tolist(),
                     color=SERIES_COLORS["price"], marker="braille")  # fmt: skip
        self._marks(plt, view, window)
        seconds = view.bucket_ms // 1000
        unit = f"{seconds} s" if seconds < 60 else f"{seconds // 60} min"
        self.border_title = f"{view.trading_pair} · {mode} ({unit} buckets)"
        self.border_subtitle = self.legend(view)

    def _marks(self, plt, view: BacktestView, window: TimeWindow) -> None:  # noqa: ANN001
        entries = np.flatnonzero((view.entry_x >= window.lo) & (view.entry_x < window.hi))
        exits = np.flatnonzero((view.exit_x >= window.lo) & (view.exit_x < window.hi))
        entries = entries[_thin(0, len(entries), MAX_MARKS)]
        exits = exits[_thin(0, len(exits), MAX_MARKS)]
        for code, kind in enumerate(view.close_types):
            rgb = close_color(kind)
            for buy, glyph in ((True, "▲"), (False, "▼")):
                pick = entries[(view.entry_type[entries] == code)
                               & (view.entry_buy[entries] == buy)]  # fmt: skip
                if len(pick):
                    plt.scatter(view.entry_x[pick].tolist(), view.entry_price[pick].tolist(),
                                marker=glyph, color=rgb)  # fmt: skip
            pick = exits[view.exit_type[exits] == code]
            if len(pick):
                plt.scatter(view.exit_x[pick].tolist(), view.exit_price[pick].tolist(),
                            marker="●", color=rgb)  # fmt: skip

    def legend(self, view: BacktestView) -> str:
        """The marks' legend (markup): glyphs, then each close type seen in its colour."""
        kinds = "  ".join(swatch(close_color(k), close_label(k), "■") for k in view.close_types)
        return f"▲▼ entry  ● exit  {kinds}" if kinds else "no filled executors"


class PnlChart(BacktestChart):
    """Total P&L and its parts (left axis), cumulative volume (right axis)."""

    PARTS = (
        ("total", "total"),
        ("executors_realized", "executors realized"),
        ("position_realized", "position realized"),
        ("position_unrealized", "position unrealized"),
    )

    def draw(self, plt, view: BacktestView, window: TimeWindow) -> None:  # noqa: ANN001
        """Volume first (behind), then the parts, the total last (on top)."""
        pick = self.series_slice(view, window)
        x = view.series_x[pick]
        self.line(plt, x, view.series["volume"][pick], SERIES_COLORS["volume"], "right")
        for key, _ in reversed(self.PARTS):
            self.line(plt, x, view.series[key][pick], SERIES_COLORS[key])
        parts = "  ".join(swatch(SERIES_COLORS[k], label) for k, label in self.PARTS)
        self.border_title = f"P&L {view.quote_asset}  {parts}"
        self.border_subtitle = swatch(SERIES_COLORS["volume"], "volume (right axis)")


class HoldChart(BacktestChart):
    """The position hold: base held (left axis), its break-even beside the price (right axis)."""

    def draw(self, plt, view: BacktestView, window: TimeWindow) -> None:  # noqa: ANN001
        """Price and break-even behind, the amount held in front."""
        pick = self.series_slice(view, window)
        x = view.series_x[pick]
        self.line(plt, x, view.series["price"][pick], SERIES_COLORS["price"], "right")
        self.line(plt, x, view.series["hold_break_even"][pick],
                  SERIES_COLORS["hold_break_even"], "right")  # fmt: skip
        self.line(plt, x, view.series["hold_base"][pick], SERIES_COLORS["hold_base"])
        base = view.trading_pair.split("-")[0]
        self.border_title = "Position hold  " + "  ".join(
            (
                swatch(SERIES_COLORS["hold_base"], f"{base} held"),
                swatch(SERIES_COLORS["hold_break_even"], "break-even"),
                swatch(SERIES_COLORS["price"], "price"),
            )
        )
        self.border_subtitle = "price and break-even: right axis"
