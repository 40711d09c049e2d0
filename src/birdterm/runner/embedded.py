"""EmbeddedEmulator: the Binance-protocol exchange emulator started inside birdterm (the demo)."""

from __future__ import annotations

import time

from birdterm.engine.run_settings import EmulatorSettings
from birdterm.engine.types import split_trading_pair
from birdterm.sim.emulator.default_exchange import (
    DEMO_API_KEY,
    DEMO_API_SECRET,
    build_default_exchange,
)
from birdterm.sim.emulator.server import EmulatorServer

__all__ = ["DEMO_API_KEY", "DEMO_API_SECRET", "EmbeddedEmulator"]


class EmbeddedEmulator:
    """An emulator on 127.0.0.1 (a free port), replaying the configured market."""

    def __init__(self, settings: EmulatorSettings, trading_pairs: list[str]) -> None:
        for pair in trading_pairs:
            base, quote = split_trading_pair(pair)
            if f"{base}{quote}" not in {"BTCUSDT", "ETHUSDT"}:
                raise ValueError(f"the embedded emulator lists BTC-USDT and ETH-USDT, not {pair}")
        self.settings = settings
        self.server: EmulatorServer | None = None

    async def start(self) -> None:
        """Build the exchange and start serving."""
        s = self.settings
        exchange = build_default_exchange(
            seed=s.seed,
            clock=lambda: int(time.time() * 1000),
            balances=dict(s.balances),
            api_key=DEMO_API_KEY,
            secret=DEMO_API_SECRET,
            market=s.market,
            start_price=s.start_price,
            history_days=s.history_days,
        )
        self.server = EmulatorServer(exchange)
        await self.server.start()

    @property
    def urls(self) -> tuple[str, str, str]:
        """(REST, WebSocket API, streams) URLs of the running server."""
        assert self.server is not None, "the emulator is not started"
        return self.server.rest_url, self.server.ws_api_url, self.server.stream_url

    async def stop(self) -> None:
        """Stop serving (idempotent)."""
        if self.server is not None:
            await self.server.stop()
            self.server = None
