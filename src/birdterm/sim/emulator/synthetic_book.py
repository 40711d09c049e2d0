"""A seeded synthetic order book: a regime-switching random-walk mid with a ladder of levels.

Every `step_ms` the replay emits one MarketUpdate: first a few trades at the touch (Poisson
count, taker side by coin flip; each consumes the touch it hits), then the mid moves by a
log-normal step whose sd switches between a calm and a volatile regime (Markov spells), and the
ladder follows it. The ladder is the touch (best bid, best ask = best bid + spread) plus
`levels - 1` levels a side on a fixed grid of `level_gap_ticks`, anchored at absolute prices so
that a small move only adds and removes levels at the edges instead of shifting every price. A
few surviving levels get a fresh quantity each step. Updates carry only the levels that changed.

All state is integers (ticks, lots) drawn from one `random.Random` seeded with the symbol, the
seed and start_ms, so the same arguments give the same updates on every run.
"""

from __future__ import annotations

import math
import random
from decimal import Decimal

from birdterm.sim.emulator.replay import Level, MarketUpdate, ReplayTrade

CALM_VOL_PER_S = 1e-4
VOLATILE_RATIO = 4.0
MEAN_CALM_S = 600.0
MEAN_VOLATILE_S = 120.0
TRADES_PER_S = 5.0
LEVEL_NOTIONAL = Decimal(20_000)  # mean quote value of a level
TRADE_NOTIONAL = Decimal(1_000)  # mean quote value of a trade
LADDER_SPAN = 0.002  # the ladder covers about this fraction of the price on each side
PERTURBED_PER_STEP = 3  # surviving levels a side that get a new quantity each step


