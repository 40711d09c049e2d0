"""Symbol rules from Binance's exchangeInfo: typed filters, exact JSON round trip, TradingRule."""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from birdterm.engine.types import ZERO, TradingRule, split_trading_pair
from birdterm.sim.emulator.order_validation import validate_order
from birdterm.sim.emulator.symbol_filters import (
    DEFAULT_FILTER_ORDER,
    LotSize,
    MaxNumOrders,
    MinNotional,
    Notional,
    PercentPrice,
    PercentPriceBySide,
    PriceFilter,
)

__all__ = [
    "LotSize",
    "MaxNumOrders",
    "MinNotional",
    "Notional",
    "PercentPrice",
    "PercentPriceBySide",
    "PriceFilter",
    "SymbolRules",
    "parse_exchange_info",
    "to_trading_rule",
    "validate_order",
]

# Today's key order of an exchangeInfo symbol; keys a symbol was parsed with keep their own order.
DEFAULT_FIELD_ORDER: tuple[str, ...] = (
    "symbol",
    "status",
    "baseAsset",
    "baseAssetPrecision",
    "quoteAsset",
    "quotePrecision",
    "quoteAssetPrecision",
    "baseCommissionPrecision",
    "quoteCommissionPrecision",
    "orderTypes",
    "icebergAllowed",
    "ocoAllowed",
    "otoAllowed",
    "opoAllowed",
    "quoteOrderQtyMarketAllowed",
    "allowTrailingStop",
    "cancelReplaceAllowed",
    "amendAllowed",
    "pegInstructionsAllowed",
    "isSpotTradingAllowed",
    "isMarginTradingAllowed",
    "filters",
    "permissions",
    "permissionSets",
    "defaultSelfTradePreventionMode",
    "allowedSelfTradePreventionModes",
)

# JSON key -> (attribute, type) for the plain symbol fields SymbolRules types.
_FIELDS: dict[str, tuple[str, type]] = {
    "symbol": ("symbol", str),
    "status": ("status", str),
    "baseAsset": ("base_asset", str),
    "baseAssetPrecision": ("base_asset_precision", int),
    "quoteAsset": ("quote_asset", str),
    "quotePrecision": ("quote_precision", int),
    "quoteAssetPrecision": ("quote_asset_precision", int),
    "baseCommissionPrecision": ("base_commission_precision", int),
    "quoteCommissionPrecision": ("quote_commission_precision", int),
    "orderTypes": ("order_types", tuple),
    "icebergAllowed": ("iceberg_allowed", bool),
    "ocoAllowed": ("oco_allowed", bool),
    "quoteOrderQtyMarketAllowed": ("quote_order_qty_market_allowed", bool),
    "isSpotTradingAllowed": ("is_spot_trading_allowed", bool),
    "isMarginTradingAllowed": ("is_margin_trading_allowed", bool),
    "permissions": ("permissions", tuple),
}

