"""Order entry of the emulated exchange: validation, balance checks, matching, resting.

Checks run in Binance's order: parameters and filters (validate_order), MAX_NUM_ORDERS, the
balance, a duplicate open client order id, then LIMIT_MAKER crossing. The accepted order locks
its funds, reports NEW, takes liquidity (IOC/MARKET leftovers expire, FOK expires unless the
whole quantity is available), and a GTC or LIMIT_MAKER remainder rests on the book.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from birdterm.sim.emulator.accounts import Account
from birdterm.sim.emulator.errors import (
    DUPLICATE_ORDER,
    INSUFFICIENT_BALANCE,
    WOULD_MATCH_AND_TAKE,
    filter_failure,
    new_order_rejected,
)
from birdterm.sim.emulator.history import MarketHistory
from birdterm.sim.emulator.ledger import Ledger
from birdterm.sim.emulator.market_json import agg_trade_event, trade_event
from birdterm.sim.emulator.matching_book import MatchingBook
from birdterm.sim.emulator.order_json import fmt, new_order_json, order_json
from birdterm.sim.emulator.order_params import NewOrderRequest, parse_new_order, symbol_rules
from birdterm.sim.emulator.order_validation import validate_order
from birdterm.sim.emulator.orders import Fill, Order
from birdterm.sim.emulator.symbols import SymbolRules

ZERO = Decimal(0)
_NO_LIQUIDITY = "Order book liquidity is less than symbol minimum quantity."
_LOT_LIQUIDITY = "Order book liquidity is less than LOT_SIZE filter minimum quantity."


def price_grid(rules: SymbolRules) -> tuple[Decimal, Decimal]:
    """(tick, lot) of a symbol; a disabled filter leaves the asset precision as the grid."""
    tick = Decimal(1).scaleb(-rules.quote_asset_precision)
    if rules.price_filter is not None and rules.price_filter.tick_size > 0:
        tick = rules.price_filter.tick_size
    lot = Decimal(1).scaleb(-rules.base_asset_precision)
    if rules.lot_size is not None and rules.lot_size.step_size > 0:
        lot = rules.lot_size.step_size
    return tick, lot


class TradingCore(Ledger):
    """Orders over one MatchingBook per symbol (OrderAdmin and the Exchange build on it)."""

    def __init__(
        self,
        symbols: dict[str, SymbolRules],
        histories: dict[str, MarketHistory],
        clock: Callable[[], int],
        maker_commission: Decimal,
        taker_commission: Decimal,
    ) -> None:
        super().__init__(symbols, clock, maker_commission, taker_commission)
        self._histories = histories
        self._books = {name: MatchingBook(name) for name in symbols}
        self._lots = {name: price_grid(rules)[1] for name, rules in symbols.items()}
        self._stream_prefix = {name: name.lower() for name in symbols}
        self._orders: dict[str, dict[int, Order]] = {name: {} for name in symbols}
        self._next_order_id = dict.fromkeys(symbols, 1)
        self._account_orders: dict[str, list[Order]] = {}
        self._client_ids: dict[tuple[str, str, str], Order] = {}
        self._prevented_id = 0
        self._cancel_seq = 0  # numbers the ids generated for cancels

    # hooks the Exchange fills in
    def _reference_price(self, symbol: str) -> Decimal | None:
        raise NotImplementedError

    def _after_order_change(self, symbol: str) -> None:
        raise NotImplementedError

    def _open_orders(self, api_key: str, symbol: str) -> list[Order]:
        """The account's orders resting on a symbol's book, oldest first."""
        return [o for o in self._books[symbol].orders.values() if o.account == api_key]

    def add_account(self, api_key: str, secret: str, balances: dict[str, Decimal]) -> None:
        """Open an account; every symbol's assets appear in it (zero unless given)."""
        super().add_account(api_key, secret, balances)
        self._account_orders[api_key] = []

    def orders_of(self, api_key: str) -> list[dict[str, Any]]:
        """Every order the account ever placed, oldest first (query_order JSON)."""
        self._account(api_key)
        return [order_json(o) for o in self._account_orders[api_key]]

    # --- new orders -------------------------------------------------------------------------

    def new_order(self, api_key: str, params: Mapping[str, str]) -> dict[str, Any]:
        """POST /api/v3/order: validate, lock, match, rest or expire; ACK/RESULT/FULL answer."""
        now = self._begin()
        account = self._account(api_key)
        rules = symbol_rules(params, self.symbols)
        req = parse_new_order(params, rules)
        validate_order(
            rules,
            req.side,
            req.type,
            req.quantity,
            req.price,
            req.quote_order_qty,
            self._reference_price(rules.symbol),
            req.time_in_force,
        )
        qty, lock = self._admit(account, rules, req)
        order = self._create(account, rules, req, qty)
        order.lock_asset = rules.quote_asset if order.is_buy else rules.base_asset
        order.lock_left = lock
        account.lock(order.lock_asset, lock)
        self._dirty_accounts[api_key] = None
        fills = self._execute(order)
        self._flush_positions()
        self._after_order_change(rules.symbol)
        return new_order_json(order, req.resp_type, now, fills)

    def _admit(
        self, account: Account, rules: SymbolRules, req: NewOrderRequest
    ) -> tuple[Decimal, Decimal]:
        """The matching engine's checks of a valid order; returns (quantity, amount to lock)."""
        symbol, is_buy = rules.symbol, req.side == "BUY"
        book = self._books[symbol]
        limit_filter = rules.max_num_orders
        if (
            limit_filter is not None
            and req.type != "MARKET"
            and len(self._open_orders(account.api_key, symbol)) >= limit_filter.max_num_orders
        ):
            raise filter_failure("MAX_NUM_ORDERS")
        if req.type == "MARKET":
            stp = account.api_key if req.stp_mode != "NONE" else None
            fill_qty, cost = book.available(
                is_buy, None, req.quantity, req.quote_order_qty, self._lots[symbol], stp
            )
            qty = req.quantity
            if req.quote_order_qty is not None:
                if fill_qty == 0:
                    empty = book.best(not is_buy) is None
                    raise new_order_rejected(_NO_LIQUIDITY if empty else _LOT_LIQUIDITY)
                qty = fill_qty  # a quote order's quantity is what the book gives for it
            assert qty is not None
            lock = (req.quote_order_qty or cost) if is_buy else qty
        else:
            assert req.price is not None and req.quantity is not None
            qty = req.quantity
            lock = req.price * qty if is_buy else qty
        if lock > account.free(rules.quote_asset if is_buy else rules.base_asset):
            raise new_order_rejected(INSUFFICIENT_BALANCE)
        if req.client_order_id is not None:
            previous = self._client_ids.get((account.api_key, symbol, req.client_order_id))
            if previous is not None and previous.is_open:
                raise new_order_rejected(DUPLICATE_ORDER)
        if req.type == "LIMIT_MAKER":
            best = book.best(not is_buy)
            assert req.price is not None
            if best is not None and book.side(not is_buy).crosses(best[0], req.price):
                raise new_order_rejected(WOULD_MATCH_AND_TAKE)
        return qty, lock

    def _create(
        self, account: Account, rules: SymbolRules, req: NewOrderRequest, qty: Decimal
    ) -> Order:
        symbol = rules.symbol
        order_id = self._next_order_id[symbol]
        self._next_order_id[symbol] = order_id + 1
        order = Order(
            account=account.api_key,
            symbol=symbol,
            order_id=order_id,
            client_order_id=req.client_order_id or generated_client_id(symbol, order_id),
            side=req.side,
            type=req.type,
            time_in_force=req.time_in_force or "GTC",
            price=req.price if req.price is not None else ZERO,
            orig_qty=qty,
            orig_quote_qty=req.quote_order_qty if req.quote_order_qty is not None else ZERO,
            time=self._now,
            stp_mode=req.stp_mode,
        )
        self._orders[symbol][order_id] = order
        self._account_orders[account.api_key].append(order)
        self._client_ids[(account.api_key, symbol, order.client_order_id)] = order
        return order

    def _execute(self, order: Order) -> list[Fill]:
        """Report NEW, take liquidity, then rest (GTC, LIMIT_MAKER) or expire the remainder."""
        rests = order.type == "LIMIT_MAKER" or (
            order.type == "LIMIT" and order.time_in_force == "GTC"
        )
        self._report(order, "NEW", on_book=rests)
        limit = None if order.type == "MARKET" else order.price
        stp = order.account if order.stp_mode != "NONE" else None
        book = self._books[order.symbol]
        fills: list[Fill] = []
        if order.time_in_force != "FOK" or (
            book.available(
                order.is_buy, limit, order.orig_qty, None, self._lots[order.symbol], stp
            )[0]
            == order.orig_qty
        ):
            fills = self._match(order, limit, stp)
        if order.remaining > 0:
            if rests:
                book.rest(order)
            else:
                order.status = "EXPIRED"
                order.update_time = self._now
                self._release(order)
                self._report(order, "EXPIRED")
        return fills

    def _match(self, order: Order, limit: Decimal | None, stp: str | None) -> list[Fill]:
        """Take liquidity for an incoming order; fills at one price form one aggTrade."""
        symbol = order.symbol
        matches, expired = self._books[symbol].take(
            order.is_buy, limit, order.orig_qty, None, self._lots[symbol], stp
        )
        for maker in expired:
            self._expire_in_match(maker, order)
        fills: list[Fill] = []
        ts = max(self._now, self._histories[symbol].last_ts)
        i = 0
        while i < len(matches):
            price = matches[i].price
            j = i
            while j < len(matches) and matches[j].price == price:
                j += 1
            group = matches[i:j]
            ids = self._record_trades(symbol, price, [m.qty for m in group], not order.is_buy, ts)
            for match, trade_id in zip(group, ids, strict=True):
                if match.maker is not None:
                    self._fill(match.maker, price, match.qty, True, trade_id, ts)
                fills.append(self._fill(order, price, match.qty, False, trade_id, ts))
            i = j
        return fills

    def _expire_in_match(self, maker: Order, taker: Order) -> None:
        """Self-trade prevention EXPIRE_MAKER: the resting order of the taker's account ends."""
        self._prevented_id += 1
        left = fmt(maker.remaining)
        maker.status = "EXPIRED_IN_MATCH"
        maker.update_time = self._now
        self._release(maker)
        extra = {
            "u": self._prevented_id,
            "v": self._prevented_id,
            "U": taker.order_id,
            "A": left,
            "B": left,
        }
        self._report(maker, "TRADE_PREVENTION", extra=extra)

    def _record_trades(
        self, symbol: str, price: Decimal, qtys: list[Decimal], buyer_maker: bool, ts: int
    ) -> list[int]:
        """Store trades as one aggTrade and publish them; returns their trade ids."""
        history = self._histories[symbol]
        agg_id = history.next_agg_id
        ids = [
            history.add_trade(ts, price, qty, buyer_maker, new_agg=k == 0)
            for k, qty in enumerate(qtys)
        ]
        if self._market_listeners:
            prefix, now = self._stream_prefix[symbol], self._now
            for trade_id, qty in zip(ids, qtys, strict=True):
                self._emit_market(
                    f"{prefix}@trade",
                    trade_event(symbol, now, trade_id, price, qty, ts, buyer_maker),
                )
            total = sum(qtys, ZERO)
            self._emit_market(
                f"{prefix}@aggTrade",
                agg_trade_event(
                    symbol, now, agg_id, price, total, ids[0], ids[-1], ts, buyer_maker
                ),
            )
        return ids


def generated_client_id(symbol: str, number: int) -> str:
    """A deterministic 22-character id in the style of Binance's generated ones."""
    digest = hashlib.sha256(f"{symbol}:{number}".encode()).digest()
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    value = int.from_bytes(digest[:17], "big")
    chars = []
    for _ in range(22):
        value, rem = divmod(value, 62)
        chars.append(alphabet[rem])
    return "".join(chars)
