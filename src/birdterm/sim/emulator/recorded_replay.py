"""A replay of recorded Binance spot streams (hftbacktest's gz files: snapshot, diffs, trades).

The files hold `<local ns> <json>` lines: combined-stream messages (`<sym>@depth@100ms`,
`<sym>@trade`, `<sym>@bookTicker`) and one REST depth snapshot. Loading syncs the diffs with the
snapshot exactly as Binance's procedure says (drop u <= lastUpdateId, the first kept diff must
straddle lastUpdateId + 1, then U == previous u + 1) and refuses data that does not. Exchange
times (depth `E`, trade `T`) are shifted so the first event lands at start_ms; when the data
runs out the replay starts again from the snapshot (one update resets the book to it).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from birdterm.sim.emulator.replay import Level, MarketUpdate, ReplayTrade

LOOP_GAP_MS = 100  # pause between the end of the data and its next run


class RecordedDataError(ValueError):
    """The recording cannot be replayed (no snapshot, diffs that do not sync, a gap)."""


class RecordedBookReplay:
    """Recorded depth diffs and trades of one symbol, looping from the snapshot (a MarketReplay)."""

    def __init__(
        self,
        symbol: str,
        snapshot: tuple[list[Level], list[Level]],
        updates: Sequence[MarketUpdate],
        start_ms: int,
    ) -> None:
        if not updates:
            raise RecordedDataError(f"{symbol}: no updates after the snapshot")
        self.symbol = symbol
        self._snapshot = snapshot
        first = updates[0].ts_ms
        self._updates = [
            MarketUpdate(u.ts_ms - first, u.bids, u.asks, u.trades) for u in updates
        ]  # times relative to the first event
        self._start_ms = start_ms
        self.period_ms = self._updates[-1].ts_ms + LOOP_GAP_MS
        self._reset = _reset_update(snapshot, self._updates)
        self._cycle = 0
        self._index = 0
        self._pending_reset = False
        self.loops = 0  # completed runs through the data

    @classmethod
    def from_hftbacktest(
        cls, paths: Iterable[str | Path], symbol: str, start_ms: int
    ) -> RecordedBookReplay:
        """Load the files of one symbol (in time order) and sync them with their snapshot."""
        snapshot, updates = _load(paths, symbol)
        return cls(symbol, snapshot, updates, start_ms)

    def snapshot(self) -> tuple[list[Level], list[Level]]:
        """The recorded REST snapshot the diffs start from (best first)."""
        bids, asks = self._snapshot
        return list(bids), list(asks)

    def updates_until(self, ts_ms: int) -> list[MarketUpdate]:
        """The next updates up to ts_ms (across loops of the data)."""
        out: list[MarketUpdate] = []
        while True:
            if self._index == len(self._updates):
                self._cycle += 1
                self._index = 0
                self.loops += 1
                self._pending_reset = True
            base = self._start_ms + self._cycle * self.period_ms
            if self._pending_reset:
                if base > ts_ms:
                    return out
                out.append(MarketUpdate(base, self._reset.bids, self._reset.asks))
                self._pending_reset = False
            update = self._updates[self._index]
            at = base + update.ts_ms
            if at > ts_ms:
                return out
            out.append(MarketUpdate(at, update.bids, update.asks, update.trades))
            self._index += 1


def _reset_update(
    snapshot: tuple[list[Level], list[Level]], updates: Sequence[MarketUpdate]
) -> MarketUpdate:
    """The update that turns the book at the end of the data back into the snapshot."""
    sides = []
    for is_bid, levels in ((True, snapshot[0]), (False, snapshot[1])):
        book = dict(levels)
        for update in updates:
            for price, qty in update.bids if is_bid else update.asks:
                if qty:
                    book[price] = qty
                else:
                    book.pop(price, None)
        start = dict(levels)
        changes = [(p, q) for p, q in levels if book.get(p) != q]
        changes += [(p, Decimal(0)) for p in book if p not in start]
        sides.append(tuple(changes))
    return MarketUpdate(0, sides[0], sides[1])


def _levels(raw: list[list[str]]) -> tuple[Level, ...]:
    return tuple((Decimal(p), Decimal(q)) for p, q in raw)


def _lines(paths: Iterable[str | Path]) -> Iterable[dict[str, Any]]:
    for path in paths:
        with gzip.open(path, "rb") as stream:
            for line in stream:
                _, _, body = line.partition(b" ")
                if body.strip():
                    yield orjson.loads(body)


def _load(
    paths: Iterable[str | Path], symbol: str
) -> tuple[tuple[list[Level], list[Level]], list[MarketUpdate]]:
    prefix = symbol.lower() + "@"
    snapshot: tuple[list[Level], list[Level]] | None = None
    last_id = 0
    diffs: list[dict[str, Any]] = []  # every diff, also those buffered before the snapshot
    events: list[tuple[int, int, MarketUpdate]] = []
    for message in _lines(paths):
        if "lastUpdateId" in message:
            if snapshot is None:
                snapshot = (list(_levels(message["bids"])), list(_levels(message["asks"])))
                last_id = int(message["lastUpdateId"])
            continue
        stream = message.get("stream", "")
        if not stream.startswith(prefix):
            continue
        data = message["data"]
        kind = stream[len(prefix) :]
        if kind in ("depth", "depth@100ms"):
            diffs.append(data)
        elif kind == "trade" and snapshot is not None:
            trade = ReplayTrade(Decimal(data["p"]), Decimal(data["q"]), bool(data["m"]))
            events.append((int(data["T"]), 0, MarketUpdate(int(data["T"]), (), (), (trade,))))
    if snapshot is None:
        raise RecordedDataError(f"{symbol}: no REST depth snapshot in the files")
    synced = False
    for data in diffs:
        first_id, final_id = int(data["U"]), int(data["u"])
        if final_id <= last_id:
            continue  # already in the snapshot
        if not synced and not first_id <= last_id + 1 <= final_id:
            raise RecordedDataError(
                f"{symbol}: first diff U={first_id} u={final_id} does not straddle "
                f"the snapshot's lastUpdateId+1={last_id + 1}"
            )
        if synced and first_id != last_id + 1:
            raise RecordedDataError(f"{symbol}: gap in the diffs: U={first_id} after u={last_id}")
        synced = True
        last_id = final_id
        update = MarketUpdate(int(data["E"]), _levels(data["b"]), _levels(data["a"]))
        events.append((update.ts_ms, 1, update))
    # Trades sort before a depth diff stamped the same millisecond: the diff reports the
    # book after them.
    events.sort(key=lambda e: (e[0], e[1]))
    return snapshot, _merge_trades([e[2] for e in events])


def _merge_trades(updates: list[MarketUpdate]) -> list[MarketUpdate]:
    """Join consecutive trade-only updates of the same millisecond into one."""
    out: list[MarketUpdate] = []
    for update in updates:
        prev = out[-1] if out else None
        if (
            prev is not None
            and not update.bids
            and not update.asks
            and not prev.bids
            and not prev.asks
            and prev.ts_ms == update.ts_ms
        ):
            out[-1] = MarketUpdate(prev.ts_ms, (), (), prev.trades + update.trades)
        else:
            out.append(update)
    return out
