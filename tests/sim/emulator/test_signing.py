"""HMAC signing (docs test vectors) and the server-side key/signature/timestamp checks."""

import pytest

from birdterm.sim.emulator.errors import BinanceError
from birdterm.sim.emulator.signing import (
    RequestAuthenticator,
    recv_window_us,
    sign_rest,
    sign_ws,
    ws_payload,
)

# Binance docs example key pair (rest-api.md / web-socket-api.md signing examples).
KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
DOC_QUERY = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"
DOC_BODY = "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
DOC_PAYLOAD = f"{DOC_QUERY}&{DOC_BODY}"
DOC_SIG = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
DOC_MIXED_SIG = "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"
DOC_TS = 1499827319559


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def auth(now: int = DOC_TS) -> RequestAuthenticator:
    return RequestAuthenticator({KEY: SECRET}, Clock(now))


def code_of(call) -> int:
    with pytest.raises(BinanceError) as info:
        call()
    return info.value.code


def signed(query: str) -> str:
    return f"{query}&signature={sign_rest(SECRET, query)}"


def test_docs_vector_query_only():
    assert sign_rest(SECRET, DOC_PAYLOAD) == DOC_SIG


def test_docs_vector_query_and_body_concatenated_without_separator():
    assert sign_rest(SECRET, DOC_QUERY, DOC_BODY) == DOC_MIXED_SIG
    assert sign_rest(SECRET, DOC_QUERY + DOC_BODY) == DOC_MIXED_SIG


def test_docs_vector_ws_api():
    params = {
        "symbol": "BTCUSDT",
        "side": "SELL",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.01000000",
        "price": "52000.00",
        "newOrderRespType": "ACK",
        "recvWindow": 100,
        "timestamp": 1645423376532,
        "apiKey": KEY,
    }
    assert ws_payload(params) == (
        f"apiKey={KEY}&newOrderRespType=ACK&price=52000.00&quantity=0.01000000&recvWindow=100"
        "&side=SELL&symbol=BTCUSDT&timeInForce=GTC&timestamp=1645423376532&type=LIMIT"
    )
    sig = "cc15477742bd704c29492d96c7ead9414dfd8e0ec4a00f947bb5bb454ddbd08a"
    assert sign_ws(SECRET, params) == sig
    assert sign_ws(SECRET, {**params, "signature": "ignored"}) == sig


def test_ws_payload_formats_booleans_and_lists_as_json():
    assert ws_payload({"b": True, "a": ["X", "Y"], "c": False}) == 'a=["X","Y"]&b=true&c=false'


def test_verify_rest_accepts_docs_request_and_drops_signature():
    params = auth().verify_rest(KEY, f"{DOC_PAYLOAD}&signature={DOC_SIG}", "")
    assert params == {
        "symbol": "LTCBTC",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "1",
        "price": "0.1",
        "recvWindow": "5000",
        "timestamp": "1499827319559",
    }


def test_verify_rest_signature_in_body_or_query_and_uppercase_hex():
    a = auth()
    assert a.verify_rest(KEY, "", f"{DOC_PAYLOAD}&signature={DOC_SIG}")["symbol"] == "LTCBTC"
    assert a.verify_rest(KEY, DOC_QUERY, f"{DOC_BODY}&signature={DOC_MIXED_SIG}")["price"] == "0.1"
    assert a.verify_rest(KEY, f"{DOC_QUERY}&signature={DOC_MIXED_SIG}", DOC_BODY)["price"] == "0.1"
    assert a.verify_rest(KEY, f"{DOC_PAYLOAD}&signature={DOC_SIG.upper()}", "")["side"] == "BUY"


def test_verify_rest_signs_the_raw_percent_encoded_query():
    query = f"symbol=LTCBTC&newClientOrderId=%E4%BD%A0%E5%A5%BD&timestamp={DOC_TS}"
    params = auth().verify_rest(KEY, signed(query), "")
    assert params["newClientOrderId"] == "你好"


def test_query_wins_over_body_and_duplicates_are_refused():
    query = f"symbol=LTCBTC&timestamp={DOC_TS}"
    body = "symbol=ETHBTC"
    sig = sign_rest(SECRET, query, body)
    params = auth().verify_rest(KEY, query, f"{body}&signature={sig}")
    assert params["symbol"] == "LTCBTC"
    dup = f"symbol=A&symbol=B&timestamp={DOC_TS}"
    assert code_of(lambda: auth().verify_rest(KEY, signed(dup), "")) == -1101


@pytest.mark.parametrize(
    ("api_key", "code"),
    [(None, -2014), ("", -2014), ("bad key!", -2014), ("x" * 65, -2014), ("Unknown1", -2015)],
)
def test_api_key_checks(api_key, code):
    err_code = code_of(
        lambda: auth().verify_rest(api_key, f"{DOC_PAYLOAD}&signature={DOC_SIG}", "")
    )
    assert err_code == code


def test_signature_checks():
    a = auth()
    wrong = "0" * 64
    assert code_of(lambda: a.verify_rest(KEY, f"{DOC_PAYLOAD}&signature={wrong}", "")) == -1022
    assert code_of(lambda: a.verify_rest(KEY, f"{DOC_PAYLOAD}&signature=zz%C3%A9", "")) == -1022
    with pytest.raises(BinanceError) as info:
        a.verify_rest(KEY, DOC_PAYLOAD, "")
    assert (info.value.code, info.value.msg) == (
        -1102,
        "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
    )


