"""The [backtest] table of a controller file: data, time range, balances, fees, rules, fills."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from birdterm.engine.controllers.base import ControllerConfig
from birdterm.engine.controllers.registry import load_controller_file
from birdterm.engine.run_settings import RUN_SECTIONS, Balances
from birdterm.sim.fill_model import FillModel


class SyntheticMarket(BaseModel):
    """A seeded synthetic market (random walk with volatility regimes) when no data is given."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 7
    days: float = Field(default=1.0, gt=0, le=366)
    interval: str = "1s"
    start_price: float = Field(default=30_000.0, gt=0)
    start: datetime = datetime(2024, 1, 1, tzinfo=UTC)
    drift: float = 0.0


class MarketRules(BaseModel):
    """The simulated exchange's limits for the pair."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tick_size: Decimal = Field(default=Decimal("0.01"), gt=0)
    step_size: Decimal = Field(default=Decimal("0.00001"), gt=0)
    min_amount: Decimal = Field(default=Decimal(0), ge=0)
    min_notional: Decimal = Field(default=Decimal(5), ge=0)


class BacktestSettings(BaseModel):
    """How a backtest runs; every field has a default so `[backtest]` may be left out."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data: str | None = Field(
        default=None,
        description="candles CSV, trades CSV, a cache dir, or none for the synthetic market",
    )
    data_kind: Literal["candles", "trades"] = "candles"
    interval: str = Field(default="1s", description="interval of the candle data")
    start: datetime | None = None
    end: datetime | None = None
    synthetic: SyntheticMarket = SyntheticMarket()
    initial_balances: Balances = Field(default_factory=lambda: {"USDT": Decimal(1000)})
    maker_fee: Decimal = Field(default=Decimal("0.001"), ge=Decimal("-0.01"), le=Decimal("0.1"))
    taker_fee: Decimal = Field(default=Decimal("0.001"), ge=Decimal("-0.01"), le=Decimal("0.1"))
    fee_token: str | None = Field(
        default=None, description="asset fees are charged in; default the asset received"
    )
    rules: MarketRules = MarketRules()
    fill_model: FillModel = FillModel()
    tick_size: float = Field(default=1.0, gt=0, le=3600, description="clock step, seconds")
    sample_interval: float = Field(default=60.0, ge=1, description="time-series step, seconds")
    at_end: Literal["hold", "close"] = Field(
        default="hold",
        description="active executors at the end: keep their inventory in the position hold, "
        "or close it at market",
    )

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    @model_validator(mode="after")
    def _range(self) -> BacktestSettings:
        if self.start and self.end and self.end <= self.start:
            raise ValueError(f"end {self.end} must be after start {self.start}")
        return self


def load_controller_document(path: Path | str) -> Any:
    """Read a whole controller file: [controller] plus the optional [backtest], [bot], [live],
    [emulator] and [paper] tables (ConfigError lists every problem with its line)."""
    sections = {"backtest": (BacktestSettings, BacktestSettings()), **RUN_SECTIONS}
    return load_controller_file(path, sections)


def load_backtest_file(path: Path | str) -> tuple[ControllerConfig, BacktestSettings]:
    """Read a controller file with its optional [backtest] table (ConfigError on problems)."""
    loaded = load_controller_document(path)
    return loaded.controller, loaded.backtest
