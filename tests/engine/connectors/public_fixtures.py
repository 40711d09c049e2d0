"""Helpers shared by the Binance public-side tests: virtual time, recorded data, emulator books."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import heapq
import itertools
import json
from collections.abc import Awaitable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.emulator_fixtures import TEST_API_KEY, TEST_API_SECRET
from tests.helpers import REPO

SHARED_DATA = REPO.parent / "shared" / "data"
HFT_BTC_0808 = SHARED_DATA / "hftbacktest" / "binance_spot_btcusdt_20240808.gz"
HFT_BTC_0809 = SHARED_DATA / "hftbacktest" / "binance_spot_btcusdt_20240809.gz"
CRYPTOFEED_INFO = SHARED_DATA / "cryptofeed" / "BINANCE.0"
NEEDS_SHARED = "needs ../shared/data (recorded Binance data) beside the checkout"


class VirtualTime:
    """A fake clock whose sleeps complete in virtual time, in wake-up order.

    `run()` drives tasks: it lets them run until each is done or asleep, then jumps the clock to
    the earliest wake-up. Virtual times are exact, so tests can assert them.
    """

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def time(self) -> float:
        """The virtual time in seconds."""
        return self.now

    async def sleep(self, delay: float) -> None:
        """Sleep `delay` virtual seconds."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(delay, 0.0), next(self._seq), future))
        await future

    async def run(self, *aws: Awaitable[Any]) -> list[Any]:
        """Run the awaitables concurrently in virtual time; return their results in order."""
        tasks = [asyncio.ensure_future(a) for a in aws]
        while not all(t.done() for t in tasks):
            for _ in range(1000):  # let every runnable task reach its next sleep
                await asyncio.sleep(0)
                waiting = sum(1 for _w, _s, f in self._sleepers if not f.done())
                if waiting >= sum(1 for t in tasks if not t.done()):
                    break
            if all(t.done() for t in tasks):
                break
            if not self._sleepers:
                raise RuntimeError("virtual time: tasks are blocked on something other than sleep")
            wake, _seq, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, wake)
            future.set_result(None)
        return [t.result() for t in tasks]


def hft_messages(*paths: Path) -> Iterator[dict[str, Any]]:
    """The JSON messages of hftbacktest recordings (`<ns> <json>` lines), in file order."""
    for path in paths:
        with gzip.open(path, "rt") as lines:
            for line in lines:
                yield json.loads(line.split(" ", 1)[1])


def float_levels(
    levels: list[tuple[Decimal, Decimal]] | list[list[str]],
) -> list[tuple[float, float]]:
    """Levels as (price, qty) floats, for comparing with OrderBook."""
    return [(float(p), float(q)) for p, q in levels]


def book_as_floats(book: Any) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """An OrderBook's bids and asks as (price, qty) float lists, best first."""
    out = []
    for is_bid in (True, False):
        prices, qtys = book.levels(is_bid)
        out.append(list(zip(prices.tolist(), qtys.tolist(), strict=True)))
    return out[0], out[1]


class SyntheticDepth:
    """A seeded exchange-side book producing Binance-shaped depthUpdate events and snapshots.

    Every level change takes the next update id; `event()` returns the changes since the last
    event as one diff (U..u). `state_at` keeps the exact book after every event, by its `u`.
    """

    def __init__(self, seed: int, *, first_id: int = 1_000_000, mid: int = 3_000_000) -> None:
        import random

        self.rng = random.Random(seed)
        self.update_id = first_id
        self.mid = mid  # in ticks of 0.01
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        for i in range(1, 30):
            self.bids[mid - i] = self.rng.randint(1, 500)
            self.asks[mid + i] = self.rng.randint(1, 500)
        self.state_at: dict[int, tuple[list[tuple[float, float]], list[tuple[float, float]]]] = {}
        self.state_at[self.update_id] = self.levels()

    def levels(self) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """Both sides as (price, qty) floats, best first."""
        bids = [(p / 100, q / 1000) for p, q in sorted(self.bids.items(), reverse=True)]
        asks = [(p / 100, q / 1000) for p, q in sorted(self.asks.items())]
        return bids, asks

    def event(self, changes: int = 4) -> dict[str, Any]:
        """Change a few levels (set, add or remove) and return them as one depthUpdate."""
        first = self.update_id + 1
        b: dict[int, int] = {}
        a: dict[int, int] = {}
        for _ in range(changes):
            is_bid = self.rng.random() < 0.5
            side, out = (self.bids, b) if is_bid else (self.asks, a)
            offset = self.rng.randint(1, 35)
            price = self.mid - offset if is_bid else self.mid + offset
            qty = 0 if (price in side and self.rng.random() < 0.3) else self.rng.randint(1, 900)
            if qty:
                side[price] = qty
            else:
                side.pop(price, None)
            out[price] = qty
            self.update_id += 1
        self.state_at[self.update_id] = self.levels()
        return {
            "e": "depthUpdate",
            "E": 1_700_000_000_000 + self.update_id,
            "s": "BTCUSDT",
            "U": first,
            "u": self.update_id,
            "b": [[f"{p / 100:.8f}", f"{q / 1000:.8f}"] for p, q in b.items()],
            "a": [[f"{p / 100:.8f}", f"{q / 1000:.8f}"] for p, q in a.items()],
        }

    def snapshot(self) -> dict[str, Any]:
        """The REST depth answer for the current book."""
        bids, asks = self.levels()
        return {
            "lastUpdateId": self.update_id,
            "bids": [[f"{p:.8f}", f"{q:.8f}"] for p, q in bids],
            "asks": [[f"{p:.8f}", f"{q:.8f}"] for p, q in asks],
        }


