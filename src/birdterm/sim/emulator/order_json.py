"""Binance's JSON shapes for orders, fills and user-data events (field names and order exact)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from birdterm.sim.emulator.orders import Fill, Order


def fmt(value: Decimal) -> str:
    """A price or quantity as Binance writes it: 8 decimals ("30000.01000000")."""
    return f"{value:.8f}"


def order_json(o: Order) -> dict[str, Any]:
    """GET /api/v3/order (and openOrders) for one order."""
    return {
        "symbol": o.symbol,
        "orderId": o.order_id,
        "orderListId": -1,
        "clientOrderId": o.client_order_id,
        "price": fmt(o.price),
        "origQty": fmt(o.orig_qty),
        "executedQty": fmt(o.executed),
        "cummulativeQuoteQty": fmt(o.cum_quote),
        "status": o.status,
        "timeInForce": o.time_in_force,
        "type": o.type,
        "side": o.side,
        "stopPrice": "0.00000000",
        "icebergQty": "0.00000000",
        "time": o.time,
        "updateTime": o.update_time,
        "isWorking": True,
        "workingTime": o.working_time,
        "origQuoteOrderQty": fmt(o.orig_quote_qty),
        "selfTradePreventionMode": o.stp_mode,
    }


def new_order_json(
    o: Order, resp_type: str, transact_time: int, fills: list[Fill]
) -> dict[str, Any]:
    """POST /api/v3/order answer as ACK, RESULT or FULL."""
    out: dict[str, Any] = {
        "symbol": o.symbol,
        "orderId": o.order_id,
        "orderListId": -1,
        "clientOrderId": o.client_order_id,
        "transactTime": transact_time,
    }
    if resp_type == "ACK":
        return out
    out.update(
        {
            "price": fmt(o.price),
            "origQty": fmt(o.orig_qty),
            "executedQty": fmt(o.executed),
            "origQuoteOrderQty": fmt(o.orig_quote_qty),
            "cummulativeQuoteQty": fmt(o.cum_quote),
            "status": o.status,
            "timeInForce": o.time_in_force,
            "type": o.type,
            "side": o.side,
            "workingTime": o.working_time,
            "selfTradePreventionMode": o.stp_mode,
        }
    )
    if resp_type == "FULL":
        out["fills"] = [
            {
                "price": fmt(f.price),
                "qty": fmt(f.qty),
                "commission": fmt(f.commission),
                "commissionAsset": f.commission_asset,
                "tradeId": f.trade_id,
            }
            for f in fills
        ]
    return out


def cancel_json(o: Order, cancel_client_id: str, transact_time: int) -> dict[str, Any]:
    """DELETE /api/v3/order answer (also each item of DELETE /api/v3/openOrders)."""
    return {
        "symbol": o.symbol,
        "origClientOrderId": o.client_order_id,
        "orderId": o.order_id,
        "orderListId": -1,
        "clientOrderId": cancel_client_id,
        "transactTime": transact_time,
        "price": fmt(o.price),
        "origQty": fmt(o.orig_qty),
        "executedQty": fmt(o.executed),
        "origQuoteOrderQty": fmt(o.orig_quote_qty),
        "cummulativeQuoteQty": fmt(o.cum_quote),
        "status": o.status,
        "timeInForce": o.time_in_force,
        "type": o.type,
        "side": o.side,
        "selfTradePreventionMode": o.stp_mode,
    }


def amend_json(
    o: Order, orig_client_id: str, transact_time: int, execution_id: int
) -> dict[str, Any]:
    """PUT /api/v3/order/amend/keepPriority answer."""
    return {
        "transactTime": transact_time,
        "executionId": execution_id,
        "amendedOrder": {
            "symbol": o.symbol,
            "orderId": o.order_id,
            "orderListId": -1,
            "origClientOrderId": orig_client_id,
            "clientOrderId": o.client_order_id,
            "price": fmt(o.price),
            "qty": fmt(o.orig_qty),
            "executedQty": fmt(o.executed),
            "preventedQty": "0.00000000",
            "quoteOrderQty": fmt(o.orig_quote_qty),
            "cumulativeQuoteQty": fmt(o.cum_quote),
            "status": o.status,
            "timeInForce": o.time_in_force,
            "type": o.type,
            "side": o.side,
            "workingTime": o.working_time,
            "selfTradePreventionMode": o.stp_mode,
        },
    }


def my_trade_json(f: Fill) -> dict[str, Any]:
    """One item of GET /api/v3/myTrades."""
    return {
        "symbol": f.symbol,
        "id": f.trade_id,
        "orderId": f.order_id,
        "orderListId": -1,
        "price": fmt(f.price),
        "qty": fmt(f.qty),
        "quoteQty": fmt(f.quote_qty),
        "commission": fmt(f.commission),
        "commissionAsset": f.commission_asset,
        "time": f.time,
        "isBuyer": f.is_buyer,
        "isMaker": f.is_maker,
        "isBestMatch": True,
    }


def execution_report(
    o: Order,
    *,
    event_time: int,
    execution_type: str,
    execution_id: int,
    client_id: str | None = None,
    orig_client_id: str = "",
    fill: Fill | None = None,
    on_book: bool = False,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The executionReport user event for one change of an order."""
    last_qty = fill.qty if fill else Decimal(0)
    last_price = fill.price if fill else Decimal(0)
    event: dict[str, Any] = {
        "e": "executionReport",
        "E": event_time,
        "s": o.symbol,
        "c": o.client_order_id if client_id is None else client_id,
        "S": o.side,
        "o": o.type,
        "f": o.time_in_force,
        "q": fmt(o.orig_qty),
        "p": fmt(o.price),
        "P": "0.00000000",
        "F": "0.00000000",
        "g": -1,
        "C": orig_client_id,
        "x": execution_type,
        "X": o.status,
        "r": "NONE",
        "i": o.order_id,
        "l": fmt(last_qty),
        "z": fmt(o.executed),
        "L": fmt(last_price),
        "n": fmt(fill.commission) if fill else "0",
        "N": fill.commission_asset if fill else None,
        "T": fill.time if fill else o.update_time,
        "t": fill.trade_id if fill else -1,
        "I": execution_id,
        "w": on_book,
        "m": fill.is_maker if fill else False,
        "M": False,
        "O": o.time,
        "Z": fmt(o.cum_quote),
        "Y": fmt(last_qty * last_price),
        "Q": fmt(o.orig_quote_qty),
        "W": o.working_time,
        "V": o.stp_mode,
    }
    if extra:
        event.update(extra)
    return event


def account_position(
    event_time: int, update_time: int, balances: list[tuple[str, Decimal, Decimal]]
) -> dict[str, Any]:
    """The outboundAccountPosition user event for the given (asset, free, locked)."""
    return {
        "e": "outboundAccountPosition",
        "E": event_time,
        "u": update_time,
        "B": [{"a": a, "f": fmt(free), "l": fmt(locked)} for a, free, locked in balances],
    }
