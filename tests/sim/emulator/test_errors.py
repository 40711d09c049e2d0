"""BinanceError: body shape, HTTP status, codes and Binance's exact message texts."""

import pytest

from birdterm.sim.emulator import errors
from birdterm.sim.emulator.errors import BinanceError


def test_error_carries_its_fields_and_json_body():
    err = BinanceError(-1121, "Invalid symbol.")
    assert (err.code, err.msg, err.http_status, err.retry_after) == (
        -1121,
        "Invalid symbol.",
        400,
        None,
    )
    assert err.to_json() == {"code": -1121, "msg": "Invalid symbol."}
    assert err.headers == {}
    assert "-1121" in str(err)
    with pytest.raises(BinanceError):
        raise err


@pytest.mark.parametrize(
    ("err", "code", "msg", "status"),
    [
        (errors.filter_failure("LOT_SIZE"), -1013, "Filter failure: LOT_SIZE", 400),
        (errors.filter_failure("NOTIONAL"), -1013, "Filter failure: NOTIONAL", 400),
        (
            errors.invalid_timestamp_outside_window(),
            -1021,
            "Timestamp for this request is outside of the recvWindow.",
            400,
        ),
        (
            errors.invalid_timestamp_ahead(),
            -1021,
            "Timestamp for this request was 1000ms ahead of the server's time.",
            400,
        ),
        (errors.invalid_signature(), -1022, "Signature for this request is not valid.", 400),
        (
            errors.illegal_chars("timestamp", "^[0-9]{1,20}$"),
            -1100,
            "Illegal characters found in parameter 'timestamp'; legal range is '^[0-9]{1,20}$'.",
            400,
        ),
        (errors.duplicate_param("symbol"), -1101, "Duplicate values for parameter 'symbol'.", 400),
        (
            errors.mandatory_param("timestamp"),
            -1102,
            "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.",
            400,
        ),
        (
            errors.either_param("orderId", "origClientOrderId"),
            -1102,
            "Param 'orderId' or 'origClientOrderId' must be sent, but both were empty/null!",
            400,
        ),
        (
            errors.bad_precision("quantity"),
            -1111,
            "Parameter 'quantity' has too much precision.",
            400,
        ),
        (errors.bad_symbol(), -1121, "Invalid symbol.", 400),
        (
            errors.new_order_rejected(errors.INSUFFICIENT_BALANCE),
            -2010,
            "Account has insufficient balance for requested action.",
            400,
        ),
        (
            errors.new_order_rejected(errors.WOULD_MATCH_AND_TAKE),
            -2010,
            "Order would immediately match and take.",
            400,
        ),
        (errors.new_order_rejected(errors.DUPLICATE_ORDER), -2010, "Duplicate order sent.", 400),
        (errors.unknown_order(), -2011, "Unknown order sent.", 400),
        (
            errors.cancel_rejected(errors.CANCEL_RESTRICTED),
            -2011,
            "Order was not canceled due to cancel restrictions.",
            400,
        ),
        (errors.no_such_order(), -2013, "Order does not exist.", 400),
        (errors.bad_api_key_format(), -2014, "API-key format invalid.", 401),
        (
            errors.invalid_api_key(),
            -2015,
            "Invalid API-key, IP, or permissions for action.",
            401,
        ),
    ],
)
def test_named_errors(err, code, msg, status):
    assert (err.code, err.msg, err.http_status) == (code, msg, status)
    assert err.to_json() == {"code": code, "msg": msg}


def test_rate_limit_errors_carry_status_and_retry_after():
    weight = errors.too_many_requests(6000, "1 MINUTE", 45)
    assert (weight.code, weight.http_status, weight.retry_after) == (-1003, 429, 45)
    assert weight.msg == (
        "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. "
        "Please use WebSocket Streams for live updates to avoid polling the API."
    )
    raw = errors.too_many_raw_requests(61000, "5 MINUTE", 3)
    assert (raw.code, raw.http_status, raw.retry_after) == (-1003, 429, 3)
    assert raw.msg == "Too many requests; current limit is 61000 requests per 5 MINUTE."
    banned = errors.ip_banned(1_700_000_120_000, 120)
    assert (banned.code, banned.http_status, banned.retry_after) == (-1003, 418, 120)
    assert banned.msg == (
        "Way too much request weight used; IP banned until 1700000120000. "
        "Please use WebSocket Streams for live updates to avoid bans."
    )
    orders = errors.too_many_orders(50, "10 SECOND", 7)
    assert (orders.code, orders.http_status, orders.retry_after) == (-1015, 429, 7)
    assert orders.msg == "Too many new orders; current limit is 50 orders per 10 SECOND."


def test_code_constants():
    assert (errors.TOO_MANY_REQUESTS, errors.TOO_MANY_ORDERS, errors.INVALID_TIMESTAMP) == (
        -1003,
        -1015,
        -1021,
    )
    assert (errors.BAD_API_KEY_FMT, errors.REJECTED_MBX_KEY, errors.NO_SUCH_ORDER) == (
        -2014,
        -2015,
        -2013,
    )
