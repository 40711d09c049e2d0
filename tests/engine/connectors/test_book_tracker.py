"""BookTracker: Binance's spot sync rule on the recorded stream and on seeded synthetic books."""

import asyncio

import orjson
import pytest

from birdterm.engine.connectors.binance.book_tracker import BookTracker, SyncInfo
from birdterm.engine.connectors.binance.errors import RequestOutcomeUnknown

from tests.emulator_fixtures import wait_until
from tests.engine.connectors.public_fixtures import (
    HFT_BTC_0808,
    HFT_BTC_0809,
    NEEDS_SHARED,
    SyntheticDepth,
    book_as_floats,
)


def recorded_lines():
    import gzip

    for path in (HFT_BTC_0808, HFT_BTC_0809):
        with gzip.open(path, "rb") as lines:
            for line in lines:
                if b"@trade" not in line:  # trades are irrelevant to the book
                    yield orjson.loads(line.split(b" ", 1)[1])


async def test_recorded_spot_stream_syncs_exactly_as_documented():
    if not (HFT_BTC_0808.exists() and HFT_BTC_0809.exists()):
        pytest.skip(NEEDS_SHARED)
    snapshot: asyncio.Future = asyncio.get_running_loop().create_future()

    async def fetch():
        return await asyncio.shield(snapshot)

    tracker = BookTracker("BTC-USDT", fetch)
    tickers = {}  # bookTicker update id -> the exchange's top of book then
    tops_checked = 0
    for message in recorded_lines():
        if "lastUpdateId" in message:
            snapshot.set_result(message)
            await wait_until(lambda: tracker.synced)
            continue
        data = message["data"]
        if message["stream"] != "btcusdt@depth@100ms":
            tickers[data["u"]] = (float(data["b"]), float(data["B"]), float(data["a"]))
            continue
        tracker.on_diff(data)
        # bookTicker is real time: it arrives before the diff that ends at its update id
        top = tickers.pop(tracker.update_id, None)
        if tracker.synced and top is not None:
            book = tracker.book
            assert (book.best_bid, book.best_bid_qty, book.best_ask) == top
            tops_checked += 1
    # the README's numbers: snapshot 50093239218; first usable diff 50093239208..50093239224
    assert tracker.last_sync == SyncInfo(
        snapshot_id=50093239218, dropped=2, applied=1, first_applied=(50093239208, 50093239224)
    )
    assert (tracker.sync_count, tracker.resync_count, tracker.gap_count) == (1, 0, 0)
    assert (tracker.snapshot_fetches, tracker.stale_snapshot_count) == (1, 0)
    assert tracker.ignored_count == 0
    assert tracker.update_id == 50093696318  # the last diff of the 0809 file
    assert tops_checked == 1_072  # every update id bookTicker and the diffs share
    assert not tracker.book.is_crossed


def gated_fetch(gen: SyntheticDepth):
    """A fetch that snapshots the book at call time, then waits for `gate` before answering."""
    state = {"calls": 0, "fetched": asyncio.Event(), "gate": asyncio.Event()}

    async def fetch():
        state["calls"] += 1
        snap = gen.snapshot()
        state["fetched"].set()
        await state["gate"].wait()
        return snap

    return fetch, state


async def test_buffered_events_older_than_the_snapshot_are_dropped_the_rest_applied():
    gen = SyntheticDepth(seed=1)
    fetch, state = gated_fetch(gen)
    seen = []
    tracker = BookTracker(
        "BTC-USDT", fetch, on_resynced=lambda t: seen.append(book_as_floats(t.book))
    )
    early = [gen.event() for _ in range(3)]
    for event in early:
        tracker.on_diff(event)
    await wait_until(lambda: state["fetched"].is_set())
    late = [gen.event() for _ in range(2)]
    for event in late:
        tracker.on_diff(event)
    assert not tracker.synced and tracker.book.bid_depth == 0
    state["gate"].set()
    await wait_until(lambda: tracker.synced)
    assert tracker.last_sync == SyncInfo(
        snapshot_id=early[-1]["u"], dropped=3, applied=2, first_applied=(late[0]["U"], late[0]["u"])
    )
    assert seen == [gen.state_at[late[-1]["u"]]]
    for _ in range(200):
        tracker.on_diff(gen.event())
    assert tracker.update_id == gen.update_id
    assert book_as_floats(tracker.book) == gen.levels()
    assert (tracker.sync_count, tracker.resync_count, tracker.gap_count) == (1, 0, 0)


