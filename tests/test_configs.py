"""Every example config in configs/ is valid, and `birdterm config check` says so."""

import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from birdterm.cli import app
from birdterm.sim.backtest_config import load_backtest_file

from tests.helpers import REPO

CONTROLLER_FILES = sorted(
    p for p in (REPO / "configs").glob("*.toml") if "controller" in tomllib.loads(p.read_text())
)


def test_there_is_an_example_per_controller_type():
    from birdterm.engine.controllers.registry import CONTROLLER_TYPES

    types = {tomllib.loads(p.read_text())["controller"]["type"] for p in CONTROLLER_FILES}
    assert types == set(CONTROLLER_TYPES)


@pytest.mark.parametrize("path", CONTROLLER_FILES, ids=lambda p: p.name)
def test_example_controller_file_is_valid(path: Path):
    controller, _ = load_backtest_file(path)
    assert controller.trading_pair == "BTC-USDT"
    res = CliRunner().invoke(app, ["config", "check", str(path)])
    assert res.exit_code == 0 and f"valid ({controller.type}" in res.output


def test_config_check_names_a_bad_controller_field(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[controller]\ntype = "pmm_inventory"\nid = "x"\ntrading_pair = "BTCUSDT"\n'
        "total_amount_quote = 10\n"
    )
    res = CliRunner().invoke(app, ["config", "check", str(bad)])
    assert res.exit_code == 2
    assert f"{bad}:4: controller.trading_pair" in res.output and "BASE-QUOTE" in res.output


def _market(kind: str, pair: str, settings):
    from birdterm.sim.backtest import MarketData
    from birdterm.sim.backtest_data import load_market_data
    from birdterm.sim.synthetic import synthetic_candles, synthetic_trades

    start_ms = 1_704_067_200_000
    if kind == "1s candles":
        synthetic = settings.synthetic.model_copy(update={"days": 0.25})
        return load_market_data(pair, settings.model_copy(update={"synthetic": synthetic}))
    if kind == "1m candles":
        return MarketData(pair, synthetic_candles(5, start_ms, 2 * 1440, "1m"), "candles", "1m")
    return MarketData(pair, synthetic_trades(5, start_ms, 2 * 3600, trades_per_second=4), "trades")


@pytest.mark.parametrize("kind", ["1s candles", "1m candles", "trades"])
@pytest.mark.parametrize("path", CONTROLLER_FILES, ids=lambda p: p.name)
def test_example_backtests_the_same_on_a_sparse_and_a_dense_clock(path: Path, kind: str):
    """Following the controllers' next_decision hints and the fill core's look-ahead for the
    next event must not change a single number, on candles finer or coarser than the tick and
    on trades."""
    from birdterm.sim.backtest import BacktestEngine

    controller, settings = load_backtest_file(path)
    data = _market(kind, controller.trading_pair, settings)
    sparse = BacktestEngine([controller], [data], settings, sparse=True).run()
    dense = BacktestEngine([controller], [data], settings, sparse=False).run()
    assert sparse.to_json() == dense.to_json()
    assert len(sparse.fills) >= 4  # every case trades, so the comparison means something


@pytest.mark.parametrize(
    ("kind", "tick_size", "update_interval"),
    [("1s candles", 1.0, 7.0), ("trades", 0.3, 1.0), ("trades", 1.0, 7.0)],
)
@pytest.mark.parametrize("name", ["pmm_simple.toml", "dca.toml", "bollinger.toml"])
def test_sparse_equals_dense_off_the_default_schedule(name, kind, tick_size, update_interval):
    """Decision schedules that are not one per tick, and ticks finer than a second."""
    from birdterm.sim.backtest import BacktestEngine

    controller, settings = load_backtest_file(REPO / "configs" / name)
    controller = controller.model_copy(update={"update_interval": update_interval})
    settings = settings.model_copy(update={"tick_size": tick_size})
    data = _market(kind, controller.trading_pair, settings)
    sparse = BacktestEngine([controller], [data], settings, sparse=True).run()
    dense = BacktestEngine([controller], [data], settings, sparse=False).run()
    assert sparse.to_json() == dense.to_json()


def test_two_controllers_on_one_pair_sharing_a_tight_wallet_agree_sparse_and_dense():
    from decimal import Decimal

    from birdterm.sim.backtest import BacktestEngine

    bollinger, settings = load_backtest_file(REPO / "configs" / "bollinger.toml")
    pmm, _ = load_backtest_file(REPO / "configs" / "pmm_simple.toml")
    balances = {"USDT": Decimal(300), "BTC": Decimal("0.005")}
    settings = settings.model_copy(update={"initial_balances": balances})
    data = _market("1s candles", "BTC-USDT", settings)
    sparse = BacktestEngine([bollinger, pmm], [data], settings, sparse=True).run()
    dense = BacktestEngine([bollinger, pmm], [data], settings, sparse=False).run()
    assert sparse.to_json() == dense.to_json()
    assert {e.controller_id for e in sparse.executors} == {bollinger.id, pmm.id}
