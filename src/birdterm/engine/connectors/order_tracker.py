"""OrderTracker: the orders a live connector knows of, from before they are sent until done.

Every order is tracked (and saved to the store) before its request leaves, so no answer, lost
answer or restart can make us forget it. Updates from any source (request answers, user-data
events, REST lookups) go through `apply_update` / `apply_fill`, which accept them in any order
and any number of times: stale or impossible transitions are ignored, fills are de-duplicated by
trade id, and an exchange report that an order is done is held back until every fill it implies
has been applied (so a listener always hears all fills before `on_order_done`). Listener
notifications are queued and delivered by `deliver_pending()`, never inside the causing call.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from birdterm.engine.connectors.base import Fill, GatewayListener
from birdterm.engine.store import Store
from birdterm.engine.types import (
    ZERO,
    FillError,
    IllegalTransitionError,
    InFlightOrder,
    OrderState,
    TradeUpdate,
)

log = logging.getLogger("birdterm.order_tracker")

MAX_NOT_FOUND = 3  # lookups answering "no such order" before a sent order counts as FAILED
_DONE_KEPT = 10_000  # done orders remembered (fill de-duplication, reports), newest kept
_FINAL = (OrderState.FILLED, OrderState.CANCELED)


@dataclass(slots=True)
class TrackedOrder:
    """An InFlightOrder plus what the connector needs to drive it to a known end."""

    order: InFlightOrder
    listener: GatewayListener | None = None
    executor_id: str | None = None
    outcome_unknown: bool = False  # the create request may or may not have reached the exchange
    not_found_count: int = 0
    exchange_executed: Decimal = ZERO  # the largest cumulative fill the exchange reported
    pending_final: tuple[OrderState, str] | None = None  # done on the exchange, fills missing
    cancel_wanted: bool = False  # cancel asked for before the create was answered
    cancel_attempts: int = 0
    next_action_at: float = 0.0  # earliest time of the next cancel retry / lookup
    sent_at: float | None = None  # when the create request left (local seconds)
    missing_since: float | None = None  # when the exchange first reported fills we lack
    fills_fetched_at: float = -1e18  # last REST fetch of this order's trades
    busy: bool = False  # a request about this order is in flight
    reason: str = ""

    @property
    def client_order_id(self) -> str:
        """The order's client id."""
        return self.order.client_order_id

    @property
    def missing_fills(self) -> bool:
        """True when the exchange reported more filled than the fills we hold."""
        return self.exchange_executed > self.order.executed_base


