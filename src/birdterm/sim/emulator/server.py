"""EmulatorServer: the exchange behind Binance's REST, WebSocket API and market streams.

Binds 127.0.0.1 only. A background task calls `exchange.step()` every `step_interval_ms` (the
exchange publishes market and user events from there and from order calls); the server fans them
out to the sockets. `faults` may be replaced at any time (the dice restart from the new seed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from birdterm.sim.emulator.endpoints import Context
from birdterm.sim.emulator.faults import STAT_KEYS, FaultConfig, FaultInjector
from birdterm.sim.emulator.market_streams import StreamHub
from birdterm.sim.emulator.rate_limits import DEFAULT_LIMITS, RateLimit, RateLimiter
from birdterm.sim.emulator.request_flow import RequestFlow
from birdterm.sim.emulator.rest_api import add_rest_routes
from birdterm.sim.emulator.ws_api import WsApi

if TYPE_CHECKING:
    from birdterm.sim.emulator.exchange import Exchange

log = logging.getLogger(__name__)

LOCALHOST = "127.0.0.1"


def wall_clock_ms() -> int:
    """Milliseconds since the epoch, from the system clock."""
    return time.time_ns() // 1_000_000


class EmulatorServer:
    """aiohttp server speaking Binance spot's protocol in front of an Exchange."""

    def __init__(
        self,
        exchange: Exchange,
        *,
        host: str = LOCALHOST,
        port: int = 0,
        faults: FaultConfig | None = None,
        step_interval_ms: int = 10,
        rate_limits: tuple[RateLimit, ...] | None = None,
        clock: Callable[[], int] | None = None,
    ) -> None:
        if step_interval_ms < 1:
            raise ValueError(f"step_interval_ms must be >= 1, got {step_interval_ms}")
        self.exchange = exchange
        self.host = host
        self._requested_port = port
        self.step_interval_ms = step_interval_ms
        # Server time must be the exchange's time (signatures, rate windows, serverTime); the
        # spec'd Exchange does not expose its clock, so fall back to the one it keeps.
        self.clock: Callable[[], int] = (
            clock
            or getattr(exchange, "clock", None)
            or getattr(exchange, "_clock", None)
            or wall_clock_ms
        )
        self.stats: dict[str, int] = dict.fromkeys(STAT_KEYS, 0)
        self._injector = FaultInjector(faults or FaultConfig(), self.stats)
        self.limiter = RateLimiter(rate_limits or DEFAULT_LIMITS, self.clock)
        ctx = Context(exchange, self.limiter, self.clock)
        self.flow = RequestFlow(ctx, lambda: self._injector, self.stats)
        self.streams = StreamHub(
            lambda: {name.lower() for name in exchange.symbols},
            exchange.depth,
            lambda: self._injector,
            self.stats,
        )
        self.ws_api = WsApi(self.flow, lambda: self._injector, self.stats)
        exchange.add_market_listener(self._on_market)
        exchange.add_user_listener(self._on_user)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._step_task: asyncio.Task[None] | None = None
        self._running = False

    @property
    def faults(self) -> FaultConfig:
        """The active fault configuration."""
        return self._injector.config

    @faults.setter
    def faults(self, config: FaultConfig | None) -> None:
        self._injector = FaultInjector(config or FaultConfig(), self.stats)

    @property
    def port(self) -> int:
        """The bound TCP port (after start)."""
        if self._port is None:
            raise RuntimeError("the emulator server is not started")
        return self._port

    @property
    def rest_url(self) -> str:
        """Base URL of the REST API."""
        return f"http://{LOCALHOST}:{self.port}"

    @property
    def ws_api_url(self) -> str:
        """URL of the WebSocket API."""
        return f"ws://{LOCALHOST}:{self.port}/ws-api/v3"

    @property
    def stream_url(self) -> str:
        """Base URL of the market streams (/ws/<name>, /stream?streams=...)."""
        return f"ws://{LOCALHOST}:{self.port}"

    async def start(self) -> None:
        """Bind 127.0.0.1 and start serving and stepping the exchange."""
        if self.host != LOCALHOST:
            raise ValueError(f"the emulator binds {LOCALHOST} only, not {self.host!r}")
        if self._runner is not None:
            raise RuntimeError("the emulator server is already started")
        app = web.Application()
        add_rest_routes(app, self.flow, self.stats)
        app.router.add_get("/ws-api/v3", self.ws_api.handle)
        app.router.add_get("/ws", self.streams.handle_raw)
        app.router.add_get("/ws/{names:.*}", self.streams.handle_raw)
        app.router.add_get("/stream", self.streams.handle_combined)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, LOCALHOST, self._requested_port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        server = site._server
        assert server is not None
        self._port = server.sockets[0].getsockname()[1]
        self._runner = runner
        self._running = True
        self._step_task = asyncio.get_running_loop().create_task(self._step_loop())

    async def stop(self) -> None:
        """Close every socket, stop stepping and unbind."""
        self._running = False
        if self._step_task is not None:
            self._step_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._step_task
            self._step_task = None
        outboxes = [c.outbox for c in self.streams.connections]
        outboxes += [c.outbox for c in self.ws_api.connections]
        await asyncio.gather(*(outbox.close() for outbox in outboxes), return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def announce_shutdown(self) -> None:
        """Send Binance's serverShutdown event to every market-stream socket."""
        self.streams.announce_shutdown(self.clock())

    def step_now(self) -> None:
        """Advance the exchange and the derived streams once (the loop does this on its own)."""
        try:
            self.exchange.step()
        except Exception:
            self.stats["step_errors"] += 1
            log.exception("emulator: exchange.step() failed")
        self.streams.tick(self.clock())

    async def _step_loop(self) -> None:
        interval = self.step_interval_ms / 1000
        while True:
            self.step_now()
            await asyncio.sleep(interval)

    def _on_market(self, stream: str, payload: dict[str, Any]) -> None:
        if self._running:
            self.streams.publish(stream, payload)

    def _on_user(self, api_key: str, event: dict[str, Any]) -> None:
        if self._running:
            self.ws_api.on_user_event(api_key, event)
