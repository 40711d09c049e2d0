"""Bringing our view in line with the exchange's: balances, open orders, orders from the store.

* `poll_open_orders`: look every open tracked order up (after a reconnect, and periodically while
  the user-data stream is down); fills missed meanwhile then come from myTrades.
* `maintain_orders`: one pass of the work that must go on until the exchange confirms it
  (cancel retries, lookups of unknown outcomes, fetching fills whose events never came).
* `OrderSupervisor`: runs those: the maintenance loop, balances from GET /api/v3/account (at
  start, after a reconnect, while the stream is down), REST polling of orders and balances while
  the user-data stream is down (one poll in flight at a time), and a full poll after every
  reconnect.
* `restore_from_store`: at start, adopt the store's open orders and cancel open orders of ours
  (client id with our prefix) that nothing tracks. Executors are not restored, so an adopted
  order has no owner: each is looked up until the exchange answers for it (one it does not
  know ends FAILED, or CANCELED when it had fills, after MAX_NOT_FOUND lookups), its fills are
  recorded, and it is cancelled as soon as the exchange confirms it live.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from birdterm.engine.connectors.binance.constants import ACCOUNT_PATH, OPEN_ORDERS_PATH
from birdterm.engine.connectors.binance.errors import BinanceConnectorError
from birdterm.engine.connectors.binance.order_flow import OrderFlow
from birdterm.engine.connectors.binance.parsing import (
    parse_account,
    parse_commission_rates,
    parse_order,
)
from birdterm.engine.connectors.binance.rules import pair_to_symbol
from birdterm.engine.connectors.binance.tasks import TaskSet
from birdterm.engine.connectors.binance.user_events import BalanceBook
from birdterm.engine.connectors.order_tracker import TrackedOrder
from birdterm.engine.store import Store
from birdterm.engine.types import InFlightOrder, OrderState, OrderType, TradeType

log = logging.getLogger("birdterm.binance.reconcile")

CLOCK_RESYNC_S = 600.0
BALANCE_SETTLE_S = 0.3  # quiet time after same-ms balance updates before a REST snapshot


def maintain_orders(flow: OrderFlow, tasks: TaskSet, now: float, stream_up: bool) -> None:
    """Start the requests that are due for open orders (none for an order already busy)."""
    # With the stream up, a fill the exchange reported is usually an event on its way.
    grace = flow.settings.missing_fill_grace_s if stream_up else 0.0
    for entry in flow.tracker.open_entries():
        if entry.missing_fills or entry.pending_final is not None:
            entry.missing_since = entry.missing_since or now
        else:
            entry.missing_since = None
        if entry.busy or now < entry.next_action_at:
            continue
        if entry.missing_since is not None and now - entry.missing_since >= grace:
            if now - entry.fills_fetched_at >= max(grace, 0.5):
                tasks.run_for(entry, flow.fetch_trades)
        elif entry.order.state is OrderState.PENDING_CANCEL:
            tasks.run_for(entry, flow.cancel)
        elif entry.outcome_unknown:
            tasks.run_for(entry, flow.lookup)


async def poll_open_orders(flow: OrderFlow, tasks: TaskSet) -> int:
    """Check every open tracked order not already being worked on: one GET openOrders per pair
    (weight 6) updates the listed ones; the others (done meanwhile, or never placed) are looked
    up one by one. Returns how many orders were checked."""
    entries = [e for e in flow.tracker.open_entries() if not e.busy]
    pairs = sorted({e.order.trading_pair for e in entries})
    listed: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        try:
            rows = await flow.rest_call("GET", OPEN_ORDERS_PATH, {"symbol": pair_to_symbol(pair)})
        except BinanceConnectorError as exc:
            log.info("reconcile: open orders of %s not listed: %s", pair, exc)
            return 0
        listed.update((str(row.get("clientOrderId")), row) for row in rows)
    started = []
    for entry in entries:
        row = listed.get(entry.client_order_id)
        if row is not None:
            flow.apply_answer(entry.client_order_id, row)
        elif not entry.busy:
            started.append(tasks.run_for(entry, flow.lookup))
    if started:
        await asyncio.gather(*started, return_exceptions=True)
    flow.stats["polls"] += 1
    return len(entries)


def adopt_stored(flow: OrderFlow, orders: Iterable[InFlightOrder]) -> list[TrackedOrder]:
    """Track the store's open orders again, without a listener (no executor owns them after a
    restart): each is looked up until the exchange answers for it, and cancelled once the
    exchange confirms it live."""
    adopted: list[TrackedOrder] = []
    for order in orders:
        if flow.tracker.get(order.client_order_id) is not None:
            continue
        entry = flow.tracker.start_tracking(order)
        # Whatever its stored state, its create may never have reached the exchange, or it may
        # be done by now: lookups decide (MAX_NOT_FOUND "no such order" answers end it).
        entry.outcome_unknown = True
        # Reduce exposure: nothing would ever close it (apply_report cancels it once live).
        entry.cancel_wanted = True
        adopted.append(entry)
    return adopted


async def cancel_untracked(
    flow: OrderFlow, symbols: Mapping[str, str], prefix: str, now: float
) -> list[str]:
    """Adopt and cancel open exchange orders with our client id prefix that nothing tracks."""
    cancelled: list[str] = []
    for symbol, pair in symbols.items():
        try:
            open_orders = await flow.rest_call("GET", OPEN_ORDERS_PATH, {"symbol": symbol})
        except BinanceConnectorError as exc:
            log.warning("reconcile: open orders of %s not listed: %s", symbol, exc)
            continue
        for data in open_orders:
            cid = str(data.get("clientOrderId", ""))
            if not cid.startswith(prefix) or flow.tracker.get(cid) is not None:
                continue
            order = _order_from_exchange(data, pair, now)
            if order is None:
                continue
            entry = flow.tracker.start_tracking(order)
            flow.apply_answer(cid, data)
            log.warning(
                "reconcile: cancelling untracked open order %s (%s %s %s @ %s)",
                cid,
                pair,
                order.trade_type.value,
                order.amount,
                order.price,
            )
            flow.start_cancel(entry)
            cancelled.append(cid)
    return cancelled


async def restore_from_store(
    flow: OrderFlow,
    store: Store,
    symbols: Mapping[str, str],
    prefix: str,
    now: float,
    tasks: TaskSet,
) -> tuple[list[TrackedOrder], list[str]]:
    """Adopt the store's open orders (looked up once here, then until the exchange answers for
    them; cancelled once confirmed live), and cancel untracked open orders of ours."""
    stored = store.open_orders(flow.tracker.connector_name)
    adopted = adopt_stored(flow, stored)
    started = [tasks.run_for(entry, flow.lookup) for entry in adopted]
    if started:
        await asyncio.gather(*started, return_exceptions=True)
    for entry in adopted:
        _log_adopted(entry)
    cancelled = await cancel_untracked(flow, symbols, prefix, now)
    log.info(
        "reconcile: %d stored open order(s) adopted, %d untracked cancelled",
        len(adopted),
        len(cancelled),
    )
    return adopted, cancelled


def _log_adopted(entry: TrackedOrder) -> None:
    order = entry.order
    what = (
        f"{order.trading_pair} {order.trade_type.value} {order.amount} @ {order.price},"
        f" filled {order.executed_base}"
    )
    cid = order.client_order_id
    if order.is_done:
        log.info("reconcile: stored order %s (%s) is %s", cid, what, order.state.value)
    elif entry.outcome_unknown:
        log.warning(
            "reconcile: stored order %s (%s) has no executor after the restart; looking it up,"
            " it is cancelled if the exchange has it open",
            cid,
            what,
        )
    else:
        log.warning(
            "reconcile: cancelling stored order %s (%s): no executor owns it after the restart",
            cid,
            what,
        )


def _order_from_exchange(data: Mapping[str, Any], pair: str, now: float) -> InFlightOrder | None:
    try:
        order_type = OrderType(str(data["type"]))
        report = parse_order(data)
        price = Decimal(str(data["price"])) if order_type.is_limit else None
        return InFlightOrder(
            report.client_order_id,
            pair,
            order_type,
            TradeType(str(data["side"])),
            report.orig_qty or Decimal(0),
            price,
            report.timestamp or now,
            exchange_order_id=report.exchange_order_id,
        )
    except (KeyError, ValueError, ArithmeticError) as exc:
        log.error("reconcile: cannot adopt order %r: %r", dict(data), exc)
        return None


class OrderSupervisor:
    """Keeps orders and balances in line with the exchange for as long as the connector runs."""

    def __init__(
        self,
        flow: OrderFlow,
        balances: BalanceBook,
        tasks: TaskSet,
        stream_up: Callable[[], bool],
        now: Callable[[], float],
        interval_s: float,
    ) -> None:
        self.flow = flow
        self.balances = balances
        self._tasks = tasks
        self._stream_up = stream_up
        self._now = now
        self._interval_s = interval_s
        self._next_poll_at = 0.0
        self._next_clock_sync_at = now() + CLOCK_RESYNC_S
        self.fees: tuple[Decimal, Decimal] | None = None  # (maker, taker) from the account
        # at most one of each in flight (a throttler pause after a 429/418 blocks them all)
        self._poll_task: asyncio.Task[None] | None = None
        self._balances_task: asyncio.Task[None] | None = None
        self._clock_task: asyncio.Task[None] | None = None

    async def refresh_balances(self) -> None:
        """Replace the balances (and fee rates) with GET /api/v3/account; logged when it
        fails."""
        try:
            account = await self.flow.rest_call("GET", ACCOUNT_PATH, {"omitZeroBalances": "false"})
            self.balances.replace_all(parse_account(account), int(account.get("updateTime") or 0))
            fees = parse_commission_rates(account)
        except BinanceConnectorError as exc:
            log.warning("binance: balances not refreshed: %s", exc)
            return
        if fees is not None:
            self.fees = fees

    async def reconcile(self) -> None:
        """Balances, then a lookup of every open order."""
        await self.refresh_balances()
        await poll_open_orders(self.flow, self._tasks)

    async def on_reconnected(self) -> None:
        """The user-data stream is back: whatever happened meanwhile is fetched."""
        log.info("binance: user-data stream back; reconciling")
        await self.reconcile()

    def on_disconnected(self) -> None:
        """The user-data stream dropped: poll over REST from now on until it is back."""
        log.warning("binance: user-data stream down; polling orders over REST")
        self._next_poll_at = 0.0

    async def run(self) -> None:
        """The maintenance loop (runs until cancelled)."""
        while True:
            now = self._now()
            stream_up = self._stream_up()
            try:
                maintain_orders(self.flow, self._tasks, now, stream_up)
            except Exception:
                log.exception("binance: maintenance failed")
            if not stream_up and now >= self._next_poll_at and not _running(self._poll_task):
                self._next_poll_at = now + self.flow.settings.poll_interval_s
                self._poll_task = self._tasks.spawn(self.reconcile(), "binance-poll")
            tie_at = self.balances.tie_seen_at
            if (
                tie_at is not None
                and time.monotonic() - tie_at >= BALANCE_SETTLE_S
                and not _running(self._balances_task)
            ):
                self.balances.tie_seen_at = None
                self._balances_task = self._tasks.spawn(self.refresh_balances(), "binance-balances")
            if now >= self._next_clock_sync_at and not _running(self._clock_task):
                # both clocks drift: signed requests must stay inside the recvWindow
                self._next_clock_sync_at = now + CLOCK_RESYNC_S
                self._clock_task = self._tasks.spawn(self.flow.resync_clock(), "binance-clock")
            await asyncio.sleep(self._interval_s)


def _running(task: asyncio.Task[None] | None) -> bool:
    return task is not None and not task.done()
