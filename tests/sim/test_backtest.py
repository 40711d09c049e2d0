"""BacktestEngine: reproducibility, the P&L identity, wallet conservation, export, CLI."""

import csv
import json
from decimal import Decimal as D

import numpy as np
import pytest
from typer.testing import CliRunner

from birdterm.cli import app
from birdterm.engine.controllers.pmm_inventory import PmmInventoryConfig
from birdterm.sim.backtest import BacktestEngine, BacktestError, MarketData
from birdterm.sim.backtest_config import BacktestSettings, SyntheticMarket
from birdterm.sim.backtest_data import load_market_data
from birdterm.sim.backtest_result import PnlIdentityError, StateLog, build_series
from birdterm.sim.synthetic import synthetic_candles

from tests.helpers import REPO

START_MS = 1_704_067_200_000


def pmm(**overrides) -> PmmInventoryConfig:
    levels = [D("0.0005"), D("0.001"), D("0.002")]
    fields = dict(
        id="pmm",
        trading_pair="BTC-USDT",
        total_amount_quote=D(1000),
        portfolio_allocation=D("0.06"),
        buy_spreads=levels,
        sell_spreads=levels,
        take_profit=D("0.003"),
        executor_activation_time=300,
        min_base_pct=D("0.05"),
    )
    fields.update(overrides)
    return PmmInventoryConfig(**fields)


def market(hours: float = 2, seed: int = 11) -> MarketData:
    n = int(hours * 3600)
    return MarketData("BTC-USDT", synthetic_candles(seed, START_MS, n, "1s", 30_000.0))


SETTINGS = BacktestSettings(initial_balances={"USDT": D(1000), "BTC": D("0.01")})


@pytest.fixture(scope="module")
def result():
    return BacktestEngine([pmm()], [market()], SETTINGS).run()


def test_same_inputs_give_byte_identical_json(result):
    again = BacktestEngine([pmm()], [market()], SETTINGS).run()
    assert again.to_json() == result.to_json()
    assert len(result.fills) > 50  # a real run, not an empty one


def test_different_seed_gives_a_different_run(result):
    other = BacktestEngine([pmm()], [market(seed=12)], SETTINGS).run()
    assert other.to_json() != result.to_json()


def test_wallet_is_conserved_fill_by_fill(result):
    """Quote spent = base received x price + fees: replaying the fills gives the final wallet."""
    usdt, btc = D(1000), D("0.01")
    for f in result.fills:
        amount, price, fee = D(f["amount"]), D(f["price"]), D(f["fee_quote"])
        if f["side"] == "BUY":  # default fee token: the asset received (base for buys)
            usdt -= amount * price
            btc += amount - fee / price
        else:
            btc -= amount
            usdt += amount * price - fee
        assert usdt >= 0 and btc >= 0
    assert usdt == result.final_balances["USDT"]
    assert abs(btc - result.final_balances["BTC"]) < D("1e-20")


def test_pnl_identity_in_every_sample(result):
    s = result.timeseries
    assert len(s["ts_ms"]) == 121  # 2 h sampled per minute, both ends included
    parts = (
        s["executors_realized"]
        + s["executors_unrealized"]
        + s["position_realized"]
        + s["position_unrealized"]
    )
    np.testing.assert_allclose(parts, s["total"], atol=1e-9)
    np.testing.assert_allclose(s["total"], s["equity_change"], atol=1e-6)
    assert float(result.pnl.total) == pytest.approx(s["total"][-1], abs=1e-9)
    assert (s["balance_USDT"] >= 0).all() and (s["balance_BTC"] >= 0).all()


def test_metrics_match_the_series(result):
    m, s = result.metrics, result.timeseries
    assert m.final_value == pytest.approx(s["portfolio_value"][-1])
    # the wallet's change = the strategy's P&L + the start balances revalued (0.01 BTC held)
    start_price, end_price = s["price"][0], s["price"][-1]
    revaluation = 0.01 * (end_price - start_price)
    assert m.net_pnl_quote == pytest.approx(float(result.pnl.total) + revaluation, abs=1e-6)
    assert sum(m.close_types.values()) == len(result.executors) == m.executors
    assert m.fees_quote == pytest.approx(float(result.pnl.fees))
    assert m.volume_quote == pytest.approx(float(result.pnl.volume))


def test_identity_check_catches_a_broken_book():
    log = StateLog(["BTC-USDT"], "USDT")
    # executors claim +5 realized but the wallet did not change
    log.ts_ms = [START_MS]
    log.assets = ["USDT"]
    log.rows = [[5.0, 0, 0, 0, 0, 0, 0, 0, 1000.0]]
    with pytest.raises(PnlIdentityError, match="add up to 5"):
        build_series(
            log, [market(0.01)], {"USDT": D(1000)}, START_MS / 1000, START_MS / 1000 + 30, 60
        )


