"""HMAC-SHA256 request signing for Binance spot REST and the WebSocket API (NOTES §5).

REST: the signature covers the query string exactly as sent (parameters in the order given,
percent-encoded), then `&signature=<hex>` is appended. WS API: every param but `signature`
(apiKey included), sorted by name, joined `k=v&k=v`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

import orjson


def wire_value(value: Any) -> str:
    """A parameter as Binance expects it on the wire: Decimal without exponent, booleans as
    true/false, lists/dicts as compact JSON, anything else via str()."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    if isinstance(value, list | tuple | dict):
        return orjson.dumps(value).decode()
    return str(value)


def encode_params(params: Mapping[str, Any]) -> str:
    """URL-encode params in the given order (None values left out)."""
    return urlencode(
        [(name, wire_value(value)) for name, value in params.items() if value is not None],
        quote_via=quote,
        safe="",
    )


def hmac_hex(secret: str, payload: str) -> str:
    """Lowercase hex HMAC-SHA256 of `payload` under `secret`."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


class BinanceAuth:
    """An API key and its HMAC secret; signs REST queries and WS API params."""

    def __init__(self, api_key: str, api_secret: str) -> None:
        if not api_key or not api_secret:
            raise ValueError("a Binance API key and secret must both be non-empty")
        self.api_key = api_key
        self._secret = api_secret

    def __repr__(self) -> str:
        return f"BinanceAuth(api_key={self.api_key[:4]}…)"

    def sign(self, payload: str) -> str:
        """Hex HMAC-SHA256 of a payload under this key's secret."""
        return hmac_hex(self._secret, payload)

    def headers(self) -> dict[str, str]:
        """The header every keyed REST request carries."""
        return {"X-MBX-APIKEY": self.api_key}

    def rest_query(
        self, params: Mapping[str, Any] | None, timestamp_ms: int, recv_window_ms: int | None
    ) -> str:
        """The signed query string: params, recvWindow, timestamp, then signature."""
        items: dict[str, Any] = {
            k: v for k, v in (params or {}).items() if k not in ("timestamp", "signature")
        }
        items.pop("recvWindow", None)
        if recv_window_ms is not None:
            items["recvWindow"] = recv_window_ms
        items["timestamp"] = timestamp_ms
        query = encode_params(items)
        return f"{query}&signature={self.sign(query)}"

    def ws_params(
        self, params: Mapping[str, Any] | None, timestamp_ms: int, recv_window_ms: int | None = None
    ) -> dict[str, Any]:
        """Signed WS API params: the given ones (Decimals as strings) plus apiKey, timestamp,
        recvWindow (when given) and signature."""
        signed: dict[str, Any] = {}
        for name, value in (params or {}).items():
            if value is None or name == "signature":
                continue
            signed[name] = format(value, "f") if isinstance(value, Decimal) else value
        signed["apiKey"] = self.api_key
        signed["timestamp"] = timestamp_ms
        if recv_window_ms is not None:
            signed["recvWindow"] = recv_window_ms
        payload = "&".join(f"{k}={wire_value(v)}" for k, v in sorted(signed.items()))
        signed["signature"] = self.sign(payload)
        return signed
