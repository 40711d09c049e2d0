"""pmm_inventory on a falling-then-recovering market: inventory gates and profit protection."""

from decimal import Decimal as D

import numpy as np
import pytest

from birdterm.engine.config import ConfigError, validate_text
from birdterm.engine.controllers.pmm_inventory import PmmInventoryConfig
from birdterm.sim.backtest import BacktestEngine, MarketData
from birdterm.sim.backtest_config import BacktestSettings
from birdterm.sim.synthetic import candles_from_path

START_MS = 1_704_067_200_000  # 2024-01-01
HOURS = 8


def v_market(seed: int = 3) -> np.ndarray:
    """1 s candles: -12 % over 4 h, then +20 % over 4 h, with mean-reverting noise and wicks."""
    n = HOURS * 3600
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, n)
    trend = np.where(
        t < 0.5, 30_000 * (1 - 0.12 * t / 0.5), 30_000 * (0.88 + 0.2 * (t - 0.5) / 0.5)
    )
    noise = np.cumsum(rng.normal(0, 4, n))
    noise -= np.convolve(noise, np.ones(600) / 600, mode="same")
    close = np.round(trend + noise, 2)
    wick = np.abs(rng.normal(0, 6, (2, n)))
    opens = np.r_[close[:1], close[:-1]]
    highs = np.round(np.maximum(opens, close) + wick[0], 2)
    lows = np.round(np.minimum(opens, close) - wick[1], 2)
    return candles_from_path(close, START_MS, "1s", highs=highs, lows=lows, volume=2.0, trades=5)


def config(**overrides) -> PmmInventoryConfig:
    levels = [D("0.0005"), D("0.001"), D("0.002")]
    fields = dict(
        id="inv",
        trading_pair="BTC-USDT",
        total_amount_quote=D(1000),
        portfolio_allocation=D("0.06"),
        target_base_pct=D("0.3"),
        min_base_pct=D("0.1"),
        max_base_pct=D("0.5"),
        buy_spreads=levels,
        sell_spreads=levels,
        take_profit=D("0.004"),
        executor_activation_time=600,
        executor_refresh_time=30,
        cooldown_time=10,
    )
    fields.update(overrides)
    return PmmInventoryConfig(**fields)


@pytest.fixture(scope="module")
def result():
    settings = BacktestSettings(initial_balances={"USDT": D(1000)}, sample_interval=1.0)
    return BacktestEngine([config()], [MarketData("BTC-USDT", v_market())], settings).run()


def _at(series: dict, name: str, created_ts: float) -> float:
    """The time-series value at an executor's creation (samples are 1 s apart)."""
    index = int(np.searchsorted(series["ts_ms"], round(created_ts * 1000), side="right")) - 1
    return float(series[name][index])


def test_no_sell_level_below_min_base_pct(result):
    series = result.timeseries
    sells = [e for e in result.executors if e.side == "SELL"]
    assert sells, "the recovery must bring sells"
    assert all(_at(series, "base_pct", e.created_ts) >= 0.1 for e in sells)
    # and the start really was below the minimum: the first hour only buys
    first_sell = min(e.created_ts for e in sells)
    first_buy = min(e.created_ts for e in result.executors if e.side == "BUY")
    assert first_buy < first_sell
    assert _at(series, "base_pct", first_buy) < 0.1


def test_buying_stops_at_max_base_pct(result):
    series = result.timeseries
    buys = [e for e in result.executors if e.side == "BUY"]
    assert all(_at(series, "base_pct", e.created_ts) < 0.5 for e in buys)
    # the fall pushed inventory to the cap, and buying paused there for a long stretch
    capped = series["base_pct"] >= 0.5
    assert capped.sum() > 3600
    created = np.array([round(e.created_ts * 1000) for e in buys])
    capped_ts = series["ts_ms"][capped]
    assert not np.isin(capped_ts, created).any()


def test_profit_protection_halts_sells_underwater_and_resumes_in_profit(result):
    series = result.timeseries
    sells = [e for e in result.executors if e.side == "SELL"]
    for e in sells:
        break_even = _at(series, "hold_break_even", e.created_ts)
        if not np.isnan(break_even) and _at(series, "hold_base", e.created_ts) > 0:
            assert float(e.extra["entry_order_price"]) >= break_even
    # underwater: a long hold that even the widest sell level (+0.2 %) would sell below its
    # break-even; for hours, and no sell is placed then
    widest = series["price"] * 1.002
    underwater = (series["hold_base"] > 0) & (widest < series["hold_break_even"])
    assert underwater.sum() > 3 * 3600
    sell_ts = np.array([round(e.created_ts * 1000) for e in sells])
    assert not np.isin(series["ts_ms"][underwater], sell_ts).any()
    # back in profit after the recovery: sells resume and realize a profit on the hold
    last_underwater = series["ts_ms"][underwater].max()
    assert (sell_ts > last_underwater).sum() > 20
    assert result.pnl.position_realized > 0


