"""Typed exchangeInfo symbol filters: parsed from and written back to Binance's JSON."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

ZERO = Decimal(0)


def fmt_fixed(value: Decimal, places: int) -> str:
    """Format like Binance's price/quantity strings ("0.01000000"); refuse to round."""
    quantum = Decimal(1).scaleb(-places)
    fixed = value.quantize(quantum)
    if fixed != value:
        raise ValueError(f"{value} has more than {places} decimals")
    return f"{fixed:.{places}f}"


def fmt_plain(value: Decimal) -> str:
    """Format like Binance's multipliers ("5", "0.2"): shortest plain form."""
    return format(value.normalize(), "f")


def dec(raw: object) -> Decimal:
    """A Decimal from Binance's string (or int) field."""
    if not isinstance(raw, str | int) or isinstance(raw, bool):
        raise ValueError(f"expected a decimal string, got {raw!r}")
    return Decimal(raw)


@dataclass(frozen=True, slots=True)
class PriceFilter:
    """PRICE_FILTER: price range and tick grid (0 disables a part)."""

    filter_type: ClassVar[str] = "PRICE_FILTER"
    min_price: Decimal
    max_price: Decimal
    tick_size: Decimal

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PriceFilter:
        """Parse the filter's JSON."""
        return cls(dec(d["minPrice"]), dec(d["maxPrice"]), dec(d["tickSize"]))

    def to_json(self, base_places: int, quote_places: int) -> dict[str, Any]:
        """The filter's JSON, prices with the quote asset's decimals."""
        return {
            "filterType": self.filter_type,
            "minPrice": fmt_fixed(self.min_price, quote_places),
            "maxPrice": fmt_fixed(self.max_price, quote_places),
            "tickSize": fmt_fixed(self.tick_size, quote_places),
        }


@dataclass(frozen=True, slots=True)
class PercentPrice:
    """PERCENT_PRICE: price within [avg * down, avg * up]."""

    filter_type: ClassVar[str] = "PERCENT_PRICE"
    multiplier_up: Decimal
    multiplier_down: Decimal
    avg_price_mins: int

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PercentPrice:
        """Parse the filter's JSON."""
        return cls(dec(d["multiplierUp"]), dec(d["multiplierDown"]), int(d["avgPriceMins"]))

    def to_json(self, base_places: int, quote_places: int) -> dict[str, Any]:
        """The filter's JSON."""
        return {
            "filterType": self.filter_type,
            "multiplierUp": fmt_plain(self.multiplier_up),
            "multiplierDown": fmt_plain(self.multiplier_down),
            "avgPriceMins": self.avg_price_mins,
        }


@dataclass(frozen=True, slots=True)
class PercentPriceBySide:
    """PERCENT_PRICE_BY_SIDE: like PERCENT_PRICE with separate bid (BUY) and ask (SELL) bands."""

    filter_type: ClassVar[str] = "PERCENT_PRICE_BY_SIDE"
    bid_multiplier_up: Decimal
    bid_multiplier_down: Decimal
    ask_multiplier_up: Decimal
    ask_multiplier_down: Decimal
    avg_price_mins: int

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PercentPriceBySide:
        """Parse the filter's JSON."""
        return cls(
            dec(d["bidMultiplierUp"]),
            dec(d["bidMultiplierDown"]),
            dec(d["askMultiplierUp"]),
            dec(d["askMultiplierDown"]),
            int(d["avgPriceMins"]),
        )

    def to_json(self, base_places: int, quote_places: int) -> dict[str, Any]:
        """The filter's JSON."""
        return {
            "filterType": self.filter_type,
            "bidMultiplierUp": fmt_plain(self.bid_multiplier_up),
            "bidMultiplierDown": fmt_plain(self.bid_multiplier_down),
            "askMultiplierUp": fmt_plain(self.ask_multiplier_up),
            "askMultiplierDown": fmt_plain(self.ask_multiplier_down),
            "avgPriceMins": self.avg_price_mins,
        }


