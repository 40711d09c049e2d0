"""Backtests on the real recordings in ../shared/data: Binance BTCUSDT trades (queue model) and
the 1 s candles built from them. Each behaviour is also covered on seeded synthetic data in
test_backtest.py and test_market_sim.py.
"""

from decimal import Decimal as D

import numpy as np
import pytest

from birdterm.engine.controllers.pmm_inventory import PmmInventoryConfig
from birdterm.sim.backtest import BacktestEngine, MarketData
from birdterm.sim.backtest_config import BacktestSettings
from birdterm.sim.data import candles_from_trades
from birdterm.sim.data_loaders import load_hftbacktest_trades
from birdterm.sim.fill_model import FillModel

from tests.helpers import REPO

TRADES = REPO.parent / "shared" / "data" / "hftbacktest" / "binance_spot_btcusdt_20240808.gz"

pytestmark = pytest.mark.skipif(
    not TRADES.exists(), reason="needs ../shared/data (hftbacktest recordings) beside the checkout"
)


@pytest.fixture(scope="module")
def trades() -> np.ndarray:
    return load_hftbacktest_trades(TRADES)


def controller() -> PmmInventoryConfig:
    tight = [D("0.00002"), D("0.00005"), D("0.0001")]
    return PmmInventoryConfig(
        id="pmm",
        trading_pair="BTC-USDT",
        total_amount_quote=D(10_000),
        portfolio_allocation=D("0.006"),
        buy_spreads=tight,
        sell_spreads=tight,
        take_profit=D("0.0002"),
        min_base_pct=D(0),
        executor_refresh_time=5,
        cooldown_time=1,
        executor_activation_time=120,
    )


SETTINGS = BacktestSettings(
    initial_balances={"USDT": D(5_000), "BTC": D("0.08")},
    maker_fee=D(0),
    taker_fee=D(0),
    sample_interval=10,
    fill_model=FillModel(participation=0.5),
)


def test_trades_mode_on_real_trades_is_consistent(trades):
    result = BacktestEngine(
        [controller()], [MarketData("BTC-USDT", trades, "trades")], SETTINGS
    ).run()
    assert result.fill_model.startswith("trades: queue-position model")
    assert len(result.fills) > 5
    s = result.timeseries
    np.testing.assert_allclose(s["total"], s["equity_change"], atol=1e-6)
    prices = {float(f["price"]) for f in result.fills}
    # every fill is at a limit price inside the traded range of the recording
    assert min(prices) >= trades["price"].min() and max(prices) <= trades["price"].max()


def test_every_trades_mode_fill_is_backed_by_a_real_trade_at_or_through_its_price(trades):
    result = BacktestEngine(
        [controller()], [MarketData("BTC-USDT", trades, "trades")], SETTINGS
    ).run()
    maker = [f for f in result.fills if f["is_maker"]]
    assert len(maker) > 5
    for f in maker:
        at_ts = trades[trades["ts"] == f["ts_ms"]]
        price = float(f["price"])
        if f["side"] == "BUY":  # a seller hit the bids at our price, or traded through it
            assert (
                (at_ts["price"] < price) | ((at_ts["price"] == price) & at_ts["is_buyer_maker"])
            ).any()
        else:
            assert (
                (at_ts["price"] > price) | ((at_ts["price"] == price) & ~at_ts["is_buyer_maker"])
            ).any()


def test_candles_built_from_real_trades_fill_only_where_the_candle_traded_through(trades):
    candles = candles_from_trades(trades, "1s")
    result = BacktestEngine(
        [controller()], [MarketData("BTC-USDT", candles, "candles", "1s")], SETTINGS
    ).run()
    s = result.timeseries
    np.testing.assert_allclose(s["total"], s["equity_change"], atol=1e-6)
    by_ts = {int(c["ts"]): c for c in candles}
    maker = [f for f in result.fills if f["is_maker"]]
    assert len(maker) > 5
    for f in maker:
        candle, price = by_ts[f["ts_ms"] - 1000], float(f["price"])  # known at its close
        assert candle["low"] < price if f["side"] == "BUY" else candle["high"] > price
