"""PositionHold: the inventory executors leave behind on one pair, with average-cost P&L.

Accounting (average cost, fees included in cost and proceeds):
- `base_amount` is signed (negative is a short against the starting inventory);
- `cost_quote` is what the open position cost (for a short: what its sale brought in, negative);
- a fill that adds to the position adds its cost; a fill that reduces it realizes
  proceeds - (the reduced share of cost_quote); a fill bigger than the position closes it and
  opens the rest in the other direction;
- unrealized P&L at a price = base_amount * price - cost_quote.
So realized + unrealized always equals the hold's whole cash flow valued at that price.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from birdterm.engine.store_records import PositionHoldRecord
from birdterm.engine.types import TradeType, split_trading_pair

ZERO = Decimal(0)


class PositionHoldError(ValueError):
    """A fill that cannot be booked into a position hold."""


@dataclass(slots=True)
class PositionHold:
    """Inventory held on one pair by one controller, with break-even and realized/unrealized P&L."""

    connector: str
    trading_pair: str
    controller_id: str
    base_amount: Decimal = ZERO
    cost_quote: Decimal = ZERO
    realized_pnl_quote: Decimal = ZERO
    fees_quote: Decimal = ZERO
    updated_ts: float = 0.0
    _assets: tuple[str, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._assets = split_trading_pair(self.trading_pair)

    @property
    def is_flat(self) -> bool:
        """True when nothing is held."""
        return self.base_amount == 0

    @property
    def average_entry_price(self) -> Decimal | None:
        """Cost per unit held, fees included; None when flat."""
        return None if self.is_flat else self.cost_quote / self.base_amount

    def break_even_price(self, exit_fee_pct: Decimal = ZERO) -> Decimal | None:
        """The price at which closing the whole position (paying `exit_fee_pct` on the exit)
        brings the hold's total P&L, realized included, to zero; None when flat."""
        if self.is_flat:
            return None
        # long: realized + b*p*(1-f) - cost = 0; short: realized + b*p*(1+f) - cost = 0
        direction = 1 if self.base_amount > 0 else -1
        return (self.cost_quote - self.realized_pnl_quote) / (
            self.base_amount * (1 - exit_fee_pct * direction)
        )

    def unrealized_pnl_quote(self, price: Decimal) -> Decimal:
        """P&L of the open position if it were valued at `price` (usually the mid)."""
        return self.base_amount * price - self.cost_quote

    def total_pnl_quote(self, price: Decimal) -> Decimal:
        """Realized plus unrealized P&L at `price`."""
        return self.realized_pnl_quote + self.unrealized_pnl_quote(price)

    def allows_sell(self, price: Decimal, exit_fee_pct: Decimal = ZERO) -> bool:
        """Profit protection: a long hold may sell only at or above its break-even price."""
        break_even = self.break_even_price(exit_fee_pct)
        return self.base_amount <= 0 or break_even is None or price >= break_even

    def allows_buy(self, price: Decimal, exit_fee_pct: Decimal = ZERO) -> bool:
        """Profit protection for a short hold: buy back only at or below break-even."""
        break_even = self.break_even_price(exit_fee_pct)
        return self.base_amount >= 0 or break_even is None or price <= break_even

    def add_fill(
        self,
        trade_type: TradeType,
        amount: Decimal,
        price: Decimal,
        fees: dict[str, Decimal] | None = None,
        timestamp: float = 0.0,
    ) -> Decimal:
        """Book one fill (`fees` per asset, base or quote only); returns the P&L it realized."""
        if amount <= 0 or price <= 0:
            raise PositionHoldError(
                f"{self.trading_pair}: fill amount {amount} and price {price} must both be > 0"
            )
        base, quote = self._assets
        fees = fees or {}
        unknown = sorted(set(fees) - {base, quote})
        if unknown:
            raise PositionHoldError(
                f"{self.trading_pair}: fees in {', '.join(unknown)} cannot be booked; "
                f"only {base} or {quote}"
            )
        fee_base, fee_quote = fees.get(base, ZERO), fees.get(quote, ZERO)
        # The hold's base and quote deltas: a base fee shrinks what a buy receives and adds to
        # what a sell gives; a quote fee adds to what a buy pays and shrinks what a sell gets.
        if trade_type is TradeType.BUY:
            base_delta = amount - fee_base
            cost_delta = amount * price + fee_quote
        else:
            base_delta = -(amount + fee_base)
            cost_delta = -(amount * price - fee_quote)
        self.fees_quote += fee_base * price + fee_quote
        self.updated_ts = timestamp
        return self._book(base_delta, cost_delta)

    def absorb(self, base_amount: Decimal, cost_quote: Decimal, timestamp: float = 0.0) -> Decimal:
        """Take over inventory at its cost basis (an executor's leftover); returns the P&L this
        realizes when it offsets the hold's position (a short executor selling held inventory)."""
        if base_amount == 0:
            return ZERO
        self.updated_ts = timestamp
        return self._book(base_amount, cost_quote)

    def _book(self, base_delta: Decimal, cost_delta: Decimal) -> Decimal:
        held = self.base_amount
        if held == 0 or (held > 0) == (base_delta > 0):
            self.base_amount += base_delta
            self.cost_quote += cost_delta
            return ZERO
        closing = min(abs(base_delta), abs(held))
        share_of_fill = closing / abs(base_delta)
        share_of_position = closing / abs(held)
        released_cost = self.cost_quote * share_of_position
        realized = -(cost_delta * share_of_fill) - released_cost
        self.realized_pnl_quote += realized
        self.cost_quote -= released_cost
        self.base_amount = held + (closing if held < 0 else -closing)
        if self.base_amount == 0:
            self.cost_quote = ZERO  # no rounding residue on a flat position
        remainder = abs(base_delta) - closing
        if remainder > 0:  # the fill flips the position: the rest opens the other side
            self.base_amount = remainder if base_delta > 0 else -remainder
            self.cost_quote = cost_delta * (1 - share_of_fill)
        return realized

    def to_record(self) -> PositionHoldRecord:
        """The row the store keeps (exact Decimals; nothing derived is stored)."""
        return PositionHoldRecord(
            self.connector, self.trading_pair, self.controller_id, self.base_amount,
            self.cost_quote, self.realized_pnl_quote, self.fees_quote, self.updated_ts,
        )  # fmt: skip

    @classmethod
    def from_record(cls, record: PositionHoldRecord) -> PositionHold:
        """Rebuild a hold from the store after a restart."""
        return cls(
            record.connector, record.trading_pair, record.controller_id, record.base_amount,
            record.cost_quote, record.realized_pnl_quote, record.fees_quote,
            updated_ts=record.updated_ts,
        )  # fmt: skip
