"""Shared pieces of the trading-side connector tests: a recording listener, a quiet emulator.

The quiet emulator's BTCUSDT book never moves by itself (a far-away bid level pulses every
100 ms so depth events keep flowing): every fill in these tests comes from our own crossing
orders or from a second account hitting our resting orders, so prices and balances are exact.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from birdterm.engine.connectors.base import Fill
from birdterm.engine.connectors.binance.connector import BinanceConnector
from birdterm.engine.connectors.binance.settings import BinanceSettings
from birdterm.engine.store import Store
from birdterm.engine.types import OrderState
from birdterm.sim.emulator.default_symbols import default_symbols
from birdterm.sim.emulator.exchange import Exchange
from birdterm.sim.emulator.faults import FaultConfig
from birdterm.sim.emulator.replay import Level, MarketUpdate
from birdterm.sim.emulator.server import EmulatorServer, wall_clock_ms

from tests.emulator_fixtures import wait_until as wait_until  # re-exported for the tests

D = Decimal
PAIR = "BTC-USDT"
SYMBOL = "BTCUSDT"
API_KEY = "tradingTestKey"
API_SECRET = "tradingTestSecret"
OTHER_KEY = "counterpartyKey"
OTHER_SECRET = "counterpartySecret"
BALANCES = {"USDT": D(100_000), "BTC": D(2)}
# best bid 30000, best ask 30010 (mid 30005)
BIDS: list[Level] = [(D("30000"), D("1")), (D("29990"), D("2")), (D("29980"), D("5"))]
ASKS: list[Level] = [(D("30010"), D("1")), (D("30020"), D("2")), (D("30030"), D("5"))]
PULSE_PRICE = D("20000")
FEE = D("0.001")  # the emulator's maker and taker commission
TRANSPORTS = ("rest", "ws_api")


class RecordingListener:
    """A GatewayListener that records every callback in order."""

    def __init__(self) -> None:
        self.fills: list[Fill] = []
        self.done: list[tuple[str, OrderState, str]] = []
        self.watches: list[tuple[int, Decimal, float]] = []
        self.trail_activations: list[tuple[int, Decimal, float]] = []
        self.calls: list[str] = []

    def on_fill(self, fill: Fill) -> None:
        self.fills.append(fill)
        self.calls.append(f"fill {fill.order_id} {fill.trade_id}")

    def on_order_done(self, order_id: str, state: OrderState, reason: str) -> None:
        self.done.append((order_id, state, reason))
        self.calls.append(f"done {order_id} {state.value}")

    def on_watch(self, watch_id: int, price: Decimal, timestamp: float) -> None:
        self.watches.append((watch_id, price, timestamp))

    def on_trail_activated(self, watch_id: int, price: Decimal, timestamp: float) -> None:
        self.trail_activations.append((watch_id, price, timestamp))

    def done_of(self, order_id: str) -> tuple[OrderState, str] | None:
        """The done notification of one order, if any."""
        for oid, state, reason in self.done:
            if oid == order_id:
                return state, reason
        return None

    def filled_amount(self, order_id: str) -> Decimal:
        """The sum of the fills reported for one order."""
        return sum((f.amount for f in self.fills if f.order_id == order_id), Decimal(0))


class QuietReplay:
    """A fixed book; only a far-away bid level changes (every `step_ms`) to keep depth flowing."""

    def __init__(self, symbol: str, start_ms: int, step_ms: int = 100) -> None:
        self.symbol = symbol
        self._step = step_ms
        self._next = start_ms + step_ms
        self._flip = False

    def snapshot(self) -> tuple[list[Level], list[Level]]:
        """The starting book."""
        return [*BIDS, (PULSE_PRICE, D(1))], list(ASKS)

    def updates_until(self, ts_ms: int) -> list[MarketUpdate]:
        """At most one pulse per call."""
        if ts_ms < self._next:
            return []
        self._flip = not self._flip
        self._next = (ts_ms // self._step + 1) * self._step
        return [MarketUpdate(ts_ms, ((PULSE_PRICE, D(2) if self._flip else D(1)),), ())]


@dataclass
class QuietEmulator:
    """A started emulator over the quiet book, with our account and a counterparty's."""

    server: EmulatorServer
    exchange: Exchange

    def settings(self, transport: str = "rest", **overrides: Any) -> BinanceSettings:
        """Connector settings pointing at this emulator, with fast retry timings."""
        values: dict[str, Any] = {
            "api_key": API_KEY,
            "api_secret": API_SECRET,
            "rest_url": self.server.rest_url,
            "ws_api_url": self.server.ws_api_url,
            "stream_url": self.server.stream_url,
            "trading_pairs": [PAIR],
            "order_transport": transport,
            "recv_window_ms": 500,
            "request_timeout_s": 1.0,
            "lookup_interval_s": 0.05,
            "cancel_retry_s": 0.05,
            "cancel_retry_max_s": 0.2,
            "poll_interval_s": 0.2,
            "missing_fill_grace_s": 0.2,
        }
        values.update(overrides)
        return BinanceSettings(**values)

    def counter_order(self, side: str, price: Decimal, qty: Decimal) -> dict[str, Any]:
        """The counterparty sends a LIMIT IOC order (hits our resting orders)."""
        params = {
            "symbol": SYMBOL,
            "side": side,
            "type": "LIMIT",
            "timeInForce": "IOC",
            "price": str(price),
            "quantity": str(qty),
            "newOrderRespType": "FULL",
        }
        return self.exchange.new_order(OTHER_KEY, params)

    def our_orders(self) -> list[dict[str, Any]]:
        """Every order our account placed, as the exchange knows it."""
        return self.exchange.orders_of(API_KEY)

    def our_balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        """Our (free, locked) per asset, exact."""
        return self.exchange.balances_of(API_KEY)


@asynccontextmanager
async def quiet_emulator(faults: FaultConfig | None = None) -> AsyncIterator[QuietEmulator]:
    """Start the quiet emulator on 127.0.0.1:0."""
    now = wall_clock_ms()
    symbols = default_symbols()
    exchange = Exchange(symbols, {SYMBOL: QuietReplay(SYMBOL, now)}, wall_clock_ms)
    exchange.add_account(API_KEY, API_SECRET, dict(BALANCES))
    exchange.add_account(OTHER_KEY, OTHER_SECRET, {"USDT": D(1_000_000), "BTC": D(100)})
    server = EmulatorServer(exchange, faults=faults, step_interval_ms=5, clock=wall_clock_ms)
    await server.start()
    try:
        yield QuietEmulator(server, exchange)
    finally:
        await server.stop()


@asynccontextmanager
async def started_connector(
    emu: QuietEmulator, transport: str = "rest", store: Store | None = None, **overrides: Any
) -> AsyncIterator[BinanceConnector]:
    """A BinanceConnector on the emulator, network started; stopped after."""
    connector = BinanceConnector(emu.settings(transport, **overrides), store=store)
    await connector.start_network()
    try:
        yield connector
    finally:
        await connector.stop_network()


def balances_match(connector: BinanceConnector, emu: QuietEmulator) -> bool:
    """The connector's (total, available) equal the exchange's exact balances."""
    ours = connector.balances()
    exchange = emu.our_balances()
    return all(
        ours.get(asset) == (free + locked, free)
        for asset, (free, locked) in exchange.items()
        if asset in BALANCES
    )