async def test_gap_throws_the_book_away_and_resyncs():
    gen = SyntheticDepth(seed=2)

    async def fetch():
        return gen.snapshot()

    compared = []

    def check(t: BookTracker) -> None:
        compared.append(t.update_id)
        assert book_as_floats(t.book) == gen.state_at[t.update_id]

    tracker = BookTracker("BTC-USDT", fetch, on_resynced=check)
    first = gen.event()
    tracker.on_diff(first)
    await wait_until(lambda: tracker.synced)
    for _ in range(10):
        tracker.on_diff(gen.event())
    gen.event()  # lost on the way
    after_gap = gen.event()
    tracker.on_diff(after_gap)
    assert tracker.gap_count == 1
    assert not tracker.synced
    assert tracker.book.bid_depth == tracker.book.ask_depth == 0 and tracker.update_id == -1
    await wait_until(lambda: tracker.synced)
    assert (tracker.sync_count, tracker.resync_count) == (2, 1)
    assert compared == [first["u"], after_gap["u"]]
    for _ in range(20):
        tracker.on_diff(gen.event())
    assert book_as_floats(tracker.book) == gen.levels()


async def test_stale_snapshot_is_fetched_again():
    gen = SyntheticDepth(seed=3)
    answers = [gen.snapshot()]  # taken before the first buffered event: lastUpdateId < U

    async def fetch():
        return answers.pop(0) if answers else gen.snapshot()

    tracker = BookTracker("BTC-USDT", fetch, refetch_delay_s=0.001)
    tracker.on_diff(gen.event())
    await wait_until(lambda: tracker.synced)
    assert (tracker.stale_snapshot_count, tracker.snapshot_fetches) == (1, 2)
    assert tracker.last_sync is not None and tracker.last_sync.dropped == 1
    assert book_as_floats(tracker.book) == gen.levels()


async def test_events_older_than_the_book_are_ignored():
    gen = SyntheticDepth(seed=4)

    async def fetch():
        return gen.snapshot()

    tracker = BookTracker("BTC-USDT", fetch)
    events = [gen.event()]
    tracker.on_diff(events[0])
    await wait_until(lambda: tracker.synced)
    events += [gen.event(), gen.event()]
    tracker.on_diff(events[1])
    tracker.on_diff(events[2])
    before = book_as_floats(tracker.book)
    tracker.on_diff(events[1])  # u < book id: a late duplicate
    tracker.on_diff(events[2])  # u == book id: nothing new
    assert tracker.ignored_count == 2
    assert book_as_floats(tracker.book) == before == gen.levels()
    assert tracker.synced and tracker.gap_count == 0


async def test_gap_inside_the_buffer_restarts_buffering_after_it():
    gen = SyntheticDepth(seed=5)
    fetch, state = gated_fetch(gen)
    tracker = BookTracker("BTC-USDT", fetch, refetch_delay_s=0.001)
    tracker.on_diff(gen.event())
    await wait_until(lambda: state["fetched"].is_set())  # snapshot at the first event
    gen.event()  # lost
    after = [gen.event() for _ in range(2)]
    for event in after:
        tracker.on_diff(event)
    state["gate"].set()
    await wait_until(lambda: tracker.synced)
    assert tracker.gap_count == 1
    assert state["calls"] == 2
    assert tracker.last_sync == SyncInfo(
        snapshot_id=after[-1]["u"], dropped=2, applied=0, first_applied=None
    )
    assert book_as_floats(tracker.book) == gen.levels()


async def test_failed_snapshot_fetch_is_retried():
    gen = SyntheticDepth(seed=6)
    calls = []

    async def fetch():
        calls.append(1)
        if len(calls) == 1:
            raise RequestOutcomeUnknown("GET /api/v3/depth: connection lost")
        return gen.snapshot()

    tracker = BookTracker("BTC-USDT", fetch, retry_delay_s=0.001)
    tracker.on_diff(gen.event())
    await wait_until(lambda: tracker.synced)
    assert (tracker.fetch_errors, tracker.snapshot_fetches, len(calls)) == (1, 1, 2)


async def test_forced_resync_rest_snapshots_and_stop():
    gen = SyntheticDepth(seed=7)

    async def fetch():
        return gen.snapshot()

    tracker = BookTracker("BTC-USDT", fetch)
    tracker.on_diff(gen.event())
    await wait_until(lambda: tracker.synced)
    assert not tracker.apply_rest_snapshot(gen.snapshot())  # the stream keeps the book
    tracker.resync()  # e.g. the stream reconnected
    assert not tracker.synced and tracker.update_id == -1
    polled = gen.snapshot()
    assert tracker.apply_rest_snapshot(polled)
    assert tracker.update_id == polled["lastUpdateId"]
    assert book_as_floats(tracker.book) == gen.levels()
    tracker.on_diff(gen.event())
    await wait_until(lambda: tracker.synced)
    assert (tracker.sync_count, tracker.resync_count) == (2, 1)
    await tracker.stop()
    tracker.on_diff(gen.event())
    assert tracker.update_id == gen.update_id - 4  # ignored after stop
