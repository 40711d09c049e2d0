"""Binance's JSON shapes for public market data: stream payloads and REST answers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from birdterm.sim.emulator.history import Bar
from birdterm.sim.emulator.order_json import fmt
from birdterm.sim.emulator.replay import Level

ZERO = Decimal(0)


def levels_json(levels: list[Level]) -> list[list[str]]:
    """[[price, qty], ...] as strings."""
    return [[fmt(p), fmt(q)] for p, q in levels]


def trade_event(
    symbol: str, event_time: int, trade_id: int, price: Decimal, qty: Decimal, ts: int, m: bool
) -> dict[str, Any]:
    """<symbol>@trade payload."""
    return {
        "e": "trade",
        "E": event_time,
        "s": symbol,
        "t": trade_id,
        "p": fmt(price),
        "q": fmt(qty),
        "T": ts,
        "m": m,
        "M": True,
    }


def agg_trade_event(
    symbol: str,
    event_time: int,
    agg_id: int,
    price: Decimal,
    qty: Decimal,
    first_id: int,
    last_id: int,
    ts: int,
    m: bool,
) -> dict[str, Any]:
    """<symbol>@aggTrade payload."""
    return {
        "e": "aggTrade",
        "E": event_time,
        "s": symbol,
        "a": agg_id,
        "p": fmt(price),
        "q": fmt(qty),
        "f": first_id,
        "l": last_id,
        "T": ts,
        "m": m,
        "M": True,
    }


def depth_event(
    symbol: str, event_time: int, first: int, last: int, bids: list[Level], asks: list[Level]
) -> dict[str, Any]:
    """<symbol>@depth@100ms payload (absolute quantities, "0.00000000" removes)."""
    return {
        "e": "depthUpdate",
        "E": event_time,
        "s": symbol,
        "U": first,
        "u": last,
        "b": levels_json(bids),
        "a": levels_json(asks),
    }


def best_tuple(bid: Level | None, ask: Level | None) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """(bid price, bid qty, ask price, ask qty), zeros for an empty side."""
    bp, bq = bid if bid is not None else (ZERO, ZERO)
    ap, aq = ask if ask is not None else (ZERO, ZERO)
    return bp, bq, ap, aq


def book_ticker_event(
    symbol: str, update_id: int, best: tuple[Decimal, Decimal, Decimal, Decimal]
) -> dict[str, Any]:
    """<symbol>@bookTicker payload (it has no event time)."""
    bp, bq, ap, aq = best
    return {"u": update_id, "s": symbol, "b": fmt(bp), "B": fmt(bq), "a": fmt(ap), "A": fmt(aq)}


def book_ticker_json(
    symbol: str, best: tuple[Decimal, Decimal, Decimal, Decimal]
) -> dict[str, Any]:
    """GET /api/v3/ticker/bookTicker for one symbol."""
    bp, bq, ap, aq = best
    return {
        "symbol": symbol,
        "bidPrice": fmt(bp),
        "bidQty": fmt(bq),
        "askPrice": fmt(ap),
        "askQty": fmt(aq),
    }


def kline_event(
    symbol: str, interval: str, event_time: int, bar: Bar, closed: bool
) -> dict[str, Any]:
    """<symbol>@kline_<interval> payload."""
    return {
        "e": "kline",
        "E": event_time,
        "s": symbol,
        "k": {
            "t": bar.open_time,
            "T": bar.close_time,
            "s": symbol,
            "i": interval,
            "f": bar.first_trade_id,
            "L": bar.last_trade_id,
            "o": fmt(bar.open),
            "c": fmt(bar.close),
            "h": fmt(bar.high),
            "l": fmt(bar.low),
            "v": fmt(bar.volume),
            "n": bar.trades,
            "x": closed,
            "q": fmt(bar.quote_volume),
            "V": fmt(bar.taker_buy_volume),
            "Q": fmt(bar.taker_buy_quote_volume),
            "B": "0",
        },
    }
