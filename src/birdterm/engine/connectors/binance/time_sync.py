"""The offset between our clock and Binance's, from GET /api/v3/time samples.

Each sample assumes the server read its clock halfway through the round trip; the offset used
is the median of the last few samples, so one slow round trip does not move it.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from birdterm.engine.connectors.binance.constants import TIME_PATH

log = logging.getLogger("birdterm.binance.time")


class _Requester(Protocol):
    async def request(
        self, method: str, path: str, params: dict[str, Any] | None = None
    ) -> Any: ...


class TimeSync:
    """Estimates server time as local time + the median offset of recent samples."""

    def __init__(self, *, max_samples: int = 5, time_fn: Callable[[], float] = time.time) -> None:
        if max_samples < 1:
            raise ValueError(f"max_samples must be >= 1, got {max_samples}")
        self._samples: deque[float] = deque(maxlen=max_samples)
        self._time = time_fn
        self._offset_ms = 0.0
        self.last_sync_at: float | None = None  # local seconds of the last sample
        self.last_rtt_ms: float | None = None

    def local_ms(self) -> float:
        """Our clock in ms."""
        return self._time() * 1000.0

    @property
    def offset_ms(self) -> float:
        """Server time minus local time, in ms (0 before the first sample)."""
        return self._offset_ms

    @property
    def synced(self) -> bool:
        """True once at least one sample was taken."""
        return bool(self._samples)

    def server_ms(self) -> int:
        """The estimated server time now, ms epoch."""
        return int(self.local_ms() + self._offset_ms)

    def add_sample(self, sent_local_ms: float, server_ms: int, received_local_ms: float) -> None:
        """Record one round trip: sent at, server's answer, received at (local ms)."""
        if received_local_ms < sent_local_ms:
            raise ValueError("a time sample cannot be received before it was sent")
        self._samples.append(server_ms - (sent_local_ms + received_local_ms) / 2.0)
        self._offset_ms = statistics.median(self._samples)
        self.last_rtt_ms = received_local_ms - sent_local_ms
        self.last_sync_at = received_local_ms / 1000.0

    def clear(self) -> None:
        """Forget every sample (the offset is then 0 until the next one)."""
        self._samples.clear()
        self._offset_ms = 0.0

    async def _measure(self, rest: _Requester) -> tuple[float, int, float]:
        sent = self.local_ms()
        answer = await rest.request("GET", TIME_PATH)
        return sent, int(answer["serverTime"]), self.local_ms()

    async def sample(self, rest: _Requester) -> None:
        """Take one sample with GET /api/v3/time."""
        self.add_sample(*await self._measure(rest))

    async def resync(self, rest: _Requester, samples: int = 3) -> None:
        """Measure the offset afresh from `samples` new round trips; the old samples are dropped
        only once all of them succeeded (the clock may have jumped)."""
        fresh = [await self._measure(rest) for _ in range(samples)]
        old = self._offset_ms
        self._samples.clear()
        for sample in fresh:
            self.add_sample(*sample)
        log.info("time sync: offset %.0f ms (was %.0f ms)", self._offset_ms, old)
