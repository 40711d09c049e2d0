"""One symbol's published book: anonymous market liquidity plus resting orders, price-time FIFO.

A level holds the replay's market quantity and the resting orders at that price in time order.
The market quantity present when an order joins is queued ahead of it (`Order.ahead`); market
quantity added later queues behind. When the replay shrinks a level below an order's `ahead`,
the order moves up (ahead = min(ahead, market)): cancellations are assumed to come from ahead
of us only as far as they must. Every change of a level's published quantity takes the next
update id and marks the level for the next depth event.

The book only moves quantities and queues; the Exchange applies the returned Matches to orders
(executed quantity, status), balances and events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from birdterm.sim.emulator.book_side import BookSide, Level, crossing_levels
from birdterm.sim.emulator.orders import Order
from birdterm.sim.emulator.replay import Level as PriceQty

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Match:
    """A fill: `maker` is a resting order, or None for the replay's market liquidity."""

    maker: Order | None
    price: Decimal
    qty: Decimal


class MatchingBook:
    """The published book of one symbol, with update ids for the depth stream."""

    def __init__(self, symbol: str, first_update_id: int = 1_000_000) -> None:
        self.symbol = symbol
        self.bids = BookSide(True)
        self.asks = BookSide(False)
        self.update_id = first_update_id
        self.published_id = first_update_id  # `u` of the last depth event
        self.orders: dict[int, Order] = {}  # resting orders by id, oldest first
        self._dirty: tuple[dict[Decimal, None], dict[Decimal, None]] = ({}, {})  # asks, bids

    def side(self, is_bid: bool) -> BookSide:
        """The bid side (True) or ask side (False)."""
        return self.bids if is_bid else self.asks

    def _touch(self, is_bid: bool, price: Decimal) -> None:
        self.update_id += 1
        self._dirty[is_bid][price] = None

    # --- market liquidity -------------------------------------------------------------------

    def set_market(self, is_bid: bool, price: Decimal, qty: Decimal) -> None:
        """Set the replay's absolute quantity at a level (0 removes the market part)."""
        side = self.bids if is_bid else self.asks
        level = side.levels.get(price)
        if level is None:
            if qty == 0:
                return
            level = side.get_or_add(price)
        elif level.market == qty:
            return
        level.market = qty
        for order in level.orders:
            if order.ahead > qty:
                order.ahead = qty
        side.drop_if_empty(level)
        self._touch(is_bid, price)

    def load(self, bids: list[PriceQty], asks: list[PriceQty]) -> None:
        """Set market levels from a snapshot (as changes, so they take update ids)."""
        for price, qty in bids:
            self.set_market(True, price, qty)
        for price, qty in asks:
            self.set_market(False, price, qty)

    # --- resting orders ---------------------------------------------------------------------

    def rest(self, order: Order) -> None:
        """Queue an order at its price behind everything already there."""
        level = self.side(order.is_buy).get_or_add(order.price)
        order.ahead = level.market
        level.orders.append(order)
        self.orders[order.order_id] = order
        level.ours += order.remaining
        self._touch(order.is_buy, order.price)

    def remove(self, order: Order) -> None:
        """Take a resting order off the book (cancel or expiry)."""
        side = self.side(order.is_buy)
        level = side.levels[order.price]
        self._unqueue(level, order)
        level.ours -= order.remaining
        side.drop_if_empty(level)
        self._touch(order.is_buy, order.price)

    def reduce(self, order: Order, new_remaining: Decimal) -> None:
        """Shrink a resting order in place (amend keeps its queue position)."""
        level = self.side(order.is_buy).levels[order.price]
        level.ours -= order.remaining - new_remaining
        self._touch(order.is_buy, order.price)

    # --- matching ---------------------------------------------------------------------------

    def take(
        self,
        taker_is_buy: bool,
        limit: Decimal | None,
        qty: Decimal | None,
        quote: Decimal | None,
        lot: Decimal,
        stp_account: str | None,
    ) -> tuple[list[Match], list[Order]]:
        """Match an incoming order; returns the fills and the own makers expired by STP.

        `qty` bounds the base quantity, or `quote` the quote amount (MARKET quoteOrderQty,
        each fill rounded down to the lot). Resting orders of `stp_account` met on the way are
        taken off the book (self-trade prevention EXPIRE_MAKER) and returned; None trades
        with them.
        """
        side = self.asks if taker_is_buy else self.bids
        matches: list[Match] = []
        expired: list[Order] = []
        left_qty, left_quote = qty, quote
        while side.prices:
            level = side.best()
            assert level is not None
            price = level.price
            if limit is not None and not side.crosses(price, limit):
                break
            if left_quote is not None:
                room = left_quote // (price * lot) * lot
            else:
                assert left_qty is not None
                room = left_qty
            if room <= 0:
                break
            got = self._take_level(level, room, stp_account, matches, expired)
            self._touch(not taker_is_buy, price)
            side.drop_if_empty(level)
            if left_quote is not None:
                left_quote -= got * price
            else:
                assert left_qty is not None
                left_qty -= got
        return matches, expired

    def _take_level(
        self,
        level: Level,
        room: Decimal,
        stp_account: str | None,
        matches: list[Match],
        expired: list[Order],
    ) -> Decimal:
        """Consume up to `room` at one level in queue order; returns the quantity taken."""
        price = level.price
        got = ZERO
        market_used = ZERO
        for order in list(level.orders):
            if got == room:
                break
            gap = order.ahead - market_used
            if gap > 0:
                part = min(gap, room - got)
                matches.append(Match(None, price, part))
                market_used += part
                got += part
                if got == room:
                    break
            if order.account == stp_account:
                self._unqueue(level, order)
                level.ours -= order.remaining
                expired.append(order)
                continue
            part = min(order.remaining, room - got)
            matches.append(Match(order, price, part))
            got += part
            level.ours -= part
            if part == order.remaining:
                self._unqueue(level, order)
        if got < room and level.market > market_used:
            part = min(level.market - market_used, room - got)
            matches.append(Match(None, price, part))
            market_used += part
            got += part
        level.market -= market_used
        for order in level.orders:
            order.ahead = max(ZERO, order.ahead - market_used)
        return got

    def available(
        self,
        taker_is_buy: bool,
        limit: Decimal | None,
        qty: Decimal | None,
        quote: Decimal | None,
        lot: Decimal,
        stp_account: str | None,
    ) -> tuple[Decimal, Decimal]:
        """What `take` would fill, without changing anything: (base quantity, quote amount)."""
        side = self.asks if taker_is_buy else self.bids
        total_qty = total_quote = ZERO
        for level in side.best_first():
            price = level.price
            if limit is not None and not side.crosses(price, limit):
                break
            own = sum((o.remaining for o in level.orders if o.account == stp_account), ZERO)
            avail = level.published - own
            if quote is not None:
                room = (quote - total_quote) // (price * lot) * lot
            else:
                assert qty is not None
                room = qty - total_qty
            part = min(avail, room)
            if part <= 0:
                if room <= 0:
                    break
                continue
            total_qty += part
            total_quote += part * price
        return total_qty, total_quote

    def trade_fills(self, price: Decimal, qty: Decimal, taker_sold: bool) -> list[Match]:
        """Fills of resting orders by a replay trade (taker sold: bids at or above `price`).

        Orders at a better price than the print fill first (the taker would have met them);
        at the print's price the trade first consumes the market queued ahead of each order.
        """
        if not self.orders:
            return []
        side = self.bids if taker_sold else self.asks
        matches: list[Match] = []
        left = qty
        touched: list[Level] = []
        for level in side.best_first():
            if left <= 0 or not side.crosses(level.price, price):
                break
            if not level.orders:
                continue
            at_print = level.price == price
            market_used = ZERO
            for order in level.orders:
                if at_print:
                    part = min(left, order.ahead - market_used)
                    market_used += part
                    left -= part
                if left <= 0:
                    break
                part = min(order.remaining, left)
                matches.append(Match(order, order.price, part))
                left -= part
            for order in level.orders:
                order.ahead = max(ZERO, order.ahead - market_used)
            touched.append(level)
        for match in matches:
            self._fill_resting(match.maker, match.qty)  # type: ignore[arg-type]
        for level in touched:
            side.drop_if_empty(level)
        return matches

    def cross_fills(self, apply: Callable[[Match], None]) -> None:
        """Fill resting orders that market liquidity on the other side moved through.

        `apply` is called with each fill at once (it must update the order), since one order
        can fill against several market levels in turn.
        """
        if not self.orders:
            return
        for ours, theirs in ((self.bids, self.asks), (self.asks, self.bids)):
            while True:
                market = next((lv for lv in theirs.best_first() if lv.market > 0), None)
                if market is None:
                    break
                level = next(
                    (
                        lv
                        for lv in crossing_levels(ours, market.price)
                        if lv.orders  # levels without orders hold only market quantity
                    ),
                    None,
                )
                if level is None:
                    break
                order = level.orders[0]
                part = min(order.remaining, market.market)
                market.market -= part
                for other in market.orders:
                    other.ahead = min(other.ahead, market.market)
                self._touch(theirs.is_bid, market.price)
                theirs.drop_if_empty(market)
                self._fill_resting(order, part)
                ours.drop_if_empty(level)
                apply(Match(order, order.price, part))

    def _fill_resting(self, order: Order, qty: Decimal) -> None:
        """Take `qty` of a resting order's remaining off its level (the order is updated later)."""
        level = self.side(order.is_buy).levels[order.price]
        level.ours -= qty
        if qty == order.remaining:
            self._unqueue(level, order)
        self._touch(order.is_buy, order.price)

    def _unqueue(self, level: Level, order: Order) -> None:
        level.orders.remove(order)
        del self.orders[order.order_id]

    # --- reading ----------------------------------------------------------------------------

    def levels(self, is_bid: bool, limit: int | None = None) -> list[PriceQty]:
        """Published (price, qty) best first, at most `limit` levels."""
        out: list[PriceQty] = []
        for level in self.side(is_bid).best_first():
            if limit is not None and len(out) >= limit:
                break
            out.append((level.price, level.published))
        return out

    def best(self, is_bid: bool) -> PriceQty | None:
        """The best published level of a side."""
        level = self.side(is_bid).best()
        return None if level is None else (level.price, level.published)

    def drain_changes(self) -> tuple[int, int, list[PriceQty], list[PriceQty]] | None:
        """(U, u, bids, asks) changed since the last call (bids descending), or None."""
        if self.update_id == self.published_id:
            return None
        first = self.published_id + 1
        self.published_id = self.update_id
        out: list[list[PriceQty]] = []
        for is_bid in (True, False):
            side, dirty = self.side(is_bid), self._dirty[is_bid]
            prices = sorted(dirty, reverse=is_bid)
            dirty.clear()
            levels = side.levels
            out.append([(p, levels[p].published if p in levels else ZERO) for p in prices])
        return first, self.update_id, out[0], out[1]
