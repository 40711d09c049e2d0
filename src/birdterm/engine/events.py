"""Typed engine events and a synchronous publish/subscribe hub with weak listeners."""

from __future__ import annotations

import contextlib
import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from birdterm.engine.types import OrderType, TradeFee, TradeType

log = logging.getLogger("birdterm.events")


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every engine event; `timestamp` is the clock time it happened at."""

    timestamp: float


@dataclass(frozen=True, slots=True)
class OrderEvent(Event):
    """Base of the events about one order."""

    client_order_id: str
    trading_pair: str


@dataclass(frozen=True, slots=True)
class OrderCreated(OrderEvent):
    """The exchange accepted an order."""

    exchange_order_id: str
    order_type: OrderType
    trade_type: TradeType
    price: Decimal | None
    amount: Decimal


@dataclass(frozen=True, slots=True)
class OrderFilled(OrderEvent):
    """One fill of an order (a partial fill or the last one)."""

    trade_id: str
    order_type: OrderType
    trade_type: TradeType
    price: Decimal
    amount: Decimal
    fee: TradeFee
    is_maker: bool


@dataclass(frozen=True, slots=True)
class OrderCompleted(OrderEvent):
    """An order is fully filled."""

    trade_type: TradeType
    executed_base: Decimal
    executed_quote: Decimal


@dataclass(frozen=True, slots=True)
class OrderCancelled(OrderEvent):
    """The exchange confirmed a cancel."""


@dataclass(frozen=True, slots=True)
class OrderFailed(OrderEvent):
    """An order was rejected or lost; `reason` says why in words a trader understands."""

    reason: str


@dataclass(frozen=True, slots=True)
class ExecutorStateChanged(Event):
    """An executor moved between states (e.g. RUNNING -> TERMINATED with a close type)."""

    executor_id: str
    controller_id: str
    previous_status: str
    status: str
    close_type: str | None = None


@dataclass(frozen=True, slots=True)
class BalanceUpdate(Event):
    """A connector's balance of one asset changed."""

    connector: str
    asset: str
    total: Decimal
    available: Decimal


@dataclass(frozen=True, slots=True)
class BookUpdate(Event):
    """A pair's order book changed (top of book after the update)."""

    trading_pair: str
    update_id: int
    best_bid: float | None
    best_ask: float | None


E = TypeVar("E", bound=Event)
Listener = Callable[[E], object]


class EventHub:
    """Synchronous pub/sub keyed by event class; listeners are held weakly.

    A listener subscribed to a base class (say OrderEvent) receives every subclass event. Because
    references are weak, a listener lives only as long as its owner: subscribing a bound method
    does not keep its object alive, and a lambda nobody else holds is dropped at once.
    """

    def __init__(self) -> None:
        self._listeners: dict[type[Event], list[weakref.ref[Callable[..., object]]]] = {}

    def subscribe(self, event_type: type[E], listener: Listener[E]) -> None:
        """Call `listener(event)` for each published event of `event_type` or a subclass."""
        refs = self._listeners.setdefault(event_type, [])
        if any(ref() == listener for ref in refs):
            return
        refs.append(_weak(listener))

    def unsubscribe(self, event_type: type[E], listener: Listener[E]) -> None:
        """Stop calling `listener` for `event_type`; unknown listeners are ignored."""
        refs = self._listeners.get(event_type, [])
        refs[:] = [ref for ref in refs if ref() is not None and ref() != listener]

    def listener_count(self, event_type: type[Event]) -> int:
        """How many live listeners are subscribed to exactly `event_type`."""
        return sum(1 for ref in self._listeners.get(event_type, []) if ref() is not None)

    def publish(self, event: Event) -> int:
        """Deliver `event` to its listeners now; returns how many were called.

        A listener that raises is logged and the others still run: one broken consumer
        (a UI pane, say) must not stop order events reaching the rest.
        """
        called = 0
        for cls in type(event).__mro__:
            refs = self._listeners.get(cls)  # type: ignore[call-overload]
            if not refs:
                continue
            for ref in tuple(refs):
                listener = ref()
                if listener is None:
                    # A listener may have unsubscribed (and pruned) during this delivery.
                    with contextlib.suppress(ValueError):
                        refs.remove(ref)
                    continue
                called += 1
                try:
                    listener(event)
                except Exception:
                    log.exception("events: listener %r failed on %s", listener, event)
        return called


def _weak(listener: Callable[..., object]) -> weakref.ref[Callable[..., object]]:
    if hasattr(listener, "__self__") and hasattr(listener, "__func__"):
        return weakref.WeakMethod(listener)  # type: ignore[arg-type]
    return weakref.ref(listener)
