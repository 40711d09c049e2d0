"""MarketHistory: synthetic past trades, klines of every interval, aggTrades selection rules."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from birdterm.sim.emulator.history import MarketHistory
from birdterm.sim.emulator.kline_grid import INTERVALS_MS

D = Decimal
T0 = 1_700_000_000_000  # 2023-11-14 22:13:20 UTC
HOUR = 3_600_000


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


@pytest.fixture(scope="module")
def synthetic() -> MarketHistory:
    return MarketHistory.synthetic("BTCUSDT", seed=11, end_ms=T0, days=0.25, start_price=D(30000))


def hand_built() -> MarketHistory:
    """Trades at known times: three aggTrades in the first second, one 2.5 s later."""
    history = MarketHistory("BTCUSDT", tick_size=D("0.01"), lot_size=D("0.00001"), start_ms=T0)
    history.add_trade(T0 + 100, D("100.00"), D("1"), False, new_agg=True)  # id 1, agg 1
    history.add_trade(T0 + 100, D("100.00"), D("0.5"), False, new_agg=False)  # id 2, agg 1
    history.add_trade(T0 + 200, D("99.50"), D("2"), True, new_agg=True)  # id 3, agg 2
    history.add_trade(T0 + 900, D("101.25"), D("0.25"), False, new_agg=True)  # id 4, agg 3
    history.add_trade(T0 + 3500, D("100.75"), D("1"), True, new_agg=True)  # id 5, agg 4
    history.advance(T0 + 4200)
    return history


def test_synthetic_history_is_seeded_and_ends_at_the_start_price(synthetic) -> None:
    again = MarketHistory.synthetic("BTCUSDT", seed=11, end_ms=T0, days=0.25, start_price=D(30000))
    assert again.recent_trades(1000) == synthetic.recent_trades(1000)
    other = MarketHistory.synthetic("BTCUSDT", seed=12, end_ms=T0, days=0.25, start_price=D(30000))
    assert other.recent_trades(50) != synthetic.recent_trades(50)
    last = synthetic.recent_trades(1)[0]
    assert last["price"] == "30000.00000000"
    assert last["time"] < T0
    assert synthetic.start_ms == T0 - 6 * HOUR
    # About 2 trades a second (more in volatile spells), ids from 1.
    assert 6 * 3600 * 1.5 < synthetic.trade_count < 6 * 3600 * 6
    assert synthetic.agg_trades(None, T0 - 6 * HOUR, None, 1)[0]["f"] == 1


def test_klines_are_continuous_and_each_interval_aggregates_the_1s_bars(synthetic) -> None:
    now_minute = T0 // 60_000 * 60_000
    minutes = synthetic.klines("1m", now_minute - 2 * HOUR, None, 1000)
    # Up to the bar that contains now (T0).
    assert [k[0] for k in minutes] == list(range(now_minute - 2 * HOUR, T0, 60_000))
    for bar in minutes[::17]:
        seconds = synthetic.klines("1s", bar[0], bar[0] + 59_999, 1000)
        assert len(seconds) == 60
        assert bar[1] == seconds[0][1]
        assert bar[4] == seconds[-1][4]
        assert D(bar[2]) == max(D(s[2]) for s in seconds)
        assert D(bar[3]) == min(D(s[3]) for s in seconds)
        for column in (5, 7, 9, 10):
            assert D(bar[column]) == sum(D(s[column]) for s in seconds)
        assert bar[8] == sum(s[8] for s in seconds)
        assert bar[6] == bar[0] + 59_999
        assert bar[11] == "0"
    hours = synthetic.klines("1h", None, None, 500)
    assert [k[0] for k in hours] == list(range((T0 - 6 * HOUR) // HOUR * HOUR, T0, HOUR))
    assert sum(k[8] for k in hours) == synthetic.trade_count


def test_kline_selection_rules() -> None:
    history = hand_built()
    opens = lambda rows: [(r[0] - T0) // 1000 for r in rows]  # noqa: E731
    assert opens(history.klines("1s", None, None, 3)) == [2, 3, 4]  # newest, up to now
    assert opens(history.klines("1s", T0 + 1, None, 2)) == [1, 2]  # opening at or after start
    assert opens(history.klines("1s", None, T0 + 1500, 500)) == [0, 1]  # newest up to end
    assert opens(history.klines("1s", T0, T0 + 2000, 2)) == [0, 1]
    assert history.klines("1s", T0 + 9000, None, 5) == []
    first, empty = history.klines("1s", T0, T0 + 1000, 500)
    assert first == [
        T0, "100.00000000", "101.25000000", "99.50000000", "101.25000000", "3.75000000",
        T0 + 999, "374.31250000", 4, "1.75000000", "175.31250000", "0",
    ]  # fmt: skip
    assert empty == [
        T0 + 1000, "101.25000000", "101.25000000", "101.25000000", "101.25000000",
        "0.00000000", T0 + 1999, "0.00000000", 0, "0.00000000", "0.00000000", "0",
    ]  # fmt: skip


def test_weekly_bars_open_on_monday_and_monthly_bars_on_the_first() -> None:
    start = ms(2024, 1, 10)
    history = MarketHistory("BTCUSDT", tick_size=D("0.01"), lot_size=D("0.001"), start_ms=start)
    for moment, price in (
        (ms(2024, 1, 10, 5), "10"),
        (ms(2024, 2, 29, 23), "12"),
        (ms(2024, 3, 2), "11"),
    ):
        history.add_trade(moment, D(price), D(1), False, new_agg=True)
    history.advance(ms(2024, 3, 15))
    months = history.klines("1M", None, None, 10)
    assert [(r[0], r[6], r[1], r[4], r[8]) for r in months] == [
        (ms(2024, 1, 1), ms(2024, 2, 1) - 1, "10.00000000", "10.00000000", 1),
        (ms(2024, 2, 1), ms(2024, 3, 1) - 1, "12.00000000", "12.00000000", 1),
        (ms(2024, 3, 1), ms(2024, 4, 1) - 1, "11.00000000", "11.00000000", 1),
    ]
    weeks = history.klines("1w", None, None, 100)
    assert weeks[0][0] == ms(2024, 1, 8)
    assert all(datetime.fromtimestamp(r[0] / 1000, UTC).weekday() == 0 for r in weeks)
    assert weeks[-1][0] == ms(2024, 3, 11)
    for interval in INTERVALS_MS:
        rows = history.klines(interval, None, None, 5)
        assert rows and rows[-1][0] <= ms(2024, 3, 15) <= rows[-1][6]


def test_agg_trade_selection_rules() -> None:
    history = hand_built()
    ids = lambda rows: [r["a"] for r in rows]  # noqa: E731
    assert ids(history.agg_trades(None, None, None, 2)) == [3, 4]  # newest
    assert ids(history.agg_trades(2, None, None, 2)) == [2, 3]  # from the id up
    assert ids(history.agg_trades(None, T0 + 150, None, 500)) == [2, 3, 4]  # oldest from start
    assert ids(history.agg_trades(None, None, T0 + 900, 1)) == [3]  # newest up to end
    assert ids(history.agg_trades(None, T0 + 100, T0 + 900, 500)) == [1, 2, 3]  # inclusive
    assert ids(history.agg_trades(None, T0 + 100, T0 + 900, 2)) == [1, 2]
    assert history.agg_trades(9, None, None, 5) == []
    assert history.agg_trades(None, None, None, 500)[0] == {
        "a": 1, "p": "100.00000000", "q": "1.50000000", "f": 1, "l": 2, "T": T0 + 100,
        "m": False, "M": True,
    }  # fmt: skip


def test_recent_trades_and_average_price() -> None:
    history = hand_built()
    assert history.recent_trades(2) == [
        {
            "id": 4, "price": "101.25000000", "qty": "0.25000000", "quoteQty": "25.31250000",
            "time": T0 + 900, "isBuyerMaker": False, "isBestMatch": True,
        },
        {
            "id": 5, "price": "100.75000000", "qty": "1.00000000", "quoteQty": "100.75000000",
            "time": T0 + 3500, "isBuyerMaker": True, "isBestMatch": True,
        },
    ]  # fmt: skip
    price, close_time = history.avg_price(5)
    assert price == D("100.01315789")  # 475.0625 / 4.75
    assert close_time == T0 + 3500
    history.advance(T0 + 3500 + 5 * 60_000)  # everything older than 5 minutes now
    assert history.avg_price(5) == (D("100.75"), T0 + 3500)


def test_trades_must_fit_the_grid_and_the_clock() -> None:
    history = hand_built()
    with pytest.raises(ValueError, match="tick"):
        history.add_trade(T0 + 5000, D("100.001"), D(1), False, new_agg=True)
    with pytest.raises(ValueError, match="lot"):
        history.add_trade(T0 + 5000, D(100), D("0.000001"), False, new_agg=True)
    with pytest.raises(ValueError, match="older"):
        history.add_trade(T0 + 10, D(100), D(1), False, new_agg=True)
    assert history.add_trade(T0 + 5000, D(100), D(1), False, new_agg=True) == 6
    assert history.next_agg_id == 6
