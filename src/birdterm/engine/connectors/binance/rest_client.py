"""Binance spot REST: throttled, signed requests whose outcomes map to the connector's errors.

* 2xx -> the parsed JSON.
* 4xx with {"code", "msg"} -> BinanceAPIError (refused). -1021 (timestamp) on a signed request:
  resync the clock once and resend once; the server said it refused, so resending is safe.
* 429/418 -> pause the throttler for Retry-After, raise RateLimitedError.
* 5xx, -1007, timeouts, dropped connections -> RequestOutcomeUnknown (never resent here).
* connection refused / connect timeout -> RequestNotSent.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson
from yarl import URL

from birdterm.engine.connectors.binance.auth import BinanceAuth, encode_params
from birdterm.engine.connectors.binance.constants import rest_limit_id
from birdterm.engine.connectors.binance.errors import (
    INVALID_TIMESTAMP,
    TIMEOUT,
    BinanceAPIError,
    BinanceConnectorError,
    RateLimitedError,
    RequestNotSent,
    RequestOutcomeUnknown,
)
from birdterm.engine.connectors.binance.time_sync import TimeSync
from birdterm.engine.connectors.throttler import AsyncThrottler

log = logging.getLogger("birdterm.binance.rest")

# When a 429/418 comes without Retry-After (Binance always sends it): the shortest ban is 2 min.
DEFAULT_RETRY_AFTER_S = {429: 1.0, 418: 120.0}


class BinanceRestClient:
    """Sends REST requests through the throttler; signs them with `auth` when asked."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        auth: BinanceAuth | None,
        throttler: AsyncThrottler,
        time_sync: TimeSync,
        *,
        timeout_s: float = 10.0,
        recv_window_ms: int = 5000,
    ) -> None:
        self._session = session
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.throttler = throttler
        self.time_sync = time_sync
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.recv_window_ms = recv_window_ms
        self.timestamp_retries = 0  # -1021 answers recovered by a resync

    async def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        signed: bool = False,
        limit_id: str | None = None,
    ) -> Any:
        """Send one request and return its JSON; see the module doc for the errors."""
        method = method.upper()
        if signed and self.auth is None:
            raise ValueError(f"{method} {path} is signed but this client has no API key")
        limit_id = limit_id or rest_limit_id(method, path, params)
        try:
            return await self._send(method, path, params, signed, limit_id)
        except BinanceAPIError as err:
            if not (signed and err.code == INVALID_TIMESTAMP):
                raise
            log.warning("%s %s: %s; resyncing the clock and retrying once", method, path, err.msg)
            try:
                await self.time_sync.resync(self)
            except BinanceConnectorError as exc:
                raise err from exc
            self.timestamp_retries += 1
            return await self._send(method, path, params, signed, limit_id)

    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        signed: bool,
        limit_id: str,
    ) -> Any:
        async with self.throttler.acquire(limit_id):
            headers: dict[str, str] = {}
            if signed:
                assert self.auth is not None
                # The timestamp is taken after any throttler wait, just before sending.
                query = self.auth.rest_query(
                    params, self.time_sync.server_ms(), self.recv_window_ms
                )
                headers.update(self.auth.headers())
            else:
                query = encode_params(params or {})
            url = URL(self.base_url + path + (f"?{query}" if query else ""), encoded=True)
            what = f"{method} {path}"
            try:
                async with self._session.request(
                    method, url, headers=headers, timeout=self._timeout
                ) as response:
                    body = await response.read()
                    status = response.status
                    self.throttler.update_from_headers(response.headers)
                    retry_after = response.headers.get("Retry-After")
            except aiohttp.ConnectionTimeoutError as exc:
                raise RequestNotSent(f"{what}: connect timeout ({exc!r})") from exc
            except aiohttp.ClientConnectorError as exc:
                raise RequestNotSent(f"{what}: cannot connect ({exc})") from exc
            except TimeoutError as exc:
                raise RequestOutcomeUnknown(f"{what}: no answer in time") from exc
            except aiohttp.ClientError as exc:
                raise RequestOutcomeUnknown(f"{what}: connection lost ({exc!r})") from exc
        return self._answer(what, status, body, retry_after)

    def _answer(self, what: str, status: int, body: bytes, retry_after: str | None) -> Any:
        payload: Any
        try:
            payload = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            payload = None
        if 200 <= status < 300:
            if payload is None:
                raise RequestOutcomeUnknown(
                    f"{what}: HTTP {status} with an unreadable body", http_status=status
                )
            return payload
        code, msg = 0, body[:200].decode("utf-8", "replace")
        if isinstance(payload, dict) and "code" in payload:
            code, msg = int(payload["code"]), str(payload.get("msg", ""))
        if status in (429, 418):
            wait = _retry_after_s(retry_after, status)
            self.throttler.pause(wait)
            raise RateLimitedError(wait, http_status=status, code=code, msg=msg)
        if status >= 500 or code == TIMEOUT:
            raise RequestOutcomeUnknown(
                f"{what}: HTTP {status} [{code}] {msg}", http_status=status, code=code
            )
        raise BinanceAPIError(status, code, msg)


def _retry_after_s(header: str | None, status: int) -> float:
    try:
        value = float(header) if header is not None else DEFAULT_RETRY_AFTER_S[status]
    except ValueError:
        value = DEFAULT_RETRY_AFTER_S[status]
    return max(value, 0.0)
