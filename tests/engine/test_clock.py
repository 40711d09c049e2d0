"""Clock: tick order, lifecycle, error isolation, add/remove while running, realtime slots."""

import asyncio
import logging
import time
from itertools import pairwise

import pytest

from birdterm.engine.clock import Clock, ClockChildError, ClockError, ClockMode, TimeIterator


class Recorder(TimeIterator):
    """Appends (name, event, ts) to a shared journal."""

    def __init__(self, label, journal, fail_at=None):
        self.label = label
        self.journal = journal
        self.fail_at = fail_at

    @property
    def name(self):
        return self.label

    def start(self, clock, timestamp):
        self.journal.append((self.label, "start", timestamp))

    def tick(self, timestamp):
        if self.fail_at is not None and timestamp == self.fail_at:
            raise RuntimeError(f"{self.label} broke")
        self.journal.append((self.label, "tick", timestamp))

    def stop(self):
        self.journal.append((self.label, "stop", None))


def backtest_clock(start=100.0, end=103.0, tick=1.0, **kw):
    return Clock(ClockMode.BACKTEST, tick_size=tick, start_time=start, end_time=end, **kw)


def test_children_tick_in_order_added_and_start_stop_once():
    journal = []
    clock = backtest_clock()
    for label in ("connector", "controller", "executor"):
        clock.add_iterator(Recorder(label, journal))
    clock.backtest()
    clock.stop()  # a second stop must not stop anyone twice
    starts = [j for j in journal if j[1] == "start"]
    stops = [j for j in journal if j[1] == "stop"]
    ticks = [(n, ts) for n, e, ts in journal if e == "tick"]
    assert starts == [
        ("connector", "start", 100.0),
        ("controller", "start", 100.0),
        ("executor", "start", 100.0),
    ]
    assert ticks == [
        (n, ts)
        for ts in (100.0, 101.0, 102.0, 103.0)
        for n in ("connector", "controller", "executor")
    ]
    # stopped last-added first, once each
    assert [n for n, _, _ in stops] == ["executor", "controller", "connector"]
    assert clock.tick_count == 4


def test_backtest_til_resumes_where_it_stopped_with_subsecond_ticks():
    journal = []
    clock = backtest_clock(start=0.0, end=1.0, tick=0.25)
    clock.add_iterator(Recorder("a", journal))
    clock.backtest_til(0.5)
    assert [ts for _, e, ts in journal if e == "tick"] == [0.0, 0.25, 0.5]
    clock.backtest_til(1.0)
    assert [ts for _, e, ts in journal if e == "tick"] == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_backtest_timestamps_do_not_accumulate_float_error():
    clock = backtest_clock(start=1_700_000_000.0, end=1_700_000_000.0 + 86_400 * 0.1, tick=0.1)
    last = []

    class Last(TimeIterator):
        def tick(self, ts):
            last[:] = [ts]

    clock.add_iterator(Last())
    clock.backtest()
    assert clock.tick_count == 86_401
    assert last[0] == pytest.approx(1_700_008_640.0, abs=1e-6)


def test_error_in_one_child_is_logged_with_its_name_and_others_keep_ticking(caplog):
    journal = []
    clock = backtest_clock(stop_on_error=False)
    clock.add_iterator(Recorder("first", journal))
    clock.add_iterator(Recorder("broken", journal, fail_at=101.0))
    clock.add_iterator(Recorder("last", journal))
    with caplog.at_level(logging.ERROR, logger="birdterm.clock"):
        clock.backtest()
    assert clock.error_count == 1
    assert [r.getMessage() for r in caplog.records] == ["clock: broken failed in tick at 101.0"]
    assert caplog.records[0].exc_info[1].args == ("broken broke",)
    assert [ts for n, e, ts in journal if n == "last" and e == "tick"] == [
        100.0,
        101.0,
        102.0,
        103.0,
    ]
    assert [ts for n, e, ts in journal if n == "broken" and e == "tick"] == [100.0, 102.0, 103.0]


def test_backtest_stops_on_error_by_default_and_stops_children():
    journal = []
    clock = backtest_clock()
    clock.add_iterator(Recorder("ok", journal))
    clock.add_iterator(Recorder("broken", journal, fail_at=102.0))
    with pytest.raises(ClockChildError, match=r"broken failed at tick 102\.0"):
        clock.backtest()
    assert ("ok", "stop", None) in journal and ("broken", "stop", None) in journal
    assert not clock.is_running
    with pytest.raises(ClockError, match="has stopped"):
        clock.backtest_til(103.0)


def test_add_and_remove_children_while_running():
    journal = []
    clock = backtest_clock(start=0.0, end=4.0)
    late = Recorder("late", journal)
    victim = Recorder("victim", journal)

    class Manager(TimeIterator):
        def tick(self, ts):
            if ts == 1.0:
                clock.add_iterator(late)
            if ts == 2.0:
                clock.remove_iterator(victim)  # removed before its turn in this tick

    clock.add_iterator(Manager())
    clock.add_iterator(victim)
    clock.backtest()
    assert ("late", "start", 1.0) in journal
    assert [ts for n, e, ts in journal if n == "late" and e == "tick"] == [2.0, 3.0, 4.0]
    assert [ts for n, e, ts in journal if n == "victim" and e == "tick"] == [0.0, 1.0]
    assert journal.count(("victim", "stop", None)) == 1
    assert journal.count(("late", "stop", None)) == 1


