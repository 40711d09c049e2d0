"""The tables of a controller file that say how it trades live: [bot], [live], [emulator], [paper].

A controller file holds one `[controller]` table and, optionally, how to backtest it
(`[backtest]`) and how to run it (these tables). `connector` in `[controller]` picks the mode:
`binance` trades through the Binance connector, `binance_paper` simulates fills on Binance's
public market data. `[live] endpoint` says which Binance: the real one, its spot testnet, given
URLs, or `embedded` — an exchange emulator started inside birdterm on 127.0.0.1, replaying a
market, with demo keys and the balances of `[emulator]` (the default config uses it, so birdterm
runs with no account and no internet).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ZERO = Decimal(0)

# Balances by asset; a negative one is refused with the asset in the error's field path.
Balances = dict[str, Annotated[Decimal, Field(ge=0)]]

BINANCE_URLS: dict[str, tuple[str, str, str]] = {
    # endpoint: (REST, WebSocket API, market streams)
    "binance": (
        "https://api.binance.com",
        "wss://ws-api.binance.com:443/ws-api/v3",
        "wss://stream.binance.com:9443",
    ),
    "testnet": (
        "https://testnet.binance.vision",
        "wss://ws-api.testnet.binance.vision/ws-api/v3",
        "wss://stream.testnet.binance.vision",
    ),
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BotSettings(_Section):
    """[bot]: the instance's name (it names the store file) and its clock."""

    name: str = Field(default="birdterm", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
    tick_size: float = Field(default=1.0, gt=0, le=60, description="clock tick in seconds")


class LiveSettings(_Section):
    """[live]: which Binance to talk to, with which keys, and how orders travel."""

    endpoint: Literal["binance", "testnet", "custom", "embedded"] = "binance"
    rest_url: str | None = None
    ws_api_url: str | None = None
    stream_url: str | None = None
    api_key_env: str = Field(default="BIRDTERM_BINANCE_API_KEY", pattern=r"^[A-Z_][A-Z0-9_]*$")
    api_secret_env: str = Field(
        default="BIRDTERM_BINANCE_API_SECRET", pattern=r"^[A-Z_][A-Z0-9_]*$"
    )
    order_transport: Literal["rest", "ws_api"] = "rest"
    recv_window_ms: int = Field(default=5000, ge=100, le=60000)
    request_timeout_s: float = Field(default=10.0, gt=0, le=120)
    stop_timeout_s: float = Field(
        default=15.0, gt=0, le=600, description="how long /stop waits for cancels to be confirmed"
    )

    @model_validator(mode="after")
    def _urls_match_endpoint(self) -> LiveSettings:
        urls = (self.rest_url, self.ws_api_url, self.stream_url)
        if self.endpoint == "custom" and None in urls:
            raise ValueError("endpoint 'custom' needs rest_url, ws_api_url and stream_url")
        if self.endpoint != "custom" and any(u is not None for u in urls):
            raise ValueError(
                f"rest_url/ws_api_url/stream_url are only for endpoint 'custom' "
                f"(endpoint is {self.endpoint!r}; valid: binance, testnet, custom, embedded)"
            )
        return self

    def urls(self) -> tuple[str, str, str]:
        """(REST, WebSocket API, streams) base URLs; not for the embedded endpoint."""
        if self.endpoint == "custom":
            assert self.rest_url and self.ws_api_url and self.stream_url
            return self.rest_url, self.ws_api_url, self.stream_url
        if self.endpoint == "embedded":
            raise ValueError("the embedded endpoint's URLs are known once its emulator runs")
        return BINANCE_URLS[self.endpoint]


class EmulatorSettings(_Section):
    """[emulator]: the market and the demo account of the embedded exchange emulator."""

    market: Literal["synthetic", "recorded"] = "synthetic"
    seed: int = Field(default=7, ge=0)
    start_price: Decimal = Field(default=Decimal(30000), gt=0)
    history_days: float = Field(default=1.0, gt=0, le=31, description="klines served back in time")
    balances: Balances = Field(default_factory=lambda: {"USDT": Decimal(1000), "BTC": Decimal(0)})


class PaperSettings(_Section):
    """[paper]: the simulated wallet and fees of a paper connector."""

    initial_balances: Balances = Field(
        default_factory=lambda: {"USDT": Decimal(1000), "BTC": Decimal(0)}
    )
    maker_fee: Decimal = Field(default=Decimal("0.001"), ge=Decimal("-0.01"), le=Decimal("0.1"))
    taker_fee: Decimal = Field(default=Decimal("0.001"), ge=Decimal("-0.01"), le=Decimal("0.1"))


RUN_SECTIONS: dict[str, tuple[Any, Any]] = {
    "bot": (BotSettings, BotSettings()),
    "live": (LiveSettings, LiveSettings()),
    "emulator": (EmulatorSettings, EmulatorSettings()),
    "paper": (PaperSettings, PaperSettings()),
}
