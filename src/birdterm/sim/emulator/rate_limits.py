"""Binance-style rate limits: request weight and raw requests per IP, new orders per account.

Rules (times are server ms from the injected clock):

* Windows are fixed and aligned to the epoch: a window of `interval_num` x `interval` starts at
  `now - now % length` (a 1 MINUTE window resets at every whole minute, 10 SECOND at :00, :10...).
* `charge()` checks, in order: ban; RAW_REQUESTS (1 per request, per IP) and REQUEST_WEIGHT
  (`weight`, per IP) together, the message naming the first exceeded one in `limits` order;
  then ORDERS (1 per order request, per account, or per IP when no account is given).
  A request refused with 429/418 is not counted anywhere; one refused for the order count
  still spends its request weight and raw request (the server did the work).
* Over a raw-request or weight limit -> 429, code -1003, Retry-After = whole seconds (rounded up)
  to the end of the exceeded window (the latest, if several). The IP is then "throttled" until
  that window ends.
* Each further request from a throttled IP before the window ends is a violation (and gets 429).
  The 3rd violation bans the IP and is itself answered 418. The violation count clears when the
  throttled window ends.
* A ban lasts 120 s for the IP's first offence, doubling with each later one (240, 480, ...),
  capped at 3 days; offences are remembered for the limiter's life. During a ban every request
  gets 418, code -1003, Retry-After = whole seconds (rounded up) until the ban ends; requests in
  a ban neither extend it nor count.
* Over an ORDERS limit -> 429, code -1015, Retry-After to the end of that window; this never
  leads to a ban (order limits are per account, bans are per IP).
* Headers: `X-MBX-USED-WEIGHT-<n><letter>` for each REQUEST_WEIGHT limit on every response
  (also attached to 429/418 errors), plus `X-MBX-ORDER-COUNT-<n><letter>` for each ORDERS limit
  when `is_order` is set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from birdterm.sim.emulator import errors

RateLimitKind = Literal["REQUEST_WEIGHT", "ORDERS", "RAW_REQUESTS"]
Interval = Literal["SECOND", "MINUTE", "HOUR", "DAY"]

INTERVAL_MS: dict[str, int] = {
    "SECOND": 1000,
    "MINUTE": 60_000,
    "HOUR": 3_600_000,
    "DAY": 86_400_000,
}
VIOLATIONS_BEFORE_BAN = 3
FIRST_BAN_MS = 120_000
MAX_BAN_MS = 3 * 86_400_000


@dataclass(frozen=True)
class RateLimit:
    """One entry of exchangeInfo.rateLimits."""

    kind: RateLimitKind
    interval: Interval
    interval_num: int
    limit: int

    def __post_init__(self) -> None:
        if self.interval not in INTERVAL_MS:
            raise ValueError(f"unknown interval {self.interval!r}")
        if self.interval_num < 1 or self.limit < 1:
            raise ValueError("interval_num and limit must be >= 1")

    @property
    def window_ms(self) -> int:
        """Length of one window in ms."""
        return self.interval_num * INTERVAL_MS[self.interval]

    @property
    def header_suffix(self) -> str:
        """Header suffix, e.g. "1M", "10S", "1D"."""
        return f"{self.interval_num}{self.interval[0]}"

    @property
    def label(self) -> str:
        """Human form used in error messages, e.g. "1 MINUTE"."""
        return f"{self.interval_num} {self.interval}"

    def to_json(self) -> dict[str, str | int]:
        """Return the exchangeInfo.rateLimits entry."""
        return {
            "rateLimitType": self.kind,
            "interval": self.interval,
            "intervalNum": self.interval_num,
            "limit": self.limit,
        }


DEFAULT_LIMITS: tuple[RateLimit, ...] = (
    RateLimit("REQUEST_WEIGHT", "MINUTE", 1, 6000),
    RateLimit("ORDERS", "SECOND", 10, 50),
    RateLimit("ORDERS", "DAY", 1, 160_000),
    RateLimit("RAW_REQUESTS", "MINUTE", 5, 61_000),
)


@dataclass
class _IpState:
    throttled_until: int = 0  # end of the window that produced the last 429 (ms)
    violations: int = 0
    banned_until: int = 0
    offences: int = 0


@dataclass
class _Counter:
    window_start: int = -1
    used: int = 0


class RateLimiter:
    """Counts weight, raw requests and orders in epoch-aligned windows; throttles and bans."""

    def __init__(
        self, limits: list[RateLimit] | tuple[RateLimit, ...], clock: Callable[[], int]
    ) -> None:
        self.limits = tuple(limits)
        self._clock = clock
        self._counters: dict[tuple[int, str], _Counter] = {}
        self._ips: dict[str, _IpState] = {}

    def charge(
        self, ip: str, weight: int, account: str | None = None, is_order: bool = False
    ) -> dict[str, str]:
        """Count one request; return the response headers or raise BinanceError (429/418)."""
        now = self._clock()
        state = self._ips.setdefault(ip, _IpState())
        if now < state.banned_until:
            raise self._banned(state, ip, now)
        if state.throttled_until and now >= state.throttled_until:
            state.throttled_until = 0
            state.violations = 0

        ip_costs = [
            (i, lim, 1 if lim.kind == "RAW_REQUESTS" else weight)
            for i, lim in self._indexed("RAW_REQUESTS", "REQUEST_WEIGHT")
        ]
        over = [(i, lim) for i, lim, cost in ip_costs if self._used(i, ip, now) + cost > lim.limit]
        if state.throttled_until or over:
            raise self._throttle(state, ip, now, over)

        for i, _lim, cost in ip_costs:
            self._counter(i, ip, now).used += cost
        if is_order:
            owner = _owner(ip, account)
            orders = self._indexed("ORDERS")
            for i, lim in orders:
                if self._used(i, owner, now) + 1 > lim.limit:
                    end = self._window_end(lim, now)
                    err = errors.too_many_orders(lim.limit, lim.label, _ceil_s(end - now))
                    err.headers.update(self.headers(ip, account, is_order=True))
                    raise err
            for i, _lim in orders:
                self._counter(i, owner, now).used += 1
        return self.headers(ip, account, is_order)

    def headers(
        self, ip: str, account: str | None = None, is_order: bool = False
    ) -> dict[str, str]:
        """Return the usage headers for `ip` (and order counts for `account` if `is_order`)."""
        now = self._clock()
        out = {
            f"X-MBX-USED-WEIGHT-{lim.header_suffix}": str(self._used(i, ip, now))
            for i, lim in self._indexed("REQUEST_WEIGHT")
        }
        if is_order:
            owner = _owner(ip, account)
            for i, lim in self._indexed("ORDERS"):
                out[f"X-MBX-ORDER-COUNT-{lim.header_suffix}"] = str(self._used(i, owner, now))
        return out

    def usage(self, ip: str, account: str | None = None) -> list[dict[str, str | int]]:
        """Return the WS API `rateLimits` array: each limit's JSON plus its current `count`."""
        now = self._clock()
        owner = _owner(ip, account)
        return [
            {**lim.to_json(), "count": self._used(i, owner if lim.kind == "ORDERS" else ip, now)}
            for i, lim in enumerate(self.limits)
        ]

    def banned_until(self, ip: str) -> int:
        """Return the ms time the IP's ban ends (0 if never banned)."""
        state = self._ips.get(ip)
        return state.banned_until if state else 0

    def _throttle(
        self, state: _IpState, ip: str, now: int, over: list[tuple[int, RateLimit]]
    ) -> errors.BinanceError:
        if state.throttled_until:
            state.violations += 1
            if state.violations >= VIOLATIONS_BEFORE_BAN:
                state.offences += 1
                ban_ms = min(FIRST_BAN_MS * 2 ** (state.offences - 1), MAX_BAN_MS)
                state.banned_until = now + ban_ms
                state.throttled_until = 0
                state.violations = 0
                return self._banned(state, ip, now)
        for _i, lim in over:
            state.throttled_until = max(state.throttled_until, self._window_end(lim, now))
        # The first exceeded limit names the message; a violation reuses the weight limit's.
        shown = over[0][1] if over else self._first("REQUEST_WEIGHT", "RAW_REQUESTS")
        retry = _ceil_s(state.throttled_until - now)
        if shown.kind == "RAW_REQUESTS":
            err = errors.too_many_raw_requests(shown.limit, shown.label, retry)
        else:
            err = errors.too_many_requests(shown.limit, shown.label, retry)
        err.headers.update(self.headers(ip))
        return err

    def _banned(self, state: _IpState, ip: str, now: int) -> errors.BinanceError:
        err = errors.ip_banned(state.banned_until, _ceil_s(state.banned_until - now))
        err.headers.update(self.headers(ip))
        return err

    def _indexed(self, *kinds: str) -> list[tuple[int, RateLimit]]:
        return [(i, lim) for i, lim in enumerate(self.limits) if lim.kind in kinds]

    def _first(self, *kinds: str) -> RateLimit:
        return self._indexed(*kinds)[0][1]

    @staticmethod
    def _window_end(lim: RateLimit, now: int) -> int:
        return now - now % lim.window_ms + lim.window_ms

    def _counter(self, index: int, key: str, now: int) -> _Counter:
        start = now - now % self.limits[index].window_ms
        counter = self._counters.setdefault((index, key), _Counter())
        if counter.window_start != start:
            counter.window_start = start
            counter.used = 0
        return counter

    def _used(self, index: int, key: str, now: int) -> int:
        counter = self._counters.get((index, key))
        if counter is None or counter.window_start != now - now % self.limits[index].window_ms:
            return 0
        return counter.used


def _ceil_s(ms: int) -> int:
    """Whole seconds, rounded up, never below 1."""
    return max(1, -(-ms // 1000))


def _owner(ip: str, account: str | None) -> str:
    """Order-count key: the account, or the IP when none is given (kept apart from IP keys)."""
    return f"account:{account}" if account is not None else f"ip:{ip}"
