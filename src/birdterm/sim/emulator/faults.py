"""Fault injection for the emulator server: what can go wrong, how often, decided by seeded dice.

Every kind of fault draws from its own random stream, seeded from (`seed`, kind), so the decisions
of one kind depend only on the seed and on how many events of that kind came before: the same
seed and the same sequence of requests/messages give the same faults. A rate of 0 never draws.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

# Counter names in EmulatorServer.stats, all present from the start.
STAT_KEYS: tuple[str, ...] = (
    "requests",
    "rest_requests",
    "ws_api_requests",
    "ws_api_connections",
    "stream_connections",
    "stream_messages",
    "user_events",
    "latency_injected",
    "lost_responses",
    "server_errors_before",
    "server_errors_after",
    "rate_limit_bursts",
    "rate_limited_by_burst",
    "ws_drops",
    "depth_gaps",
    "depth_reorders",
    "user_events_delayed",
    "user_events_duplicated",
    "slow_consumer_drops",
    "step_errors",
    "internal_errors",
)

_RATES = (
    "lost_response_rate",
    "server_error_rate",
    "server_error_after_rate",
    "rate_limit_burst_rate",
    "ws_drop_rate",
    "depth_gap_rate",
    "depth_reorder_rate",
    "user_event_duplicate_rate",
)
_RANGES_MS = ("latency_ms", "user_event_delay_ms")


@dataclass
class FaultConfig:
    """Which faults the server injects and how often (rates are probabilities in [0, 1])."""

    seed: int = 0
    latency_ms: tuple[int, int] = (0, 0)
    lost_response_rate: float = 0.0
    server_error_rate: float = 0.0
    server_error_after_rate: float = 0.0
    rate_limit_burst_rate: float = 0.0
    rate_limit_burst_len: int = 3
    ws_drop_rate: float = 0.0
    depth_gap_rate: float = 0.0
    depth_reorder_rate: float = 0.0
    user_event_delay_ms: tuple[int, int] = (0, 0)
    user_event_duplicate_rate: float = 0.0

    def validated(self) -> FaultConfig:
        """Return a checked copy (ranges as int tuples); ValueError names the bad field."""
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be an int, got {self.seed!r}")
        for name in _RATES:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")
        ranges: dict[str, tuple[int, int]] = {}
        for name in _RANGES_MS:
            ranges[name] = _check_range(name, getattr(self, name))
        burst = self.rate_limit_burst_len
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValueError(f"rate_limit_burst_len must be an int >= 1, got {burst!r}")
        return replace(self, **ranges)

    def any_active(self) -> bool:
        """True when at least one fault can happen."""
        return any(getattr(self, name) > 0 for name in _RATES) or any(
            getattr(self, name)[1] > 0 for name in _RANGES_MS
        )


def _check_range(name: str, value: object) -> tuple[int, int]:
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise ValueError(f"{name} must be a (min, max) pair of ms, got {value!r}")
    low, high = value
    for part in (low, high):
        if isinstance(part, bool) or not isinstance(part, int) or part < 0:
            raise ValueError(f"{name} must hold ints >= 0 (ms), got {value!r}")
    if low > high:
        raise ValueError(f"{name} must have min <= max, got {value!r}")
    return (int(low), int(high))


class FaultInjector:
    """Seeded dice for each fault kind plus the burst state; counts what it injects in `stats`."""

    def __init__(self, config: FaultConfig, stats: dict[str, int]) -> None:
        self.config = config.validated()
        self.stats = stats
        self._rngs: dict[str, random.Random] = {}
        self._burst_left = 0

    def _rng(self, kind: str) -> random.Random:
        rng = self._rngs.get(kind)
        if rng is None:
            # A str seed is hashed with SHA-512: stable across runs and platforms.
            rng = random.Random(f"{self.config.seed}:{kind}")
            self._rngs[kind] = rng
        return rng

    def _hit(self, kind: str, rate: float) -> bool:
        if rate <= 0:
            return False
        return rate >= 1 or self._rng(kind).random() < rate

    def _delay(self, kind: str, bounds: tuple[int, int]) -> float:
        low, high = bounds
        if high <= 0:
            return 0.0
        return self._rng(kind).randint(low, high) / 1000.0

    def latency_s(self) -> float:
        """Added latency for one REST/WS API response, in seconds."""
        delay = self._delay("latency", self.config.latency_ms)
        if delay > 0:
            self.stats["latency_injected"] += 1
        return delay

    def rate_limit_burst(self) -> bool:
        """True if this request falls in an injected 429 burst (the first one may start it)."""
        if self._burst_left == 0 and self._hit("burst", self.config.rate_limit_burst_rate):
            self._burst_left = self.config.rate_limit_burst_len
            self.stats["rate_limit_bursts"] += 1
        if self._burst_left > 0:
            self._burst_left -= 1
            self.stats["rate_limited_by_burst"] += 1
            return True
        return False

    def server_error_before(self) -> bool:
        """True if this request gets a 503 before it is processed."""
        hit = self._hit("server_error", self.config.server_error_rate)
        if hit:
            self.stats["server_errors_before"] += 1
        return hit

    def server_error_after(self) -> bool:
        """True if this processed request answers 500 instead of its result."""
        hit = self._hit("server_error_after", self.config.server_error_after_rate)
        if hit:
            self.stats["server_errors_after"] += 1
        return hit

    def lost_response(self) -> bool:
        """True if this processed order request loses its response."""
        hit = self._hit("lost_response", self.config.lost_response_rate)
        if hit:
            self.stats["lost_responses"] += 1
        return hit

    def ws_drop(self) -> bool:
        """True if the socket closes instead of sending this message."""
        hit = self._hit("ws_drop", self.config.ws_drop_rate)
        if hit:
            self.stats["ws_drops"] += 1
        return hit

    def depth_gap(self) -> bool:
        """True if this depth event is dropped."""
        hit = self._hit("depth_gap", self.config.depth_gap_rate)
        if hit:
            self.stats["depth_gaps"] += 1
        return hit

    def depth_reorder(self) -> bool:
        """True if this depth event is held back and sent after the next one."""
        hit = self._hit("depth_reorder", self.config.depth_reorder_rate)
        if hit:
            self.stats["depth_reorders"] += 1
        return hit

    def user_event_delay_s(self) -> float:
        """Delay before one user-data event goes out, in seconds."""
        delay = self._delay("user_delay", self.config.user_event_delay_ms)
        if delay > 0:
            self.stats["user_events_delayed"] += 1
        return delay

    def user_event_duplicate(self) -> bool:
        """True if this user-data event is sent twice."""
        hit = self._hit("user_duplicate", self.config.user_event_duplicate_rate)
        if hit:
            self.stats["user_events_duplicated"] += 1
        return hit