def test_without_profit_protection_it_sells_underwater():
    settings = BacktestSettings(initial_balances={"USDT": D(1000)}, sample_interval=1.0)
    run = BacktestEngine(
        [config(profit_protection=False)], [MarketData("BTC-USDT", v_market())], settings
    ).run()
    series = run.timeseries
    underwater = (series["hold_base"] > 0) & (series["price"] < series["hold_break_even"])
    sell_ts = np.array([round(e.created_ts * 1000) for e in run.executors if e.side == "SELL"])
    assert np.isin(series["ts_ms"][underwater], sell_ts).sum() > 10


def test_pnl_parts_add_up_to_the_total(result):
    s = result.timeseries
    parts = (
        s["executors_realized"]
        + s["executors_unrealized"]
        + s["position_realized"]
        + s["position_unrealized"]
    )
    np.testing.assert_allclose(parts, s["total"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(s["total"], s["equity_change"], rtol=0, atol=1e-6)
    p = result.pnl
    assert p.total == (
        p.executors_realized + p.executors_unrealized + p.position_realized + p.position_unrealized
    )
    assert p.executors_unrealized == 0  # the wind-down moved every open position to the hold


def test_each_level_quotes_the_allocation_split_over_the_levels():
    from birdterm.engine.candle_feed import CandleFeed
    from birdterm.engine.controllers.base import ControllerContext
    from birdterm.engine.controllers.pmm_inventory import PmmInventory

    from tests.engine.executors.harness import PAIR, SimHarness, candles

    # mid 100, 500 USDT + 5 BTC: base is half the portfolio, so the skew is neutral; with no
    # skew either way every level quotes 1000 x 0.06 / 6 = $10 at 100 +- its spread
    h = SimHarness(
        candles([(100, 100, 100, 100), (100, 100, 100, 100)]),
        balances={"USDT": D(500), "BTC": D(5)},
    )
    cfg = config(min_base_pct=D("0.1"), target_base_pct=D("0.5"), max_base_pct=D("0.9"))
    ctrl = PmmInventory(
        cfg, ControllerContext(h.connector, h.orchestrator, {PAIR: CandleFeed(h.data, 1000)})
    )
    actions = h.decide(ctrl)
    placed = {a.config.level_id: (a.config.entry_price, a.config.amount) for a in actions}
    assert placed == {  # amount = 10 / price, rounded down to the 0.0001 step
        "buy_0": (D("99.95"), D("0.1000")),  # 0.100050...
        "buy_1": (D("99.90"), D("0.1001")),  # 0.100100...
        "buy_2": (D("99.80"), D("0.1002")),  # 0.100200...
        "sell_0": (D("100.05"), D("0.0999")),  # 0.099950...
        "sell_1": (D("100.10"), D("0.0999")),  # 0.099900...
        "sell_2": (D("100.20"), D("0.0998")),  # 0.099800...
    }


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ("min_base_pct = 0.6\nmax_base_pct = 0.5", "controller", "min_base_pct <= target_base_pct"),
        ("buy_spreads = [0.001, 1.5]", "controller", "every spread must be > 0 and < 1"),
        ("portfolio_allocation = 0", "controller.portfolio_allocation", "greater than 0"),
        (
            "max_active_executors_by_level = 0",
            "controller.max_active_executors_by_level",
            "greater than or equal to 1",
        ),
    ],
)
def test_bad_values_are_named(tmp_path, text, field, message):
    from birdterm.sim.backtest_config import load_backtest_file

    path = tmp_path / "bad.toml"
    path.write_text(
        '[controller]\ntype = "pmm_inventory"\nid = "x"\ntrading_pair = "BTC-USDT"\n'
        f"total_amount_quote = 1000\n{text}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_backtest_file(path)
    rendered = str(info.value)
    assert str(path) in rendered and field in rendered and message in rendered


def test_example_config_is_valid():
    from birdterm.sim.backtest_config import load_backtest_file

    controller, settings = load_backtest_file("configs/pmm_inventory.toml")
    assert controller.type == "pmm_inventory"
    assert controller.buy_spreads == [D("0.0005"), D("0.001"), D("0.002")]
    assert settings.fill_model.participation == 0.25


def test_unknown_controller_type_lists_valid_types(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text('[controller]\ntype = "pmm_magic"\n')
    with pytest.raises(ConfigError) as info:
        validate_text(path.read_text(), PmmInventoryConfig, path)  # wrong schema on purpose
    from birdterm.sim.backtest_config import load_backtest_file

    with pytest.raises(ConfigError) as info:
        load_backtest_file(path)
    assert "unknown controller type 'pmm_magic'" in str(info.value)
    assert "pmm_inventory" in str(info.value) and ":2:" in str(info.value)
