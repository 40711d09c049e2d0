"""Binance's order, trade, account and user-data JSON, read into the engine's terms.

Field names are Binance's (NOTES §2, §3, §9). An order's status maps to an OrderState; EXPIRED
(IOC/FOK/market leftovers, or the exchange's own expiry) ends an order with fills as CANCELED
and one without fills as FAILED, both with the reason; REJECTED is FAILED.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from birdterm.engine.types import ZERO, OrderState, TokenAmount, TradeFee, TradeUpdate

_STATUS: dict[str, OrderState] = {
    "NEW": OrderState.OPEN,
    "PENDING_NEW": OrderState.OPEN,
    "PARTIALLY_FILLED": OrderState.PARTIALLY_FILLED,
    "FILLED": OrderState.FILLED,
    "CANCELED": OrderState.CANCELED,
    "PENDING_CANCEL": OrderState.OPEN,  # unused by Binance; still live
    "REJECTED": OrderState.FAILED,
}
_EXPIRED = ("EXPIRED", "EXPIRED_IN_MATCH")


def order_state(status: str, executed: Decimal) -> OrderState:
    """The engine state of a Binance order status (EXPIRED: CANCELED with fills, else FAILED)."""
    if status in _EXPIRED:
        return OrderState.CANCELED if executed > 0 else OrderState.FAILED
    try:
        return _STATUS[status]
    except KeyError:
        raise ValueError(f"unknown Binance order status {status!r}") from None


def status_reason(status: str, reject_reason: str | None = None) -> str:
    """Why an order ended when the exchange ended it (empty for normal ends)."""
    if status in _EXPIRED:
        return f"expired by the exchange ({status})"
    if status == "REJECTED":
        detail = reject_reason if reject_reason and reject_reason != "NONE" else "no reason given"
        return f"rejected by the exchange: {detail}"
    return ""


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None and value != "" else ZERO


def commission_fee(amount: Any, asset: Any) -> TradeFee:
    """Binance's charged commission as an exact flat fee (none when zero or absent)."""
    value = _dec(amount)
    if not asset or value == 0:
        return TradeFee()
    return TradeFee(flat_fees=(TokenAmount(str(asset), value),))


@dataclass(frozen=True, slots=True)
class OrderReport:
    """The exchange's view of one order, from an answer, a lookup or an executionReport."""

    symbol: str
    client_order_id: str  # ours (for a cancel answer: origClientOrderId)
    exchange_order_id: str
    status: str
    state: OrderState
    orig_qty: Decimal | None
    executed: Decimal
    reason: str
    timestamp: float  # seconds


def parse_order(data: Mapping[str, Any]) -> OrderReport:
    """An order object (POST/GET/DELETE /api/v3/order, openOrders, WS order.*) as a report;
    an ACK answer (no status) reads as NEW."""
    status = str(data.get("status", "NEW"))
    executed = _dec(data.get("executedQty"))
    ts_ms = data.get("updateTime") or data.get("transactTime") or data.get("time") or 0
    orig = data.get("origQty", data.get("qty"))  # an amend answer's amendedOrder says "qty"
    return OrderReport(
        symbol=str(data["symbol"]),
        client_order_id=str(data.get("origClientOrderId") or data["clientOrderId"]),
        exchange_order_id=str(data["orderId"]),
        status=status,
        state=order_state(status, executed),
        orig_qty=None if orig is None else _dec(orig),
        executed=executed,
        reason=status_reason(status),
        timestamp=int(ts_ms) / 1000,
    )


def parse_response_fills(data: Mapping[str, Any], client_order_id: str) -> list[TradeUpdate]:
    """The fills of a FULL order answer (taker fills; entries without tradeId are skipped:
    without an id they cannot be de-duplicated, the trade's event or myTrades brings them)."""
    ts = int(data.get("transactTime") or 0) / 1000
    fills: list[TradeUpdate] = []
    for fill in data.get("fills") or ():
        if fill.get("tradeId") is None:
            continue
        fee = commission_fee(fill.get("commission"), fill.get("commissionAsset"))
        price, qty = _dec(fill["price"]), _dec(fill["qty"])
        fills.append(TradeUpdate(str(fill["tradeId"]), client_order_id, price, qty, fee, ts))
    return fills


def parse_my_trade(data: Mapping[str, Any], client_order_id: str) -> TradeUpdate:
    """One GET /api/v3/myTrades row as a fill of our order."""
    return TradeUpdate(
        str(data["id"]),
        client_order_id,
        _dec(data["price"]),
        _dec(data["qty"]),
        commission_fee(data.get("commission"), data.get("commissionAsset")),
        int(data["time"]) / 1000,
        bool(data.get("isMaker", False)),
    )


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    """A user-data executionReport: the order's state and, for x=TRADE, the fill."""

    execution_type: str
    order: OrderReport
    fill: TradeUpdate | None
    event_time_ms: int


def parse_execution_report(event: Mapping[str, Any]) -> ExecutionReport:
    """An executionReport event (NOTES §9); the order is named by its original client id."""
    status = str(event["X"])
    executed = _dec(event.get("z"))
    # a cancel's report carries the cancel request's id in c and ours in C
    client_id = str(event.get("C") or event["c"])
    report = OrderReport(
        symbol=str(event["s"]),
        client_order_id=client_id,
        exchange_order_id=str(event["i"]),
        status=status,
        state=order_state(status, executed),
        orig_qty=_dec(event.get("q")) if event.get("q") is not None else None,
        executed=executed,
        reason=status_reason(status, event.get("r")),
        timestamp=int(event.get("T") or event.get("E") or 0) / 1000,
    )
    fill = None
    execution_type = str(event["x"])
    trade_id = event.get("t", -1)
    if execution_type == "TRADE" and trade_id is not None and int(trade_id) >= 0:
        fill = TradeUpdate(
            str(trade_id),
            client_id,
            _dec(event["L"]),
            _dec(event["l"]),
            commission_fee(event.get("n"), event.get("N")),
            report.timestamp,
            bool(event.get("m", False)),
        )
    return ExecutionReport(execution_type, report, fill, int(event.get("E") or 0))


Balances = dict[str, tuple[Decimal, Decimal]]  # asset -> (free, locked)


def parse_account(data: Mapping[str, Any]) -> Balances:
    """GET /api/v3/account (or WS account.status) balances."""
    return {str(b["asset"]): (_dec(b["free"]), _dec(b["locked"])) for b in data.get("balances", ())}


def parse_account_position(event: Mapping[str, Any]) -> Balances:
    """An outboundAccountPosition event's balances."""
    return {str(b["a"]): (_dec(b["f"]), _dec(b["l"])) for b in event.get("B", ())}


def parse_commission_rates(data: Mapping[str, Any]) -> tuple[Decimal, Decimal] | None:
    """(maker, taker) fee fractions of GET /api/v3/account, when it carries them."""
    rates = data.get("commissionRates")
    if isinstance(rates, Mapping) and "maker" in rates and "taker" in rates:
        return _dec(rates["maker"]), _dec(rates["taker"])
    return None
