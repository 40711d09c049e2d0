"""User-data events (executionReport, outboundAccountPosition) applied to orders and balances.

Events may come twice, late, or out of order (and the same facts also arrive through request
answers and REST lookups): fills are de-duplicated by trade id in the tracker, order states only
move forward, and a balance is only replaced by a newer account update (`u`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

from birdterm.engine.connectors.binance.order_flow import OrderFlow
from birdterm.engine.connectors.binance.parsing import (
    Balances,
    parse_account_position,
    parse_execution_report,
)

log = logging.getLogger("birdterm.binance.user")

ZERO = Decimal(0)


class BalanceBook:
    """Free and locked balance per asset, each as of the newest account update seen."""

    def __init__(self) -> None:
        self._balances: Balances = {}
        self._updated_ms: dict[str, int] = {}
        self.stale_dropped = 0
        # Two different balances stamped with the same ms cannot be ordered (delayed events may
        # arrive in any order): a REST snapshot settles it. When the last such tie was seen:
        self.tie_seen_at: float | None = None

    def replace_all(self, balances: Balances, update_ms: int) -> None:
        """A full account snapshot: assets absent from it are zero."""
        for asset in list(self._balances):
            if asset not in balances and update_ms >= self._updated_ms.get(asset, -1):
                self._balances[asset] = (ZERO, ZERO)
                self._updated_ms[asset] = update_ms
        self.apply(balances, update_ms)

    def apply(self, balances: Balances, update_ms: int) -> None:
        """Changed assets as of `update_ms`; older than what we hold: ignored."""
        for asset, value in balances.items():
            held_ms = self._updated_ms.get(asset, -1)
            if update_ms < held_ms:
                self.stale_dropped += 1
                continue
            if update_ms == held_ms and value != self._balances.get(asset):
                self.tie_seen_at = time.monotonic()
            self._balances[asset] = value
            self._updated_ms[asset] = update_ms

    def available(self, asset: str) -> Decimal:
        """Free balance."""
        return self._balances.get(asset, (ZERO, ZERO))[0]

    def total(self, asset: str) -> Decimal:
        """Free plus locked."""
        free, locked = self._balances.get(asset, (ZERO, ZERO))
        return free + locked

    def as_totals(self) -> dict[str, tuple[Decimal, Decimal]]:
        """asset -> (total, available)."""
        return {asset: (free + locked, free) for asset, (free, locked) in self._balances.items()}


class UserEventHandler:
    """Routes user-data events to the order flow and the balance book."""

    def __init__(self, flow: OrderFlow, balances: BalanceBook, symbols: Mapping[str, str]) -> None:
        self.flow = flow
        self.balances = balances
        self._symbols = symbols  # Binance symbol -> our pair
        self.events = 0

    def handle(self, event: Mapping[str, Any]) -> None:
        """Apply one event (the `event` object of a user-data frame)."""
        self.events += 1
        kind = event.get("e")
        if kind == "executionReport":
            self._execution_report(event)
        elif kind == "outboundAccountPosition":
            self.balances.apply(parse_account_position(event), int(event.get("u") or 0))
        elif kind in ("balanceUpdate", "externalLockUpdate", "listStatus"):
            log.info("user data: %s %s", kind, dict(event))
        else:
            log.debug("user data: ignoring %s", kind)

    def _execution_report(self, event: Mapping[str, Any]) -> None:
        if event.get("s") not in self._symbols:
            return
        try:
            report = parse_execution_report(event)
        except (KeyError, ValueError, ArithmeticError) as exc:
            log.error("user data: unreadable executionReport %r: %r", dict(event), exc)
            return
        tracker = self.flow.tracker
        entry = tracker.get(report.order.client_order_id)
        if entry is None:
            entry = tracker.by_exchange_id(report.order.exchange_order_id)
        if entry is None:
            log.debug("user data: report for untracked order %s", report.order.client_order_id)
            return
        cid = entry.client_order_id
        if report.fill is not None:
            tracker.apply_fill(replace(report.fill, client_order_id=cid))
        self.flow.apply_report(replace(report.order, client_order_id=cid))
