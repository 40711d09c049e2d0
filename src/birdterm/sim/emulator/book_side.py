"""The levels of one side of the book: market quantity plus resting orders, sorted by price."""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterator
from decimal import Decimal

from birdterm.sim.emulator.orders import Order

ZERO = Decimal(0)


class Level:
    """One price of one side: market quantity and resting orders (time order)."""

    __slots__ = ("market", "orders", "ours", "price")

    def __init__(self, price: Decimal) -> None:
        self.price = price
        self.market = ZERO
        self.ours = ZERO  # sum of the resting orders' remaining quantities
        self.orders: list[Order] = []

    @property
    def published(self) -> Decimal:
        """The quantity the public book shows at this price."""
        return self.market + self.ours


class BookSide:
    """The levels of one side, kept sorted by price (ascending; bids are read from the end)."""

    __slots__ = ("is_bid", "levels", "prices")

    def __init__(self, is_bid: bool) -> None:
        self.is_bid = is_bid
        self.levels: dict[Decimal, Level] = {}
        self.prices: list[Decimal] = []

    def best(self) -> Level | None:
        """The best level, or None when the side is empty."""
        if not self.prices:
            return None
        return self.levels[self.prices[-1] if self.is_bid else self.prices[0]]

    def best_first(self) -> Iterator[Level]:
        """Levels from the best price outwards (do not add or remove levels while iterating)."""
        levels, prices = self.levels, self.prices
        if self.is_bid:
            for i in range(len(prices) - 1, -1, -1):
                yield levels[prices[i]]
        else:
            for price in prices:
                yield levels[price]

    def get_or_add(self, price: Decimal) -> Level:
        """The level at `price`, created empty if absent."""
        level = self.levels.get(price)
        if level is None:
            level = self.levels[price] = Level(price)
            insort(self.prices, price)
        return level

    def drop_if_empty(self, level: Level) -> None:
        """Remove the level once it has neither market quantity nor orders."""
        if level.market == 0 and not level.orders:
            del self.levels[level.price]
            del self.prices[bisect_left(self.prices, level.price)]

    def crosses(self, level_price: Decimal, limit: Decimal) -> bool:
        """True if a taker with `limit` can trade at `level_price` on this (maker) side."""
        return level_price >= limit if self.is_bid else level_price <= limit


def crossing_levels(side: BookSide, other_price: Decimal) -> Iterator[Level]:
    """Levels of `side` (best first) whose price crosses a level of the other side."""
    for level in side.best_first():
        if side.is_bid and level.price < other_price:
            return
        if not side.is_bid and level.price > other_price:
            return
        yield level
