"""The emulator's market input: a replay of book updates and trades for one symbol."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

Level = tuple[Decimal, Decimal]


@dataclass(frozen=True, slots=True)
class ReplayTrade:
    """One market trade; is_buyer_maker True means the taker sold (hit a bid)."""

    price: Decimal
    qty: Decimal
    is_buyer_maker: bool


@dataclass(frozen=True, slots=True)
class MarketUpdate:
    """Changes to the market book at one moment; trades happened before the level changes."""

    ts_ms: int
    bids: tuple[Level, ...]  # absolute qty per level, qty 0 removes
    asks: tuple[Level, ...]
    trades: tuple[ReplayTrade, ...] = ()


class MarketReplay(Protocol):
    """A source of market updates for one symbol, consumed in time order."""

    symbol: str

    def snapshot(self) -> tuple[list[Level], list[Level]]:
        """The book (bids best first, asks best first) before the first update."""
        ...

    def updates_until(self, ts_ms: int) -> list[MarketUpdate]:
        """The next updates with ts_ms <= ts_ms, in order (each is returned once)."""
        ...
