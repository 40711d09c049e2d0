"""Money and messages of the emulated exchange: accounts, fill settlement, user-data events.

Locks: a LIMIT BUY locks price x qty of the quote asset, a MARKET BUY the cost of the fill the
book offers (or quoteOrderQty), a SELL its quantity of the base asset. A fill pays from the lock
(a BUY filled below its limit gets the difference back), the commission is taken from what the
account receives (base for buys, quote for sells) rounded to 8 decimals, and whatever is still
locked when the order ends is released. Every order change sends an executionReport; balances
that moved are sent as one outboundAccountPosition per account at the end of the operation.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from birdterm.sim.emulator.accounts import Account
from birdterm.sim.emulator.errors import invalid_api_key
from birdterm.sim.emulator.order_json import account_position, execution_report, fmt
from birdterm.sim.emulator.orders import Fill, Order
from birdterm.sim.emulator.symbols import SymbolRules

ZERO = Decimal(0)
_COMMISSION_PLACES = Decimal("0.00000001")
Listener = Callable[[str, dict[str, Any]], None]


class Ledger:
    """Accounts, the settlement of fills and the user-data events they cause."""

    def __init__(
        self,
        symbols: dict[str, SymbolRules],
        clock: Callable[[], int],
        maker_commission: Decimal,
        taker_commission: Decimal,
    ) -> None:
        self.symbols = dict(symbols)
        self.maker_commission = maker_commission
        self.taker_commission = taker_commission
        self._clock = clock
        self._now = clock()  # the time of the operation in progress
        self._accounts: dict[str, Account] = {}
        self._fills: dict[str, list[Fill]] = {}
        self._dirty_accounts: dict[str, None] = {}
        self._execution_id = 0
        self._market_listeners: list[Listener] = []
        self._user_listeners: list[Listener] = []

    def _begin(self) -> int:
        """Start an operation: read the clock once for all its events."""
        self._now = self._clock()
        return self._now

    def add_account(self, api_key: str, secret: str, balances: dict[str, Decimal]) -> None:
        """Open an account; every symbol's assets appear in it (zero unless given)."""
        if api_key in self._accounts:
            raise ValueError(f"account {api_key!r} exists already")
        account = Account(api_key, secret, 1_000 + len(self._accounts), balances)
        for rules in self.symbols.values():
            account.ensure(rules.base_asset)
            account.ensure(rules.quote_asset)
        account.update_time = self._clock()
        self._accounts[api_key] = account
        self._fills[api_key] = []

    def secrets(self) -> dict[str, str]:
        """api_key -> secret, for the RequestAuthenticator."""
        return {key: account.secret for key, account in self._accounts.items()}

    def add_user_listener(self, callback: Callable[[str, dict[str, Any]], None]) -> None:
        """Receive (api_key, event) for every user-data event."""
        self._user_listeners.append(callback)

    def _account(self, api_key: str) -> Account:
        account = self._accounts.get(api_key)
        if account is None:
            raise invalid_api_key()
        return account

    def account(self, api_key: str, omit_zero: bool = False) -> dict[str, Any]:
        """GET /api/v3/account."""
        account = self._account(api_key)
        maker, taker = self.maker_commission, self.taker_commission
        balances = [
            {"asset": asset, "free": fmt(free), "locked": fmt(locked)}
            for asset, (free, locked) in account.balances().items()
            if not omit_zero or free or locked
        ]
        return {
            "makerCommission": int(maker * 10_000),
            "takerCommission": int(taker * 10_000),
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {
                "maker": fmt(maker),
                "taker": fmt(taker),
                "buyer": fmt(ZERO),
                "seller": fmt(ZERO),
            },
            "canTrade": True,
            "canWithdraw": True,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": account.update_time,
            "accountType": "SPOT",
            "balances": balances,
            "permissions": ["SPOT"],
            "uid": account.uid,
        }

    def balances_of(self, api_key: str) -> dict[str, tuple[Decimal, Decimal]]:
        """asset -> (free, locked), exact."""
        return self._account(api_key).balances()

    def _fill(
        self, order: Order, price: Decimal, qty: Decimal, is_maker: bool, trade_id: int, ts: int
    ) -> Fill:
        """Apply one trade to an order and its account; sends the TRADE executionReport."""
        rules = self.symbols[order.symbol]
        account = self._accounts[order.account]
        quote_qty = price * qty
        rate = self.maker_commission if is_maker else self.taker_commission
        if order.is_buy:
            release = quote_qty if order.type == "MARKET" else order.price * qty
            account.spend_locked(rules.quote_asset, quote_qty)
            if release > quote_qty:
                account.unlock(rules.quote_asset, release - quote_qty)
            order.lock_left -= release
            commission_asset = rules.base_asset
            commission = _commission(qty * rate)
            account.credit(rules.base_asset, qty - commission)
        else:
            account.spend_locked(rules.base_asset, qty)
            order.lock_left -= qty
            commission_asset = rules.quote_asset
            commission = _commission(quote_qty * rate)
            account.credit(rules.quote_asset, quote_qty - commission)
        order.executed += qty
        order.cum_quote += quote_qty
        order.status = "FILLED" if order.executed == order.orig_qty else "PARTIALLY_FILLED"
        order.update_time = self._now
        fill = Fill(
            order.symbol,
            trade_id,
            order.order_id,
            price,
            qty,
            quote_qty,
            commission,
            commission_asset,
            ts,
            order.is_buy,
            is_maker,
        )
        self._fills[order.account].append(fill)
        self._dirty_accounts[order.account] = None
        if order.status == "FILLED":
            self._release(order)
        self._report(order, "TRADE", fill=fill, on_book=is_maker and order.status != "FILLED")
        return fill

    def _release(self, order: Order) -> None:
        """Unlock what an ending order still holds."""
        if order.lock_left:
            self._accounts[order.account].unlock(order.lock_asset, order.lock_left)
            order.lock_left = ZERO
            self._dirty_accounts[order.account] = None

    # --- events -----------------------------------------------------------------------------

    def _emit_market(self, stream: str, payload: dict[str, Any]) -> None:
        for callback in self._market_listeners:
            callback(stream, payload)

    def _report(
        self,
        order: Order,
        execution_type: str,
        *,
        fill: Fill | None = None,
        client_id: str | None = None,
        orig_client_id: str = "",
        on_book: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> int:
        self._execution_id += 1
        if self._user_listeners:
            event = execution_report(
                order,
                event_time=self._now,
                execution_type=execution_type,
                execution_id=self._execution_id,
                client_id=client_id,
                orig_client_id=orig_client_id,
                fill=fill,
                on_book=on_book,
                extra=extra,
            )
            for callback in self._user_listeners:
                callback(order.account, event)
        return self._execution_id

    def _flush_positions(self) -> None:
        """One outboundAccountPosition per account whose balances moved."""
        if not self._dirty_accounts:
            return
        now = self._now
        for api_key in self._dirty_accounts:
            account = self._accounts[api_key]
            account.update_time = now
            assets = account.take_changed()
            if not assets or not self._user_listeners:
                continue
            rows = [(a, account.free(a), account.locked(a)) for a in assets]
            event = account_position(now, now, rows)
            for callback in self._user_listeners:
                callback(api_key, event)
        self._dirty_accounts.clear()


def _commission(amount: Decimal) -> Decimal:
    return amount.quantize(_COMMISSION_PLACES, ROUND_HALF_UP)