class SyntheticBookReplay:
    """A deterministic synthetic book and trade stream for one symbol (a MarketReplay)."""

    def __init__(
        self,
        symbol: str,
        *,
        seed: int,
        start_ms: int,
        start_price: Decimal | float | str,
        tick_size: Decimal | str,
        lot_size: Decimal | str,
        step_ms: int = 100,
        levels: int = 50,
        level_gap_ticks: int | None = None,
        spread_ticks: int = 1,
        calm_vol_per_s: float = CALM_VOL_PER_S,
        volatile_ratio: float = VOLATILE_RATIO,
        mean_calm_s: float = MEAN_CALM_S,
        mean_volatile_s: float = MEAN_VOLATILE_S,
        trades_per_s: float = TRADES_PER_S,
        mean_level_qty: Decimal | None = None,
        mean_trade_qty: Decimal | None = None,
    ) -> None:
        start_price, tick_size, lot_size = (
            Decimal(str(start_price)),
            Decimal(str(tick_size)),
            Decimal(str(lot_size)),
        )
        if tick_size <= 0 or lot_size <= 0 or start_price <= 0:
            raise ValueError("tick_size, lot_size and start_price must be positive")
        if step_ms <= 0 or levels < 1 or spread_ticks < 1:
            raise ValueError("step_ms and spread_ticks must be positive and levels at least 1")
        self.symbol = symbol
        self.step_ms = step_ms
        self.levels = levels
        self._tick = tick_size
        self._lot = lot_size
        self._spread = spread_ticks
        start_ticks = int(start_price / tick_size)
        if level_gap_ticks is None:
            level_gap_ticks = max(1, round(start_ticks * LADDER_SPAN / levels))
        self._gap = level_gap_ticks
        step_s = step_ms / 1000
        self._calm_sd = calm_vol_per_s * math.sqrt(step_s)
        self._volatile_sd = self._calm_sd * volatile_ratio
        self._p_to_volatile = min(1.0, step_s / mean_calm_s)
        self._p_to_calm = min(1.0, step_s / mean_volatile_s)
        self._trades_per_step = trades_per_s * step_s
        level_qty = mean_level_qty if mean_level_qty is not None else LEVEL_NOTIONAL / start_price
        trade_qty = mean_trade_qty if mean_trade_qty is not None else TRADE_NOTIONAL / start_price
        self._mean_level_lots = max(1.0, float(level_qty / lot_size))
        self._mean_trade_lots = max(1.0, float(trade_qty / lot_size))
        self._rng = random.Random(f"{symbol}:{seed}:{start_ms}")
        self._volatile = False
        self._log_mid = math.log(start_ticks)
        self._next_ts = start_ms + step_ms
        self._bids: dict[int, int] = {}
        self._asks: dict[int, int] = {}
        self._set_ladder(*self._touch())

    @property
    def volatile(self) -> bool:
        """True while the walk is in its volatile regime."""
        return self._volatile

    def snapshot(self) -> tuple[list[Level], list[Level]]:
        """The current book, best first on both sides."""
        tick, lot = self._tick, self._lot
        bids = [(tick * p, lot * self._bids[p]) for p in sorted(self._bids, reverse=True)]
        asks = [(tick * p, lot * self._asks[p]) for p in sorted(self._asks)]
        return bids, asks

    def updates_until(self, ts_ms: int) -> list[MarketUpdate]:
        """One update per elapsed step up to ts_ms."""
        out: list[MarketUpdate] = []
        while self._next_ts <= ts_ms:
            out.append(self._step(self._next_ts))
            self._next_ts += self.step_ms
        return out

    def _touch(self) -> tuple[int, int]:
        mid = math.exp(self._log_mid)
        best_bid = max(1, math.floor(mid - self._spread / 2))
        return best_bid, best_bid + self._spread

    def _ladder(self, best_bid: int, best_ask: int) -> tuple[list[int], list[int]]:
        gap, n = self._gap, self.levels - 1
        top_bid = (best_bid - 1) // gap * gap
        bids = [best_bid] + [p for p in range(top_bid, top_bid - n * gap, -gap) if p > 0]
        low_ask = (best_ask // gap + 1) * gap
        asks = [best_ask, *range(low_ask, low_ask + n * gap, gap)]
        return bids, asks

    def _level_lots(self, depth: int) -> int:
        # Deeper levels hold a little more, as in real books.
        mean = self._mean_level_lots * (1.0 + depth / max(1, self.levels))
        return max(1, round(self._rng.expovariate(1.0 / mean)))

    def _set_ladder(self, best_bid: int, best_ask: int) -> None:
        bid_prices, ask_prices = self._ladder(best_bid, best_ask)
        self._bids = {p: self._level_lots(i) for i, p in enumerate(bid_prices)}
        self._asks = {p: self._level_lots(i) for i, p in enumerate(ask_prices)}

    def _step(self, ts: int) -> MarketUpdate:
        rng = self._rng
        if rng.random() < (self._p_to_calm if self._volatile else self._p_to_volatile):
            self._volatile = not self._volatile
        bid_changes: dict[int, int] = {}
        ask_changes: dict[int, int] = {}
        trades = self._trades(bid_changes, ask_changes)
        sd = self._volatile_sd if self._volatile else self._calm_sd
        self._log_mid += sd * rng.gauss(0.0, 1.0)
        bid_prices, ask_prices = self._ladder(*self._touch())
        self._move(self._bids, bid_prices, bid_changes)
        self._move(self._asks, ask_prices, ask_changes)
        tick, lot = self._tick, self._lot
        return MarketUpdate(
            ts,
            tuple((tick * p, lot * q) for p, q in bid_changes.items()),
            tuple((tick * p, lot * q) for p, q in ask_changes.items()),
            trades,
        )

    def _trades(
        self, bid_changes: dict[int, int], ask_changes: dict[int, int]
    ) -> tuple[ReplayTrade, ...]:
        rng = self._rng
        count = _poisson(rng, self._trades_per_step)
        trades: list[ReplayTrade] = []
        for _ in range(count):
            taker_sells = rng.random() < 0.5
            side, changes = (self._bids, bid_changes) if taker_sells else (self._asks, ask_changes)
            if len(side) <= 1:
                continue  # never empty a side
            price = max(side) if taker_sells else min(side)
            lots = min(side[price], max(1, round(rng.expovariate(1.0 / self._mean_trade_lots))))
            left = side[price] - lots
            if left:
                side[price] = left
            else:
                del side[price]
            changes[price] = left
            trades.append(ReplayTrade(self._tick * price, self._lot * lots, taker_sells))
        return tuple(trades)

    def _move(self, side: dict[int, int], prices: list[int], changes: dict[int, int]) -> None:
        wanted = set(prices)
        for p in [p for p in side if p not in wanted]:
            del side[p]
            changes[p] = 0
        kept = [p for p in prices if p in side]
        for depth, p in enumerate(prices):
            if p not in side:
                side[p] = changes[p] = self._level_lots(depth)
        rng = self._rng
        for p in rng.sample(kept, min(PERTURBED_PER_STEP, len(kept))):
            side[p] = changes[p] = self._level_lots(prices.index(p))


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw by Knuth's method (means here are small)."""
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k
