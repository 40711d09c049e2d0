"""Order management of the emulated exchange: cancel, amend (keep priority), queries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from birdterm.sim.emulator.errors import (
    CANCEL_RESTRICTED,
    DUPLICATE_ORDER,
    BinanceError,
    cancel_rejected,
    filter_failure,
    new_order_rejected,
    no_such_order,
    unknown_order,
)
from birdterm.sim.emulator.order_json import amend_json, cancel_json, order_json
from birdterm.sim.emulator.order_params import (
    check_precision,
    client_id_param,
    decimal_param,
    get,
    int_param,
    require,
    symbol_rules,
)
from birdterm.sim.emulator.orders import Order
from birdterm.sim.emulator.trade_queries import select_my_trades
from birdterm.sim.emulator.trading import TradingCore, generated_client_id


class OrderAdmin(TradingCore):
    """Cancel, amend and look up orders; list an account's orders and trades."""

    def _find(self, api_key: str, params: Mapping[str, str], missing: BinanceError) -> Order:
        """The account's order named by orderId and/or origClientOrderId, else `missing`."""
        rules = symbol_rules(params, self.symbols)
        order_id = int_param(params, "orderId")
        client_id = get(params, "origClientOrderId")
        if order_id is None and client_id is None:
            raise BinanceError(
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        if order_id is not None:
            order = self._orders[rules.symbol].get(order_id)
            if client_id is not None and order is not None and order.client_order_id != client_id:
                order = None
        else:
            assert client_id is not None
            order = self._client_ids.get((api_key, rules.symbol, client_id))
        if order is None or order.account != api_key:
            raise missing
        return order

    def query_order(self, api_key: str, params: Mapping[str, str]) -> dict[str, Any]:
        """GET /api/v3/order."""
        self._begin()
        self._account(api_key)
        return order_json(self._find(api_key, params, no_such_order()))

    def cancel_order(self, api_key: str, params: Mapping[str, str]) -> dict[str, Any]:
        """DELETE /api/v3/order: cancel an open order (-2011 when unknown or already done)."""
        now = self._begin()
        self._account(api_key)
        order = self._find(api_key, params, unknown_order())
        cancel_id = client_id_param(params, "newClientOrderId")
        if not order.is_open:
            raise unknown_order()
        restriction = get(params, "cancelRestrictions")
        if (restriction == "ONLY_NEW" and order.status != "NEW") or (
            restriction == "ONLY_PARTIALLY_FILLED" and order.status != "PARTIALLY_FILLED"
        ):
            raise cancel_rejected(CANCEL_RESTRICTED)
        answer = self._cancel(order, cancel_id)
        self._flush_positions()
        self._after_order_change(order.symbol)
        return cancel_json(order, answer, now)

    def _cancel(self, order: Order, cancel_id: str | None) -> str:
        """Take an open order off the book; returns the cancel's client order id."""
        if cancel_id is None:
            self._cancel_seq += 1
            cancel_id = generated_client_id(f"{order.symbol}/cancel", self._cancel_seq)
        self._books[order.symbol].remove(order)
        order.status = "CANCELED"
        order.update_time = self._now
        self._release(order)
        self._report(order, "CANCELED", client_id=cancel_id, orig_client_id=order.client_order_id)
        return cancel_id

    def cancel_open_orders(self, api_key: str, symbol: str) -> list[dict[str, Any]]:
        """DELETE /api/v3/openOrders: cancel every open order of the symbol."""
        now = self._begin()
        self._account(api_key)
        rules = symbol_rules({"symbol": symbol}, self.symbols)
        open_orders = self._open_orders(api_key, rules.symbol)
        if not open_orders:
            raise unknown_order()
        answers = [cancel_json(o, self._cancel(o, None), now) for o in open_orders]
        self._flush_positions()
        self._after_order_change(rules.symbol)
        return answers

    def amend_keep_priority(self, api_key: str, params: Mapping[str, str]) -> dict[str, Any]:
        """PUT /api/v3/order/amend/keepPriority: reduce an open order's quantity in place."""
        now = self._begin()
        self._account(api_key)
        require(params, "newQty")
        order = self._find(api_key, params, no_such_order())
        rules = self.symbols[order.symbol]
        new_qty = decimal_param(params, "newQty")
        assert new_qty is not None
        check_precision("newQty", new_qty, rules.base_asset_precision)
        new_client_id = client_id_param(params, "newClientOrderId")
        if not order.is_open:
            raise no_such_order()
        lot = rules.lot_size
        if (
            new_qty <= order.executed
            or (lot is not None and lot.step_size > 0 and (new_qty - lot.min_qty) % lot.step_size)
            or (lot is not None and new_qty < lot.min_qty)
        ):
            raise filter_failure("LOT_SIZE")
        if new_qty == order.orig_qty:
            raise BinanceError(-2038, "The requested action would change no state; rejecting")
        if new_qty > order.orig_qty:
            raise BinanceError(-2038, "Order amend (quantity increase) is not supported.")
        if new_client_id is not None and new_client_id != order.client_order_id:
            other = self._client_ids.get((api_key, order.symbol, new_client_id))
            if other is not None and other.is_open:
                raise new_order_rejected(DUPLICATE_ORDER)
        orig_client_id = order.client_order_id
        self._books[order.symbol].reduce(order, new_qty - order.executed)
        freed = order.orig_qty - new_qty
        if order.is_buy:
            freed *= order.price
        self._accounts[api_key].unlock(order.lock_asset, freed)
        order.lock_left -= freed
        self._dirty_accounts[api_key] = None
        order.orig_qty = new_qty
        order.update_time = now
        if new_client_id is not None and new_client_id != orig_client_id:
            # The old id no longer names the order.
            del self._client_ids[(api_key, order.symbol, orig_client_id)]
            order.client_order_id = new_client_id
            self._client_ids[(api_key, order.symbol, new_client_id)] = order
        execution_id = self._report(order, "REPLACED", orig_client_id=orig_client_id, on_book=True)
        self._flush_positions()
        self._after_order_change(order.symbol)
        return amend_json(order, orig_client_id, now, execution_id)

    def open_orders(self, api_key: str, symbol: str | None) -> list[dict[str, Any]]:
        """GET /api/v3/openOrders (all symbols when symbol is None)."""
        self._account(api_key)
        names = (
            [symbol_rules({"symbol": symbol}, self.symbols).symbol]
            if symbol
            else list(self._orders)
        )
        return [order_json(o) for name in names for o in self._open_orders(api_key, name)]

    def my_trades(self, api_key: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """GET /api/v3/myTrades with orderId / fromId / time-range selection."""
        self._account(api_key)
        rules = symbol_rules(params, self.symbols)
        fills = [f for f in self._fills[api_key] if f.symbol == rules.symbol]
        return select_my_trades(fills, params)
