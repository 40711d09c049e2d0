"""DcaController: starts a DCA executor when the RSI of the closed candles signals.

The RSI (Wilder's smoothing) is computed once over the whole candle feed and cached; it is
causal, so the value of the last closed candle is what a live run would compute at that moment.
Below `rsi_buy` the controller starts a buy DCA with its levels below the mid; above `rsi_sell`
(with `allow_sell`) a sell DCA above it. It starts at most one executor per signal candle, keeps
at most `max_executors` active, and waits `cooldown` seconds after one of its executors closes.
Because the signal is precomputed, `next_decision` can tell a backtest the next moment anything
could happen, so idle stretches are skipped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from birdterm.engine.candle_feed import CandleFeed
from birdterm.engine.controllers.base import (
    Action,
    Controller,
    ControllerConfig,
    ControllerContext,
    CreateExecutor,
)
from birdterm.engine.executors.dca import DCAExecutor, DCAExecutorConfig
from birdterm.engine.types import OrderType, TradeType

ONE = Decimal(1)


def rsi(close: np.ndarray, length: int) -> np.ndarray:
    """Wilder's RSI of `close`; NaN for the first `length` rows (value at row i uses rows <= i)."""
    close = np.asarray(close, dtype=np.float64)
    out = np.full(len(close), np.nan)
    if len(close) <= length:
        return out
    delta = np.diff(close)
    gains = np.clip(delta, 0.0, None)
    losses = np.clip(-delta, 0.0, None)
    avg_gain = np.empty(len(delta))
    avg_loss = np.empty(len(delta))
    avg_gain[length - 1] = gains[:length].mean()
    avg_loss[length - 1] = losses[:length].mean()
    # Wilder's smoothing is a recursion (an EMA with alpha 1/length); a float loop is exact and
    # fast enough (once per feed), where a closed-form power series would lose precision.
    g, lo = float(avg_gain[length - 1]), float(avg_loss[length - 1])
    pairs = zip(gains[length:].tolist(), losses[length:].tolist(), strict=True)
    for i, (gain, loss) in enumerate(pairs, start=length):
        g = (g * (length - 1) + gain) / length
        lo = (lo * (length - 1) + loss) / length
        avg_gain[i], avg_loss[i] = g, lo
    gain_tail, loss_tail = avg_gain[length - 1 :], avg_loss[length - 1 :]
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 100.0 - 100.0 / (1.0 + gain_tail / loss_tail)
    value = np.where(loss_tail == 0, np.where(gain_tail == 0, 50.0, 100.0), value)
    out[length:] = value
    return out


class DcaControllerConfig(ControllerConfig):
    """RSI signal, executor limits, and the DCA each signal starts."""

    type: Literal["dca"] = "dca"
    rsi_length: int = Field(default=14, ge=2, le=1_000, description="candles")
    rsi_buy: float = Field(default=30.0, gt=0, lt=100, description="buy when the RSI is below")
    rsi_sell: float = Field(default=70.0, gt=0, lt=100, description="sell when the RSI is above")
    allow_sell: bool = False
    max_executors: int = Field(default=1, ge=1, le=100)
    cooldown: float = Field(default=0.0, ge=0, description="seconds after an executor closes")
    start_offset: Decimal = Field(
        default=Decimal("0.001"), ge=0, lt=1, description="first level's distance from the mid"
    )
    n_levels: int = Field(default=3, ge=1, le=100)
    step: Decimal = Field(default=Decimal("0.01"), gt=0, lt=1)
    spacing: Literal["arithmetic", "geometric"] = "arithmetic"
    amount_quote: Decimal = Field(gt=0, description="quote spent over all levels")
    amount_distribution: Literal["equal", "geometric"] = "equal"
    amount_ratio: Decimal = Field(default=Decimal("1.5"), gt=0, le=10)
    entry_order_type: OrderType = OrderType.LIMIT
    take_profit: Decimal | None = Field(default=Decimal("0.01"), gt=0, lt=10)
    stop_loss: Decimal | None = Field(default=Decimal("0.03"), gt=0, lt=1)
    time_limit: float | None = Field(default=None, gt=0, description="seconds")

    @model_validator(mode="after")
    def _consistent(self) -> DcaControllerConfig:
        if self.rsi_buy >= self.rsi_sell:
            raise ValueError(f"rsi_buy {self.rsi_buy} must be below rsi_sell {self.rsi_sell}")
        if not self.entry_order_type.is_limit:
            raise ValueError("entry_order_type must be LIMIT or LIMIT_MAKER (DCA entries rest)")
        lowest = ONE - self.start_offset
        if self.spacing == "arithmetic":
            lowest *= ONE - (self.n_levels - 1) * self.step
        if lowest <= 0:
            raise ValueError(
                f"{self.n_levels} levels {self.step} apart below start_offset "
                f"{self.start_offset} reach a price <= 0; use fewer levels or a smaller step"
            )
        return self


