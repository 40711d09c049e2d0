"""Market replays: the seeded synthetic book and recorded Binance streams (hftbacktest files)."""

import gzip
import itertools
import json
import math
from decimal import Decimal
from pathlib import Path

import pytest

from birdterm.sim.emulator.default_symbols import default_symbols
from birdterm.sim.emulator.exchange import Exchange
from birdterm.sim.emulator.recorded_replay import RecordedBookReplay, RecordedDataError
from birdterm.sim.emulator.replay import MarketReplay
from birdterm.sim.emulator.synthetic_book import SyntheticBookReplay

D = Decimal
T0 = 1_700_000_000_000
DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "hftbacktest"
BTC_FILES = [DATA / "binance_spot_btcusdt_20240808.gz", DATA / "binance_spot_btcusdt_20240809.gz"]


def synthetic(seed: int = 1, **kwargs) -> SyntheticBookReplay:
    return SyntheticBookReplay(
        "BTCUSDT", seed=seed, start_ms=T0, start_price=D(30000), tick_size=D("0.01"),
        lot_size=D("0.00001"), **kwargs,
    )  # fmt: skip


def apply(book: tuple[dict, dict], update) -> None:
    for side, levels in zip(book, (update.bids, update.asks), strict=True):
        for price, qty in levels:
            if qty:
                side[price] = qty
            else:
                side.pop(price, None)


def test_synthetic_replay_is_a_market_replay_and_deterministic() -> None:
    replay: MarketReplay = synthetic()
    again = synthetic()
    assert replay.snapshot() == again.snapshot()
    assert replay.updates_until(T0 + 60_000) == again.updates_until(T0 + 60_000)
    assert synthetic(seed=2).snapshot() != synthetic().snapshot()
    later = SyntheticBookReplay(
        "BTCUSDT", seed=1, start_ms=T0 + 1000, start_price=D(30000), tick_size=D("0.01"),
        lot_size=D("0.00001"),
    )  # fmt: skip
    assert later.updates_until(T0 + 60_000) != synthetic().updates_until(T0 + 60_000)


def test_synthetic_updates_come_every_step_once() -> None:
    replay = synthetic(step_ms=250)
    assert replay.updates_until(T0 + 249) == []
    assert [u.ts_ms for u in replay.updates_until(T0 + 1000)] == [
        T0 + 250,
        T0 + 500,
        T0 + 750,
        T0 + 1000,
    ]
    assert replay.updates_until(T0 + 1000) == []


def test_synthetic_book_stays_a_ladder_on_the_grid_and_trades_at_the_touch() -> None:
    replay = synthetic(levels=50)
    bids, asks = replay.snapshot()
    assert len(bids) == len(asks) == 50
    assert asks[0][0] - bids[0][0] == D("0.01")
    book = (dict(bids), dict(asks))
    trades = 0
    for update in replay.updates_until(T0 + 600_000):
        for trade in update.trades:
            best = max(book[0]) if trade.is_buyer_maker else min(book[1])
            # The first trade hits the touch; later ones may walk one level after it empties.
            assert trade.price <= best if trade.is_buyer_maker else trade.price >= best
            trades += 1
        apply(book, update)
        bid_prices, ask_prices = sorted(book[0]), sorted(book[1])
        assert len(bid_prices) == len(ask_prices) == 50
        assert bid_prices[-1] < ask_prices[0]
        for price, qty in (*book[0].items(), *book[1].items()):
            assert price % D("0.01") == 0 and qty % D("0.00001") == 0 and qty > 0
    assert 2000 < trades < 4000  # 5 a second for 600 s


