"""The requests that drive a tracked order to a known end: create, cancel, amend, look up.

Rules that keep an order from ever being lost or doubled:
* a create is sent once. A refusal (4xx) fails the order with Binance's message; a request that
  certainly never reached the exchange (429, no connection) may be sent again; anything else
  (timeout, dropped connection, 5xx) marks the outcome unknown, and the order is looked up by
  its client id until it is found or MAX_NOT_FOUND lookups said the exchange does not know it
  (counted only once the request can no longer be accepted: after its recvWindow).
* a cancel is retried with backoff until the exchange confirms the order done; "Unknown order"
  is answered by a lookup.
* fills the exchange reported but whose events did not come are fetched from myTrades.
Orders go over REST or the WebSocket API (settings.order_transport; REST when the WS API is not
connected); lookups, trades and balances always go over REST.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

from birdterm.engine.connectors.binance.constants import (
    AMEND_KEEP_PRIORITY_PATH,
    MY_TRADES_PATH,
    ORDER_PATH,
)
from birdterm.engine.connectors.binance.errors import (
    CANCEL_REJECTED,
    INVALID_TIMESTAMP,
    NO_SUCH_ORDER,
    BinanceAPIError,
    BinanceConnectorError,
    RateLimitedError,
    RequestNotSent,
    RequestOutcomeUnknown,
)
from birdterm.engine.connectors.binance.parsing import (
    OrderReport,
    parse_my_trade,
    parse_order,
    parse_response_fills,
)
from birdterm.engine.connectors.binance.rest_client import BinanceRestClient
from birdterm.engine.connectors.binance.settings import BinanceSettings
from birdterm.engine.connectors.binance.ws_api import WsApiClient, WsApiNotConnected
from birdterm.engine.connectors.order_tracker import OrderTracker, TrackedOrder
from birdterm.engine.types import OrderState, OrderType

log = logging.getLogger("birdterm.binance.orders")

# counters the flow keeps (BinanceConnector.stats adds the tracker's and the stream's)
STAT_KEYS = ("lookups", "retries", "outcome_unknown", "trade_fetches", "fills_recovered",
             "cancels_sent", "amends", "polls")  # fmt: skip
CREATE_ATTEMPTS = 3  # sends of a create that certainly did not reach the exchange
_REST_ROUTES = {
    "place": ("POST", ORDER_PATH),
    "cancel": ("DELETE", ORDER_PATH),
    "amend": ("PUT", AMEND_KEEP_PRIORITY_PATH),
    "status": ("GET", ORDER_PATH),
}
_WS_METHODS = {
    "place": "order.place",
    "cancel": "order.cancel",
    "amend": "order.amend.keepPriority",
    "status": "order.status",
}
_LIVE = (OrderState.OPEN, OrderState.PARTIALLY_FILLED)


class OrderFlow:
    """Create, cancel, amend and look up tracked orders; apply what the exchange answers."""

    def __init__(
        self,
        settings: BinanceSettings,
        tracker: OrderTracker,
        rest: BinanceRestClient,
        ws: WsApiClient | None,
        symbol_of: Callable[[str], str],
        now: Callable[[], float],
        stats: dict[str, int],
    ) -> None:
        self.settings = settings
        self.tracker = tracker
        self.rest = rest
        self.ws = ws
        self._symbol_of = symbol_of
        self._now = now
        self.stats = stats
        self.rest_ok = True  # the last REST request got an answer (or a refusal)

    # ---- transport ---------------------------------------------------------------------------
    async def order_call(self, kind: str, params: Mapping[str, Any]) -> Any:
        """Send an order request over the configured transport (REST when the WS API is down)."""
        ws = self.ws
        if self.settings.order_transport == "ws_api" and ws is not None and ws.connected:
            try:
                return await ws.request(_WS_METHODS[kind], params, signed=True)
            except WsApiNotConnected:
                log.info("orders: WS API went down; %s over REST", kind)
        method, path = _REST_ROUTES[kind]
        return await self.rest_call(method, path, params)

    async def rest_call(self, method: str, path: str, params: Mapping[str, Any]) -> Any:
        """A signed REST request; records whether REST answers at all."""
        try:
            answer = await self.rest.request(method, path, params, signed=True)
        except (RequestOutcomeUnknown, RequestNotSent):
            self.rest_ok = False
            raise
        self.rest_ok = True
        return answer

    # ---- create ------------------------------------------------------------------------------
    def order_params(self, entry: TrackedOrder) -> dict[str, Any]:
        """The order.place / POST /api/v3/order params of a tracked order."""
        order = entry.order
        params: dict[str, Any] = {
            "symbol": self._symbol_of(order.trading_pair),
            "side": order.trade_type.value,
            "type": order.order_type.value,
            "quantity": order.amount,
            "newClientOrderId": order.client_order_id,
            "newOrderRespType": "FULL",
        }
        if order.order_type is not OrderType.MARKET:
            params["price"] = order.price
        if order.order_type is OrderType.LIMIT:
            params["timeInForce"] = "GTC"
        return params

    async def create(self, entry: TrackedOrder) -> None:
        """Send the order once; see the module doc for what each outcome means."""
        cid = entry.client_order_id
        try:
            params = self.order_params(entry)
        except (KeyError, ValueError) as exc:
            self._fail(entry, f"cannot build the order request: {exc!r}")
            return
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                answer = await self.order_call("place", params)
            except (RateLimitedError, RequestNotSent) as exc:
                if attempt == CREATE_ATTEMPTS:
                    self._fail(entry, f"not sent after {attempt} attempts: {exc}")
                    return
                self.stats["retries"] += 1
                wait = exc.retry_after_s if isinstance(exc, RateLimitedError) else 0.2 * attempt
                await asyncio.sleep(max(wait, 0.05))
                continue
            except BinanceAPIError as exc:
                if exc.code == INVALID_TIMESTAMP and attempt < CREATE_ATTEMPTS:
                    # refused for our clock (the WS API does not resync by itself): safe to resend
                    self.stats["retries"] += 1
                    await self.resync_clock()
                    continue
                self._fail(entry, f"Binance refused the order: {exc.msg} (code {exc.code})")
                return
            except RequestOutcomeUnknown as exc:
                self._unknown(entry, exc.reason)
                return
            except Exception as exc:  # anything unforeseen may have reached the exchange
                self._unknown(entry, repr(exc))
                return
            self.apply_answer(cid, answer)
            return

    async def resync_clock(self) -> None:
        """Measure the offset to the exchange's clock again (failures are logged)."""
        try:
            await self.rest.time_sync.resync(self.rest)
        except BinanceConnectorError as exc:
            log.warning("binance: clock resync failed: %s", exc)

    def _fail(self, entry: TrackedOrder, reason: str) -> None:
        self.tracker.apply_update(entry.client_order_id, OrderState.FAILED, reason=reason)

    def _unknown(self, entry: TrackedOrder, reason: str) -> None:
        self.stats["outcome_unknown"] += 1
        log.warning(
            "orders: %s create outcome unknown (%s); looking it up", entry.client_order_id, reason
        )
        self.tracker.mark_unknown(entry.client_order_id)
        # The request was signed before now (after any throttler wait): from now + recvWindow
        # on, the exchange can no longer accept it.
        entry.sent_at = self._now()
        entry.next_action_at = self._now()

    def apply_answer(self, client_order_id: str, answer: Mapping[str, Any]) -> None:
        """Apply an order answer (ACK / RESULT / FULL, or a cancel's order object)."""
        for fill in parse_response_fills(answer, client_order_id):
            self.tracker.apply_fill(fill)
        report = parse_order(answer)
        self.apply_report(replace(report, client_order_id=client_order_id))

    def apply_report(self, report: OrderReport) -> None:
        """Apply the exchange's view of an order (answer, lookup or event)."""
        entry = self.tracker.get(report.client_order_id)
        if entry is None:
            entry = self.tracker.by_exchange_id(report.exchange_order_id)
        if entry is None:
            log.debug("orders: report for untracked order %s", report.client_order_id)
            return
        cid = entry.client_order_id
        if report.orig_qty is not None and 0 < report.orig_qty < entry.order.amount:
            self.tracker.set_amount(cid, report.orig_qty)  # amended (never grows back)
        self.tracker.apply_update(
            cid,
            report.state,
            report.exchange_order_id,
            report.timestamp,
            executed=report.executed,
            reason=report.reason,
        )
        if entry.cancel_wanted and entry.order.state in _LIVE:
            self.start_cancel(entry)

    # ---- lookups -----------------------------------------------------------------------------
    async def lookup(self, entry: TrackedOrder) -> None:
        """GET /api/v3/order by client id and apply the answer (or count a not-found)."""
        cid = entry.client_order_id
        params = {"symbol": self._symbol_of(entry.order.trading_pair), "origClientOrderId": cid}
        self.stats["lookups"] += 1
        try:
            answer = await self.rest_call("GET", ORDER_PATH, params)
        except RateLimitedError:
            pass
        except BinanceAPIError as exc:
            if exc.code == NO_SUCH_ORDER:
                self._not_found(entry)
            else:
                log.warning("orders: lookup of %s refused: %s", cid, exc)
        except (RequestOutcomeUnknown, RequestNotSent) as exc:
            log.info("orders: lookup of %s failed: %s", cid, exc)
        else:
            self.apply_answer(cid, answer)
        entry.next_action_at = self._now() + self.settings.lookup_interval_s

    def _not_found(self, entry: TrackedOrder) -> None:
        # A create sent less than a recvWindow ago may still be accepted: not counted yet.
        window_s = self.settings.recv_window_ms / 1000 + 0.5  # + clock offset error
        if entry.sent_at is not None and self._now() < entry.sent_at + window_s:
            return
        self.tracker.not_found(entry.client_order_id, self._now())

    async def fetch_trades(self, entry: TrackedOrder) -> None:
        """Fetch an order's trades from myTrades (fills whose events never came)."""
        order = entry.order
        entry.fills_fetched_at = self._now()
        if order.exchange_order_id is None:
            await self.lookup(entry)
            return
        params = {
            "symbol": self._symbol_of(order.trading_pair),
            "orderId": order.exchange_order_id,
        }
        self.stats["trade_fetches"] += 1
        try:
            trades = await self.rest_call("GET", MY_TRADES_PATH, params)
        except (BinanceAPIError, RequestOutcomeUnknown, RequestNotSent) as exc:
            log.info("orders: trades of %s not fetched: %s", order.client_order_id, exc)
            return
        recovered = sum(
            self.tracker.apply_fill(parse_my_trade(t, order.client_order_id)) for t in trades
        )
        if recovered:
            self.stats["fills_recovered"] += recovered
            log.info(
                "orders: %d fill(s) of %s recovered from myTrades", recovered, order.client_order_id
            )

    # ---- cancels -----------------------------------------------------------------------------
    def start_cancel(self, entry: TrackedOrder) -> bool:
        """Move a live order to PENDING_CANCEL now (the cancel request goes with the next
        maintenance pass); a PENDING_CREATE order is cancelled once its create is answered."""
        order = entry.order
        if order.is_done:
            return False
        if order.state is OrderState.PENDING_CREATE:
            entry.cancel_wanted = True
            return True
        entry.cancel_wanted = False
        if order.state is not OrderState.PENDING_CANCEL:
            self.tracker.apply_update(order.client_order_id, OrderState.PENDING_CANCEL)
            entry.cancel_attempts = 0
            entry.next_action_at = self._now()
        return True

    async def cancel(self, entry: TrackedOrder) -> None:
        """Send one cancel; on anything but a confirmation, schedule the next attempt."""
        order = entry.order
        cid = order.client_order_id
        params = {"symbol": self._symbol_of(order.trading_pair), "origClientOrderId": cid}
        entry.cancel_attempts += 1
        if entry.cancel_attempts > 1:
            self.stats["retries"] += 1
        self.stats["cancels_sent"] += 1
        backoff = min(
            self.settings.cancel_retry_s * 2 ** (entry.cancel_attempts - 1),
            self.settings.cancel_retry_max_s,
        )
        entry.next_action_at = self._now() + backoff
        try:
            answer = await self.order_call("cancel", params)
        except RateLimitedError as exc:
            entry.next_action_at = self._now() + max(backoff, exc.retry_after_s)
        except BinanceAPIError as exc:
            if exc.code == CANCEL_REJECTED:
                await self.lookup(entry)  # done already (filled / cancelled), or not yet there
                entry.next_action_at = self._now() + backoff
            else:
                log.warning("orders: cancel of %s refused: %s", cid, exc)
        except (RequestOutcomeUnknown, RequestNotSent, WsApiNotConnected) as exc:
            log.info("orders: cancel of %s unanswered (%s); will retry", cid, exc)
        else:
            self.apply_answer(cid, answer)

    # ---- amend -------------------------------------------------------------------------------
    async def amend(self, entry: TrackedOrder, new_amount: Decimal) -> bool:
        """Reduce a live order's quantity keeping its queue priority; True when confirmed."""
        order = entry.order
        cid = order.client_order_id
        params = {
            "symbol": self._symbol_of(order.trading_pair),
            "origClientOrderId": cid,
            "newClientOrderId": cid,
            "newQty": new_amount,
        }
        self.stats["amends"] += 1
        try:
            answer = await self.order_call("amend", params)
        except BinanceAPIError as exc:
            log.warning("orders: amend of %s to %s refused: %s", cid, new_amount, exc)
            return False
        except (RequestOutcomeUnknown, RequestNotSent, WsApiNotConnected) as exc:
            log.warning("orders: amend of %s unanswered (%s); looking it up", cid, exc)
            await self.lookup(entry)
            return order.amount == new_amount
        amended = answer.get("amendedOrder", answer) if isinstance(answer, dict) else {}
        if "symbol" not in amended:
            amended = {**amended, "symbol": params["symbol"]}
        self.apply_answer(cid, amended)
        return order.amount == new_amount
