"""HMAC-SHA256 request signing and server-side verification, as Binance spot does it.

REST: payload = raw query string + raw body, no separator, with the `signature` parameter taken
out wherever it was sent. WS API: all params except `signature`, sorted by name, `k=v` joined
with `&`. Verification order (first failure wins): API key (-2014 missing/malformed, -2015
unknown), signature present (-1102) and matching (-1022), timestamp present (-1102) and digits
(-1100), recvWindow syntax/range (-1100), then the time window (-1021).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from urllib.parse import parse_qsl

from birdterm.sim.emulator import errors

DEFAULT_RECV_WINDOW_MS = 5000
MAX_RECV_WINDOW_MS = 60000
AHEAD_TOLERANCE_MS = 1000
# Binance keys are 64 alphanumerics; shorter ones are allowed so demo configs stay readable.
API_KEY_RE = re.compile(r"[A-Za-z0-9]{1,64}")
_TIMESTAMP_RE = re.compile(r"[0-9]{1,20}")
_RECV_WINDOW_RE = re.compile(r"[0-9]{1,5}(\.[0-9]{1,3})?")
# 16-digit timestamps (>= 1e15) are microseconds; 13-digit ones are milliseconds.
_MICROS_THRESHOLD = 10**15


def sign_rest(secret: str, query: str, body: str = "") -> str:
    """Return the lowercase hex HMAC-SHA256 of `query + body` under `secret`."""
    return _hmac_hex(secret, query + body)


def ws_payload(params: Mapping[str, object]) -> str:
    """Return the WS API signing payload: params except `signature`, sorted, `k=v&k=v`."""
    return "&".join(
        f"{name}={_ws_value(value)}"
        for name, value in sorted(params.items())
        if name != "signature"
    )


def sign_ws(secret: str, params: Mapping[str, object]) -> str:
    """Return the lowercase hex HMAC-SHA256 of `ws_payload(params)` under `secret`."""
    return _hmac_hex(secret, ws_payload(params))


def _hmac_hex(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def _ws_value(value: object) -> str:
    # Match the JSON text a client sends: true/false, compact arrays.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _strip_signature(raw: str) -> str:
    """Remove every `signature=...` item from a raw `&`-joined string, keeping the rest as sent."""
    if "signature=" not in raw:
        return raw
    return "&".join(part for part in raw.split("&") if not part.startswith("signature="))


def _parse(raw: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in parse_qsl(raw, keep_blank_values=True):
        if name in params:
            raise errors.duplicate_param(name)
        params[name] = value
    return params


class RequestAuthenticator:
    """Checks API key, HMAC signature, timestamp and recvWindow of SIGNED requests."""

    def __init__(self, keys: Mapping[str, str], clock: Callable[[], int]) -> None:
        for key in keys:
            if not API_KEY_RE.fullmatch(key):
                raise ValueError(f"API key {key!r} must be 1-64 ASCII letters/digits")
        self._keys = dict(keys)
        self._clock = clock

    def verify_rest(self, api_key: str | None, query: str, body: str) -> dict[str, str]:
        """Verify a SIGNED REST request; return its params without `signature`.

        `api_key` is the X-MBX-APIKEY header (None if absent); `query` and `body` are the raw,
        still percent-encoded query string and form body. A parameter in both: query wins.
        """
        secret = self._secret(api_key)
        params = _parse(body)
        params.update(_parse(query))
        signature = params.pop("signature", "")
        if not signature:
            raise errors.mandatory_param("signature")
        expected = sign_rest(secret, _strip_signature(query), _strip_signature(body))
        _check_signature(expected, signature)
        self._check_time(params.get("timestamp"), params.get("recvWindow"))
        return params

    def verify_ws(self, params: Mapping[str, object]) -> dict[str, object]:
        """Verify signed WS API params (apiKey inside); return them without `signature`."""
        if "apiKey" not in params:
            raise errors.mandatory_param("apiKey")
        api_key = params["apiKey"]
        secret = self._secret(api_key if isinstance(api_key, str) else None)
        signature = params.get("signature")
        if not isinstance(signature, str) or not signature:
            raise errors.mandatory_param("signature")
        _check_signature(_hmac_hex(secret, ws_payload(params)), signature)
        timestamp = params.get("timestamp")
        recv_window = params.get("recvWindow")
        self._check_time(
            None if timestamp is None else _ws_value(timestamp),
            None if recv_window is None else _ws_value(recv_window),
        )
        return {name: value for name, value in params.items() if name != "signature"}

    def _secret(self, api_key: str | None) -> str:
        if not api_key or not API_KEY_RE.fullmatch(api_key):
            raise errors.bad_api_key_format()
        secret = self._keys.get(api_key)
        if secret is None:
            raise errors.invalid_api_key()
        return secret

    def _check_time(self, timestamp: str | None, recv_window: str | None) -> None:
        if not timestamp:
            raise errors.mandatory_param("timestamp")
        if not _TIMESTAMP_RE.fullmatch(timestamp):
            raise errors.illegal_chars("timestamp", "^[0-9]{1,20}$")
        ts = int(timestamp)
        ts_us = ts if ts >= _MICROS_THRESHOLD else ts * 1000
        window_us = recv_window_us(recv_window)
        server_us = self._clock() * 1000
        if ts_us >= server_us + AHEAD_TOLERANCE_MS * 1000:
            raise errors.invalid_timestamp_ahead()
        if server_us - ts_us > window_us:
            raise errors.invalid_timestamp_outside_window()


def recv_window_us(recv_window: str | None) -> int:
    """Parse recvWindow (ms, up to 3 decimals, 0..60000; None -> 5000) into microseconds."""
    if recv_window is None:
        return DEFAULT_RECV_WINDOW_MS * 1000
    if recv_window == "":
        raise errors.mandatory_param("recvWindow")
    if not _RECV_WINDOW_RE.fullmatch(recv_window):
        raise errors.illegal_chars("recvWindow", "0 to 60000 ms, up to 3 decimals")
    window_us = int(Decimal(recv_window) * 1000)
    if window_us > MAX_RECV_WINDOW_MS * 1000:
        raise errors.illegal_chars("recvWindow", "0 to 60000 ms, up to 3 decimals")
    return window_us


def _check_signature(expected: str, given: str) -> None:
    # HMAC hex is case-insensitive; non-ASCII input simply fails.
    candidate = given.lower().encode("utf-8", "replace")
    if not hmac.compare_digest(expected.encode(), candidate):
        raise errors.invalid_signature()
