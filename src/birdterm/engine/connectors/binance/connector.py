"""BinanceConnector: live Binance spot trading behind the executors' TradingGateway.

Market data (rules, books, trades) comes from BinanceMarketData; orders go through OrderFlow,
user-data events through the WS API's user-data subscription (UserEventHandler). A maintenance
task drives what must happen until the exchange confirms it: lookups of orders whose create
outcome is unknown, cancel retries, fetching fills whose events never came, and, while the
user-data stream is down, polling every open order and the balances over REST (one poll at a
time). Every subscription of the user-data stream that follows a time without it (a reconnect,
or the first one when it was not up by the end of start_network) is followed by the same poll
(reconcile). Orders restored from the store have no owner: they are cancelled (see
reconcile.py). Listener callbacks are queued and delivered from the event loop soon after,
never inside the causing call; watches are evaluated on each clock tick at the pair's mid
price.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from decimal import Decimal

import aiohttp

from birdterm.engine.clock import Clock, TimeIterator
from birdterm.engine.connectors.base import GatewayListener, NoPriceError, WatchKind
from birdterm.engine.connectors.binance.auth import BinanceAuth
from birdterm.engine.connectors.binance.constants import BinanceUrls, make_throttler
from birdterm.engine.connectors.binance.market_data import BinanceMarketData
from birdterm.engine.connectors.binance.order_flow import STAT_KEYS, OrderFlow
from birdterm.engine.connectors.binance.reconcile import OrderSupervisor, restore_from_store
from birdterm.engine.connectors.binance.rest_client import BinanceRestClient
from birdterm.engine.connectors.binance.rules import pair_to_symbol
from birdterm.engine.connectors.binance.settings import BinanceSettings
from birdterm.engine.connectors.binance.tasks import TaskSet
from birdterm.engine.connectors.binance.time_sync import TimeSync
from birdterm.engine.connectors.binance.user_events import BalanceBook, UserEventHandler
from birdterm.engine.connectors.binance.ws_api import WsApiClient
from birdterm.engine.connectors.order_tracker import OrderTracker
from birdterm.engine.connectors.watches import PriceWatches
from birdterm.engine.order_book import OrderBook
from birdterm.engine.store import Store, StoreError
from birdterm.engine.types import (
    InFlightOrder,
    OrderRuleError,
    OrderState,
    OrderType,
    TradeType,
    TradingRule,
)

log = logging.getLogger("birdterm.binance")

MAINTENANCE_INTERVAL_S = 0.05
DEFAULT_FEE = Decimal("0.001")  # Binance's base rate, until the account says otherwise


class BinanceConnector(TimeIterator):
    """Live Binance spot: TradingGateway + TimeIterator; start_network() before trading."""

    def __init__(
        self,
        settings: BinanceSettings,
        *,
        store: Store | None = None,
        session: aiohttp.ClientSession | None = None,
        maintenance_interval_s: float = MAINTENANCE_INTERVAL_S,
    ) -> None:
        self.settings = settings
        self.store = store
        self._session = session
        self._own_session = session is None
        self._maintenance_interval_s = maintenance_interval_s
        self._symbols = {pair_to_symbol(p): p for p in settings.trading_pairs}
        self.tracker = OrderTracker(settings.connector_name, store)
        self.tracker.on_queued = self._schedule_delivery
        self.watches = PriceWatches()
        self.balance_book = BalanceBook()
        self._stats = dict.fromkeys(STAT_KEYS, 0)
        self.time_sync = TimeSync()
        self.throttler = make_throttler()
        self._auth = BinanceAuth(
            settings.api_key.get_secret_value(), settings.api_secret.get_secret_value()
        )
        self.market_data: BinanceMarketData | None = None
        self.rest: BinanceRestClient | None = None
        self.ws: WsApiClient | None = None
        self.flow: OrderFlow | None = None
        self.user_events: UserEventHandler | None = None
        self.supervisor: OrderSupervisor | None = None
        self._tasks = TaskSet()
        self._delivery_scheduled = False
        self._started = False

    @property
    def name(self) -> str:
        """The connector's name (in the store and in logs)."""
        return self.settings.connector_name

    # ---- network lifecycle -------------------------------------------------------------------
    async def start_network(self) -> None:
        """Connect: clock sync, rules and books, user-data stream, balances, reconcile."""
        try:
            await self._start_network()
        except BaseException:
            await self.stop_network()
            raise

    async def _start_network(self) -> None:
        s = self.settings
        if self._session is None:
            self._session = aiohttp.ClientSession()
        session = self._session
        self.rest = BinanceRestClient(session, s.rest_url, self._auth, self.throttler,
                                      self.time_sync, timeout_s=s.request_timeout_s,
                                      recv_window_ms=s.recv_window_ms)  # fmt: skip
        await self.time_sync.resync(self.rest)
        urls = BinanceUrls(rest_url=s.rest_url, stream_url=s.stream_url, ws_api_url=s.ws_api_url)
        self.market_data = BinanceMarketData(
            session, urls, list(s.trading_pairs), self.throttler, self.time_sync, rest=self.rest
        )
        await self.market_data.start()
        self.ws = WsApiClient(session, s.ws_api_url, self._auth, self.time_sync,
                              throttler=self.throttler, timeout_s=s.request_timeout_s,
                              recv_window_ms=s.recv_window_ms)  # fmt: skip
        self.flow = OrderFlow(s, self.tracker, self.rest, self.ws, pair_to_symbol, self.now,
                              self._stats)  # fmt: skip
        self.user_events = UserEventHandler(self.flow, self.balance_book, self._symbols)
        ws = self.ws
        self.supervisor = OrderSupervisor(self.flow, self.balance_book, self._tasks,
                                          lambda: ws.subscribed, self.now,
                                          self._maintenance_interval_s)  # fmt: skip
        ws.on_event = self.user_events.handle
        ws.on_reconnected = self.supervisor.on_reconnected
        ws.on_disconnected = self.supervisor.on_disconnected
        if not await ws.start(wait_s=s.request_timeout_s):
            log.warning("binance: user-data stream not up yet; polling over REST meanwhile")
        await self.supervisor.refresh_balances()
        if self.store is not None:
            await restore_from_store(self.flow, self.store, self._symbols,
                                     s.client_order_id_prefix, self.now(), self._tasks)  # fmt: skip
        self._started = True
        self._tasks.spawn(self.supervisor.run(), "binance-maintenance")

    async def stop_network(self) -> None:
        """Disconnect (open orders stay on the exchange and in the store). The WS API client
        stops first (its hooks, which may start reconciles, are cancelled and awaited), then
        every background task: none outlives this call."""
        self._started = False
        if self.ws is not None:
            await self.ws.stop()
        await self._tasks.cancel_all()
        if self.market_data is not None:
            await self.market_data.stop()
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    # ---- state for owners and tests ------------------------------------------------------------
    @property
    def health(self) -> str:
        """One of "ws" (streams up), "rest_fallback" (a stream is down, REST answers), "down"."""
        if not self._started or self.flow is None or self.market_data is None:
            return "down"
        market = str(self.market_data.health)
        user = "ws" if self.ws is not None and self.ws.subscribed else "rest_fallback"
        if user == "rest_fallback" and not self.flow.rest_ok:
            user = "down"
        order = ("ws", "rest_fallback", "down")
        return max(market, user, key=lambda h: order.index(h) if h in order else 2)

    @property
    def stats(self) -> dict[str, int]:
        """Counters: lookups, retries, reconnects, duplicates dropped, fills recovered, ..."""
        out = dict(self._stats)
        out["reconnects"] = self.ws.reconnect_count if self.ws is not None else 0
        out["duplicates_dropped"] = self.tracker.stats["duplicate_fills"]
        out["stale_updates"] = self.tracker.stats["stale_updates"]
        out["failed_not_found"] = self.tracker.stats["failed_not_found"]
        out["stale_balances_dropped"] = self.balance_book.stale_dropped
        out["user_events"] = self.user_events.events if self.user_events is not None else 0
        return out

    def open_orders(self) -> list[InFlightOrder]:
        """Tracked orders not yet done."""
        return self.tracker.open_orders()

    def tracked_orders(self) -> list[InFlightOrder]:
        """Every tracked order, done ones included."""
        return self.tracker.all_orders()

    def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        """asset -> (total, available)."""
        return self.balance_book.as_totals()

    # ---- TradingGateway: reads -----------------------------------------------------------------
    def now(self) -> float:
        """Wall-clock time in seconds."""
        return time.time()

    def trading_rule(self, trading_pair: str) -> TradingRule:
        """The pair's rule from exchangeInfo."""
        if self.market_data is None:
            raise RuntimeError("start_network() first: trading rules come from exchangeInfo")
        return self.market_data.rules[trading_pair]

    def order_book(self, trading_pair: str) -> OrderBook:
        """The pair's live order book (for display; trading reads go through mid_price)."""
        if self.market_data is None:
            raise NoPriceError(f"{trading_pair}: no market data: start_network() first")
        return self.market_data.order_book(trading_pair)

    def mid_price(self, trading_pair: str) -> Decimal:
        """The book's mid, else the last trade price; NoPriceError (a ValueError) when the
        pair has neither (book not synced, no trade seen yet)."""
        if self.market_data is None:
            raise NoPriceError(f"{trading_pair}: no price: start_network() first")
        mid = self.market_data.order_book(trading_pair).mid_price
        if mid is None:
            mid = self.market_data.last_trade_price(trading_pair)
        if mid is None:
            raise NoPriceError(
                f"{trading_pair}: no price yet (order book not synced and no trade seen)"
            )
        return mid if isinstance(mid, Decimal) else Decimal(repr(float(mid)))

    def exit_fee_pct(self, trading_pair: str, order_type: OrderType) -> Decimal:
        """The account's maker fee for resting orders, taker fee for market orders."""
        fees = self.supervisor.fees if self.supervisor is not None else None
        maker, taker = fees or (DEFAULT_FEE, DEFAULT_FEE)
        return maker if order_type.is_limit else taker

    def fee_asset(self, trading_pair: str, side: TradeType) -> str:
        """Binance charges the asset an order receives."""
        base, quote = trading_pair.split("-")
        return base if side is TradeType.BUY else quote

    def available(self, asset: str) -> Decimal:
        """Free balance."""
        return self.balance_book.available(asset)

    def total_balance(self, asset: str) -> Decimal:
        """Free plus locked."""
        return self.balance_book.total(asset)

    # ---- TradingGateway: orders ----------------------------------------------------------------
    def place_order(
        self,
        listener: GatewayListener,
        trading_pair: str,
        side: TradeType,
        order_type: OrderType,
        amount: Decimal,
        price: Decimal | None = None,
        *,
        group: int = 0,
    ) -> str:
        """Check, track (and store), then send; failures come through on_order_done."""
        cid = f"{self.settings.client_order_id_prefix}{uuid.uuid4().hex[:20]}"
        try:
            if self.flow is None or trading_pair not in self.settings.trading_pairs:
                raise OrderRuleError(
                    f"{trading_pair} is not traded by this connector (started:"
                    f" {self.flow is not None})"
                )
            order = self._checked_order(cid, trading_pair, side, order_type, amount, price)
            entry = self.tracker.start_tracking(order, listener, getattr(listener, "id", None))
        except (OrderRuleError, StoreError, ValueError, KeyError, RuntimeError) as exc:
            what = f"{trading_pair} {side.value} {order_type.value} {amount} @ {price}"
            log.warning("binance: order %s not sent: %s", what, exc)
            reason = f"{what}: {exc}"
            self.tracker.queue_call(listener.on_order_done, cid, OrderState.FAILED, reason)
            return cid
        self._tasks.run_for(entry, self.flow.create)
        return cid

    def _checked_order(
        self,
        cid: str,
        pair: str,
        side: TradeType,
        order_type: OrderType,
        amount: Decimal,
        price: Decimal | None,
    ) -> InFlightOrder:
        rule = self.trading_rule(pair)
        q_amount = rule.quantize_amount(amount)
        if order_type.is_limit:
            if price is None:
                raise OrderRuleError(f"a {order_type.value} order needs a price")
            q_price: Decimal | None = rule.quantize_price(price, side)
            check_price = q_price
        else:
            q_price, check_price = None, self.mid_price(pair)
        assert check_price is not None
        rule.check(check_price, q_amount)
        return InFlightOrder(cid, pair, order_type, side, q_amount, q_price, self.now())

    def cancel_order(self, trading_pair: str, order_id: str) -> None:
        """Cancel; retried until the exchange confirms (outcome via on_order_done)."""
        entry = self.tracker.get(order_id)
        if entry is None or entry.order.is_done or self.flow is None:
            return
        asked_before = entry.order.state is OrderState.PENDING_CANCEL
        self.flow.start_cancel(entry)
        # a repeated cancel is already being retried: no extra request
        if not asked_before and entry.order.state is OrderState.PENDING_CANCEL and not entry.busy:
            self._tasks.run_for(entry, self.flow.cancel)

    def amend_order(
        self, trading_pair: str, order_id: str, new_amount: Decimal
    ) -> asyncio.Task[bool] | None:
        """Reduce a resting order's amount keeping its queue place (Binance amend
        keepPriority); returns the request's task (its result: confirmed or not)."""
        entry = self.tracker.get(order_id)
        if entry is None or entry.order.is_done or self.flow is None:
            return None
        q_amount = self.trading_rule(trading_pair).quantize_amount(new_amount)
        live = entry.order.state in (OrderState.OPEN, OrderState.PARTIALLY_FILLED)
        if not live or not entry.order.executed_base < q_amount < entry.order.amount:
            what = f"{entry.order.state.value}, filled {entry.order.executed_base}"
            log.warning("binance: amend of %s to %s refused (%s of %s)", order_id, q_amount,
                        what, entry.order.amount)  # fmt: skip
            return None
        return self._tasks.spawn(self.flow.amend(entry, q_amount), f"amend {order_id}")

    # ---- TradingGateway: watches ---------------------------------------------------------------
    def watch_price(
        self,
        listener: GatewayListener,
        trading_pair: str,
        kind: WatchKind,
        level: Decimal,
        *,
        group: int = 0,
        adverse: bool = False,
        trail_delta: Decimal | None = None,
    ) -> int:
        """Arm a price watch (evaluated at each tick on the mid price)."""
        return self.watches.arm(
            listener,
            trading_pair,
            kind,
            level,
            group=group,
            adverse=adverse,
            trail_delta=trail_delta,
        )

    def watch_time(self, listener: GatewayListener, trading_pair: str, timestamp: float) -> int:
        """Arm a time watch."""
        return self.watches.arm_time(listener, trading_pair, timestamp)

    def cancel_watch(self, watch_id: int) -> None:
        """Disarm a watch."""
        self.watches.cancel(watch_id)

    # ---- TimeIterator ----------------------------------------------------------------------------
    def start(self, clock: Clock, timestamp: float) -> None:
        """Nothing to do: the network is started by start_network()."""

    def tick(self, timestamp: float) -> None:
        """Evaluate watches at the current mid prices, then deliver what is pending."""
        notices = []
        if self.market_data is not None:
            for pair in self.settings.trading_pairs:
                try:
                    price = self.mid_price(pair)
                except (NoPriceError, KeyError):
                    continue
                notices.extend(self.watches.observe(pair, price, timestamp))
        notices.extend(self.watches.observe_time(timestamp))
        for notice in notices:
            try:
                notice.deliver()
            except Exception:
                log.exception("binance: watch listener failed on watch %d", notice.watch_id)
        self.tracker.deliver_pending()

    def stop(self) -> None:
        """Nothing to do: stop_network() disconnects."""

    # ---- internals -----------------------------------------------------------------------------
    def _schedule_delivery(self) -> None:
        if self._delivery_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop: the next tick delivers
        self._delivery_scheduled = True
        loop.call_soon(self._deliver)

    def _deliver(self) -> None:
        self._delivery_scheduled = False
        self.tracker.deliver_pending()
