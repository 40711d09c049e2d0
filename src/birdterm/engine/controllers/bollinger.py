"""Bollinger: a directional controller that enters on the Bollinger %B of closed candles.

%B = (close - lower) / (upper - lower) with the bands mean +/- bb_std standard deviations
(population, ddof=0) of the last `bb_length` closes. It is computed once over the whole candle
feed (causal: row i uses rows i-bb_length+1..i) and read at the last closed candle; a feed of
finer candles than `interval` (1 s backtest data for 1 m bands) is resampled first. %B below
`bb_long_threshold` opens a long; above `bb_short_threshold` a short, which on spot is a SELL of
base inventory held (no inventory, no short). At most one entry per candle, so a backtest's
result does not depend on the update interval.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from birdterm.engine.candle_feed import CandleFeed
from birdterm.engine.controllers.base import (
    Action,
    Controller,
    ControllerConfig,
    ControllerContext,
    CreateExecutor,
)
from birdterm.engine.executors.position import (
    PositionExecutor,
    PositionExecutorConfig,
    TripleBarrier,
)
from birdterm.engine.types import OrderRuleError, OrderType, TradeType
from birdterm.sim.data import canonical_interval, interval_ms, resample

_CHUNK = 16_384  # rows per block: the windows' deviations stay small enough to sit in cache


def percent_b(close: np.ndarray, length: int, num_std: float) -> np.ndarray:
    """Bollinger %B of `close` (NaN for the first length-1 rows and for flat windows)."""
    close = np.ascontiguousarray(close, dtype=np.float64)
    out = np.full(len(close), np.nan)
    if len(close) < length:
        return out
    windows = np.lib.stride_tricks.sliding_window_view(close, length)
    for start in range(0, len(windows), _CHUNK):
        block = windows[start : start + _CHUNK]
        mean = block.mean(axis=1)
        deviations = block - mean[:, None]
        # population standard deviation; einsum sums the squares without another temporary
        std = np.sqrt(np.einsum("ij,ij->i", deviations, deviations) / length)
        rows = slice(start + length - 1, start + length - 1 + len(block))
        width = 2.0 * num_std * std
        lower = mean - num_std * std
        with np.errstate(divide="ignore", invalid="ignore"):
            out[rows] = np.where(width > 0, (close[rows] - lower) / width, np.nan)
    return out


@dataclass(frozen=True, slots=True)
class _SignalView:
    """The signal arrays of one feed state, as Python lists (O(1) reads, bisect)."""

    source: CandleFeed | None
    candles: np.ndarray | None
    feed: CandleFeed
    signals: list[int]
    by_side: dict[int, tuple[list[int], list[float]]]  # 1/-1: signal rows, their close times (s)
    last_close: float


class BollingerConfig(ControllerConfig):
    """Bands, thresholds, candle interval, size and limits, and the exits."""

    type: Literal["bollinger"] = "bollinger"
    interval: str = Field(default="1m", description="candles the bands are computed on")
    bb_length: int = Field(default=100, ge=2, le=10_000)
    bb_std: float = Field(default=2.0, gt=0, le=10)
    bb_long_threshold: float = Field(default=0.0, description="long when %B is below")
    bb_short_threshold: float = Field(default=1.0, description="short when %B is above")
    amount_quote: Decimal = Field(gt=0, description="size of one entry in quote")
    max_executors: int = Field(default=1, ge=1, le=100, description="open at once")
    cooldown_time: float = Field(default=0.0, ge=0, description="seconds after an entry")
    entry_order_type: OrderType = OrderType.MARKET
    triple_barrier: TripleBarrier = TripleBarrier()

    @field_validator("interval")
    @classmethod
    def _interval_shape(cls, value: str) -> str:
        return canonical_interval(value)

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> BollingerConfig:
        if self.bb_long_threshold >= self.bb_short_threshold:
            raise ValueError(
                f"bb_long_threshold {self.bb_long_threshold} must be below bb_short_threshold "
                f"{self.bb_short_threshold}, or one candle could be both a long and a short"
            )
        return self


class Bollinger(Controller):
    """Opens position executors when %B leaves the thresholds."""

    config_class = BollingerConfig
    reads_candles = True
    config: BollingerConfig

    def __init__(self, config: BollingerConfig, context: ControllerContext) -> None:
        super().__init__(config, context)
        self._last_entry_ts: float | None = None
        self._passed_row = -1  # the last signal candle decided on (entered, or not enterable)
        self._interval_ms = interval_ms(config.interval)
        self._signal_view: _SignalView | None = None
        # side (1 long / -1 short) -> executors' version when it last lacked funds: that side
        # is not retried until an executor of the run changes (fills, creations, ends)
        self._starved: dict[int, int] = {}
        self._feed: tuple[CandleFeed, np.ndarray, CandleFeed] | None = None  # source -> ours
        self._key = f"bollinger:{config.bb_length}:{config.bb_std!r}"
        self._signal_key = f"{self._key}:{config.bb_long_threshold!r}:{config.bb_short_threshold!r}"

    # ---- indicators --------------------------------------------------------------------------
    @property
    def feed(self) -> CandleFeed:
        """Candles of `interval`: the pair's feed, or its candles resampled when finer."""
        source = self.context.feed(self.trading_pair)
        cached = self._feed
        if cached is not None and cached[0] is source and cached[1] is source.candles:
            return cached[2]
        expected = self._interval_ms
        if expected % source.interval_ms:
            raise ValueError(
                f"controller {self.id} reads {self.config.interval} candles but the "
                f"{self.trading_pair} feed has {source.interval_ms} ms candles; use an interval "
                "that is a multiple of the feed's"
            )
        feed = source
        if source.interval_ms != expected:  # resampled again when a live feed appends
            unit = f"{source.interval_ms // 1000}s" if source.interval_ms % 1000 == 0 else None
            feed = CandleFeed(resample(source.candles, self.config.interval, unit), expected)
        self._feed = (source, source.candles, feed)
        return feed

    def percent_b(self) -> np.ndarray:
        """%B for every candle of the feed (cached in the feed)."""
        cfg = self.config
        return self.feed.indicator(
            self._key, lambda c: percent_b(c["close"], cfg.bb_length, cfg.bb_std)
        )

    def signals(self) -> np.ndarray:
        """Per candle: 1 long, -1 short, 0 nothing (NaN %B is nothing)."""

        def compute(_candles: np.ndarray) -> np.ndarray:
            pb = self.percent_b()
            out = np.zeros(len(pb), dtype=np.int8)
            with np.errstate(invalid="ignore"):
                out[pb < self.config.bb_long_threshold] = 1
                out[pb > self.config.bb_short_threshold] = -1
            return out

        return self.feed.indicator(self._signal_key, compute)

    def _view(self) -> _SignalView:
        """Signals as plain lists for the per-decision reads (rebuilt when the feed changes)."""
        source = self.context.feeds.get(self.trading_pair)
        view = self._signal_view
        if view is not None and view.source is source and view.candles is source.candles:
            return view
        feed = self.feed
        signals = self.signals()
        by_side: dict[int, tuple[list[int], list[float]]] = {}
        for side in (1, -1):
            rows = np.flatnonzero(signals == side)
            closes = (feed.candles["ts"][rows] + feed.interval_ms) / 1000
            by_side[side] = (rows.tolist(), closes.tolist())
        last = (int(feed.candles["ts"][-1]) + feed.interval_ms) / 1000 if len(feed) else math.inf
        self._signal_view = _SignalView(
            source, source.candles if source is not None else None, feed, signals.tolist(),
            by_side, last,
        )  # fmt: skip
        return self._signal_view

    # ---- decisions ---------------------------------------------------------------------------
    def _cooldown_end(self) -> float | None:
        if self._last_entry_ts is None or not self.config.cooldown_time:
            return None
        return self._last_entry_ts + self.config.cooldown_time

    def _has_room(self, now: float) -> bool:
        active = self.context.orchestrator.active_count(self.id)
        cooldown_end = self._cooldown_end()
        return active < self.config.max_executors and (cooldown_end is None or now >= cooldown_end)

    def decide(self, now: float) -> Sequence[Action]:
        """Enter on the last closed candle's signal when there is room."""
        view = self._view()
        row = view.feed.closed_count(now) - 1
        if row <= self._passed_row or not self._has_room(now):
            return []
        signal = view.signals[row]
        if signal == 0:
            return []
        version = self.context.orchestrator.version
        if self._starved.get(signal) == version:
            return []  # this side lacked funds and no executor has changed since
        side = TradeType.BUY if signal > 0 else TradeType.SELL
        mid = self.mid()
        rule = self.gateway.trading_rule(self.trading_pair)
        amount = rule.quantize_amount(self.config.amount_quote / mid)
        price = rule.quantize_price(mid, side)
        try:
            rule.check(price, amount)
        except OrderRuleError:
            self._passed_row = row  # one look per signal candle: this one is too small to trade
            return []
        if side is TradeType.SELL and self.gateway.available(self.base_asset) < amount:
            self._starved[signal] = version
            return []  # spot: a short sells base we hold, and we hold too little
        if side is TradeType.BUY:
            fee = self.gateway.exit_fee_pct(self.trading_pair, self.config.entry_order_type)
            if self.gateway.available(self.quote_asset) < amount * price * (1 + fee):
                self._starved[signal] = version
                return []  # never spend quote that resting orders have locked
        entry_price = price if self.config.entry_order_type.is_limit else None
        config = PositionExecutorConfig(
            trading_pair=self.trading_pair, side=side, amount=amount, entry_price=entry_price,
            entry_order_type=self.config.entry_order_type, barrier=self.config.triple_barrier,
            level_id="long" if signal > 0 else "short",
        )  # fmt: skip
        self._last_entry_ts = now
        self._passed_row = row  # one entry per signal candle
        return [CreateExecutor(PositionExecutor, config)]

    def next_decision(self, now: float) -> float | None:
        """The earliest time decide() could enter: the close of the next signal candle it has
        not looked at, not before the cooldown ends (the data's end: never); with no room for
        an executor, the data's end (an executor that ends wakes the controller anyway)."""
        view = self._view()
        row = view.feed.closed_count(now) - 1
        first = max(row, self._passed_row + 1)
        if self.context.orchestrator.active_count(self.id) >= self.config.max_executors:
            return view.last_close if now < view.last_close else None
        version = self.context.orchestrator.version
        wake = math.inf
        for side, (rows, closes) in view.by_side.items():
            if self._starved.get(side) == version:
                continue  # waits for an executor change, which wakes the controller
            i = bisect.bisect_left(rows, first)
            if i < len(closes):
                wake = min(wake, closes[i])
        cooldown_end = self._cooldown_end()
        if cooldown_end is not None:
            wake = max(wake, cooldown_end)
        # capped at the data's last close (the run must still tick at its end); None when now
        wake = min(wake, view.last_close)
        return wake if now < wake < math.inf else None
