"""BinanceAuth: Binance's documented HMAC test vector, REST query layout, WS API params."""

import hashlib
import hmac
from decimal import Decimal

import pytest

from birdterm.engine.connectors.binance.auth import BinanceAuth, encode_params, wire_value

# NOTES §5: the example from Binance's docs.
DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
DOC_PAYLOAD = (
    "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
    "&recvWindow=5000&timestamp=1499827319559"
)
DOC_SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"


def test_documented_test_vector():
    auth = BinanceAuth(
        "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A", DOC_SECRET
    )
    assert auth.sign(DOC_PAYLOAD) == DOC_SIGNATURE
    params = {
        "symbol": "LTCBTC",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": 1,
        "price": Decimal("0.1"),
    }
    assert (
        auth.rest_query(params, 1499827319559, 5000) == f"{DOC_PAYLOAD}&signature={DOC_SIGNATURE}"
    )
    assert auth.headers() == {"X-MBX-APIKEY": auth.api_key}
    assert DOC_SECRET not in repr(auth)


def test_rest_query_replaces_stale_timing_params_and_can_omit_recv_window():
    auth = BinanceAuth("key", "secret")
    query = auth.rest_query(
        {"symbol": "BTCUSDT", "timestamp": 1, "recvWindow": 9, "signature": "x", "orderId": None},
        1700000000000,
        None,
    )
    payload, signature = query.rsplit("&signature=", 1)
    assert payload == "symbol=BTCUSDT&timestamp=1700000000000"
    assert signature == hmac.new(b"secret", payload.encode(), hashlib.sha256).hexdigest()


def test_wire_values_and_percent_encoding():
    assert wire_value(Decimal("1E-7")) == "0.0000001"
    assert wire_value(Decimal("30000.10")) == "30000.10"
    assert wire_value(True) == "true"
    assert wire_value(["BTCUSDT", "ETHUSDT"]) == '["BTCUSDT","ETHUSDT"]'
    assert wire_value(0.1) == "0.1"
    assert encode_params({"symbols": ["BTCUSDT"], "newClientOrderId": "bt-a b/ü"}) == (
        "symbols=%5B%22BTCUSDT%22%5D&newClientOrderId=bt-a%20b%2F%C3%BC"
    )


def test_ws_params_sign_the_sorted_params_with_the_api_key():
    auth = BinanceAuth("myKey", "mySecret")
    signed = auth.ws_params(
        {
            "symbol": "BTCUSDT",
            "quantity": Decimal("0.00100"),
            "price": None,
            "newOrderRespType": "ACK",
        },
        1700000000123,
        recv_window_ms=5000,
    )
    assert signed["quantity"] == "0.00100"
    assert "price" not in signed
    expected_payload = (
        "apiKey=myKey&newOrderRespType=ACK&quantity=0.00100&recvWindow=5000&symbol=BTCUSDT"
        "&timestamp=1700000000123"
    )
    assert (
        signed["signature"]
        == hmac.new(b"mySecret", expected_payload.encode(), hashlib.sha256).hexdigest()
    )
    assert {k for k in signed} == {
        "apiKey",
        "newOrderRespType",
        "quantity",
        "recvWindow",
        "symbol",
        "timestamp",
        "signature",
    }


def test_ws_params_match_the_emulators_independent_verifier():
    # The emulator's signing module is an independent implementation of the same rule.
    signing = pytest.importorskip("birdterm.sim.emulator.signing")
    auth = BinanceAuth("myKey", "mySecret")
    signed = auth.ws_params({"symbol": "BTCUSDT", "flag": True, "ids": [1, 2]}, 1700000000123)
    assert signing.sign_ws("mySecret", signed) == signed["signature"]
    query = auth.rest_query({"symbol": "BTCUSDT", "side": "SELL"}, 1700000000123, 5000)
    payload = query.rsplit("&signature=", 1)[0]
    assert signing.sign_rest("mySecret", payload) == query.rsplit("=", 1)[1]


def test_empty_credentials_are_refused():
    with pytest.raises(ValueError, match="non-empty"):
        BinanceAuth("", "secret")