def test_clock_rejects_bad_setup():
    with pytest.raises(ClockError, match="tick_size"):
        Clock(ClockMode.REALTIME, tick_size=0)
    with pytest.raises(ClockError, match="start_time and end_time"):
        Clock(ClockMode.BACKTEST)
    with pytest.raises(ClockError, match="before start_time"):
        backtest_clock(start=5.0, end=1.0)
    clock = backtest_clock()
    child = Recorder("x", [])
    clock.add_iterator(child)
    with pytest.raises(ClockError, match="already"):
        clock.add_iterator(child)
    with pytest.raises(ClockError, match="not on this clock"):
        clock.remove_iterator(Recorder("y", []))
    with pytest.raises(ClockError, match="REALTIME"):
        asyncio.run(clock.run())


def test_next_slot_is_a_whole_multiple_of_tick_size():
    clock = Clock(ClockMode.REALTIME, tick_size=0.25)
    assert clock.next_slot(100.0) == 100.25
    assert clock.next_slot(100.1) == 100.25
    assert clock.next_slot(100.26) == 100.5
    assert Clock(ClockMode.REALTIME, tick_size=1.0).next_slot(1_700_000_000.7) == 1_700_000_001.0


async def test_realtime_ticks_on_slots_and_stops_on_request():
    tick_size = 0.05
    clock = Clock(ClockMode.REALTIME, tick_size=tick_size)
    seen = []
    done = asyncio.Event()

    class Counter(TimeIterator):
        def tick(self, ts):
            seen.append(ts)
            if len(seen) == 5:
                done.set()

    clock.add_iterator(Counter())
    task = asyncio.create_task(clock.run())
    await asyncio.wait_for(done.wait(), timeout=10)
    clock.request_stop()
    await asyncio.wait_for(task, timeout=5)
    assert not clock.is_running
    # every timestamp is a whole multiple of the tick size, strictly increasing
    for ts in seen:
        assert abs(ts / tick_size - round(ts / tick_size)) < 1e-6
    assert all(b > a for a, b in pairwise(seen))


async def test_realtime_skips_slots_a_slow_tick_overran_instead_of_bunching():
    tick = 0.1
    offset = [0.0]  # simulated extra time spent inside one tick
    clock = Clock(ClockMode.REALTIME, tick_size=tick, wall_time=lambda: time.time() + offset[0])
    seen = []

    class Slow(TimeIterator):
        def tick(self, ts):
            seen.append(round(ts / tick))
            if len(seen) == 2:
                offset[0] += 3.5 * tick  # this tick overruns three and a half slots
            if len(seen) == 5:
                clock.request_stop()

    clock.add_iterator(Slow())
    await asyncio.wait_for(clock.run(), timeout=10)
    steps = [b - a for a, b in pairwise(seen)]
    assert steps == [1, 4, 1, 1]
    assert clock.missed_ticks == 3


async def test_stop_requested_before_run_starts_still_stops():
    journal = []
    clock = Clock(ClockMode.REALTIME, tick_size=0.05)
    clock.add_iterator(Recorder("a", journal))
    clock.request_stop()
    await asyncio.wait_for(clock.run(), timeout=5)
    assert clock.tick_count == 0
    assert journal[0][:2] == ("a", "start") and journal[1:] == [("a", "stop", None)]


def test_child_that_failed_to_start_is_never_ticked_or_stopped():
    journal = []

    class BadStart(Recorder):
        def start(self, clock, timestamp):
            raise RuntimeError("no keys")

    clock = backtest_clock(stop_on_error=False)
    clock.add_iterator(BadStart("bad", journal))
    clock.add_iterator(Recorder("good", journal))
    clock.backtest()
    assert [n for n, _, _ in journal] == ["good"] * 6  # start, 4 ticks, stop
    assert clock.error_count == 1


class Sleeper(TimeIterator):
    """Records ticks and asks for its next one at a fixed time list."""

    def __init__(self, wants: list[float] | None) -> None:
        self.wants = wants
        self.ticks: list[float] = []

    def tick(self, timestamp: float) -> None:
        self.ticks.append(timestamp)

    def next_tick_after(self, timestamp: float) -> float | None:
        if self.wants is None:
            return None
        later = [w for w in self.wants if w > timestamp]
        return later[0] if later else float("inf")


def test_sparse_backtest_skips_slots_no_child_needs():
    a, b = Sleeper([5.0, 7.5]), Sleeper([9.0])
    clock = Clock(ClockMode.BACKTEST, 1.0, 0.0, 12.0, sparse=True)
    clock.add_iterator(a)
    clock.add_iterator(b)
    clock.backtest()
    # 0 (start), 5, 8 (first slot >= 7.5), 9, then nothing is wanted but the last slot ticks
    assert a.ticks == b.ticks == [0.0, 5.0, 8.0, 9.0, 12.0]


def test_sparse_backtest_ticks_every_slot_while_a_child_wants_them():
    a, b = Sleeper([6.0]), Sleeper(None)
    clock = Clock(ClockMode.BACKTEST, 1.0, 0.0, 3.0, sparse=True)
    clock.add_iterator(a)
    clock.add_iterator(b)
    clock.backtest()
    assert a.ticks == [0.0, 1.0, 2.0, 3.0]


def test_dense_clock_ignores_next_tick_hints():
    a = Sleeper([5.0])
    clock = Clock(ClockMode.BACKTEST, 1.0, 0.0, 3.0)
    clock.add_iterator(a)
    clock.backtest()
    assert a.ticks == [0.0, 1.0, 2.0, 3.0]


def test_backtest_ends_with_a_tick_at_end_time_off_the_slot_grid():
    for sparse in (False, True):
        a = Sleeper([])
        clock = Clock(ClockMode.BACKTEST, 4.0, 0.0, 10.0, sparse=sparse)
        clock.add_iterator(a)
        clock.backtest()
        assert a.ticks == ([0.0, 4.0, 8.0, 10.0] if not sparse else [0.0, 10.0])
