"""What a Binance request can end in, besides an answer.

* `BinanceAPIError`: the exchange answered with an error; the request was refused (not done).
* `RateLimitedError` (a BinanceAPIError): 429/418; refused, and every request is paused.
* `RequestOutcomeUnknown`: timeout, dropped connection, 5xx: the request may have been done.
* `RequestNotSent`: the connection could not even be opened; the request was certainly not done.

`NoPriceError` (engine.connectors.base) is not a request error: `mid_price` raises it
while a pair has no price yet.
"""

from __future__ import annotations

# Binance error codes the connector reacts to (NOTES §7).
TOO_MANY_REQUESTS = -1003
SERVER_BUSY = -1008
TIMEOUT = -1007
TOO_MANY_ORDERS = -1015
INVALID_TIMESTAMP = -1021
INVALID_SIGNATURE = -1022
NEW_ORDER_REJECTED = -2010
CANCEL_REJECTED = -2011
NO_SUCH_ORDER = -2013
BAD_API_KEY_FMT = -2014
REJECTED_MBX_KEY = -2015


class BinanceConnectorError(Exception):
    """Base class of the Binance connector's request errors."""


class BinanceAPIError(BinanceConnectorError):
    """The exchange refused the request with {"code", "msg"} (or a bare HTTP error)."""

    def __init__(self, http_status: int, code: int, msg: str) -> None:
        super().__init__(f"HTTP {http_status} [{code}] {msg}")
        self.http_status = http_status
        self.code = code
        self.msg = msg


class RateLimitedError(BinanceAPIError):
    """429 (limit broken) or 418 (IP banned): refused; retry after `retry_after_s` seconds."""

    def __init__(
        self,
        retry_after_s: float,
        *,
        http_status: int = 429,
        code: int = TOO_MANY_REQUESTS,
        msg: str = "rate limited",
    ) -> None:
        super().__init__(http_status, code, msg)
        self.retry_after_s = retry_after_s

    @property
    def banned(self) -> bool:
        """True for a 418 (the IP is banned until the Retry-After)."""
        return self.http_status == 418


class RequestOutcomeUnknown(BinanceConnectorError):
    """The request reached (or may have reached) the exchange but no verdict came back:
    timeout, dropped connection, 5xx, -1007. It may have been executed: never resend an order
    after this; look it up instead."""

    def __init__(
        self, reason: str, *, http_status: int | None = None, code: int | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.http_status = http_status
        self.code = code


class RequestNotSent(BinanceConnectorError):
    """The connection could not be opened (refused, DNS, connect timeout): nothing was sent."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
