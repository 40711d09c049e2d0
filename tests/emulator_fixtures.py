"""A real emulator on 127.0.0.1 (port 0) for network tests, plus polling and signing helpers.

async with running_emulator(seed=1) as emu:
    async with aiohttp.ClientSession() as session:
        async with session.get(emu.rest_url + "/api/v3/time") as resp: ...
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from birdterm.sim.emulator.default_exchange import build_default_exchange
from birdterm.sim.emulator.exchange import Exchange
from birdterm.sim.emulator.faults import FaultConfig
from birdterm.sim.emulator.rate_limits import RateLimit
from birdterm.sim.emulator.server import EmulatorServer, wall_clock_ms
from birdterm.sim.emulator.signing import sign_rest, sign_ws

TEST_API_KEY = "birdtermTestKey"
TEST_API_SECRET = "birdtermTestSecret"
TEST_BALANCES: dict[str, Decimal] = {
    "USDT": Decimal(100_000),
    "BTC": Decimal(2),
    "ETH": Decimal(20),
}


@dataclass
class RunningEmulator:
    """A started EmulatorServer with its exchange, credentials and URLs."""

    server: EmulatorServer
    exchange: Exchange
    api_key: str
    api_secret: str
    rest_url: str
    ws_api_url: str
    stream_url: str

    def now_ms(self) -> int:
        """The server's clock."""
        return self.server.clock()

    def signed_query(self, params: Mapping[str, Any] | None = None, **extra: Any) -> str:
        """`params` urlencoded with timestamp and signature appended (REST SIGNED)."""
        items = {**(params or {}), **extra}
        items.setdefault("timestamp", self.now_ms())
        query = urlencode({k: str(v) for k, v in items.items()})
        return f"{query}&signature={sign_rest(self.api_secret, query)}"

    def signed_ws_params(
        self, params: Mapping[str, Any] | None = None, **extra: Any
    ) -> dict[str, Any]:
        """WS API params with apiKey, timestamp and signature added."""
        items: dict[str, Any] = {"apiKey": self.api_key, **(params or {}), **extra}
        items.setdefault("timestamp", self.now_ms())
        items["signature"] = sign_ws(self.api_secret, items)
        return items

    def headers(self) -> dict[str, str]:
        """The API-key header for REST requests."""
        return {"X-MBX-APIKEY": self.api_key}


@asynccontextmanager
async def running_emulator(
    seed: int = 1,
    faults: FaultConfig | None = None,
    balances: Mapping[str, Decimal] | None = None,
    *,
    market: str = "synthetic",
    step_interval_ms: int = 10,
    rate_limits: tuple[RateLimit, ...] | None = None,
    history_days: float = 0.05,
    start_price: Decimal | Mapping[str, Decimal] | None = None,
) -> AsyncIterator[RunningEmulator]:
    """Start an emulator (default exchange, one funded account) on 127.0.0.1:0; stop it after."""
    exchange = build_default_exchange(
        seed=seed,
        clock=wall_clock_ms,
        balances=dict(TEST_BALANCES if balances is None else balances),
        api_key=TEST_API_KEY,
        secret=TEST_API_SECRET,
        market=market,
        start_price=start_price,
        history_days=history_days,
    )
    server = EmulatorServer(
        exchange,
        faults=faults,
        step_interval_ms=step_interval_ms,
        rate_limits=rate_limits,
        clock=wall_clock_ms,
    )
    await server.start()
    try:
        yield RunningEmulator(
            server,
            exchange,
            TEST_API_KEY,
            TEST_API_SECRET,
            server.rest_url,
            server.ws_api_url,
            server.stream_url,
        )
    finally:
        await server.stop()


async def wait_until(
    predicate: Callable[[], Any | Awaitable[Any]], timeout: float = 5.0, interval: float = 0.005
) -> Any:
    """Poll `predicate` (sync or async) until it returns something truthy; return that value.

    Raises TimeoutError naming the predicate when `timeout` seconds pass first.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() >= deadline:
            name = getattr(predicate, "__qualname__", repr(predicate))
            raise TimeoutError(f"condition {name} not met within {timeout} s")
        await asyncio.sleep(interval)


async def ws_request(
    ws: Any,
    method: str,
    params: Mapping[str, Any] | None = None,
    *,
    request_id: Any = None,
    timeout: float = 5.0,
    others: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Send one WS API request on `ws` (aiohttp) and return the answer with the same id.

    Frames that arrive first (user-data events, other answers) go to `others` if given.
    """
    rid = request_id if request_id is not None else f"r{time.monotonic_ns()}"
    frame: dict[str, Any] = {"id": rid, "method": method}
    if params is not None:
        frame["params"] = dict(params)
    await ws.send_json(frame)
    async with asyncio.timeout(timeout):
        while True:
            message = await ws.receive_json()
            if "id" in message and message["id"] == rid and "status" in message:
                return message
            if others is not None:
                others.append(message)
