"""TimeSync: midpoint offsets, the median of recent samples, resync from a REST-like source."""

import pytest

from birdterm.engine.connectors.binance.errors import RequestOutcomeUnknown
from birdterm.engine.connectors.binance.time_sync import TimeSync


class FakeLocalClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class TimeServer:
    """Answers GET /api/v3/time with a clock `offset_ms` ahead; each call takes `rtt_s`."""

    def __init__(self, local: FakeLocalClock, offset_ms: int, rtt_s: float) -> None:
        self.local = local
        self.offset_ms = offset_ms
        self.rtt_s = rtt_s
        self.fail_on_call: int | None = None
        self.calls = 0

    async def request(self, method, path, params=None):
        assert (method, path) == ("GET", "/api/v3/time")
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise RequestOutcomeUnknown("dropped")
        self.local.now += self.rtt_s / 2
        server = int(self.local.now * 1000) + self.offset_ms
        self.local.now += self.rtt_s / 2
        return {"serverTime": server}


def test_offset_is_the_median_of_midpoint_samples():
    sync = TimeSync(max_samples=3, time_fn=FakeLocalClock(1000.0))
    assert not sync.synced and sync.offset_ms == 0.0
    sync.add_sample(1_000_000, 1_000_550, 1_000_100)  # midpoint 1_000_050 -> +500
    sync.add_sample(2_000_000, 2_000_400, 2_000_000)  # +400
    sync.add_sample(3_000_000, 3_009_000, 3_000_000)  # an outlier: +9000
    assert sync.offset_ms == 500.0
    assert sync.last_rtt_ms == 0.0
    sync.add_sample(4_000_000, 4_000_450, 4_000_000)  # window now +400, +9000, +450
    assert sync.offset_ms == 450.0
    assert sync.server_ms() == 1_000_000 + 450
    with pytest.raises(ValueError, match="before it was sent"):
        sync.add_sample(10, 5, 9)


async def test_resync_replaces_old_samples_with_fresh_ones():
    local = FakeLocalClock(1_700_000_000.0)
    sync = TimeSync(time_fn=local)
    server = TimeServer(local, offset_ms=-2_500, rtt_s=0.040)
    await sync.resync(server)
    assert server.calls == 3
    # the server read its clock at the midpoint; float ms rounding is within 1 ms
    assert sync.offset_ms == pytest.approx(-2_500.0, abs=1.0)
    assert sync.server_ms() == pytest.approx(local.now * 1000 - 2_500, abs=2)
    assert sync.last_rtt_ms == pytest.approx(40.0)
    server.offset_ms = 7_000  # the local clock jumped
    await sync.resync(server, samples=1)
    assert sync.offset_ms == pytest.approx(7_000.0, abs=1.0)


async def test_a_failed_resync_keeps_the_old_offset():
    local = FakeLocalClock(1_700_000_000.0)
    sync = TimeSync(time_fn=local)
    server = TimeServer(local, offset_ms=1_000, rtt_s=0.0)
    await sync.sample(server)
    server.offset_ms = 5_000
    server.fail_on_call = 3
    with pytest.raises(RequestOutcomeUnknown):
        await sync.resync(server)
    assert sync.offset_ms == 1_000.0