class DcaController(Controller):
    """Starts DCA executors on RSI extremes."""

    config_class = DcaControllerConfig
    reads_candles = True
    config: DcaControllerConfig

    def __init__(self, config: DcaControllerConfig, context: ControllerContext) -> None:
        super().__init__(config, context)
        self.config = config
        self._acted_row = -1  # the signal candle the last executor was started on
        self._closed_seen = 0
        self._last_close: float | None = None

    # ---- signal ------------------------------------------------------------------------------
    def signal(self, feed: CandleFeed) -> np.ndarray:
        """Per candle: +1 buy, -1 sell, 0 nothing (cached on the feed)."""
        cfg = self.config
        values = feed.indicator(f"rsi_{cfg.rsi_length}",
                                lambda c: rsi(c["close"], cfg.rsi_length))  # fmt: skip

        def compute(_candles: np.ndarray) -> np.ndarray:
            out = np.where(values < cfg.rsi_buy, 1, 0).astype(np.int8)
            if cfg.allow_sell:
                out[values > cfg.rsi_sell] = -1
            return out

        return feed.indicator(self._signal_key(), compute)

    def _signal_key(self) -> str:
        cfg = self.config
        return f"dca_signal_{cfg.rsi_length}_{cfg.rsi_buy}_{cfg.rsi_sell}_{cfg.allow_sell}"

    def _signal_rows(self, feed: CandleFeed) -> np.ndarray:
        signal = self.signal(feed)
        return feed.indicator(self._signal_key() + "_rows", lambda _c: np.flatnonzero(signal))

    def _cooldown_end(self) -> float:
        """When the cooldown after this controller's last closed executor ends."""
        closed = self.context.orchestrator.closed
        for executor in closed[self._closed_seen :]:
            if executor.controller_id == self.id and executor.close_ts is not None:
                last = self._last_close
                self._last_close = (
                    executor.close_ts if last is None else max(last, executor.close_ts)
                )
        self._closed_seen = len(closed)
        return -math.inf if self._last_close is None else self._last_close + self.config.cooldown

    # ---- decisions ---------------------------------------------------------------------------
    def decide(self, now: float) -> Sequence[Action]:
        """Start a DCA when the last closed candle signals and the limits allow it."""
        cfg = self.config
        if sum(1 for _ in self.executors) >= cfg.max_executors or now < self._cooldown_end():
            return []
        feed = self.context.feed(self.trading_pair)
        row = feed.closed_count(now) - 1
        if row < 0 or row == self._acted_row:
            return []
        direction = int(self.signal(feed)[row])
        if direction == 0:
            return []
        self._acted_row = row
        side = TradeType.BUY if direction > 0 else TradeType.SELL
        return [CreateExecutor(DCAExecutor, self.executor_config(side))]

    def executor_config(self, side: TradeType) -> DCAExecutorConfig:
        """The DCA a signal starts now, its first level `start_offset` away from the mid."""
        cfg = self.config
        sign = -1 if side is TradeType.BUY else 1
        return DCAExecutorConfig(
            trading_pair=self.trading_pair, side=side,
            start_price=self.mid() * (ONE + sign * cfg.start_offset),
            n_levels=cfg.n_levels, step=cfg.step, spacing=cfg.spacing,
            amount_quote=cfg.amount_quote, amount_distribution=cfg.amount_distribution,
            amount_ratio=cfg.amount_ratio, entry_order_type=cfg.entry_order_type,
            take_profit=cfg.take_profit, stop_loss=cfg.stop_loss, time_limit=cfg.time_limit,
        )  # fmt: skip

    def next_decision(self, now: float) -> float | None:
        """The close time of the next candle whose signal `decide` would act on (or the end of
        the cooldown within a signalling candle); None while executors are active."""
        if any(True for _ in self.executors):
            return None
        feed = self.context.feeds.get(self.trading_pair)
        if feed is None or len(feed) == 0:
            return None
        ready = self._cooldown_end()
        close_s = (feed.candles["ts"] + feed.interval_ms) / 1000.0
        rows = self._signal_rows(feed)
        # a candle's signal stands from its close until the next candle closes, so the first
        # candle that can act is the current one or the one whose span holds the cooldown's end
        current = feed.closed_count(now) - 1
        cooling = int(np.searchsorted(close_s, ready, side="right")) - 1
        first = int(np.searchsorted(rows, max(current, cooling, 0), side="left"))
        for row in rows[first : first + 2].tolist():
            if row != self._acted_row:
                return max(float(close_s[row]), ready, now)
        end = float(close_s[-1])
        return end if end > now else None
