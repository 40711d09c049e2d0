"""Order round trips over REST vs the WebSocket API, through the real connector and the emulator.

Each transport places N resting orders one after another (each waits for the exchange's
acknowledgement, then cancels it and waits for the confirmation), then N at once (the symbol
allows 200 open orders), then cancels those at once.
The emulator runs in the same process on 127.0.0.1, so the figures are the client's and the
server's costs together, without internet latency: what the transport itself adds.

Usage: python benchmarks/bench_order_transport.py [--orders 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from decimal import Decimal

from birdterm.engine.connectors.binance.connector import BinanceConnector
from birdterm.engine.connectors.binance.settings import BinanceSettings
from birdterm.engine.types import OrderState, OrderType, TradeType
from birdterm.sim.emulator.default_exchange import build_default_exchange
from birdterm.sim.emulator.rate_limits import RateLimit
from birdterm.sim.emulator.server import EmulatorServer, wall_clock_ms

KEY, SECRET = "benchKey", "benchSecret"
PAIR = "BTC-USDT"
LIMITS = (
    RateLimit("REQUEST_WEIGHT", "MINUTE", 1, 1_000_000),
    RateLimit("ORDERS", "SECOND", 10, 1_000_000),
    RateLimit("ORDERS", "DAY", 1, 10_000_000),
    RateLimit("RAW_REQUESTS", "MINUTE", 5, 10_000_000),
)


class Quiet:
    """A listener that ignores everything (the benchmark reads the tracker)."""

    def on_fill(self, fill: object) -> None: ...
    def on_order_done(self, order_id: str, state: OrderState, reason: str) -> None: ...
    def on_watch(self, watch_id: int, price: Decimal, timestamp: float) -> None: ...
    def on_trail_activated(self, watch_id: int, price: Decimal, timestamp: float) -> None: ...


async def acked(connector: BinanceConnector, order_id: str) -> None:
    """Wait until the exchange acknowledged the order; a refused order stops the benchmark."""
    while True:
        tracked = connector.tracker.get(order_id)
        if tracked is not None and tracked.order.exchange_order_id is not None:
            return
        if tracked is not None and tracked.order.is_done:
            raise RuntimeError(f"{order_id} ended {tracked.order.state.value} without an ack")
        await asyncio.sleep(0.0002)


async def done(connector: BinanceConnector, order_id: str) -> None:
    """Wait until the order is done (here: its cancel confirmed)."""
    while True:
        tracked = connector.tracker.get(order_id)
        if tracked is not None and tracked.order.is_done:
            return
        await asyncio.sleep(0.0002)


async def run_transport(transport: str, orders: int) -> dict[str, float]:
    exchange = build_default_exchange(
        seed=3, clock=wall_clock_ms, balances={"USDT": Decimal(10_000_000), "BTC": Decimal(100)},
        api_key=KEY, secret=SECRET, history_days=0.01,
    )  # fmt: skip
    server = EmulatorServer(exchange, rate_limits=LIMITS, clock=wall_clock_ms)
    await server.start()
    settings = BinanceSettings(
        api_key=KEY, api_secret=SECRET, rest_url=server.rest_url, ws_api_url=server.ws_api_url,
        stream_url=server.stream_url, trading_pairs=[PAIR], order_transport=transport,
    )  # fmt: skip
    connector = BinanceConnector(settings)
    await connector.start_network()
    listener = Quiet()
    try:
        rule = connector.trading_rule(PAIR)
        far_bid = rule.quantize_price(connector.mid_price(PAIR) * Decimal("0.9"), TradeType.BUY)
        amount = Decimal("0.001")
        latencies, cancel_latencies = [], []
        for _ in range(orders):
            start = time.perf_counter()
            order_id = connector.place_order(
                listener, PAIR, TradeType.BUY, OrderType.LIMIT_MAKER, amount, far_bid
            )
            await acked(connector, order_id)
            latencies.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            connector.cancel_order(PAIR, order_id)
            await done(connector, order_id)
            cancel_latencies.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        side, kind = TradeType.BUY, OrderType.LIMIT_MAKER
        burst = [
            connector.place_order(listener, PAIR, side, kind, amount, far_bid)
            for _ in range(orders)
        ]
        for order_id in burst:
            await acked(connector, order_id)
        burst_s = time.perf_counter() - start
        start = time.perf_counter()
        for order in connector.open_orders():
            connector.cancel_order(PAIR, order.client_order_id)
        while connector.open_orders():
            await asyncio.sleep(0.0005)
        cancel_s = time.perf_counter() - start
    finally:
        await connector.stop_network()
        await server.stop()
    latencies.sort()
    cancel_latencies.sort()
    return {
        "place_p50_ms": statistics.median(latencies),
        "place_p99_ms": latencies[int(len(latencies) * 0.99) - 1],
        "cancel_p50_ms": statistics.median(cancel_latencies),
        "burst_orders_per_s": orders / burst_s,
        "burst_cancels_per_s": orders / cancel_s,
    }


async def main(orders: int) -> None:
    for transport in ("rest", "ws_api"):
        figures = await run_transport(transport, orders)
        print(
            f"bench order_transport_{transport} orders={orders} "
            + " ".join(f"{k}={v:.2f}" if "ms" in k else f"{k}={v:.0f}" for k, v in figures.items())
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=150)
    asyncio.run(main(parser.parse_args().orders))