def test_export_json_and_csv(result, tmp_path):
    result.write_json(tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["summary"]["total"] == str(result.pnl.total)
    assert len(data["executors"]) == len(result.executors)
    paths = result.write_csv(tmp_path / "csv")
    assert [p.name for p in paths] == ["executors.csv", "fills.csv", "timeseries.csv"]
    with (tmp_path / "csv" / "fills.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(result.fills) and rows[0]["price"] == result.fills[0]["price"]
    with (tmp_path / "csv" / "timeseries.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == 121


def test_controller_on_a_pair_without_data_is_refused():
    with pytest.raises(BacktestError, match="trades ETH-USDT but the data covers BTC-USDT"):
        BacktestEngine([pmm(trading_pair="ETH-USDT")], [market()], SETTINGS)


def test_progress_is_reported_and_cancel_stops():
    seen: list[float] = []
    BacktestEngine([pmm()], [market(0.2)], SETTINGS).run(progress=seen.append)
    assert seen[0] == 0.01 and seen[-1] == 1.0 and len(seen) == 100
    from birdterm.sim.backtest import BacktestCancelled

    with pytest.raises(BacktestCancelled):
        BacktestEngine([pmm()], [market(0.2)], SETTINGS).run(should_cancel=lambda: True)


def test_synthetic_days_and_data_range():
    settings = BacktestSettings(synthetic=SyntheticMarket(days=0.5, interval="1m"))
    data = load_market_data("BTC-USDT", settings)
    assert len(data.data) == 720 and data.interval == "1m"


def test_missing_data_file_is_a_clear_error(tmp_path):
    with pytest.raises(BacktestError, match="no such file"):
        load_market_data("BTC-USDT", SETTINGS, str(tmp_path / "nope.csv"))


# ---- CLI -------------------------------------------------------------------------------------
runner = CliRunner()


def test_cli_backtest_writes_json(tmp_path):
    out = tmp_path / "r.json"
    res = runner.invoke(
        app, ["backtest", "configs/pmm_inventory.toml", "--days", "0.05", "--json", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert "Total P&L" in res.output and "Sharpe" in res.output
    data = json.loads(out.read_text())
    assert data["end_ms"] - data["start_ms"] == 0.05 * 86_400_000 - 1000


def test_cli_bad_config_exits_2_naming_file_and_field(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[controller]\ntype = "pmm_inventory"\nid = "x"\ntrading_pair = "BTC-USDT"\n'
        "total_amount_quote = -5\n"
    )
    res = runner.invoke(app, ["backtest", str(bad)])
    assert res.exit_code == 2
    assert f"{bad}:5: controller.total_amount_quote" in res.output


def test_cli_bad_date_and_missing_data(tmp_path):
    res = runner.invoke(app, ["backtest", "configs/pmm_inventory.toml", "--start", "yesterday"])
    assert res.exit_code == 2 and "--start 'yesterday'" in res.output
    res = runner.invoke(
        app, ["backtest", "configs/pmm_inventory.toml", "--data", str(tmp_path / "none.csv")]
    )
    assert res.exit_code == 2 and "no such file" in res.output


def test_cli_reads_a_candles_csv_and_reports_its_gap(tmp_path):
    # 1 m candles with the 00:03 candle missing: reported, not filled, and the run goes on
    rows = ["ts,open,high,low,close,volume"]
    price = 30_000.0
    for minute in range(0, 240):
        if minute == 3:
            continue
        o, c = price, price * (1.001 if minute % 2 else 0.999)
        rows.append(f"{START_MS + minute * 60_000},{o},{max(o, c) + 5},{min(o, c) - 5},{c},3")
        price = c
    csv_path = tmp_path / "bars.csv"
    csv_path.write_text("\n".join(rows) + "\n")
    config = tmp_path / "c.toml"
    config.write_text(
        (REPO / "configs" / "pmm_inventory.toml")
        .read_text()
        .replace('interval = "1s"\n', 'interval = "1m"\n', 1)
    )
    res = runner.invoke(app, ["backtest", str(config), "--data", str(csv_path)])
    assert res.exit_code == 0, res.output
    assert "239 rows" in res.output and "1 gaps (1 missing)" in res.output
    assert "gap 2024-01-01 00:03" in res.output


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            BacktestSettings(initial_balances={"ETH": D(1)}),
            "initial_balances: ETH is not traded in this run; use BTC, USDT",
        ),
        (
            BacktestSettings(initial_balances={"USDT": D(0)}),
            "initial_balances: give a balance above 0 in one of BTC, USDT",
        ),
        (BacktestSettings(fee_token="BNB"), "fee_token 'BNB' is not traded here; use BTC, USDT"),
    ],
)
def test_settings_that_cannot_run_are_refused_before_the_run(settings, message):
    with pytest.raises(BacktestError) as info:
        BacktestEngine([pmm()], [market(0.1)], settings)
    assert str(info.value) == message


def test_sample_interval_below_a_second_is_refused():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        BacktestSettings(sample_interval=0.0001)


def test_initial_value_is_the_start_portfolio_at_start_prices(result):
    # 1000 USDT + 0.01 BTC at the first close the run knows
    first_close = float(market().data["close"][0])
    assert result.metrics.initial_value == pytest.approx(1000 + 0.01 * first_close)


def test_two_pairs_with_different_starts_run_on_one_wallet():
    btc = market(2)
    eth_rows = synthetic_candles(21, START_MS + 600_000, 2 * 3600 - 600, "1s", 2_000.0)
    eth = MarketData("ETH-USDT", eth_rows)
    settings = BacktestSettings(initial_balances={"USDT": D(2000), "BTC": D("0.01")})
    run = BacktestEngine(
        [pmm(), pmm(id="eth", trading_pair="ETH-USDT")], [btc, eth], settings
    ).run()
    assert run.start_ms == START_MS + 601_000  # both pairs have a price at the first decision
    pairs = {f["trading_pair"] for f in run.fills}
    assert pairs == {"BTC-USDT", "ETH-USDT"}
    s = run.timeseries
    np.testing.assert_allclose(s["total"], s["equity_change"], atol=1e-6)
    assert set(run.final_balances) == {"USDT", "BTC", "ETH"}
