"""The emulator's order record and its fills (the state behind every order JSON)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal(0)
OPEN_STATUSES = frozenset({"NEW", "PARTIALLY_FILLED"})


class Order:
    """One order of one account on one symbol; mutated in place as it fills."""

    __slots__ = (
        "account",
        "ahead",
        "client_order_id",
        "cum_quote",
        "executed",
        "is_buy",
        "lock_asset",
        "lock_left",
        "order_id",
        "orig_qty",
        "orig_quote_qty",
        "price",
        "side",
        "status",
        "stp_mode",
        "symbol",
        "time",
        "time_in_force",
        "type",
        "update_time",
        "working_time",
    )

    def __init__(
        self,
        *,
        account: str,
        symbol: str,
        order_id: int,
        client_order_id: str,
        side: str,
        type: str,  # Binance's field name
        time_in_force: str,
        price: Decimal,
        orig_qty: Decimal,
        orig_quote_qty: Decimal,
        time: int,
        stp_mode: str,
    ) -> None:
        self.account = account
        self.symbol = symbol
        self.order_id = order_id
        self.client_order_id = client_order_id
        self.side = side
        self.is_buy = side == "BUY"
        self.type = type
        self.time_in_force = time_in_force
        self.price = price  # ZERO for MARKET orders, as Binance shows them
        self.orig_qty = orig_qty
        self.orig_quote_qty = orig_quote_qty
        self.executed = ZERO
        self.cum_quote = ZERO
        self.status = "NEW"
        self.time = time
        self.update_time = time
        self.working_time = time
        self.stp_mode = stp_mode
        # Market quantity queued ahead of this order at its level while it rests.
        self.ahead = ZERO
        self.lock_asset = ""
        self.lock_left = ZERO

    @property
    def remaining(self) -> Decimal:
        """Quantity still to fill."""
        return self.orig_qty - self.executed

    @property
    def is_open(self) -> bool:
        """True while the order can still fill or be cancelled."""
        return self.status in OPEN_STATUSES

    def __repr__(self) -> str:
        return (
            f"Order({self.symbol} #{self.order_id} {self.side} {self.type} {self.orig_qty}"
            f"@{self.price} exec={self.executed} {self.status})"
        )


@dataclass(frozen=True, slots=True)
class Fill:
    """One trade of one order, as myTrades and the FULL response list it."""

    symbol: str
    trade_id: int
    order_id: int
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    is_buyer: bool
    is_maker: bool
