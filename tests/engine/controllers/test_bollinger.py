"""Bollinger on a real simulated market: %B, entries on signal rows, limits, next_decision.

1 s candles, tick 0.01, step 0.0001, no fees, market orders without slippage (so an entry
fills at the mid).
"""

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from birdterm.engine.candle_feed import CandleFeed
from birdterm.engine.controllers.base import ControllerContext, apply_actions
from birdterm.engine.controllers.bollinger import Bollinger, BollingerConfig, percent_b
from birdterm.engine.executors.position import TripleBarrier
from birdterm.sim.fill_model import FillModel

from tests.engine.executors.harness import PAIR, D, SimHarness, candles

CONFIGS = Path(__file__).resolve().parents[3] / "configs"


def seeded_closes(n: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.round(100 + np.cumsum(rng.normal(0, 0.1, n)), 2)


def rows_from(closes) -> list[tuple[float, float, float, float]]:
    out, prev = [], float(closes[0])
    for c in closes:
        c = float(c)
        out.append((prev, max(prev, c), min(prev, c), c))
        prev = c
    return out


def make(closes, balances=None, **overrides) -> tuple[SimHarness, Bollinger]:
    fill_model = FillModel(participation=1.0, slippage_bps=0)
    balances = balances or {"USDT": D(100_000), "BTC": D(100)}
    h = SimHarness(candles(rows_from(closes)), balances=balances, fill_model=fill_model)
    fields = dict(id="bb", trading_pair=PAIR, interval="1s", bb_length=3, bb_std=1.0,
                  amount_quote=D(100), max_executors=10)  # fmt: skip
    fields.update(overrides)
    context = ControllerContext(h.connector, h.orchestrator, {PAIR: CandleFeed(h.data, 1000)})
    return h, Bollinger(BollingerConfig(**fields), context)


def apply(h: SimHarness, controller: Bollinger, actions) -> None:
    apply_actions(h.orchestrator, controller.id, actions)
    h.connector.process_pending()


def run_every_row(h: SimHarness, bb: Bollinger) -> list[tuple[float, int, str]]:
    """decide() after every candle; returns (time, row, side) of each entry."""
    log = []
    for action in bb.decide(h.connector.now()):
        log.append((h.connector.now(), h.row - 1, action.config.side.value))
    apply(h, bb, [])
    while h.row < len(h.data):
        h.step()
        actions = bb.decide(h.connector.now())
        log += [(h.connector.now(), h.row - 1, a.config.side.value) for a in actions]
        apply(h, bb, actions)
    return log


def finish(h: SimHarness) -> None:
    h.assert_pnl_identity()
    assert all(v >= 0 for v in h.wallet.total.values()), h.wallet.total


def test_percent_b_equals_a_direct_computation_on_a_seeded_series():
    closes = seeded_closes(500)
    length, k = 20, 2.0
    expected = np.full(len(closes), np.nan)
    for i in range(length - 1, len(closes)):
        window = closes[i - length + 1 : i + 1]
        mean, std = window.mean(), window.std()
        expected[i] = (closes[i] - (mean - k * std)) / (2 * k * std)
    _h, bb = make(closes, bb_length=length, bb_std=k)
    got = bb.percent_b()
    assert np.isnan(got[: length - 1]).all()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    assert bb.percent_b() is got  # cached in the feed, computed once
    # the chunked computation agrees with one block
    np.testing.assert_array_equal(percent_b(closes, length, k), got)


def test_flat_windows_give_no_signal():
    pb = percent_b(np.array([100.0, 100.0, 100.0, 101.0]), 3, 2.0)
    assert np.isnan(pb[:3]).all() and not np.isnan(pb[3])


def test_a_hand_computed_long_entry():
    # window 101, 100, 97: mean 99.3333, std sqrt((2.7778 + 0.4444 + 5.4444) / 3) = 1.69967
    # %B = (97 - (99.3333 - 1.69967)) / (2 x 1.69967) = -0.63366 / 3.39935 = -0.18641 < 0:
    # a long on row 2, and on no other row
    h, bb = make([101, 100, 97, 97.5])
    pb = bb.percent_b()
    assert pb[2] == pytest.approx(-0.18641, abs=1e-5)
    assert list(np.flatnonzero(bb.signals())) == [2]
    log = run_every_row(h, bb)
    assert log == [(3.0, 2, "BUY")]  # decided at the close of row 2 (3 s)
    (executor,) = bb.executors
    # 100 USDT at the mid 97 (no slippage): 1.03092... -> 1.0309 BTC bought at 97
    assert (executor.bought_base, executor.entry_price()) == (D("1.0309"), D(97))
    finish(h)


def test_entries_happen_on_signal_rows_only_long_and_short():
    closes = seeded_closes(600)
    h, bb = make(closes, bb_length=20, bb_std=2.0, bb_long_threshold=0.1,
                 bb_short_threshold=0.9, max_executors=100,
                 triple_barrier=TripleBarrier(time_limit=5))  # fmt: skip
    signals = bb.signals()
    log = run_every_row(h, bb)
    rows = [row for _, row, _ in log]
    # nothing blocks (no cooldown, room for all): one entry per signal row, on its side
    assert rows == list(np.flatnonzero(signals))
    assert {side for *_, side in log} == {"BUY", "SELL"}
    for _, row, side in log:
        assert side == ("BUY" if signals[row] > 0 else "SELL")
    finish(h)


def falling(n: int) -> list[float]:
    """Ever faster falls: with bb_length 3 and bb_std 1 every row from 2 on is a long."""
    return [100 - 0.05 * i * i for i in range(n)]


def test_max_executors_blocks_until_one_ends():
    h, bb = make(falling(12), max_executors=2, triple_barrier=TripleBarrier(time_limit=4))
    assert list(np.flatnonzero(bb.signals())) == list(range(2, 12))
    log = run_every_row(h, bb)
    # rows 2 and 3 enter (at 3 s and 4 s); the first ends at 3 + 4 = 7 s (the time watch fires
    # at the candle opening at 7 s, row 7), so row 7 enters at its close (8 s); then row 8
    # (the second ended at 8 s), and so on, never more than two at once
    assert [row for _, row, _ in log] == [2, 3, 7, 8]
    assert len(list(bb.executors)) == 2
    finish(h)


def test_cooldown_spaces_entries():
    h, bb = make(falling(12), cooldown_time=3)
    log = run_every_row(h, bb)
    # entries at 3 s (row 2), then not before 6 s (row 5), 9 s (row 8), 12 s (row 11)
    assert [(t, row) for t, row, _ in log] == [(3.0, 2), (6.0, 5), (9.0, 8), (12.0, 11)]
    finish(h)


def test_no_short_without_inventory():
    rising = [100 + 0.05 * i * i for i in range(8)]
    h, bb = make(rising, balances={"USDT": D(1000)})
    assert (bb.signals()[2:] == -1).all()
    assert run_every_row(h, bb) == []
    finish(h)


def test_no_long_without_enough_free_quote():
    h, bb = make(falling(6), balances={"USDT": D(150)}, max_executors=5)
    log = run_every_row(h, bb)
    # row 2 (close 100 - 0.05 x 4 = 99.8) buys 100 / 99.8 = 1.00200... -> 1.0020 BTC for
    # 99.9996 USDT; the 50.0004 left cannot pay for another 100, so rows 3..5 are passed
    assert [row for _, row, _ in log] == [2]
    (executor,) = bb.executors
    assert executor.bought_base == D("1.0020") and executor.entry_price() == D("99.8")
    assert h.wallet.balance("USDT") == D("50.0004")
    finish(h)


@pytest.mark.parametrize(
    ("overrides", "cooldown"),
    [({"max_executors": 2}, 0), ({"max_executors": 3}, 7), ({"max_executors": 1}, 2)],
)
def test_next_decision_never_skips_a_row_where_decide_acts(overrides, cooldown):
    closes = seeded_closes(3000, seed=11)
    fields = dict(bb_length=20, bb_std=2.0, bb_long_threshold=0.05, bb_short_threshold=0.95,
                  cooldown_time=cooldown,
                  triple_barrier=TripleBarrier(take_profit=D("0.003"), stop_loss=D("0.003"),
                                               time_limit=40), **overrides)  # fmt: skip
    h_all, bb_all = make(closes, **fields)
    every = run_every_row(h_all, bb_all)

    h, bb = make(closes, **fields)
    hinted, calls, seen_closed = [], 0, 0
    hint = None
    while True:
        now = h.connector.now()
        woken = len(h.orchestrator.closed) != seen_closed
        if hint is None or now >= hint or woken:
            calls += 1
            actions = bb.decide(now)
            hinted += [(now, h.row - 1, a.config.side.value) for a in actions]
            apply(h, bb, actions)
            seen_closed = len(h.orchestrator.closed)
            hint = bb.next_decision(now)
        if h.row >= len(h.data):
            break
        h.step()
    assert hinted == every
    assert len(every) > 20
    assert calls < len(closes) // 2  # the hints skip most rows
    finish(h)


def test_next_decision_is_the_next_signal_close_or_the_cooldown_end():
    h, bb = make([101, 100, 97, 97.5, 98.5, 99, 100, 101, 97], cooldown_time=3)
    # %B: -0.186 (row 2), 0.246, 1.168, 1.035, 1.168, 1.112, -0.186 (row 8)
    assert list(bb.signals()) == [0, 0, 1, 0, -1, -1, -1, -1, 1]
    assert bb.next_decision(1.0) == 3.0  # row 2 closes at 3 s
    h.step(2)
    apply(h, bb, bb.decide(3.0))  # long on row 2
    # next signal row 4 closes at 5 s, but the cooldown lasts until 3 + 3 = 6 s
    assert bb.next_decision(3.0) == 6.0
    h.step(3)
    assert [a.config.side.value for a in bb.decide(6.0)] == ["SELL"]  # row 5
    # row 6 closes at 7 s, the cooldown ends at 9 s, when row 8 (a long) has just closed
    assert bb.next_decision(6.0) == 9.0
    h.step(3)
    assert [a.config.side.value for a in bb.decide(9.0)] == ["BUY"]
    assert bb.next_decision(9.0) is None  # no signal left, and the data ends now (9 s)


def test_config_errors():
    with pytest.raises(ValidationError, match="must be below bb_short_threshold"):
        BollingerConfig(id="bb", trading_pair=PAIR, amount_quote=D(10),
                        bb_long_threshold=0.8, bb_short_threshold=0.2)  # fmt: skip
    with pytest.raises(ValidationError, match="bad interval"):
        BollingerConfig(id="bb", trading_pair=PAIR, amount_quote=D(10), interval="1x")
    h = SimHarness(candles(rows_from([100, 101, 102, 103])))
    config = BollingerConfig(id="bb", trading_pair=PAIR, amount_quote=D(10), interval="3s")
    context = ControllerContext(h.connector, h.orchestrator, {PAIR: CandleFeed(h.data, 2000)})
    with pytest.raises(ValueError, match="reads 3s candles but the BTC-USDT feed has 2000 ms"):
        Bollinger(config, context).percent_b()


def test_finer_candles_are_resampled_to_the_interval():
    closes = seeded_closes(60)
    h, bb = make(closes, interval="3s", bb_length=4, max_executors=100)
    # 3 s candles: the close of every third 1 s candle, known once the third has closed
    np.testing.assert_array_equal(bb.feed.candles["close"], closes[2::3])
    np.testing.assert_array_equal(bb.percent_b(), percent_b(closes[2::3], 4, 1.0))
    log = run_every_row(h, bb)
    assert log and all(t % 3 == 0 for t, *_ in log)
    assert [row for _, row, _ in log] == [3 * r + 2 for r in np.flatnonzero(bb.signals())]
    finish(h)
