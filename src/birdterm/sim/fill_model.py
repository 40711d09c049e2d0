"""FillModel: the knobs of the backtest fill simulator, validated, with a one-line description."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_SLIPPAGE_BPS = 1000.0  # 10 %: beyond that a "market order" model is not describing a market


class FillModel(BaseModel):
    """How simulated orders fill (see birdterm.sim.market_sim for the exact rules)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    participation: float = Field(
        default=0.25, gt=0, le=1,
        description="share of a candle's volume our resting orders may fill, together",
    )  # fmt: skip
    touch_fills: bool = Field(
        default=False, description="fill limit orders when the price touches them (default: "
        "only when it trades through)",
    )  # fmt: skip
    pessimistic: bool = Field(
        default=True, description="inside one candle, a stop loss beats its take profit",
    )  # fmt: skip
    slippage: Literal["fixed", "impact"] = "fixed"
    slippage_bps: float = Field(default=1.0, ge=0, le=MAX_SLIPPAGE_BPS, description="fixed model")
    half_spread_bps: float = Field(default=0.5, ge=0, le=MAX_SLIPPAGE_BPS)
    impact_bps: float = Field(
        default=10.0, ge=0, le=MAX_SLIPPAGE_BPS,
        description="impact model: extra bps when the order is as large as the recent volume "
        "(or larger: the share is capped at 1)",
    )  # fmt: skip
    volume_window_s: float = Field(
        default=60.0, gt=0, le=86_400,
        description="trades mode: window for the recent volume and the queue estimate",
    )  # fmt: skip

    @model_validator(mode="after")
    def _bounded(self) -> FillModel:
        worst = self.half_spread_bps + self.impact_bps
        if worst > MAX_SLIPPAGE_BPS:
            raise ValueError(
                f"half_spread_bps + impact_bps = {worst:g} bps: the worst slippage may be at most "
                f"{MAX_SLIPPAGE_BPS:g} bps"
            )
        return self

    def slippage_for(self, amount: float, recent_volume: float) -> float:
        """The fraction a market order pays beyond the current price (at most 10 %)."""
        if self.slippage == "fixed":
            return self.slippage_bps / 10_000
        share = min(1.0, amount / recent_volume) if recent_volume > 0 else 1.0
        return (self.half_spread_bps + self.impact_bps * share) / 10_000

    def describe(self, data_kind: str) -> str:
        """One line naming the model, for reports."""
        fills = "touch" if self.touch_fills else "trade-through"
        if data_kind == "trades":
            limit = f"queue-position model ({self.volume_window_s:g}s estimate)"
        else:
            limit = f"{fills} fills, participation {self.participation:g}"
        slip = (
            f"fixed {self.slippage_bps:g} bps"
            if self.slippage == "fixed"
            else f"half-spread {self.half_spread_bps:g} bps + impact {self.impact_bps:g} bps"
        )
        order = "pessimistic" if self.pessimistic else "path order"
        return f"{data_kind}: {limit}; market orders {slip}; intra-candle {order}"