def test_synthetic_mid_switches_between_calm_and_volatile_spells() -> None:
    replay = synthetic(mean_calm_s=60, mean_volatile_s=30)
    mids, regimes = [], []
    book = tuple(map(dict, replay.snapshot()))
    for step in range(1, 12_001):  # 20 minutes, one step at a time to read the regime
        (update,) = replay.updates_until(T0 + step * 100)
        apply(book, update)
        mids.append(float((max(book[0]) + min(book[1])) / 2))
        regimes.append(replay.volatile)
    returns = [math.log(b / a) for a, b in itertools.pairwise(mids)]
    calm = [r for r, v in zip(returns, regimes[1:], strict=False) if not v]
    wild = [r for r, v in zip(returns, regimes[1:], strict=False) if v]
    assert calm and wild
    sd = lambda xs: math.sqrt(sum(x * x for x in xs) / len(xs))  # noqa: E731
    assert 2.5 < sd(wild) / sd(calm) < 6


# --- recorded data ---------------------------------------------------------------------------


def write_recording(path: Path, lines: list[tuple[int, dict]]) -> Path:
    with gzip.open(path, "wt") as out:
        for local_ns, message in lines:
            out.write(f"{local_ns} {json.dumps(message)}\n")
    return path


def diff(first: int, last: int, event_ms: int, bids=(), asks=()) -> dict:
    return {
        "stream": "btcusdt@depth@100ms",
        "data": {
            "e": "depthUpdate", "E": event_ms, "s": "BTCUSDT", "U": first, "u": last,
            "b": [list(b) for b in bids], "a": [list(a) for a in asks],
        },
    }  # fmt: skip


def trade(trade_id: int, ms: int, price: str, qty: str, m: bool) -> dict:
    data = {
        "e": "trade",
        "E": ms,
        "s": "BTCUSDT",
        "t": trade_id,
        "p": price,
        "q": qty,
        "T": ms,
        "m": m,
        "M": True,
    }
    return {"stream": "btcusdt@trade", "data": data}


SNAPSHOT = {
    "lastUpdateId": 104,
    "bids": [["100.00", "1.0"], ["99.00", "2.0"]],
    "asks": [["101.00", "1.5"]],
}


def small_recording(tmp_path: Path) -> list[Path]:
    first = write_recording(
        tmp_path / "a.gz",
        [
            (1, diff(100, 103, 5_000, bids=[("98.00", "1.0")])),  # before the snapshot: dropped
            (2, diff(104, 106, 5_100, asks=[("101.00", "1.2")])),  # buffered; straddles 105
            (3, SNAPSHOT),
            (4, trade(7, 5_150, "101.00", "0.3", False)),
            (5, {"stream": "ethusdt@trade", "data": {}}),  # another symbol
            (6, {"stream": "btcusdt@bookTicker", "data": {"u": 106}}),
        ],
    )
    second = write_recording(
        tmp_path / "b.gz",
        [
            (7, diff(107, 109, 5_200, bids=[("100.00", "0")], asks=[("102.00", "4.0")])),
            (8, trade(8, 5_200, "100.00", "1.0", True)),
            (9, trade(9, 5_200, "100.00", "0.5", True)),
        ],
    )
    return [first, second]


def test_recorded_replay_syncs_shifts_and_loops(tmp_path: Path) -> None:
    replay = RecordedBookReplay.from_hftbacktest(small_recording(tmp_path), "BTCUSDT", T0)
    bids, asks = replay.snapshot()
    assert bids == [(D(100), D(1)), (D(99), D(2))] and asks == [(D(101), D("1.5"))]
    updates = replay.updates_until(T0 + 100)
    assert [(u.ts_ms, u.bids, u.asks, len(u.trades)) for u in updates] == [
        (T0, (), ((D(101), D("1.2")),), 0),
        (T0 + 50, (), (), 1),
        (T0 + 100, (), (), 2),  # trades sort before the diff stamped the same millisecond
        (T0 + 100, ((D(100), D(0)),), ((D(102), D(4)),), 0),
    ]
    assert updates[2].trades[1].qty == D("0.5") and updates[2].trades[1].is_buyer_maker
    assert replay.period_ms == 200
    # The next run starts 200 ms later with one update that puts the snapshot back.
    loop = replay.updates_until(T0 + 200)
    assert loop[0].ts_ms == T0 + 200
    book = ({D(99): D(2)}, {D(101): D("1.2"), D(102): D(4)})  # the end of the data
    apply(book, loop[0])
    assert book[0] == {D(100): D(1), D(99): D(2)}
    assert book[1] == {D(101): D("1.5")}
    assert [u.ts_ms for u in loop[1:]] == [T0 + 200]
    assert replay.loops == 1


