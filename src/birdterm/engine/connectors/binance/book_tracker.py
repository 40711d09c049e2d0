"""A local L2 book kept in sync with Binance's spot diff-depth stream (NOTES §8).

1. Buffer `depthUpdate` events while unsynced; remember the first buffered `U`.
2. Fetch a REST snapshot; if its `lastUpdateId` < that first `U`, fetch again.
3. Drop buffered events with `u` <= lastUpdateId; the first kept one must satisfy
   `U` <= lastUpdateId + 1 <= `u`.
4. Book := snapshot, then apply the kept events and every new one:
   `u` <= book id -> ignore; `U` > book id + 1 -> gap: throw the book away, back to 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from birdterm.engine.order_book import OrderBook

log = logging.getLogger("birdterm.binance.book")

Snapshot = Mapping[str, Any]  # {"lastUpdateId", "bids", "asks"}
DiffEvent = Mapping[str, Any]  # {"e": "depthUpdate", "U", "u", "b", "a", ...}


@dataclass(frozen=True, slots=True)
class SyncInfo:
    """How the last sync went: the snapshot id and the buffered events it kept."""

    snapshot_id: int
    dropped: int  # buffered events older than the snapshot
    applied: int  # buffered events applied on top of it
    first_applied: tuple[int, int] | None  # (U, u) of the first applied event


class BookTracker:
    """One pair's book: buffers diffs, syncs from snapshots, detects gaps and resyncs."""

    def __init__(
        self,
        pair: str,
        fetch_snapshot: Callable[[], Awaitable[Snapshot]],
        *,
        on_resynced: Callable[[BookTracker], None] | None = None,
        max_buffer: int = 10_000,
        retry_delay_s: float = 0.5,
        max_retry_delay_s: float = 10.0,
        refetch_delay_s: float = 0.1,
    ) -> None:
        self.pair = pair
        self.book = OrderBook(pair)
        self.on_resynced = on_resynced
        self._fetch = fetch_snapshot
        self._buffer: deque[DiffEvent] = deque(maxlen=max_buffer)
        self._buffered = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._retry_delay_s = retry_delay_s
        self._max_retry_delay_s = max_retry_delay_s
        self._refetch_delay_s = refetch_delay_s
        self._lost_sync = False  # the next sync is a resync
        self._closed = False
        self.synced = False
        self.sync_count = 0  # successful syncs, the first included
        self.resync_count = 0  # successful syncs after a gap, a reconnect or resync()
        self.gap_count = 0  # gaps seen in the live stream or in the buffer
        self.stale_snapshot_count = 0  # snapshots older than the first buffered event
        self.snapshot_fetches = 0  # snapshot requests answered
        self.fetch_errors = 0
        self.ignored_count = 0  # events already contained in the book (u <= book id)
        self.last_sync: SyncInfo | None = None

    @property
    def update_id(self) -> int:
        """The book's last update id (-1 while there is no book)."""
        return self.book.last_update_id

    # ---- stream input ------------------------------------------------------------------------

    def on_diff(self, payload: DiffEvent) -> None:
        """Feed one depthUpdate event (in stream order)."""
        if self._closed:
            return
        if not self.synced:
            self._buffer.append(payload)
            self._buffered.set()
            self._ensure_task()
            return
        first, last = payload["U"], payload["u"]
        book_id = self.book.last_update_id
        if last <= book_id:
            self.ignored_count += 1
            return
        if first > book_id + 1:
            self.gap_count += 1
            log.warning(
                "%s: depth gap (book at %d, event %d..%d); resyncing",
                self.pair,
                book_id,
                first,
                last,
            )
            self._lose_sync(payload)
            return
        self.book.apply_diff(payload["b"], payload["a"], last)

    def resync(self) -> None:
        """Throw the book away and sync again (after a reconnect: events were missed)."""
        if not self._closed:
            self._lose_sync(None)

    def apply_rest_snapshot(self, snapshot: Snapshot) -> bool:
        """Show a polled REST snapshot while unsynced (the stream cannot keep the book);
        returns False, doing nothing, when the stream keeps the book in sync."""
        if self.synced or self._closed:
            return False
        self.book.apply_snapshot(snapshot["bids"], snapshot["asks"], int(snapshot["lastUpdateId"]))
        return True

    def start(self) -> None:
        """Start syncing now (it also starts on the first diff)."""
        if not self.synced:
            self._ensure_task()

    async def stop(self) -> None:
        """Stop syncing; later diffs are ignored."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ---- syncing -----------------------------------------------------------------------------

    def _lose_sync(self, first_event: DiffEvent | None) -> None:
        self.synced = False
        self._lost_sync = True
        self.book.clear()
        self._buffer.clear()
        self._buffered.clear()
        if first_event is not None:
            # The event that revealed the gap is the first one after it: buffering starts there.
            self._buffer.append(first_event)
            self._buffered.set()
        self._ensure_task()

    def _ensure_task(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._sync_loop(), name=f"book-sync-{self.pair}"
            )

    async def _sync_loop(self) -> None:
        delay = self._retry_delay_s
        while not self.synced and not self._closed:
            while not self._buffer:
                self._buffered.clear()
                await self._buffered.wait()
            try:
                snapshot = await self._fetch()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.fetch_errors += 1
                log.warning(
                    "%s: depth snapshot failed (%s); retrying in %.1f s", self.pair, exc, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_retry_delay_s)
                continue
            self.snapshot_fetches += 1
            delay = self._retry_delay_s
            if not self._closed and not self._try_sync(snapshot):
                await asyncio.sleep(self._refetch_delay_s)

    def _try_sync(self, snapshot: Snapshot) -> bool:
        """Steps 3-5 on the current buffer; no awaits inside, so no event slips in."""
        if self.synced:
            return True
        if not self._buffer:
            return False  # a resync() during the fetch emptied the buffer: wait for events
        snapshot_id = int(snapshot["lastUpdateId"])
        first_buffered = self._buffer[0]["U"]
        if snapshot_id < first_buffered:
            self.stale_snapshot_count += 1
            log.info(
                "%s: snapshot %d is older than the first buffered event %d; fetching again",
                self.pair,
                snapshot_id,
                first_buffered,
            )
            return False
        kept = [event for event in self._buffer if event["u"] > snapshot_id]
        dropped = len(self._buffer) - len(kept)
        book_id = snapshot_id
        applied: list[DiffEvent] = []
        for index, event in enumerate(kept):
            if event["u"] <= book_id:
                continue
            if event["U"] > book_id + 1:
                # A gap after the snapshot: buffering restarts at the event after it.
                self.gap_count += 1
                log.warning("%s: gap in the buffered depth events at %d", self.pair, event["U"])
                self._buffer = deque(kept[index:], maxlen=self._buffer.maxlen)
                return False
            applied.append(event)
            book_id = event["u"]
        self.book.apply_snapshot(snapshot["bids"], snapshot["asks"], snapshot_id)
        for event in applied:
            self.book.apply_diff(event["b"], event["a"], event["u"])
        self._buffer.clear()
        self._buffered.clear()
        self.synced = True
        self.sync_count += 1
        if self._lost_sync:
            self.resync_count += 1
            self._lost_sync = False
        self.last_sync = SyncInfo(
            snapshot_id=snapshot_id,
            dropped=dropped,
            applied=len(applied),
            first_applied=(applied[0]["U"], applied[0]["u"]) if applied else None,
        )
        log.info(
            "%s: book synced at %d (snapshot %d, %d buffered events dropped, %d applied)",
            self.pair,
            self.book.last_update_id,
            snapshot_id,
            dropped,
            len(applied),
        )
        if self.on_resynced is not None:
            try:
                self.on_resynced(self)
            except Exception:
                log.exception("%s: on_resynced hook failed", self.pair)
        return True
