"""The emulator's built-in symbols: BTCUSDT and ETHUSDT as today's Binance lists them."""

from __future__ import annotations

from typing import Any

from birdterm.sim.emulator.symbols import SymbolRules

# Values follow Binance's live GET /api/v3/exchangeInfo for BTCUSDT/ETHUSDT in 2024-2025 (as
# quoted in public client fixtures; ../shared/reference/binance/NOTES.md §4 for the filters):
# tick 0.01 and maxPrice 1,000,000 for both; stepSize = minQty 0.00001 BTC / 0.0001 ETH with
# maxQty 9000; NOTIONAL min 5 USDT (also for MARKET) and max 9,000,000 (not for MARKET);
# PERCENT_PRICE_BY_SIDE 0.2x-5x over 5 minutes. The 2021 recording (../shared/data/cryptofeed)
# has the same tick/step but the older MIN_NOTIONAL 10. MARKET_LOT_SIZE.maxQty is recomputed by
# Binance from recent volume (~84-100 BTC, ~1600 ETH); these are round stand-ins.


def _symbol_json(base: str, lot: str, market_max_qty: str) -> dict[str, Any]:
    return {
        "symbol": f"{base}USDT",
        "status": "TRADING",
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": "USDT",
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": [
            "LIMIT",
            "LIMIT_MAKER",
            "MARKET",
            "STOP_LOSS",
            "STOP_LOSS_LIMIT",
            "TAKE_PROFIT",
            "TAKE_PROFIT_LIMIT",
        ],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "amendAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": True,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": "0.01000000",
                "maxPrice": "1000000.00000000",
                "tickSize": "0.01000000",
            },
            {"filterType": "LOT_SIZE", "minQty": lot, "maxQty": "9000.00000000", "stepSize": lot},
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": "0.00000000",
                "maxQty": market_max_qty,
                "stepSize": "0.00000000",
            },
            {
                "filterType": "TRAILING_DELTA",
                "minTrailingAboveDelta": 10,
                "maxTrailingAboveDelta": 2000,
                "minTrailingBelowDelta": 10,
                "maxTrailingBelowDelta": 2000,
            },
            {
                "filterType": "PERCENT_PRICE_BY_SIDE",
                "bidMultiplierUp": "5",
                "bidMultiplierDown": "0.2",
                "askMultiplierUp": "5",
                "askMultiplierDown": "0.2",
                "avgPriceMins": 5,
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": "5.00000000",
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            {"filterType": "MAX_NUM_ORDER_LISTS", "maxNumOrderLists": 20},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
            {"filterType": "MAX_NUM_ORDER_AMENDS", "maxNumOrderAmends": 10},
        ],
        "permissions": [],
        "permissionSets": [["SPOT", "MARGIN"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def default_symbols() -> dict[str, SymbolRules]:
    """Rules for BTCUSDT and ETHUSDT, by symbol name."""
    symbols = (
        _symbol_json("BTC", "0.00001000", "100.00000000"),
        _symbol_json("ETH", "0.00010000", "1600.00000000"),
    )
    return {s["symbol"]: SymbolRules.from_exchange_info(s) for s in symbols}
