"""Binance error codes and their exact message texts, as raised by the emulator."""

from __future__ import annotations

# Codes (names as in Binance's errors.md).
TOO_MANY_REQUESTS = -1003
INVALID_MESSAGE = -1013
TOO_MANY_ORDERS = -1015
INVALID_TIMESTAMP = -1021
INVALID_SIGNATURE = -1022
ILLEGAL_CHARS = -1100
DUPLICATE_PARAM = -1101
MANDATORY_PARAM_EMPTY_OR_MALFORMED = -1102
BAD_PRECISION = -1111
BAD_SYMBOL = -1121
NEW_ORDER_REJECTED = -2010
CANCEL_REJECTED = -2011
NO_SUCH_ORDER = -2013
BAD_API_KEY_FMT = -2014
REJECTED_MBX_KEY = -2015

# Common reasons carried by -2010 / -2011.
INSUFFICIENT_BALANCE = "Account has insufficient balance for requested action."
WOULD_MATCH_AND_TAKE = "Order would immediately match and take."
DUPLICATE_ORDER = "Duplicate order sent."
CANCEL_RESTRICTED = "Order was not canceled due to cancel restrictions."


class BinanceError(Exception):
    """An error answered to the client as {"code", "msg"} with an HTTP status."""

    def __init__(
        self,
        code: int,
        msg: str,
        http_status: int = 400,
        retry_after: int | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"[{code}] {msg}")
        self.code = code
        self.msg = msg
        self.http_status = http_status
        self.retry_after = retry_after
        # Extra response headers (e.g. X-MBX-USED-WEIGHT-1M on a 429).
        self.headers: dict[str, str] = dict(headers or {})

    def to_json(self) -> dict[str, int | str]:
        """Return the REST error body."""
        return {"code": self.code, "msg": self.msg}

    def __repr__(self) -> str:
        return f"BinanceError({self.code}, {self.msg!r}, http_status={self.http_status})"


def too_many_requests(limit: int, interval: str, retry_after: int) -> BinanceError:
    """-1003 (429): request weight over `limit` per `interval` (e.g. "1 MINUTE")."""
    return BinanceError(
        TOO_MANY_REQUESTS,
        f"Too much request weight used; current limit is {limit} request weight per {interval}. "
        "Please use WebSocket Streams for live updates to avoid polling the API.",
        429,
        retry_after,
    )


def too_many_raw_requests(limit: int, interval: str, retry_after: int) -> BinanceError:
    """-1003 (429): raw request count over `limit` per `interval`."""
    return BinanceError(
        TOO_MANY_REQUESTS,
        f"Too many requests; current limit is {limit} requests per {interval}.",
        429,
        retry_after,
    )


def ip_banned(until_ms: int, retry_after: int) -> BinanceError:
    """-1003 (418): the IP is banned until `until_ms` (epoch ms)."""
    return BinanceError(
        TOO_MANY_REQUESTS,
        f"Way too much request weight used; IP banned until {until_ms}. "
        "Please use WebSocket Streams for live updates to avoid bans.",
        418,
        retry_after,
    )


def too_many_orders(limit: int, interval: str, retry_after: int) -> BinanceError:
    """-1015 (429): new-order count over `limit` per `interval` (e.g. "10 SECOND")."""
    return BinanceError(
        TOO_MANY_ORDERS,
        f"Too many new orders; current limit is {limit} orders per {interval}.",
        429,
        retry_after,
    )


def filter_failure(filter_type: str) -> BinanceError:
    """-1013: an exchangeInfo filter rejected the order."""
    return BinanceError(INVALID_MESSAGE, f"Filter failure: {filter_type}")


def invalid_message(msg: str) -> BinanceError:
    """-1013 with a free-form message."""
    return BinanceError(INVALID_MESSAGE, msg)


def invalid_timestamp_outside_window() -> BinanceError:
    """-1021: timestamp older than recvWindow."""
    return BinanceError(
        INVALID_TIMESTAMP, "Timestamp for this request is outside of the recvWindow."
    )


def invalid_timestamp_ahead() -> BinanceError:
    """-1021: timestamp 1000 ms or more ahead of the server."""
    return BinanceError(
        INVALID_TIMESTAMP, "Timestamp for this request was 1000ms ahead of the server's time."
    )


def invalid_signature() -> BinanceError:
    """-1022: the HMAC signature does not match."""
    return BinanceError(INVALID_SIGNATURE, "Signature for this request is not valid.")


def illegal_chars(name: str, legal_range: str) -> BinanceError:
    """-1100: a parameter's value is outside its legal syntax or range."""
    return BinanceError(
        ILLEGAL_CHARS,
        f"Illegal characters found in parameter '{name}'; legal range is '{legal_range}'.",
    )


def duplicate_param(name: str) -> BinanceError:
    """-1101: the same parameter was sent twice."""
    return BinanceError(DUPLICATE_PARAM, f"Duplicate values for parameter '{name}'.")


def mandatory_param(name: str) -> BinanceError:
    """-1102: a mandatory parameter is missing, empty or malformed."""
    return BinanceError(
        MANDATORY_PARAM_EMPTY_OR_MALFORMED,
        f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.",
    )


def either_param(first: str, second: str) -> BinanceError:
    """-1102: one of two alternative parameters must be sent."""
    return BinanceError(
        MANDATORY_PARAM_EMPTY_OR_MALFORMED,
        f"Param '{first}' or '{second}' must be sent, but both were empty/null!",
    )


def bad_precision(name: str) -> BinanceError:
    """-1111: a decimal parameter has more decimals than allowed."""
    return BinanceError(BAD_PRECISION, f"Parameter '{name}' has too much precision.")


def bad_symbol() -> BinanceError:
    """-1121: unknown symbol."""
    return BinanceError(BAD_SYMBOL, "Invalid symbol.")


def new_order_rejected(reason: str) -> BinanceError:
    """-2010: the matching engine refused a new order; `reason` is the message."""
    return BinanceError(NEW_ORDER_REJECTED, reason)


def cancel_rejected(reason: str) -> BinanceError:
    """-2011: a cancel was refused; `reason` is the message."""
    return BinanceError(CANCEL_REJECTED, reason)


def unknown_order() -> BinanceError:
    """-2011: cancel of an order the exchange does not know."""
    return cancel_rejected("Unknown order sent.")


def no_such_order() -> BinanceError:
    """-2013: query of an order that does not exist."""
    return BinanceError(NO_SUCH_ORDER, "Order does not exist.")


def bad_api_key_format() -> BinanceError:
    """-2014 (401): API key missing or malformed."""
    return BinanceError(BAD_API_KEY_FMT, "API-key format invalid.", 401)


def invalid_api_key() -> BinanceError:
    """-2015 (401): unknown key, wrong IP or missing permission."""
    return BinanceError(REJECTED_MBX_KEY, "Invalid API-key, IP, or permissions for action.", 401)