class OrderTracker:
    """Tracked orders by client id and exchange id, their persistence and notifications."""

    def __init__(
        self,
        connector_name: str,
        store: Store | None = None,
        *,
        fee_in_quote: Callable[[str, str, Decimal], Decimal | None] | None = None,
    ) -> None:
        self.connector_name = connector_name
        self.store = store
        self._fee_in_quote = fee_in_quote  # (token, quote, amount) -> value in quote, or None
        self._orders: dict[str, TrackedOrder] = {}
        self._by_exchange_id: dict[str, str] = {}
        self._done_order: deque[str] = deque()
        self._pending: deque[tuple[Callable[..., None], tuple[object, ...]]] = deque()
        self.on_queued: Callable[[], None] | None = None  # the connector schedules delivery
        self.stats: dict[str, int] = {
            "duplicate_fills": 0,
            "stale_updates": 0,
            "failed_not_found": 0,
            "fills": 0,
        }

    # ---- lookups -----------------------------------------------------------------------------
    def get(self, client_order_id: str) -> TrackedOrder | None:
        """The tracked entry of a client order id."""
        return self._orders.get(client_order_id)

    def by_exchange_id(self, exchange_order_id: str) -> TrackedOrder | None:
        """The tracked entry of an exchange order id."""
        client_id = self._by_exchange_id.get(exchange_order_id)
        return None if client_id is None else self._orders.get(client_id)

    def tracked(self) -> list[TrackedOrder]:
        """Every tracked entry, done ones included, in tracking order."""
        return list(self._orders.values())

    def open_entries(self) -> list[TrackedOrder]:
        """Entries of orders not yet done."""
        return [t for t in self._orders.values() if not t.order.is_done]

    def all_orders(self) -> list[InFlightOrder]:
        """Every tracked order, done ones included."""
        return [t.order for t in self._orders.values()]

    def open_orders(self) -> list[InFlightOrder]:
        """Tracked orders not yet done."""
        return [t.order for t in self._orders.values() if not t.order.is_done]

    # ---- tracking ----------------------------------------------------------------------------
    def start_tracking(
        self,
        order: InFlightOrder,
        listener: GatewayListener | None = None,
        executor_id: str | None = None,
    ) -> TrackedOrder:
        """Track an order and save it (raises StoreError: then it must not be sent)."""
        if order.client_order_id in self._orders:
            raise ValueError(f"order {order.client_order_id} is already tracked")
        entry = TrackedOrder(order, listener, executor_id)
        entry.exchange_executed = order.executed_base
        self._orders[order.client_order_id] = entry
        if order.exchange_order_id is not None:
            self._by_exchange_id[order.exchange_order_id] = order.client_order_id
        try:
            self._save(entry)
        except Exception:
            del self._orders[order.client_order_id]
            raise
        return entry

    def set_exchange_id(self, client_order_id: str, exchange_order_id: str) -> None:
        """Remember the exchange's id of an order (saved when it is new)."""
        entry = self._orders.get(client_order_id)
        if entry is None or entry.order.exchange_order_id == exchange_order_id:
            return
        entry.order.exchange_order_id = exchange_order_id
        self._by_exchange_id[exchange_order_id] = client_order_id
        self._save(entry)

    def set_amount(self, client_order_id: str, amount: Decimal) -> None:
        """The exchange's quantity of an order changed (amended): follow it."""
        entry = self._orders.get(client_order_id)
        if entry is None or entry.order.is_done or amount == entry.order.amount:
            return
        if amount < entry.order.executed_base or amount <= 0:
            log.warning("tracker: %s ignoring amount %s", client_order_id, amount)
            return
        entry.order.amount = amount
        self._save(entry)

    # ---- updates -----------------------------------------------------------------------------
    def apply_update(
        self,
        client_order_id: str,
        state: OrderState,
        exchange_order_id: str | None = None,
        timestamp: float | None = None,
        *,
        executed: Decimal | None = None,
        reason: str = "",
    ) -> bool:
        """Apply the exchange's view of an order; False when it changed nothing (stale,
        impossible, or a final state held back until its missing fills are applied)."""
        entry = self._orders.get(client_order_id)
        if entry is None:
            log.info("tracker: update %s for untracked order %s", state.value, client_order_id)
            return False
        if exchange_order_id is not None:
            self.set_exchange_id(client_order_id, exchange_order_id)
        order = entry.order
        if executed is not None and executed > entry.exchange_executed:
            entry.exchange_executed = executed
        if order.is_done:
            if state is not order.state:
                self._stale(entry, state)
            return False
        entry.outcome_unknown = False
        entry.not_found_count = 0
        if state is OrderState.FILLED:
            filled = order.amount if executed is None else executed
            if filled < order.amount:
                self.set_amount(client_order_id, filled)  # amended on the exchange: all filled
            entry.exchange_executed = max(entry.exchange_executed, filled)
        if state in _FINAL and entry.missing_fills:
            entry.pending_final = (state, reason)
            return False
        if state is OrderState.PARTIALLY_FILLED:
            # fills drive PARTIALLY_FILLED; without them this only proves the order exists
            state = OrderState.OPEN
        if state is OrderState.OPEN and order.state is not OrderState.PENDING_CREATE:
            return False  # NEW after a fill or after our cancel request: stale
        if state is OrderState.PENDING_CANCEL and order.state is OrderState.PENDING_CANCEL:
            return False
        return self._transition(entry, state, timestamp, reason)

    def apply_fill(self, fill: TradeUpdate) -> bool:
        """Apply one fill once (by trade id); queues on_fill (and on_order_done when FILLED)."""
        entry = self._orders.get(fill.client_order_id)
        if entry is None:
            log.warning(
                "tracker: fill %s for untracked order %s", fill.trade_id, fill.client_order_id
            )
            return False
        order = entry.order
        if fill.trade_id in order.fills:
            self.stats["duplicate_fills"] += 1
            return False
        if order.is_done:
            log.error(
                "tracker: fill %s arrived after %s was %s; not applied",
                fill.trade_id,
                order.client_order_id,
                order.state.value,
            )
            return False
        was = order.state
        try:
            applied = order.apply_fill(fill)
        except (FillError, IllegalTransitionError) as exc:
            log.error("tracker: fill %s not applied: %s", fill.trade_id, exc)
            return False
        if not applied:
            return False
        self.stats["fills"] += 1
        entry.outcome_unknown = False
        entry.not_found_count = 0
        if order.executed_base > entry.exchange_executed:
            entry.exchange_executed = order.executed_base
        self._save(entry)
        self._queue(entry, "on_fill", self._to_fill(entry, fill))
        if order.state is OrderState.FILLED:
            self._finished(entry, was)
        elif entry.pending_final is not None and not entry.missing_fills:
            state, reason = entry.pending_final
            entry.pending_final = None
            self.apply_update(order.client_order_id, state, timestamp=fill.timestamp, reason=reason)
        return True

    # ---- lookups of orders whose create outcome is unknown --------------------------------------
    def mark_unknown(self, client_order_id: str) -> None:
        """The create request's outcome is unknown: the order must be looked up (unless the
        exchange already told us about it)."""
        entry = self._orders.get(client_order_id)
        if entry is not None and entry.order.state is OrderState.PENDING_CREATE:
            entry.outcome_unknown = True

    def not_found(self, client_order_id: str, timestamp: float | None = None) -> bool:
        """A lookup said the exchange does not know the order; True once it is FAILED for it."""
        entry = self._orders.get(client_order_id)
        if entry is None or entry.order.is_done:
            return False
        entry.not_found_count += 1
        if entry.not_found_count < MAX_NOT_FOUND:
            return False
        self.stats["failed_not_found"] += 1
        reason = (
            f"exchange does not know order {client_order_id} after {entry.not_found_count} lookups"
        )
        # FAILED; an order that had fills or a cancel request did exist: it ends CANCELED
        return self._transition(entry, OrderState.FAILED, timestamp, reason)

    # ---- notifications -----------------------------------------------------------------------
    def deliver_pending(self) -> int:
        """Deliver queued notifications (which may queue more) until none is left."""
        delivered = 0
        while self._pending:
            call, args = self._pending.popleft()
            delivered += 1
            try:
                call(*args)
            except Exception:
                log.exception("tracker: listener %r failed", call)
        return delivered

    def queue_call(self, call: Callable[..., None], *args: object) -> None:
        """Queue any listener callback for the next delivery (e.g. a failure of an order that
        could not even be tracked)."""
        self._pending.append((call, args))
        if self.on_queued is not None:
            self.on_queued()

    @property
    def pending_count(self) -> int:
        """Notifications waiting for delivery."""
        return len(self._pending)

    # ---- internals ---------------------------------------------------------------------------
    def _transition(
        self, entry: TrackedOrder, state: OrderState, timestamp: float | None, reason: str
    ) -> bool:
        order = entry.order
        if state is order.state:
            return False
        if state is OrderState.FAILED and order.state not in (
            OrderState.PENDING_CREATE,
            OrderState.OPEN,
        ):
            state = OrderState.CANCELED  # a rejection of an order that had fills ends it
        try:
            was = order.state
            order.transition(state, timestamp)
        except IllegalTransitionError:
            self._stale(entry, state)
            return False
        if reason:
            entry.reason = reason
        self._save(entry)
        if state.is_done:
            self._finished(entry, was)
        return True

    def _finished(self, entry: TrackedOrder, was: OrderState) -> None:
        order = entry.order
        entry.pending_final = None
        self._done_order.append(order.client_order_id)
        log.info(
            "tracker: %s %s -> %s %s",
            order.client_order_id,
            was.value,
            order.state.value,
            entry.reason,
        )
        self._queue(entry, "on_order_done", order.client_order_id, order.state, entry.reason)
        while len(self._done_order) > _DONE_KEPT:
            old = self._orders.pop(self._done_order.popleft(), None)
            if old is not None and old.order.exchange_order_id is not None:
                self._by_exchange_id.pop(old.order.exchange_order_id, None)

    def _stale(self, entry: TrackedOrder, state: OrderState) -> None:
        self.stats["stale_updates"] += 1
        log.debug(
            "tracker: %s ignoring %s (is %s)",
            entry.client_order_id,
            state.value,
            entry.order.state.value,
        )

    def _save(self, entry: TrackedOrder) -> None:
        if self.store is not None:
            self.store.save_order(entry.order, self.connector_name, entry.executor_id)

    def _queue(self, entry: TrackedOrder, method: str, *args: object) -> None:
        if entry.listener is not None:
            self.queue_call(getattr(entry.listener, method), *args)

    def _to_fill(self, entry: TrackedOrder, update: TradeUpdate) -> Fill:
        order = entry.order
        base, quote = order.base_asset, order.quote_asset
        fees = update.fee.amounts(base, quote, update.amount, update.price, order.trade_type)
        fee_quote = ZERO
        for token, value in fees.items():
            if token == quote:
                fee_quote += value
            elif token == base:
                fee_quote += value * update.price
            else:
                converted = self._fee_in_quote(token, quote, value) if self._fee_in_quote else None
                if converted is None:
                    log.warning(
                        "tracker: fee %s %s of %s not valued in %s",
                        value,
                        token,
                        update.trade_id,
                        quote,
                    )
                else:
                    fee_quote += converted
        return Fill(
            order.client_order_id,
            order.trading_pair,
            order.trade_type,
            update.price,
            update.amount,
            fees,
            fee_quote,
            update.is_maker,
            update.timestamp,
            update.trade_id,
        )
