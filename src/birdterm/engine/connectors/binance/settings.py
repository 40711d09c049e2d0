"""BinanceSettings: what the live Binance spot connector needs to know (keys, URLs, pairs)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from birdterm.engine.types import split_trading_pair

OrderTransport = Literal["rest", "ws_api"]


class BinanceSettings(BaseModel):
    """Keys, endpoints, pairs and timing of a BinanceConnector (defaults: real Binance)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api_key: SecretStr
    api_secret: SecretStr
    rest_url: str = "https://api.binance.com"
    ws_api_url: str = "wss://ws-api.binance.com:443/ws-api/v3"
    stream_url: str = "wss://stream.binance.com:9443"
    trading_pairs: list[str] = Field(min_length=1)
    order_transport: OrderTransport = "rest"
    recv_window_ms: int = Field(default=5000, gt=0, le=60_000)
    request_timeout_s: float = Field(default=10.0, gt=0, le=120)
    client_order_id_prefix: str = Field(
        default="bt-", min_length=1, max_length=12, pattern=r"^[A-Za-z0-9_\-]+$"
    )
    connector_name: str = Field(default="binance", min_length=1)
    # how often an order whose create outcome is unknown is looked up, and cancels retried
    lookup_interval_s: float = Field(default=1.0, gt=0, le=60)
    cancel_retry_s: float = Field(default=1.0, gt=0, le=60)
    cancel_retry_max_s: float = Field(default=10.0, gt=0, le=300)
    # while the user-data stream is down: how often open orders are polled over REST
    poll_interval_s: float = Field(default=2.0, gt=0, le=300)
    # a fill the exchange reported but whose trade event has not come: fetch it after this
    missing_fill_grace_s: float = Field(default=1.0, ge=0, le=60)

    @field_validator("trading_pairs")
    @classmethod
    def _pairs_valid(cls, pairs: list[str]) -> list[str]:
        for pair in pairs:
            split_trading_pair(pair)
        if len(set(pairs)) != len(pairs):
            raise ValueError(f"trading pairs are listed twice: {pairs}")
        return pairs
