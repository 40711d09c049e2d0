"""DcaController on a seeded random market: RSI signal, limits, and the next_decision hint."""

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from birdterm.engine.candle_feed import CandleFeed
from birdterm.engine.controllers.base import ControllerContext, CreateExecutor
from birdterm.engine.controllers.dca import DcaController, DcaControllerConfig, rsi
from birdterm.engine.executors.dca import DCAExecutor
from birdterm.engine.types import TradeType
from birdterm.sim.backtest_config import load_backtest_file

from tests.engine.executors.harness import PAIR, D, SimHarness, candles

CONFIGS = Path(__file__).resolve().parents[3] / "configs"


def market(seed: int = 11, n: int = 900) -> np.ndarray:
    """1 s candles of a random walk around 100 (volatile enough for RSI extremes)."""
    rng = np.random.default_rng(seed)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    opens = np.concatenate([[100.0], closes[:-1]])
    wicks = np.abs(rng.normal(0, 0.0008, (2, n)))
    highs = np.maximum(opens, closes) * (1 + wicks[0])
    lows = np.minimum(opens, closes) * (1 - wicks[1])
    rows = zip(opens.round(2), highs.round(2), lows.round(2), closes.round(2), strict=True)
    return candles([(*row, 5.0) for row in rows])


def controller_config(**kwargs) -> DcaControllerConfig:
    fields = {
        "id": "dca1", "trading_pair": PAIR, "rsi_length": 14, "rsi_buy": 30, "rsi_sell": 70,
        "allow_sell": True, "max_executors": 2, "cooldown": 15, "n_levels": 3,
        "step": D("0.003"), "amount_quote": D(30), "take_profit": D("0.003"),
        "stop_loss": D("0.01"), "time_limit": 40,
    }  # fmt: skip
    return DcaControllerConfig(**{**fields, **kwargs})


def reference_rsi(close: np.ndarray, n: int) -> np.ndarray:
    """Textbook Wilder RSI, written independently of the controller's."""
    delta = np.diff(close)
    up = np.where(delta > 0, delta, 0.0)
    down = np.where(delta < 0, -delta, 0.0)
    out = np.full(len(close), np.nan)
    avg_up, avg_down = up[:n].mean(), down[:n].mean()
    out[n] = 100 - 100 / (1 + avg_up / avg_down)
    for i in range(n, len(delta)):
        avg_up = (avg_up * (n - 1) + up[i]) / n
        avg_down = (avg_down * (n - 1) + down[i]) / n
        out[i + 1] = 100 - 100 / (1 + avg_up / avg_down)
    return out


def test_rsi_by_hand():
    # deltas +1 +1 -1; length 2: row 2 averages up 1, down 0 -> 100;
    # row 3: up (1 * 1 + 0) / 2 = 0.5, down (0 * 1 + 1) / 2 = 0.5 -> RS 1 -> 50
    values = rsi(np.array([1.0, 2.0, 3.0, 2.0]), 2)
    np.testing.assert_array_equal(values, [np.nan, np.nan, 100.0, 50.0])
    np.testing.assert_array_equal(rsi(np.array([5.0, 5.0, 5.0]), 2), [np.nan, np.nan, 50.0])


def test_signal_equals_a_direct_rsi_and_is_causal():
    data = market()
    feed = CandleFeed(data, 1000)
    h = SimHarness(data)
    ctrl = DcaController(controller_config(), ControllerContext(h.connector, h.orchestrator,
                                                                {PAIR: feed}))  # fmt: skip
    expected = reference_rsi(data["close"], 14)
    np.testing.assert_array_equal(rsi(data["close"], 14), expected)
    signal = ctrl.signal(feed)
    np.testing.assert_array_equal(
        signal, np.where(expected < 30, 1, np.where(expected > 70, -1, 0))
    )
    assert (signal == 1).sum() > 10 and (signal == -1).sum() > 10
    # causal: the RSI of a prefix equals the prefix of the RSI
    np.testing.assert_array_equal(rsi(data["close"][:300], 14), expected[:300])
    assert feed.indicator("rsi_14", lambda _c: pytest.fail("recomputed")) is not None


