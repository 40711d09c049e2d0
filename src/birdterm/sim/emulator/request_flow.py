"""One API request from arrival to answer, the same for REST and the WebSocket API.

Order: injected faults decided up front (latency, a 429 burst, a 503) -> request weight and order
count (429/418) -> API key, signature and timestamp for SIGNED endpoints -> the exchange ->
injected faults after processing (a lost response for order changes, a 500). The caller sends the
Outcome after `latency_s`, or nothing when `lost`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from birdterm.sim.emulator import errors
from birdterm.sim.emulator.endpoints import Context, Endpoint
from birdterm.sim.emulator.errors import BinanceError
from birdterm.sim.emulator.faults import FaultInjector
from birdterm.sim.emulator.signing import RequestAuthenticator

log = logging.getLogger(__name__)

# Params that are about the request, not the operation; handlers never see them.
_TRANSPORT_PARAMS = frozenset(
    {"signature", "timestamp", "recvWindow", "apiKey", "returnRateLimits"}
)

# Returns (api_key, params without signature) or raises BinanceError.
Authenticate = Callable[[RequestAuthenticator], tuple[str, dict[str, str]]]


def server_busy() -> BinanceError:
    """-1008 (503): the injected "before processing" server error."""
    return BinanceError(
        -1008,
        "Server is currently overloaded with other requests. Please try again in a few minutes.",
        503,
    )


def status_unknown() -> BinanceError:
    """-1007 (500): the injected "after processing" server error; the outcome is unknown."""
    return BinanceError(
        -1007,
        "Timeout waiting for response from backend server. Send status unknown; "
        "execution status unknown.",
        500,
    )


def internal_error() -> BinanceError:
    """-1000 (500): an unexpected exception in the emulator itself."""
    return BinanceError(-1000, "An unknown error occurred while processing the request.", 500)


@dataclass
class Outcome:
    """What to answer: a result or an error, the headers, and injected delivery faults."""

    status: int
    result: Any = None
    error: BinanceError | None = None
    headers: dict[str, str] = field(default_factory=dict)
    account: str | None = None
    latency_s: float = 0.0
    lost: bool = False

    def error_json(self) -> dict[str, Any]:
        """The {"code", "msg"} body of an error outcome."""
        assert self.error is not None
        return self.error.to_json()


class RequestFlow:
    """Runs endpoints with faults, rate limits and authentication in Binance's order."""

    def __init__(
        self,
        ctx: Context,
        faults: Callable[[], FaultInjector],
        stats: dict[str, int],
    ) -> None:
        self.ctx = ctx
        self._faults = faults
        self._stats = stats

    def authenticator(self) -> RequestAuthenticator:
        """A verifier over the exchange's current accounts (they may be added at any time)."""
        return RequestAuthenticator(self.ctx.exchange.secrets(), self.ctx.clock)

    def run(
        self,
        endpoint: Endpoint,
        *,
        ip: str,
        params: Mapping[str, str],
        key_hint: str | None,
        authenticate: Authenticate,
    ) -> Outcome:
        """Process one request; never raises."""
        faults = self._faults()
        self._stats["requests"] += 1
        latency = faults.latency_s()
        limiter = self.ctx.limiter
        if faults.rate_limit_burst():
            first = next(lim for lim in limiter.limits if lim.kind == "REQUEST_WEIGHT")
            err = errors.too_many_requests(first.limit, first.label, 1)
            return self._failed(err, limiter.headers(ip), latency)
        if faults.server_error_before():
            return self._failed(server_busy(), limiter.headers(ip), latency)
        account = key_hint if key_hint and key_hint in self.ctx.exchange.secrets() else None
        try:
            headers = limiter.charge(ip, endpoint.weight(params), account, endpoint.is_order)
        except BinanceError as err:
            return self._failed(err, err.headers, latency)
        reached = False
        api_key: str | None = None
        try:
            if endpoint.security == "SIGNED":
                api_key, signed = authenticate(self.authenticator())
                params = {k: v for k, v in signed.items() if k not in _TRANSPORT_PARAMS}
            reached = True
            outcome = Outcome(200, result=endpoint.handler(self.ctx, api_key, params))
        except BinanceError as err:
            outcome = Outcome(err.http_status, error=err)
        except Exception:
            log.exception("emulator: %s %s failed", endpoint.http_method, endpoint.path)
            self._stats["internal_errors"] += 1
            outcome = Outcome(500, error=internal_error())
        outcome.headers = {**headers, **(outcome.error.headers if outcome.error else {})}
        outcome.account = api_key or account
        outcome.latency_s = latency
        if reached:
            if endpoint.mutating and faults.lost_response():
                outcome.lost = True
            elif faults.server_error_after():
                outcome = Outcome(
                    500, error=status_unknown(), headers=headers, account=outcome.account
                )
                outcome.latency_s = latency
        return outcome

    @staticmethod
    def _failed(err: BinanceError, headers: dict[str, str], latency: float) -> Outcome:
        return Outcome(err.http_status, error=err, headers=dict(headers), latency_s=latency)


def retry_headers(outcome: Outcome) -> dict[str, str]:
    """The outcome's headers plus Retry-After for 429/418."""
    headers = dict(outcome.headers)
    if outcome.error is not None and outcome.error.retry_after is not None:
        headers["Retry-After"] = str(outcome.error.retry_after)
    return headers