@dataclass(frozen=True, slots=True)
class LotSize:
    """LOT_SIZE (or MARKET_LOT_SIZE): quantity range and step grid (0 disables a part)."""

    filter_type: ClassVar[str] = "LOT_SIZE"
    min_qty: Decimal
    max_qty: Decimal
    step_size: Decimal

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LotSize:
        """Parse the filter's JSON (either filter type)."""
        return cls(dec(d["minQty"]), dec(d["maxQty"]), dec(d["stepSize"]))

    def to_json(
        self, base_places: int, quote_places: int, filter_type: str = "LOT_SIZE"
    ) -> dict[str, Any]:
        """The filter's JSON, quantities with the base asset's decimals."""
        return {
            "filterType": filter_type,
            "minQty": fmt_fixed(self.min_qty, base_places),
            "maxQty": fmt_fixed(self.max_qty, base_places),
            "stepSize": fmt_fixed(self.step_size, base_places),
        }


@dataclass(frozen=True, slots=True)
class MinNotional:
    """MIN_NOTIONAL (pre-2023 symbols): price * quantity >= min_notional."""

    filter_type: ClassVar[str] = "MIN_NOTIONAL"
    min_notional: Decimal
    apply_to_market: bool
    avg_price_mins: int

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> MinNotional:
        """Parse the filter's JSON."""
        return cls(dec(d["minNotional"]), bool(d["applyToMarket"]), int(d["avgPriceMins"]))

    def to_json(self, base_places: int, quote_places: int) -> dict[str, Any]:
        """The filter's JSON, the notional with the quote asset's decimals."""
        return {
            "filterType": self.filter_type,
            "minNotional": fmt_fixed(self.min_notional, quote_places),
            "applyToMarket": self.apply_to_market,
            "avgPriceMins": self.avg_price_mins,
        }


@dataclass(frozen=True, slots=True)
class Notional:
    """NOTIONAL (current symbols): min_notional <= price * quantity <= max_notional."""

    filter_type: ClassVar[str] = "NOTIONAL"
    min_notional: Decimal
    apply_min_to_market: bool
    max_notional: Decimal
    apply_max_to_market: bool
    avg_price_mins: int

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Notional:
        """Parse the filter's JSON."""
        return cls(
            dec(d["minNotional"]),
            bool(d["applyMinToMarket"]),
            dec(d["maxNotional"]),
            bool(d["applyMaxToMarket"]),
            int(d["avgPriceMins"]),
        )

    def to_json(self, base_places: int, quote_places: int) -> dict[str, Any]:
        """The filter's JSON, notionals with the quote asset's decimals."""
        return {
            "filterType": self.filter_type,
            "minNotional": fmt_fixed(self.min_notional, quote_places),
            "applyMinToMarket": self.apply_min_to_market,
            "maxNotional": fmt_fixed(self.max_notional, quote_places),
            "applyMaxToMarket": self.apply_max_to_market,
            "avgPriceMins": self.avg_price_mins,
        }


@dataclass(frozen=True, slots=True)
class MaxNumOrders:
    """MAX_NUM_ORDERS: open orders per account on the symbol (checked by the order book)."""

    filter_type: ClassVar[str] = "MAX_NUM_ORDERS"
    max_num_orders: int

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> MaxNumOrders:
        """Parse the filter's JSON."""
        return cls(int(d["maxNumOrders"]))

    def to_json(self, base_places: int, quote_places: int) -> dict[str, Any]:
        """The filter's JSON."""
        return {"filterType": self.filter_type, "maxNumOrders": self.max_num_orders}


# Today's exchangeInfo order (PRICE_FILTER, LOT_SIZE, ICEBERG_PARTS, MARKET_LOT_SIZE, ...), with
# the 2021-only PERCENT_PRICE and MIN_NOTIONAL where the 2021 recording puts them. Used for a
# symbol built in code, which has no recorded order of its own.
DEFAULT_FILTER_ORDER: tuple[str, ...] = (
    "PRICE_FILTER",
    "PERCENT_PRICE",
    "LOT_SIZE",
    "MIN_NOTIONAL",
    "ICEBERG_PARTS",
    "MARKET_LOT_SIZE",
    "TRAILING_DELTA",
    "PERCENT_PRICE_BY_SIDE",
    "NOTIONAL",
    "MAX_NUM_ORDERS",
    "MAX_NUM_ORDER_LISTS",
    "MAX_NUM_ALGO_ORDERS",
    "MAX_NUM_ORDER_AMENDS",
)