def test_recorded_replay_refuses_diffs_that_do_not_sync(tmp_path: Path) -> None:
    late = write_recording(tmp_path / "late.gz", [(1, SNAPSHOT), (2, diff(106, 108, 5_000))])
    with pytest.raises(RecordedDataError, match="straddle"):
        RecordedBookReplay.from_hftbacktest([late], "BTCUSDT", T0)
    gap = write_recording(
        tmp_path / "gap.gz", [(1, SNAPSHOT), (2, diff(105, 106, 5_000)), (3, diff(108, 109, 5_100))]
    )
    with pytest.raises(RecordedDataError, match="gap"):
        RecordedBookReplay.from_hftbacktest([gap], "BTCUSDT", T0)
    none = write_recording(tmp_path / "none.gz", [(1, diff(105, 106, 5_000))])
    with pytest.raises(RecordedDataError, match="snapshot"):
        RecordedBookReplay.from_hftbacktest([none], "BTCUSDT", T0)


def test_exchange_over_a_small_recording(tmp_path: Path) -> None:
    replay = RecordedBookReplay.from_hftbacktest(small_recording(tmp_path), "BTCUSDT", T0)
    now = [T0]
    exchange = Exchange(default_symbols(), {"BTCUSDT": replay}, lambda: now[0])
    now[0] = T0 + 150
    exchange.step()
    assert exchange.book_levels("BTCUSDT") == (
        [(D(99), D(2))],
        [(D(101), D("1.2")), (D(102), D(4))],
    )
    assert [t["qty"] for t in exchange.recent_trades("BTCUSDT", 10)] == [
        "0.30000000", "1.00000000", "0.50000000"
    ]  # fmt: skip


@pytest.fixture(scope="module")
def recorded() -> RecordedBookReplay:
    if not all(path.exists() for path in BTC_FILES):
        pytest.skip("needs ../shared/data/hftbacktest (recorded Binance BTCUSDT streams)")
    return RecordedBookReplay.from_hftbacktest(BTC_FILES, "BTCUSDT", T0)


def test_recorded_btcusdt_replays_the_real_book(recorded: RecordedBookReplay) -> None:
    bids, asks = recorded.snapshot()
    assert len(bids) == len(asks) == 1000
    assert (bids[0], asks[0]) == ((D("61837.63"), D("3.78826")), (D("61837.64"), D("1.54698")))
    now = [T0]
    exchange = Exchange(default_symbols(), {"BTCUSDT": recorded}, lambda: now[0])
    exchange.add_account("alice", "s", {"USDT": D(100_000)})
    depth = []
    exchange.add_market_listener(
        lambda s, p: depth.append(p) if s.endswith("@depth@100ms") else None
    )
    exchange.new_order(
        "alice",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
         "quantity": "0.01", "price": "61700"},
    )  # fmt: skip
    while now[0] < T0 + 120_000:
        now[0] += 100
        exchange.step()
        best_bid, best_ask = (
            exchange.book_levels("BTCUSDT")[0][0],
            exchange.book_levels("BTCUSDT")[1][0],
        )
        assert best_bid[0] < best_ask[0]
    assert all(b["U"] == a["u"] + 1 for a, b in itertools.pairwise(depth))
    assert len(depth) > 1000
    trades = exchange.history("BTCUSDT").trade_count
    assert trades > 2000  # the recording has ~30 trades a second
    first_minute = T0 // 60_000 * 60_000
    minute = exchange.klines("BTCUSDT", "1m", first_minute, None, 2)
    assert [k[0] for k in minute] == [first_minute, first_minute + 60_000]
    assert minute[0][8] > 500
