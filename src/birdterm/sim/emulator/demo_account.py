"""The emulator's demo account: its keys and starting balances (no imports: the CLI reads
these for its option defaults without loading the server)."""

from __future__ import annotations

from decimal import Decimal

# Demo credentials printed by `birdterm emulator` (HMAC; letters/digits as Binance keys are).
DEMO_API_KEY = "birdtermDemoApiKey"
DEMO_API_SECRET = "birdtermDemoApiSecret"
DEFAULT_BALANCES: dict[str, Decimal] = {
    "USDT": Decimal(100_000),
    "BTC": Decimal(1),
    "ETH": Decimal(10),
}
