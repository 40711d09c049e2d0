"""Trading rules and pair names from Binance's exchangeInfo.

PRICE_FILTER.tickSize -> tick size; LOT_SIZE stepSize/minQty/maxQty -> step and amount bounds;
NOTIONAL (or the older MIN_NOTIONAL) minNotional -> minimum order value. A disabled tick or step
(0) falls back to the asset's precision, a maxQty of 0 means no maximum.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from birdterm.engine.types import ZERO, TradingRule, split_trading_pair

log = logging.getLogger("birdterm.binance.rules")


def pair_to_symbol(pair: str) -> str:
    """'BTC-USDT' -> 'BTCUSDT' (Binance symbols are base + quote)."""
    base, quote = split_trading_pair(pair)
    return base + quote


def symbol_pairs(exchange_info: Mapping[str, Any]) -> dict[str, str]:
    """Every symbol of an exchangeInfo answer -> its pair ('BTCUSDT' -> 'BTC-USDT')."""
    return {s["symbol"]: f"{s['baseAsset']}-{s['quoteAsset']}" for s in exchange_info["symbols"]}


def symbol_to_pair(symbol: str, symbols: Mapping[str, str]) -> str:
    """'BTCUSDT' -> 'BTC-USDT' using `symbol_pairs(exchange_info)` (a symbol alone is
    ambiguous: BTCUSDT could split anywhere). Case-insensitive, so stream names work too."""
    pair = symbols.get(symbol.upper())
    if pair is None:
        raise KeyError(f"symbol {symbol!r} is not in the exchange info")
    return pair


def _decimal(raw: object) -> Decimal:
    """A filter value as a Decimal without padding zeros ('0.01000000' -> 0.01, '10.0' -> 10)."""
    value = Decimal(str(raw)).normalize()
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent > 0:
        value = value.quantize(Decimal(1))  # 1E+1 -> 10: keep integers plain
    return value


def _filters(symbol: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {f["filterType"]: f for f in symbol.get("filters", [])}


def trading_rule_from_symbol(symbol: Mapping[str, Any], pair: str) -> TradingRule:
    """The TradingRule of one exchangeInfo symbol entry."""
    filters = _filters(symbol)
    tick = _decimal(Decimal(1).scaleb(-int(symbol.get("quoteAssetPrecision", 8))))
    step = _decimal(Decimal(1).scaleb(-int(symbol.get("baseAssetPrecision", 8))))
    min_amount, max_amount = ZERO, None
    price_filter = filters.get("PRICE_FILTER")
    if price_filter is not None and _decimal(price_filter["tickSize"]) > 0:
        tick = _decimal(price_filter["tickSize"])
    lot = filters.get("LOT_SIZE")
    if lot is not None:
        if _decimal(lot["stepSize"]) > 0:
            step = _decimal(lot["stepSize"])
        min_amount = _decimal(lot["minQty"])
        max_qty = _decimal(lot["maxQty"])
        max_amount = max_qty if max_qty > 0 else None
    min_notional = ZERO
    for name in ("NOTIONAL", "MIN_NOTIONAL"):
        entry = filters.get(name)
        if entry is not None and "minNotional" in entry:
            min_notional = max(min_notional, _decimal(entry["minNotional"]))
    return TradingRule(
        trading_pair=pair,
        tick_size=tick,
        step_size=step,
        min_amount=min_amount,
        max_amount=max_amount,
        min_notional=min_notional,
    )


def parse_trading_rules(
    exchange_info: Mapping[str, Any], pairs: list[str]
) -> dict[str, TradingRule]:
    """TradingRules for `pairs` ('BTC-USDT', ...) from an exchangeInfo answer.

    Raises KeyError naming any pair the exchange does not list. A pair whose symbol is not
    TRADING (e.g. BREAK) still gets its rule, with a warning: orders on it will be refused.
    """
    by_assets = {(s["baseAsset"], s["quoteAsset"]): s for s in exchange_info["symbols"]}
    rules: dict[str, TradingRule] = {}
    missing = []
    for pair in pairs:
        symbol = by_assets.get(split_trading_pair(pair))
        if symbol is None:
            missing.append(pair)
            continue
        if symbol.get("status", "TRADING") != "TRADING":
            log.warning("%s (%s) has status %s", pair, symbol["symbol"], symbol["status"])
        rules[pair] = trading_rule_from_symbol(symbol, pair)
    if missing:
        raise KeyError(f"the exchange does not list {', '.join(missing)}")
    return rules


def symbol_status(exchange_info: Mapping[str, Any], pair: str) -> str | None:
    """The trading status of a pair's symbol ('TRADING', 'BREAK', ...), or None if unlisted."""
    wanted = split_trading_pair(pair)
    for s in exchange_info["symbols"]:
        if (s["baseAsset"], s["quoteAsset"]) == wanted:
            return str(s.get("status", "TRADING"))
    return None
