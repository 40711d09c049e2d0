"""L2 order book: snapshot + diff application, best bid/ask, price and volume queries.

Prices and quantities are floats here (display and analytics); Decimal quantization to the
exchange's trading rules happens at the connector boundary. The two sides live in the compiled
`PriceLevels` so that applying a Binance diff stream stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from birdterm.sim.price_levels import PriceLevels, apply_pair_diff

# A level as it arrives from an exchange: [price, qty], each a str (Binance) or a float.
LevelPair = Sequence[str | float]

NO_UPDATE_ID = -1


@dataclass(frozen=True, slots=True)
class VwapResult:
    """The outcome of walking one side of the book to take a given base volume."""

    vwap: float | None
    worst_price: float | None
    filled_volume: float
    complete: bool


@dataclass(frozen=True, slots=True)
class BookLevels:
    """The top levels of both sides as (price, qty) tuples, best first, for display."""

    bids: list[tuple[float, float]]
    asks: list[tuple[float, float]]


def _pairs_to_arrays(pairs: Sequence[LevelPair]) -> tuple[np.ndarray, np.ndarray]:
    """Split [price, qty] pairs (str or float) into two float64 arrays."""
    if len(pairs) == 0:
        empty = np.empty(0, dtype=np.float64)
        return empty, empty
    table = np.asarray(pairs, dtype=np.float64)
    if table.ndim != 2 or table.shape[1] != 2:
        raise ValueError(f"book levels must be [price, qty] pairs, got shape {table.shape}")
    return table[:, 0], table[:, 1]


class OrderBook:
    """An L2 book for one trading pair, kept in sync by a snapshot and a stream of diffs."""

    __slots__ = ("_asks", "_bids", "last_update_id", "trading_pair")

    def __init__(self, trading_pair: str) -> None:
        self.trading_pair = trading_pair
        self._bids = PriceLevels(True)
        self._asks = PriceLevels(False)
        self.last_update_id = NO_UPDATE_ID

    # ---- updates ---------------------------------------------------------------------------

    def apply_snapshot(
        self, bids: Sequence[LevelPair], asks: Sequence[LevelPair], update_id: int
    ) -> None:
        """Replace the whole book with a snapshot taken at `update_id`."""
        bid_prices, bid_qtys = _pairs_to_arrays(bids)
        ask_prices, ask_qtys = _pairs_to_arrays(asks)
        fresh_bids = PriceLevels(True)
        fresh_asks = PriceLevels(False)
        # Load into fresh sides first so a bad snapshot leaves the old book untouched.
        fresh_bids.load(bid_prices, bid_qtys)
        fresh_asks.load(ask_prices, ask_qtys)
        self._bids = fresh_bids
        self._asks = fresh_asks
        self.last_update_id = update_id

    def apply_diff(
        self, bids: Sequence[LevelPair], asks: Sequence[LevelPair], update_id: int
    ) -> bool:
        """Apply a diff event whose final update id is `update_id`; False if it is stale."""
        if update_id <= self.last_update_id:
            return False
        apply_pair_diff(self._bids, self._asks, bids, asks)
        self.last_update_id = update_id
        return True

    def apply_level(self, is_bid: bool, price: float, qty: float) -> None:
        """Set one level; qty 0 removes it."""
        (self._bids if is_bid else self._asks).set(price, qty)

    def apply_arrays(self, is_bid: bool, prices: ArrayLike, qtys: ArrayLike) -> None:
        """Apply many level updates to one side from float64 arrays (qty 0 removes)."""
        side = self._bids if is_bid else self._asks
        side.apply_arrays(np.asarray(prices, dtype=np.float64), np.asarray(qtys, dtype=np.float64))

    def clear(self) -> None:
        """Empty both sides and forget the last update id (the book needs a new snapshot)."""
        self._bids.clear()
        self._asks.clear()
        self.last_update_id = NO_UPDATE_ID

    # ---- top of book -----------------------------------------------------------------------

    @property
    def best_bid(self) -> float | None:
        """The highest bid price, or None when there are no bids."""
        best = self._bids.best()
        return None if best is None else best[0]

    @property
    def best_ask(self) -> float | None:
        """The lowest ask price, or None when there are no asks."""
        best = self._asks.best()
        return None if best is None else best[0]

    @property
    def best_bid_qty(self) -> float | None:
        """The quantity at the best bid, or None when there are no bids."""
        best = self._bids.best()
        return None if best is None else best[1]

    @property
    def best_ask_qty(self) -> float | None:
        """The quantity at the best ask, or None when there are no asks."""
        best = self._asks.best()
        return None if best is None else best[1]

    @property
    def mid_price(self) -> float | None:
        """The mean of best bid and best ask, or None when a side is empty."""
        bid, ask = self.best_bid, self.best_ask
        if bid is None or ask is None:
            return None
        return (bid + ask) / 2.0

    @property
    def spread(self) -> float | None:
        """Best ask minus best bid, or None when a side is empty."""
        bid, ask = self.best_bid, self.best_ask
        if bid is None or ask is None:
            return None
        return ask - bid

    @property
    def spread_bps(self) -> float | None:
        """The spread in basis points of the mid price, or None when a side is empty."""
        bid, ask = self.best_bid, self.best_ask
        if bid is None or ask is None:
            return None
        return (ask - bid) / ((bid + ask) / 2.0) * 10_000.0

    @property
    def is_crossed(self) -> bool:
        """True when the best bid is at or above the best ask (the book is out of sync)."""
        bid, ask = self.best_bid, self.best_ask
        return bid is not None and ask is not None and bid >= ask

    # ---- depth queries ---------------------------------------------------------------------

    def price_for_volume(self, is_buy: bool, volume: float) -> VwapResult:
        """The average and worst price to take `volume` base (a buy walks the asks)."""
        side = self._asks if is_buy else self._bids
        vwap, worst, filled = side.vwap_for_volume(volume)
        return VwapResult(
            vwap=vwap, worst_price=worst, filled_volume=filled, complete=filled >= volume
        )

    def volume_for_price(self, is_buy: bool, price: float) -> float:
        """Base volume available up to `price` (a buy: asks at or below it)."""
        side = self._asks if is_buy else self._bids
        return side.volume_up_to(price)

    def quote_volume_for_price(self, is_buy: bool, price: float) -> float:
        """Quote volume (price * qty) available up to `price` (a buy: asks at or below it)."""
        side = self._asks if is_buy else self._bids
        return side.quote_volume_up_to(price)

    def qty_at(self, is_bid: bool, price: float) -> float:
        """The quantity resting at exactly `price` on one side (0.0 when none)."""
        return (self._bids if is_bid else self._asks).get(price)

    def top(self, n: int) -> BookLevels:
        """The best `n` levels of each side, best first."""
        return BookLevels(bids=self._bids.top(n), asks=self._asks.top(n))

    def levels(self, is_bid: bool) -> tuple[np.ndarray, np.ndarray]:
        """All levels of one side as (prices, qtys) float64 arrays, best first."""
        return (self._bids if is_bid else self._asks).to_arrays()

    @property
    def bid_depth(self) -> int:
        """The number of bid levels."""
        return len(self._bids)

    @property
    def ask_depth(self) -> int:
        """The number of ask levels."""
        return len(self._asks)

    def __repr__(self) -> str:
        return (
            f"OrderBook({self.trading_pair!r}, bid={self.best_bid!r}, ask={self.best_ask!r}, "
            f"levels={self.bid_depth}/{self.ask_depth}, last_update_id={self.last_update_id})"
        )