def test_timestamp_must_be_present_and_numeric():
    with pytest.raises(BinanceError) as info:
        auth().verify_rest(KEY, signed("symbol=LTCBTC"), "")
    assert (info.value.code, info.value.msg) == (
        -1102,
        "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.",
    )
    assert code_of(lambda: auth().verify_rest(KEY, signed("timestamp="), "")) == -1102
    assert code_of(lambda: auth().verify_rest(KEY, signed("timestamp=12ab"), "")) == -1100


@pytest.mark.parametrize(
    ("offset", "ok"),
    [(-5000, True), (-5001, False), (999, True), (1000, False), (0, True)],
)
def test_default_recv_window_boundaries(offset, ok):
    server = 1_700_000_000_000
    query = signed(f"timestamp={server + offset}")
    if ok:
        assert auth(server).verify_rest(KEY, query, "")["timestamp"] == str(server + offset)
    else:
        with pytest.raises(BinanceError) as info:
            auth(server).verify_rest(KEY, query, "")
        assert info.value.code == -1021
        ahead = "Timestamp for this request was 1000ms ahead of the server's time."
        outside = "Timestamp for this request is outside of the recvWindow."
        assert info.value.msg == (ahead if offset > 0 else outside)


@pytest.mark.parametrize(
    ("recv_window", "age", "ok"),
    [("60000", 60000, True), ("60000", 60001, False), ("100", 100, True), ("100", 101, False)],
)
def test_explicit_recv_window_boundaries(recv_window, age, ok):
    server = 1_700_000_000_000
    query = signed(f"recvWindow={recv_window}&timestamp={server - age}")
    if ok:
        auth(server).verify_rest(KEY, query, "")
    else:
        assert code_of(lambda: auth(server).verify_rest(KEY, query, "")) == -1021


@pytest.mark.parametrize("bad", ["60001", "abc", "-1", "1.2345", "5000.", "1e3", "100000"])
def test_bad_recv_window_is_refused(bad):
    query = signed(f"recvWindow={bad}&timestamp={DOC_TS}")
    with pytest.raises(BinanceError) as info:
        auth().verify_rest(KEY, query, "")
    assert info.value.code == -1100
    assert "'recvWindow'" in info.value.msg
    empty = signed(f"recvWindow=&timestamp={DOC_TS}")
    assert code_of(lambda: auth().verify_rest(KEY, empty, "")) == -1102


def test_recv_window_decimals_and_microsecond_timestamps():
    assert recv_window_us(None) == 5_000_000
    assert recv_window_us("5000.5") == 5_000_500
    assert recv_window_us("0.001") == 1
    server = 1_700_000_000_000
    us = server * 1000 - 5_000_500  # 5000.5 ms old, 16 digits
    query = signed(f"recvWindow=5000.5&timestamp={us}")
    assert auth(server).verify_rest(KEY, query, "")["timestamp"] == str(us)
    older = signed(f"recvWindow=5000.5&timestamp={us - 1}")
    assert code_of(lambda: auth(server).verify_rest(KEY, older, "")) == -1021
    ahead = signed(f"timestamp={server * 1000 + 999_999}")
    auth(server).verify_rest(KEY, ahead, "")
    too_far = signed(f"timestamp={server * 1000 + 1_000_000}")
    assert code_of(lambda: auth(server).verify_rest(KEY, too_far, "")) == -1021


def ws_params(timestamp: int, **extra: object) -> dict[str, object]:
    params: dict[str, object] = {
        "apiKey": KEY,
        "symbol": "BTCUSDT",
        "timestamp": timestamp,
        **extra,
    }
    return {**params, "signature": sign_ws(SECRET, params)}


def test_verify_ws():
    server = 1_700_000_000_000
    a = auth(server)
    out = a.verify_ws(ws_params(server - 5000))
    assert out == {"apiKey": KEY, "symbol": "BTCUSDT", "timestamp": server - 5000}
    a.verify_ws(ws_params(server - 100, recvWindow=100))
    assert code_of(lambda: a.verify_ws(ws_params(server - 101, recvWindow=100))) == -1021
    assert code_of(lambda: a.verify_ws(ws_params(server + 1000))) == -1021
    assert code_of(lambda: a.verify_ws({**ws_params(server), "symbol": "ETHBTC"})) == -1022
    upper = ws_params(server)
    upper["signature"] = str(upper["signature"]).upper()
    a.verify_ws(upper)
    no_key = {k: v for k, v in ws_params(server).items() if k != "apiKey"}
    assert code_of(lambda: a.verify_ws(no_key)) == -1102
    assert code_of(lambda: a.verify_ws({**ws_params(server), "apiKey": "Other1"})) == -2015
    assert code_of(lambda: a.verify_ws({**ws_params(server), "apiKey": 5})) == -2014
    no_sig = {k: v for k, v in ws_params(server).items() if k != "signature"}
    assert code_of(lambda: a.verify_ws(no_sig)) == -1102


def test_configured_keys_must_be_well_formed():
    with pytest.raises(ValueError, match="API key"):
        RequestAuthenticator({"demo-key": "s"}, Clock(0))