def drive(data: np.ndarray, cfg: DcaControllerConfig, follow_hints: bool):
    """Run the controller over `data`: at every candle close, or only when its hint (or an
    executor's end) says so. Returns the starts, every decide call's inputs, and the harness."""
    h = SimHarness(data)
    feed = CandleFeed(data, 1000)
    ctrl = DcaController(cfg, ControllerContext(h.connector, h.orchestrator, {PAIR: feed}))
    starts, calls = [], []
    hint: float | None = None
    ended = 0
    while True:
        now = h.connector.now()
        woken = len(h.orchestrator.closed) != ended
        if not follow_hints or hint is None or woken or now >= hint:
            active = len(list(ctrl.executors))
            closes = [e.close_ts for e in h.orchestrator.closed if e.controller_id == ctrl.id]
            actions = ctrl.decide(now)
            calls.append((now, active, max(closes, default=None), len(actions)))
            for action in actions:
                assert isinstance(action, CreateExecutor) and action.executor_class is DCAExecutor
                h.orchestrator.create(ctrl.id, action.executor_class, action.config)
                c = action.config
                starts.append((now, c.side, c.start_price, c.level_prices()))
                assert len(list(ctrl.executors)) <= cfg.max_executors
            h.connector.process_pending()
            ended = len(h.orchestrator.closed)
            hint = ctrl.next_decision(now) if follow_hints else None
        if h.row >= len(data):
            return starts, calls, h
        h.step()


def test_starts_only_on_signal_rows_within_max_executors_and_cooldown():
    data = market()
    cfg = controller_config()
    starts, calls, h = drive(data, cfg, follow_hints=False)
    signal = np.where(reference_rsi(data["close"], 14) < 30, 1, 0)
    signal[reference_rsi(data["close"], 14) > 70] = -1
    close_s = (data["ts"] + 1000) / 1000
    acted_rows: set[int] = set()
    blocked = {"max": 0, "cooldown": 0}
    for now, active, last_close, n_actions in calls:
        row = int(np.searchsorted(close_s, now, side="right")) - 1
        cooling = last_close is not None and now < last_close + cfg.cooldown
        may = signal[row] != 0 and row not in acted_rows
        if may and active >= cfg.max_executors:
            blocked["max"] += 1
        elif may and cooling:
            blocked["cooldown"] += 1
        assert n_actions == int(may and active < cfg.max_executors and not cooling), now
        if n_actions:
            acted_rows.add(row)
    assert len(starts) >= 5 and blocked["max"] > 0 and blocked["cooldown"] > 0
    for now, side, start_price, _levels in starts:
        row = int(np.searchsorted(close_s, now, side="right")) - 1
        assert signal[row] == (1 if side is TradeType.BUY else -1)
        mid = D(repr(float(data["close"][row])))
        # the first level sits start_offset (0.1 %) beyond the mid, away from the market
        assert start_price == mid * (D(1) - D("0.001") if side is TradeType.BUY
                                     else D(1) + D("0.001"))  # fmt: skip
    h.assert_pnl_identity()
    assert h.wallet.balance("USDT") >= 0 and h.wallet.balance("BTC") >= 0


@pytest.mark.parametrize(("seed", "cooldown"), [(11, 25), (12, 12.5), (13, 0)])
def test_following_next_decision_gives_the_same_actions(seed, cooldown):
    data = market(seed)
    cfg = controller_config(cooldown=cooldown)  # 12.5: a cooldown ending inside a candle
    every_row, calls_all, h_all = drive(data, cfg, follow_hints=False)
    hinted, calls_hinted, h_hinted = drive(data, cfg, follow_hints=True)
    assert every_row == hinted and len(every_row) >= 3
    assert len(calls_hinted) < len(calls_all) / 2  # idle stretches were skipped
    assert h_all.wallet.snapshot() == h_hinted.wallet.snapshot()


def test_next_decision_points_at_the_next_signal_close():
    data = market()
    h = SimHarness(data)
    feed = CandleFeed(data, 1000)
    ctrl = DcaController(controller_config(), ControllerContext(h.connector, h.orchestrator,
                                                                {PAIR: feed}))  # fmt: skip
    rows = np.flatnonzero(ctrl.signal(feed))
    now = h.connector.now()  # 1.0: row 0 closed, no signal yet (the RSI needs 14 deltas)
    assert ctrl.next_decision(now) == (data["ts"][rows[0]] + 1000) / 1000
    assert not ctrl.decide(now)


def test_config_rules():
    with pytest.raises(ValidationError, match=r"rsi_buy 60\.0 must be below rsi_sell 40\.0"):
        controller_config(rsi_buy=60, rsi_sell=40)
    with pytest.raises(ValidationError, match="reach a price <= 0"):
        controller_config(n_levels=20, step=D("0.06"))


def test_example_config_loads():
    controller, backtest = load_backtest_file(CONFIGS / "dca.toml")
    assert isinstance(controller, DcaControllerConfig)
    assert controller.type == "dca" and backtest.synthetic.seed == 7
