"""The schema of a bot config file: the instance, its market and its paper wallet."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from birdterm.engine.types import split_trading_pair

ConnectorName = Literal["binance", "binance_paper"]


class StrictModel(BaseModel):
    """A schema section that rejects unknown keys (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class BotSection(StrictModel):
    """[bot]: who this instance is and how fast its clock ticks."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
    tick_size: float = Field(default=1.0, gt=0, le=60, description="clock tick in seconds")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class MarketSection(StrictModel):
    """[market]: the connector and the pairs it trades."""

    connector: ConnectorName
    trading_pairs: list[str] = Field(min_length=1)

    @field_validator("trading_pairs")
    @classmethod
    def _pairs_valid_and_unique(cls, pairs: list[str]) -> list[str]:
        for pair in pairs:
            split_trading_pair(pair)
        if len(set(pairs)) != len(pairs):
            raise ValueError(f"trading pairs are listed twice: {pairs}")
        return pairs

    @property
    def is_paper(self) -> bool:
        """True when orders are simulated against real market data."""
        return self.connector.endswith("_paper")


class PaperSection(StrictModel):
    """[paper]: the simulated wallet a paper connector starts with."""

    initial_balances: dict[str, Decimal] = Field(min_length=1)

    @field_validator("initial_balances")
    @classmethod
    def _balances_non_negative(cls, balances: dict[str, Decimal]) -> dict[str, Decimal]:
        for asset, amount in balances.items():
            if amount < 0:
                raise ValueError(f"balance of {asset} must be >= 0, got {amount}")
        return balances


class BotConfig(StrictModel):
    """A whole bot config file."""

    bot: BotSection
    market: MarketSection
    paper: PaperSection | None = None

    @model_validator(mode="after")
    def _paper_matches_connector(self) -> BotConfig:
        if self.market.is_paper and self.paper is None:
            raise ValueError(
                f"connector {self.market.connector!r} is a paper connector: add a [paper] "
                "section with initial_balances"
            )
        if not self.market.is_paper and self.paper is not None:
            raise ValueError(
                f"[paper] is only for paper connectors; {self.market.connector!r} trades live"
            )
        if self.paper is not None:
            assets = {a for pair in self.market.trading_pairs for a in split_trading_pair(pair)}
            unknown = sorted(set(self.paper.initial_balances) - assets)
            if unknown:
                raise ValueError(
                    f"paper balances for {', '.join(unknown)} are not assets of the trading "
                    f"pairs (valid: {', '.join(sorted(assets))})"
                )
        return self
