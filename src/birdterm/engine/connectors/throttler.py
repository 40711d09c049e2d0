"""Client-side rate limiting: weighted, linked limit pools, pauses after 429/418, header sync.

A request is made under a limit id (usually its endpoint path). The id's own rule charges 1 to
its own pool and `weight` to each linked pool (Hummingbot-style): `/api/v3/depth` charges 5 to
REQUEST_WEIGHT and 1 to RAW_REQUESTS. Every pool is a sliding window: the sum of the charges made
in the last `interval_s` seconds must stay within `limit`. A sliding window is at least as strict
as the exchange's epoch-aligned fixed windows, so staying under it never breaks them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

log = logging.getLogger("birdterm.throttler")


@dataclass(frozen=True, slots=True)
class RateLimitRule:
    """A limit pool: at most `limit` weight per `interval_s`; a request under it also charges
    each linked pool `(pool id, weight)`."""

    limit_id: str
    limit: int
    interval_s: float
    linked: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError(f"rate limit {self.limit_id!r}: limit must be >= 1, got {self.limit}")
        if not self.interval_s > 0:
            raise ValueError(
                f"rate limit {self.limit_id!r}: interval_s must be > 0, got {self.interval_s}"
            )
        for pool, weight in self.linked:
            if weight < 0:
                raise ValueError(
                    f"rate limit {self.limit_id!r}: weight for {pool!r} must be >= 0, got {weight}"
                )


class _Pool:
    """The charges made against one limit within its window."""

    __slots__ = ("charges", "interval_s", "limit", "limit_id", "used")

    def __init__(self, rule: RateLimitRule) -> None:
        self.limit_id = rule.limit_id
        self.limit = rule.limit
        self.interval_s = rule.interval_s
        self.charges: deque[tuple[float, int]] = deque()
        self.used = 0

    def expire(self, now: float) -> None:
        cutoff = now - self.interval_s
        charges = self.charges
        while charges and charges[0][0] <= cutoff:
            self.used -= charges.popleft()[1]

    def wait_for(self, weight: int, now: float) -> float:
        """Seconds until `weight` more fits (0.0 when it fits now)."""
        self.expire(now)
        # A single request heavier than the whole limit goes once the pool is empty.
        excess = self.used + weight - max(self.limit, weight)
        if excess <= 0:
            return 0.0
        # Free `excess` weight by letting the oldest charges age out of the window.
        freed = 0
        for ts, charged in self.charges:
            freed += charged
            if freed >= excess:
                return ts + self.interval_s - now
        return self.interval_s  # unreachable unless the limit shrank below a pending charge

    def charge(self, weight: int, now: float) -> None:
        if weight:
            self.charges.append((now, weight))
            self.used += weight


class AsyncThrottler:
    """Waits (asyncio, no busy loop) until every pool a request charges has room.

    `header_pools` maps response headers carrying the server's count (any case) to the pool
    they report (Binance's: constants.HEADER_POOLS); without it headers are not read.
    """

    def __init__(
        self,
        rules: Iterable[RateLimitRule],
        *,
        default_linked: tuple[tuple[str, int], ...] = (),
        header_pools: Mapping[str, str] | None = None,
        time_fn: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._rules: dict[str, RateLimitRule] = {}
        self._pools: dict[str, _Pool] = {}
        for rule in rules:
            if rule.limit_id in self._rules:
                raise ValueError(f"rate limit {rule.limit_id!r} is defined twice")
            self._rules[rule.limit_id] = rule
            self._pools[rule.limit_id] = _Pool(rule)
        for rule in self._rules.values():
            self._check_links(rule.limit_id, rule.linked)
        self._check_links("default_linked", default_linked)
        self._default_linked = default_linked
        self._header_pools = {
            k.lower(): v for k, v in (header_pools or {}).items() if v in self._pools
        }
        self._time = time_fn
        self._sleep = sleep
        self._paused_until = 0.0
        self._warned: set[str] = set()

    def _check_links(self, owner: str, linked: tuple[tuple[str, int], ...]) -> None:
        for pool, _weight in linked:
            if pool not in self._pools:
                raise ValueError(f"rate limit {owner!r} links to unknown pool {pool!r}")

    # ---- charging ----------------------------------------------------------------------------

    def _charges(self, limit_id: str) -> list[tuple[_Pool, int]]:
        rule = self._rules.get(limit_id)
        if rule is None:
            if limit_id not in self._warned:
                self._warned.add(limit_id)
                log.warning("throttler: no rate limit rule for %r; using the default", limit_id)
            return [(self._pools[pool], weight) for pool, weight in self._default_linked]
        charges = [(self._pools[limit_id], 1)]
        charges.extend((self._pools[pool], weight) for pool, weight in rule.linked)
        return charges

    def wait_time(self, limit_id: str) -> float:
        """Seconds a request under `limit_id` would wait now (0.0 when it may go)."""
        now = self._time()
        wait = max(0.0, self._paused_until - now)
        for pool, weight in self._charges(limit_id):
            wait = max(wait, pool.wait_for(weight, now))
        return wait

    async def _acquire(self, limit_id: str) -> None:
        charges = self._charges(limit_id)
        while True:
            now = self._time()
            wait = max(0.0, self._paused_until - now)
            for pool, weight in charges:
                wait = max(wait, pool.wait_for(weight, now))
            if wait <= 0:
                # No await between the check and the charge: concurrent waiters cannot both
                # take the last room.
                for pool, weight in charges:
                    pool.charge(weight, now)
                return
            await self._sleep(wait)

    @asynccontextmanager
    async def acquire(self, limit_id: str) -> AsyncIterator[None]:
        """`async with throttler.acquire(limit_id):` waits for room, charges, then runs."""
        await self._acquire(limit_id)
        yield

    # ---- exchange feedback -------------------------------------------------------------------

    def pause(self, seconds: float) -> None:
        """Block every request for `seconds` from now (after a 429/418 Retry-After)."""
        if seconds > 0:
            until = self._time() + seconds
            if until > self._paused_until:
                self._paused_until = until
                log.warning("throttler: all requests paused for %.1f s", seconds)

    @property
    def paused_for(self) -> float:
        """Seconds left in the current pause (0.0 when not paused)."""
        return max(0.0, self._paused_until - self._time())

    def update_from_headers(self, headers: Mapping[str, str]) -> None:
        """Raise a pool's count to the server's (X-MBX-USED-WEIGHT-1M, X-MBX-ORDER-COUNT-*).

        The server may have counted more than we did (other programs on the same IP or account);
        the difference is charged now. A lower server count is ignored: it only means the
        server's fixed window reset sooner than our sliding one.
        """
        if not self._header_pools:
            return
        now = self._time()
        for name, value in headers.items():
            pool_id = self._header_pools.get(name.lower())
            if pool_id is None:
                continue
            try:
                server_used = int(value)
            except ValueError:
                continue
            pool = self._pools[pool_id]
            pool.expire(now)
            if server_used > pool.used:
                pool.charge(server_used - pool.used, now)

    def set_limit(self, pool_id: str, limit: int) -> None:
        """Change a pool's limit (e.g. to the exchangeInfo rateLimits value)."""
        if limit < 1:
            raise ValueError(f"rate limit {pool_id!r}: limit must be >= 1, got {limit}")
        self._pools[pool_id].limit = limit

    # ---- inspection --------------------------------------------------------------------------

    def usage(self, pool_id: str) -> int:
        """Weight charged to a pool within its current window."""
        pool = self._pools[pool_id]
        pool.expire(self._time())
        return pool.used

    def limit(self, pool_id: str) -> int:
        """A pool's current limit."""
        return self._pools[pool_id].limit

    @property
    def pool_ids(self) -> tuple[str, ...]:
        """Every pool's id, in rule order."""
        return tuple(self._pools)
