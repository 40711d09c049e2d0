"""Symbol JSON for the emulator's symbol tests: the 2021 recording and hand-written copies."""

import copy
import json
from decimal import Decimal
from pathlib import Path

import pytest

from birdterm.sim.emulator.errors import BinanceError
from birdterm.sim.emulator.symbols import SymbolRules, validate_order

# ../shared/data beside the checkout (see its README.md: cryptofeed/BINANCE.0).
DATA_DIR = Path(__file__).resolve().parents[3].parent / "shared" / "data"
RECORDING = DATA_DIR / "cryptofeed" / "BINANCE.0"

# BTCUSDT exactly as the 2021-10-12 exchangeInfo recording has it, typed in by hand so the
# same behaviours are tested without ../shared/data.
BTCUSDT_2021 = {
    "symbol": "BTCUSDT",
    "status": "TRADING",
    "baseAsset": "BTC",
    "baseAssetPrecision": 8,
    "quoteAsset": "USDT",
    "quotePrecision": 8,
    "quoteAssetPrecision": 8,
    "baseCommissionPrecision": 8,
    "quoteCommissionPrecision": 8,
    "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
    "icebergAllowed": True,
    "ocoAllowed": True,
    "quoteOrderQtyMarketAllowed": True,
    "isSpotTradingAllowed": True,
    "isMarginTradingAllowed": True,
    "filters": [
        {
            "filterType": "PRICE_FILTER",
            "minPrice": "0.01000000",
            "maxPrice": "1000000.00000000",
            "tickSize": "0.01000000",
        },
        {
            "filterType": "PERCENT_PRICE",
            "multiplierUp": "5",
            "multiplierDown": "0.2",
            "avgPriceMins": 5,
        },
        {
            "filterType": "LOT_SIZE",
            "minQty": "0.00001000",
            "maxQty": "9000.00000000",
            "stepSize": "0.00001000",
        },
        {
            "filterType": "MIN_NOTIONAL",
            "minNotional": "10.00000000",
            "applyToMarket": True,
            "avgPriceMins": 5,
        },
        {"filterType": "ICEBERG_PARTS", "limit": 10},
        {
            "filterType": "MARKET_LOT_SIZE",
            "minQty": "0.00000000",
            "maxQty": "100.05381873",
            "stepSize": "0.00000000",
        },
        {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
        {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
    ],
    "permissions": ["SPOT", "MARGIN"],
}

# A current-style symbol (NOTIONAL, PERCENT_PRICE_BY_SIDE, permissionSets, ...) with unusual
# numbers on purpose: minPrice off the tick grid, minQty off the step grid, asymmetric bands,
# a filter type nobody knows yet and a 4-decimal quote asset.
ODD_SYMBOL = {
    "symbol": "ODDUSD4",
    "status": "TRADING",
    "baseAsset": "ODD",
    "baseAssetPrecision": 8,
    "quoteAsset": "USD4",
    "quotePrecision": 4,
    "quoteAssetPrecision": 4,
    "baseCommissionPrecision": 8,
    "quoteCommissionPrecision": 2,
    "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
    "icebergAllowed": True,
    "ocoAllowed": False,
    "otoAllowed": False,
    "quoteOrderQtyMarketAllowed": False,
    "allowTrailingStop": True,
    "isSpotTradingAllowed": True,
    "isMarginTradingAllowed": False,
    "filters": [
        {
            "filterType": "PRICE_FILTER",
            "minPrice": "0.0500",
            "maxPrice": "1000.0000",
            "tickSize": "0.1000",
        },
        {
            "filterType": "LOT_SIZE",
            "minQty": "0.01500000",
            "maxQty": "500.00000000",
            "stepSize": "0.01000000",
        },
        {"filterType": "ICEBERG_PARTS", "limit": 10},
        {
            "filterType": "PERCENT_PRICE_BY_SIDE",
            "bidMultiplierUp": "1.2",
            "bidMultiplierDown": "0.2",
            "askMultiplierUp": "5",
            "askMultiplierDown": "0.8",
            "avgPriceMins": 1,
        },
        {
            "filterType": "NOTIONAL",
            "minNotional": "5.0000",
            "applyMinToMarket": False,
            "maxNotional": "1000.0000",
            "applyMaxToMarket": True,
            "avgPriceMins": 5,
        },
        {"filterType": "SOMETHING_NEW", "whatever": ["a", 1]},
        {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 25},
    ],
    "permissions": [],
    "permissionSets": [["SPOT"]],
    "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
    "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
}


def load_recording() -> dict:
    """The 2021 exchangeInfo response (line 1 of BINANCE.0), or skip when it is absent."""
    if not RECORDING.exists():
        pytest.skip(f"{RECORDING} is absent: the 2021 exchangeInfo recording is in ../shared/data")
    with RECORDING.open() as f:
        line = f.readline()
    # "<url> -> <unix seconds>: <json>"; the URL's "https://" has no ": ".
    return json.loads(line.split(": ", 1)[1])


def recorded_symbol(doc: dict, symbol: str) -> dict:
    """One symbol's JSON from the recording."""
    return copy.deepcopy(next(s for s in doc["symbols"] if s["symbol"] == symbol))


def d(value: str | None) -> Decimal | None:
    """Decimal from a string, None stays None."""
    return None if value is None else Decimal(value)


def check(
    rules: SymbolRules,
    type: str = "LIMIT",
    side: str = "BUY",
    qty: str | None = None,
    price: str | None = None,
    qoq: str | None = None,
    ref: str | None = None,
    tif: str | None = None,
) -> None:
    """validate_order with string numbers."""
    validate_order(rules, side, type, d(qty), d(price), d(qoq), d(ref), tif)


def limit(
    rules: SymbolRules, price: str, qty: str, side: str = "BUY", ref: str | None = None
) -> None:
    """A GTC LIMIT order."""
    check(rules, "LIMIT", side, qty=qty, price=price, ref=ref, tif="GTC")


def market(
    rules: SymbolRules, qty: str | None = None, ref: str | None = None, qoq: str | None = None
) -> None:
    """A MARKET BUY order."""
    check(rules, "MARKET", "BUY", qty=qty, ref=ref, qoq=qoq)


def error_of(fn, *args, **kwargs) -> tuple[int, str]:
    """(code, msg) of the BinanceError `fn` raises."""
    with pytest.raises(BinanceError) as info:
        fn(*args, **kwargs)
    return info.value.code, info.value.msg


def filter_failure(filter_type: str) -> tuple[int, str]:
    """Binance's (code, msg) for a failed filter."""
    return -1013, f"Filter failure: {filter_type}"