class SteppingClock:
    """An exchange clock (ms) that a background task moves in whole depth intervals.

    Each jump lands on a multiple of `step_ms`, so the exchange's step at the new time applies
    the replay's updates and publishes them in the same step: once `pause()`d, every change is
    published and the exchange's book stays put, so a client's book can be compared exactly.
    """

    def __init__(self, start_ms: int, step_ms: int = 100, every_s: float = 0.02) -> None:
        self.now_ms = start_ms - start_ms % step_ms
        self.step_ms = step_ms
        self.every_s = every_s
        self.running = asyncio.Event()
        self.running.set()
        self._task: asyncio.Task[None] | None = None

    def __call__(self) -> int:
        return self.now_ms

    def start(self) -> None:
        """Start moving."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await self.running.wait()
            await asyncio.sleep(self.every_s)
            if self.running.is_set():
                self.now_ms += self.step_ms

    def pause(self) -> None:
        """Freeze the exchange's time (and so its market)."""
        self.running.clear()

    def resume(self) -> None:
        """Let time move again."""
        self.running.set()

    async def stop(self) -> None:
        """Stop the background task."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class PublishedBooks:
    """The emulator's exact book after every depth event it publishes, by the event's `u`
    (recorded from an exchange market listener, before any stream fault can drop it)."""

    def __init__(self, exchange: Any, symbol: str) -> None:
        self.exchange = exchange
        self.symbol = symbol
        self.at: dict[int, tuple[list[tuple[float, float]], list[tuple[float, float]]]] = {}
        exchange.add_market_listener(self._on_market)

    def _on_market(self, stream: str, payload: dict[str, Any]) -> None:
        if payload.get("e") == "depthUpdate" and payload.get("s") == self.symbol:
            self.at[payload["u"]] = self.now()

    def now(self) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """The exchange's whole published book right now, as floats."""
        bids, asks = self.exchange.book_levels(self.symbol)
        return float_levels(bids), float_levels(asks)

    def current_id(self) -> int:
        """The exchange's current update id (published or not)."""
        return int(self.exchange.depth(self.symbol, 1)["lastUpdateId"])


API_KEY, API_SECRET = TEST_API_KEY, TEST_API_SECRET


@contextlib.asynccontextmanager
async def emulator(
    clock: Any,
    *,
    faults: Any = None,
    rate_limits: Any = None,
    seed: int = 11,
    market: str = "synthetic",
    balances: dict[str, Decimal] | None = None,
) -> Any:
    """Like tests.emulator_fixtures.running_emulator, but on an exchange clock the test controls
    (a frozen, offset or stepping clock); yields the EmulatorServer."""
    from birdterm.sim.emulator.default_exchange import build_default_exchange
    from birdterm.sim.emulator.server import EmulatorServer

    exchange = build_default_exchange(
        seed=seed,
        clock=clock,
        balances=balances or {"USDT": Decimal(10_000), "BTC": Decimal(1)},
        api_key=API_KEY,
        secret=API_SECRET,
        market=market,
        start_price=Decimal(30_000),
        history_days=0.01,
    )
    server = EmulatorServer(exchange, faults=faults, rate_limits=rate_limits, clock=clock)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
