"""The fault matrix: hundreds of orders through the real connector while the exchange misbehaves.

The connector talks to the emulator over real sockets on 127.0.0.1. Every fault kind is injected
at random (seeded): added latency, responses lost after the order was accepted, 5xx before and
after processing, 429 bursts, WebSocket drops (streams and the WebSocket API), gaps and reorders
in the depth diffs, user-data events delayed and duplicated. Intents (place, amend, cancel) are
drawn at random too. Afterwards the faults stop, every remaining order is cancelled through the
connector, and the two sides must agree exactly: every order the exchange holds is known to the
connector with the same state and filled amount, no intent reached the exchange twice, balances
match, and the local book equalled the exchange's book after every resync.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from decimal import Decimal
from typing import Any

import pytest

from birdterm.engine.connectors.base import Fill
from birdterm.engine.connectors.binance.connector import BinanceConnector
from birdterm.engine.connectors.binance.settings import BinanceSettings
from birdterm.engine.store import Store
from birdterm.engine.types import OrderState, OrderType, TradeType
from birdterm.sim.emulator.faults import FaultConfig
from birdterm.sim.emulator.rate_limits import RateLimit

from tests.emulator_fixtures import running_emulator, wait_until

PAIR = "BTC-USDT"
SYMBOL = "BTCUSDT"
INTENTS = 900  # draws; about 60 % are new orders (>= 500 placed), the rest amends and cancels
BALANCES = {"USDT": Decimal(2_000_000), "BTC": Decimal(50)}
FAULTS = FaultConfig(
    seed=20261121,
    latency_ms=(0, 15),
    lost_response_rate=0.04,
    server_error_rate=0.03,
    server_error_after_rate=0.03,
    rate_limit_burst_rate=0.01,
    rate_limit_burst_len=2,
    ws_drop_rate=0.0008,
    depth_gap_rate=0.03,
    depth_reorder_rate=0.03,
    user_event_delay_ms=(0, 40),
    user_event_duplicate_rate=0.08,
)
# Generous order limits so the run is quick; weights and their headers still apply.
LIMITS = (
    RateLimit("REQUEST_WEIGHT", "MINUTE", 1, 600_000),
    RateLimit("ORDERS", "SECOND", 10, 100_000),
    RateLimit("ORDERS", "DAY", 1, 1_000_000),
    RateLimit("RAW_REQUESTS", "MINUTE", 5, 1_000_000),
)
FAULT_KINDS = (
    "latency_injected",
    "lost_responses",
    "server_errors_before",
    "server_errors_after",
    "rate_limit_bursts",
    "ws_drops",
    "depth_gaps",
    "depth_reorders",
    "user_events_delayed",
    "user_events_duplicated",
)
# Binance order status -> the connector's state for the same order. An order the exchange
# expired (IOC/market leftovers, self-trade prevention) ended CANCELED if it had filled at all,
# else FAILED: it never did what it was sent for.
EXPECTED_STATE = {
    "NEW": OrderState.OPEN,
    "PARTIALLY_FILLED": OrderState.PARTIALLY_FILLED,
    "FILLED": OrderState.FILLED,
    "CANCELED": OrderState.CANCELED,
    "REJECTED": OrderState.FAILED,
}


def expected_state(order: dict, cancel_asked: bool) -> OrderState:
    """The state the connector must show for an order as the exchange answers it (an unfilled
    order that expired while our cancel was out counts as cancelled)."""
    if order["status"] in ("EXPIRED", "EXPIRED_IN_MATCH"):
        filled = Decimal(order["executedQty"]) > 0
        return OrderState.CANCELED if filled or cancel_asked else OrderState.FAILED
    return EXPECTED_STATE[order["status"]]


class Recorder:
    """A gateway listener that remembers what it was told."""

    def __init__(self) -> None:
        self.fills: list[Fill] = []
        self.done: dict[str, tuple[OrderState, str]] = {}

    def on_fill(self, fill: Fill) -> None:
        self.fills.append(fill)

    def on_order_done(self, order_id: str, state: OrderState, reason: str) -> None:
        assert order_id not in self.done, f"{order_id} reported done twice"
        self.done[order_id] = (state, reason)

    def on_watch(self, watch_id: int, price: Decimal, timestamp: float) -> None:
        pass

    def on_trail_activated(self, watch_id: int, price: Decimal, timestamp: float) -> None:
        pass


class ReferenceBook:
    """The exchange's published book at each update id, rebuilt from the events it published
    (before the server's fault injection), so a lagging local book can be compared exactly."""

    def __init__(self, exchange: Any, keep: int = 4000) -> None:
        snapshot = exchange.depth(SYMBOL, 5000)
        self.last_id = snapshot["lastUpdateId"]
        self.bids = {Decimal(p): Decimal(q) for p, q in snapshot["bids"]}
        self.asks = {Decimal(p): Decimal(q) for p, q in snapshot["asks"]}
        self.states: dict[int, tuple[tuple, tuple]] = {}
        self._order: deque[int] = deque()
        self._keep = keep
        exchange.add_market_listener(self.on_event)

    def on_event(self, stream: str, payload: dict) -> None:
        if stream != f"{SYMBOL.lower()}@depth@100ms" or payload["u"] <= self.last_id:
            return
        for side, levels in ((self.bids, payload["b"]), (self.asks, payload["a"])):
            for price, qty in levels:
                if Decimal(qty) == 0:
                    side.pop(Decimal(price), None)
                else:
                    side[Decimal(price)] = Decimal(qty)
        self.last_id = payload["u"]
        self.states[self.last_id] = (self._levels(self.bids, True), self._levels(self.asks, False))
        self._order.append(self.last_id)
        if len(self._order) > self._keep:
            self.states.pop(self._order.popleft(), None)

    @staticmethod
    def _levels(side: dict[Decimal, Decimal], descending: bool) -> tuple:
        return tuple((float(p), float(q)) for p, q in sorted(side.items(), reverse=descending))


def local_levels(book: Any) -> tuple[tuple, tuple]:
    bids = book.levels(True)
    asks = book.levels(False)
    return (
        tuple(zip(bids[0].tolist(), bids[1].tolist(), strict=True)),
        tuple(zip(asks[0].tolist(), asks[1].tolist(), strict=True)),
    )


class BookChecker:
    """After every resync of the local book, compare it with the reference at its update id."""

    def __init__(self, connector: BinanceConnector, reference: ReferenceBook) -> None:
        assert connector.market_data is not None
        self.tracker = connector.market_data.trackers[PAIR]
        self.reference = reference
        self.seen_syncs = self.tracker.sync_count
        self.pending = False
        self.resyncs = 0
        self.checked = 0
        self.superseded = 0  # a resync replaced by another before any event could be compared

    def poll(self) -> None:
        if self.tracker.sync_count != self.seen_syncs:
            new = self.tracker.sync_count - self.seen_syncs
            self.resyncs += new
            self.superseded += new - 1 + (1 if self.pending else 0)
            self.seen_syncs = self.tracker.sync_count
            self.pending = True
        if not self.pending or not self.tracker.synced:
            return
        state = self.reference.states.get(self.tracker.update_id)
        if state is None:  # the local book sits between published events: check at the next
            return
        assert local_levels(self.tracker.book) == state, (
            f"local book differs from the exchange's at update id {self.tracker.update_id}"
        )
        self.checked += 1
        self.pending = False


async def drive(connector: BinanceConnector, stop: asyncio.Event, checker: BookChecker) -> None:
    """Tick the connector as the engine's clock would (every 50 ms here)."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        connector.tick(loop.time())
        checker.poll()
        await asyncio.sleep(0.05)


def draw_intent(
    rng: random.Random,
    connector: BinanceConnector,
    listener: Recorder,
    intents: dict,
    cancels: set[str],
) -> str:
    """Place, amend or cancel at random; returns which it did."""
    mid = connector.mid_price(PAIR)
    rule = connector.trading_rule(PAIR)
    live = [
        o
        for o in connector.open_orders()
        if o.state in (OrderState.OPEN, OrderState.PARTIALLY_FILLED) and o.exchange_order_id
    ]
    roll = rng.random()
    if roll < 0.2 and live:
        order = rng.choice(live)
        connector.cancel_order(PAIR, order.client_order_id)
        cancels.add(order.client_order_id)
        return "cancel"
    if roll < 0.35 and live:
        order = rng.choice(live)
        new_amount = rule.quantize_amount(
            order.executed_base + (order.amount - order.executed_base) / 2
        )
        if order.executed_base < new_amount < order.amount:
            connector.amend_order(PAIR, order.client_order_id, new_amount)
            return "amend"
        return "skip"
    side = rng.choice((TradeType.BUY, TradeType.SELL))
    amount = rule.quantize_amount(Decimal(rng.randint(20, 400)) * Decimal("0.00001"))
    kind = rng.random()
    if kind < 0.05:
        order_type, price = OrderType.MARKET, None
    else:
        # mostly resting near the touch, some crossing the spread (taker fills)
        offset_bps = Decimal(rng.randint(-8, 40)) / 10_000
        sign = -1 if side is TradeType.BUY else 1
        price = rule.quantize_price(mid * (1 + sign * offset_bps), side)
        order_type = OrderType.LIMIT_MAKER if kind < 0.2 else OrderType.LIMIT
    order_id = connector.place_order(listener, PAIR, side, order_type, amount, price)
    intents[order_id] = (side, order_type, amount, price)
    return "place"


@pytest.mark.parametrize("transport", ["rest", "ws_api"])
async def test_fault_matrix(tmp_path, transport):
    rng = random.Random(7 if transport == "rest" else 8)
    async with running_emulator(
        seed=11, faults=FAULTS, balances=BALANCES, rate_limits=LIMITS
    ) as emu:
        store = Store(tmp_path / "store.sqlite")
        settings = BinanceSettings(
            api_key=emu.api_key,
            api_secret=emu.api_secret,
            rest_url=emu.rest_url,
            ws_api_url=emu.ws_api_url,
            stream_url=emu.stream_url,
            trading_pairs=[PAIR],
            order_transport=transport,
            request_timeout_s=1.0,
            lookup_interval_s=0.2,
            cancel_retry_s=0.2,
            cancel_retry_max_s=1.0,
            poll_interval_s=0.5,
        )
        connector = BinanceConnector(settings, store=store)
        await connector.start_network()
        reference = ReferenceBook(emu.exchange)
        checker = BookChecker(connector, reference)
        listener = Recorder()
        intents: dict[str, tuple] = {}
        cancels: set[str] = set()
        counts = {"place": 0, "amend": 0, "cancel": 0, "skip": 0}
        stop = asyncio.Event()
        ticker = asyncio.create_task(drive(connector, stop, checker))
        try:
            for _ in range(INTENTS):
                counts[draw_intent(rng, connector, listener, intents, cancels)] += 1
                await asyncio.sleep(0.01)  # the strategy's pace, not a wait for a condition

            # Faults off; cancel what is left through the connector, then let both sides settle.
            emu.server.faults = FaultConfig()
            await wait_until(lambda: connector.health == "ws", timeout=30)
            for order in connector.open_orders():
                if order.state is not OrderState.PENDING_CANCEL:
                    connector.cancel_order(PAIR, order.client_order_id)
                    cancels.add(order.client_order_id)
            await wait_until(lambda: not connector.open_orders(), timeout=60)
            exchange_open = emu.exchange.open_orders(emu.api_key, SYMBOL)
            assert exchange_open == [], f"orders left open on the exchange: {exchange_open}"
            await wait_until(lambda: checker.pending is False, timeout=30)
        finally:
            stop.set()
            await ticker
            await connector.stop_network()
            store.close()

        exchange_orders = emu.exchange.orders_of(emu.api_key)
        tracked = {o.client_order_id: o for o in connector.tracked_orders()}

        # No intent reached the exchange twice, and nothing reached it that we did not intend.
        client_ids = [o["clientOrderId"] for o in exchange_orders]
        assert len(client_ids) == len(set(client_ids))
        assert set(client_ids) <= set(intents)

        # Every order the exchange holds is known with the same state and filled amount.
        for order in exchange_orders:
            ours = tracked[order["clientOrderId"]]
            assert ours.exchange_order_id == str(order["orderId"])
            cancel_asked = order["clientOrderId"] in cancels
            assert ours.state is expected_state(order, cancel_asked), (order, ours.state)
            assert ours.executed_base == Decimal(order["executedQty"]), (order, ours)
            assert ours.executed_quote == Decimal(order["cummulativeQuoteQty"]), (order, ours)
        # Orders the exchange never saw ended FAILED (refused or unknown), never "open".
        for client_id in set(intents) - set(client_ids):
            assert tracked[client_id].state is OrderState.FAILED
            assert listener.done[client_id][0] is OrderState.FAILED
        # The executors' listener heard of every order's end exactly once.
        assert set(listener.done) == set(intents)

        # Balances equal the exchange's, to the last satoshi.
        theirs = emu.exchange.balances_of(emu.api_key)
        ours_balances = connector.balances()
        for asset in ("BTC", "USDT"):
            free, locked = theirs[asset]
            assert ours_balances[asset] == (free + locked, free), asset
            assert locked == 0

        # The listener heard of every fill once: per order they add up to the exchange's amount.
        assert len(listener.fills) == len({f.trade_id for f in listener.fills})
        heard: dict[str, Decimal] = {}
        for fill in listener.fills:
            heard[fill.order_id] = heard.get(fill.order_id, Decimal(0)) + fill.amount
        for order in exchange_orders:
            assert heard.get(order["clientOrderId"], Decimal(0)) == Decimal(order["executedQty"])

        stats = emu.server.stats
        report = (
            f"{transport}: {counts['place']} placed, {counts['amend']} amends, {counts['cancel']} "
            f"cancels; exchange orders {len(exchange_orders)}, fills {len(listener.fills)}; "
            f"resyncs {checker.resyncs}, book checks after resync {checker.checked} "
            f"({checker.superseded} superseded); faults {dict(stats)}; "
            f"connector {connector.stats}"
        )
        print(report)
        assert counts["place"] >= 500, report
        assert checker.checked >= 2, report
        assert checker.checked + checker.superseded == checker.resyncs, report
        assert len(listener.fills) > 50, report
        for kind in FAULT_KINDS:
            assert stats.get(kind, 0) > 0, (kind, report)