_FILTERS: dict[str, tuple[str, Any]] = {
    "PRICE_FILTER": ("price_filter", PriceFilter),
    "PERCENT_PRICE": ("percent_price", PercentPrice),
    "PERCENT_PRICE_BY_SIDE": ("percent_price_by_side", PercentPriceBySide),
    "LOT_SIZE": ("lot_size", LotSize),
    "MARKET_LOT_SIZE": ("market_lot_size", LotSize),
    "MIN_NOTIONAL": ("min_notional", MinNotional),
    "NOTIONAL": ("notional", Notional),
    "MAX_NUM_ORDERS": ("max_num_orders", MaxNumOrders),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class SymbolRules:
    """One exchangeInfo symbol: its assets, precisions, allowed order types and filters."""

    symbol: str
    base_asset: str
    quote_asset: str
    status: str = "TRADING"
    base_asset_precision: int = 8
    quote_precision: int = 8
    quote_asset_precision: int = 8
    base_commission_precision: int = 8
    quote_commission_precision: int = 8
    order_types: tuple[str, ...] = ("LIMIT", "LIMIT_MAKER", "MARKET")
    iceberg_allowed: bool = True
    oco_allowed: bool = True
    quote_order_qty_market_allowed: bool = True
    is_spot_trading_allowed: bool = True
    is_margin_trading_allowed: bool = False
    permissions: tuple[str, ...] = ("SPOT",)
    price_filter: PriceFilter | None = None
    percent_price: PercentPrice | None = None
    percent_price_by_side: PercentPriceBySide | None = None
    lot_size: LotSize | None = None
    market_lot_size: LotSize | None = None
    min_notional: MinNotional | None = None
    notional: Notional | None = None
    max_num_orders: MaxNumOrders | None = None
    # Filters and symbol fields this class does not model, kept as sent so they go back out.
    other_filters: tuple[dict[str, Any], ...] = field(default=(), hash=False)
    extra_fields: tuple[tuple[str, Any], ...] = field(default=(), hash=False)
    # Output order of filter types and JSON keys (empty: today's order).
    filter_order: tuple[str, ...] = field(default=(), compare=False)
    field_order: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_exchange_info(cls, symbol_json: dict[str, Any]) -> SymbolRules:
        """Parse one entry of exchangeInfo's `symbols`; unknown filters and fields are kept raw."""
        name = symbol_json.get("symbol", "?")
        kwargs: dict[str, Any] = {}
        extra: list[tuple[str, Any]] = []
        for key, value in symbol_json.items():
            if key == "filters":
                continue
            if key in _FIELDS:
                attr, kind = _FIELDS[key]
                kwargs[attr] = tuple(value) if kind is tuple else value
            else:
                extra.append((key, deepcopy(value)))
        other: list[dict[str, Any]] = []
        for raw in symbol_json.get("filters", []):
            filter_type = raw.get("filterType")
            if filter_type not in _FILTERS:
                other.append(deepcopy(raw))
                continue
            attr, kind = _FILTERS[filter_type]
            if attr in kwargs:
                raise ValueError(f"{name}: filter {filter_type} appears twice")
            try:
                kwargs[attr] = kind.from_json(raw)
            except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
                raise ValueError(f"{name}: malformed {filter_type} filter {raw}: {exc}") from exc
        try:
            return cls(
                **kwargs,
                other_filters=tuple(other),
                extra_fields=tuple(extra),
                filter_order=tuple(f.get("filterType", "") for f in symbol_json.get("filters", [])),
                field_order=tuple(symbol_json),
            )
        except TypeError as exc:
            raise ValueError(f"{name}: symbol JSON lacks a required field: {exc}") from exc

    def filters_json(self) -> list[dict[str, Any]]:
        """The `filters` list as Binance sends it."""
        base, quote = self.base_asset_precision, self.quote_asset_precision
        out: list[dict[str, Any]] = []
        for filter_type, (attr, _) in _FILTERS.items():
            value = getattr(self, attr)
            if value is None:
                continue
            if filter_type == "MARKET_LOT_SIZE":
                out.append(value.to_json(base, quote, filter_type))
            else:
                out.append(value.to_json(base, quote))
        out.extend(deepcopy(f) for f in self.other_filters)
        order = self.filter_order or DEFAULT_FILTER_ORDER
        return sorted(out, key=lambda f: _rank(order, f.get("filterType")))

    def to_exchange_info(self) -> dict[str, Any]:
        """This symbol as an entry of exchangeInfo's `symbols`, in Binance's exact JSON shape."""
        out: dict[str, Any] = {}
        for key, (attr, kind) in _FIELDS.items():
            value = getattr(self, attr)
            out[key] = list(value) if kind is tuple else value
        out["filters"] = self.filters_json()
        out.update(deepcopy(self.extra_fields))
        order = self.field_order or DEFAULT_FIELD_ORDER
        return {key: out[key] for key in sorted(out, key=lambda k: _rank(order, k))}


def _rank(order: tuple[str, ...], key: object) -> int:
    return order.index(key) if key in order else len(order)  # unknown keys last, stable


def parse_exchange_info(doc: dict[str, Any]) -> dict[str, SymbolRules]:
    """Rules of every symbol in an exchangeInfo response, by symbol name."""
    return {s["symbol"]: SymbolRules.from_exchange_info(s) for s in doc["symbols"]}


def to_trading_rule(rules: SymbolRules, trading_pair: str) -> TradingRule:
    """The engine's TradingRule for a symbol, so the connector and the emulator agree."""
    base, quote = split_trading_pair(trading_pair)
    if (base, quote) != (rules.base_asset, rules.quote_asset):
        raise ValueError(
            f"{trading_pair} does not match {rules.symbol} ({rules.base_asset}-{rules.quote_asset})"
        )
    # A disabled tick/step (0) leaves the asset precision as the only grid.
    tick = Decimal(1).scaleb(-rules.quote_asset_precision)
    if rules.price_filter is not None and rules.price_filter.tick_size > 0:
        tick = rules.price_filter.tick_size
    step = Decimal(1).scaleb(-rules.base_asset_precision)
    min_amount, max_amount = ZERO, None
    if rules.lot_size is not None:
        step = rules.lot_size.step_size if rules.lot_size.step_size > 0 else step
        min_amount = rules.lot_size.min_qty
        max_amount = rules.lot_size.max_qty if rules.lot_size.max_qty > 0 else None
    min_notional = max(
        rules.notional.min_notional if rules.notional else ZERO,
        rules.min_notional.min_notional if rules.min_notional else ZERO,
    )
    return TradingRule(
        trading_pair=trading_pair,
        tick_size=tick,
        step_size=step,
        min_amount=min_amount,
        max_amount=max_amount,
        min_notional=min_notional,
    )
