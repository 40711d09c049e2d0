"""Type stub for the compiled birdterm.sim.market_sim (see the .pyx for the fill model)."""

import numpy as np

FILL: int
TRIGGER: int
TRAIL_ACTIVATED: int

ABOVE: int
BELOW: int
TRAIL_LONG: int
TRAIL_SHORT: int
AT_TIME: int

Event = tuple[int, int, int, float, float]

class MarketSim:
    """Resting orders and triggers of one pair, walked over candles or trades event by event."""

    def __init__(
        self,
        *,
        participation: float = 1.0,
        touch_fills: bool = False,
        pessimistic: bool = True,
        volume_window_ms: int = 60_000,
    ) -> None: ...
    @property
    def current_price(self) -> float:
        """The price at the cursor (nan before any data was seen or right after seek)."""
    @property
    def current_ts(self) -> int:
        """The ts (ms) of the candle or trade at the cursor (0 before any data was seen)."""
    @property
    def current_row(self) -> int:
        """The next row to process; a row partially walked is still current."""
    @property
    def recent_volume(self) -> float:
        """Candles: the current candle's volume; trades: qty traded in the trailing window."""
    @property
    def budget_left(self) -> float:
        """Candles: participation x the current candle's volume minus what we filled in it."""
    @property
    def n_orders(self) -> int:
        """How many orders are resting."""
    @property
    def n_triggers(self) -> int:
        """How many triggers are armed."""
    def add_limit(
        self,
        order_id: int,
        side: int,
        price: float,
        amount: float,
        queue_ahead: float = 0.0,
        group: int = 0,
    ) -> None:
        """Rest a limit order (side +1 buy / -1 sell); queue_ahead is used in trades mode.

        A non-zero group makes it a take-profit of that trigger group for the pessimistic rule.
        """
    def remove_order(self, order_id: int) -> bool:
        """Cancel a resting order; False if it is unknown or already filled."""
    def order_remaining(self, order_id: int) -> float:
        """The unfilled amount of a resting order (nan if unknown or fully filled)."""
    def add_trigger(
        self,
        trigger_id: int,
        kind: int,
        level: float,
        group: int = 0,
        adverse: bool = False,
        trail_delta: float = 0.0,
    ) -> None:
        """Arm a trigger: ABOVE/BELOW level, TRAIL_LONG/SHORT (activation level, trail_delta),
        AT_TIME (level = ts in ms)."""
    def remove_trigger(self, trigger_id: int) -> bool:
        """Disarm a trigger; False if it is unknown or already fired."""
    def remove_group(self, group: int) -> int:
        """Disarm every trigger of `group`; returns how many were removed."""
    def seek(self, row: int) -> None:
        """Put the cursor at the start of `row` (no events); the price is set on next advance."""
    def advance_candles(self, candles: np.ndarray, end_row: int) -> list[Event]:
        """Walk candles from the cursor up to (not including) end_row; stop at the first event."""
    def advance_trades(self, trades: np.ndarray, end_row: int) -> list[Event]:
        """Walk trades from the cursor up to (not including) end_row; stop at the first event."""
    def first_active_candle(self, candles: np.ndarray, end_row: int) -> int:
        """The first row advance_candles would walk rather than skip, or -1 (a dry run)."""
    def first_active_trade(self, trades: np.ndarray, end_row: int) -> int:
        """The first trade advance_trades would process rather than skip, or -1 (a dry run)."""
    def estimate_queue(self, trades: np.ndarray, price: float, side: int) -> float:
        """Volume likely resting ahead of a new order at `price`: a proxy from the trade stream."""
