"""The simulated exchange: taker fills, slippage models, locks, fee assets."""

from decimal import Decimal as D

import pytest
from pydantic import ValidationError

from birdterm.engine.executors.order import OrderExecutor, OrderExecutorConfig
from birdterm.engine.types import OrderType, TradeType
from birdterm.sim.fill_model import FillModel

from tests.engine.executors.harness import PAIR, SimHarness, candles

ROWS = [(100, 100, 100, 100, 10), (100, 100, 100, 100, 10)]


def market_buy(h: SimHarness, amount: str) -> OrderExecutor:
    cfg = OrderExecutorConfig(
        trading_pair=PAIR, side=TradeType.BUY, amount=D(amount), order_type=OrderType.MARKET
    )
    return h.start(OrderExecutor, cfg)


def test_impact_slippage_grows_with_the_share_of_recent_volume():
    # half spread 1 bps + 50 bps x (2 / 10 of the candle's volume) = 11 bps: 100 x 1.0011
    fills = FillModel(slippage="impact", half_spread_bps=1, impact_bps=50)
    h = SimHarness(candles(ROWS), fill_model=fills)
    ex = market_buy(h, "2")
    assert ex.entry_price() == D("100.11")


def test_impact_share_is_capped_at_the_whole_volume():
    # 30 BTC against a volume of 10: the share counts as 1 -> 1 + 50 bps = 51 bps
    fills = FillModel(slippage="impact", half_spread_bps=1, impact_bps=50)
    h = SimHarness(candles(ROWS), balances={"USDT": D(10_000)}, fill_model=fills)
    ex = market_buy(h, "30")
    assert ex.entry_price() == D("100.51")


def test_slippage_beyond_ten_percent_is_refused():
    with pytest.raises(ValidationError, match="the worst slippage may be at most 1000 bps"):
        FillModel(slippage="impact", half_spread_bps=100, impact_bps=950)
    with pytest.raises(ValidationError, match="less than or equal to 1000"):
        FillModel(slippage_bps=1500)


def test_a_market_order_cannot_spend_funds_locked_by_a_resting_order():
    # 1000 USDT: a resting buy of 9 @ 90 locks 810, so a market buy of 5 @ 100 (500) must fail
    h = SimHarness(candles(ROWS), balances={"USDT": D(1000)}, fill_model=FillModel(slippage_bps=0))
    rest = OrderExecutorConfig(trading_pair=PAIR, side=TradeType.BUY, amount=D(9), price=D(90))
    h.start(OrderExecutor, rest)
    ex = market_buy(h, "5")
    assert ex.close_type.value == "FAILED"
    assert ex.failure_reason == (
        "BTC-USDT BUY 5 @ 100: insufficient balance: needs 500 USDT, 190 USDT available"
    )
    assert h.wallet.balance("USDT") == D(1000) and h.wallet.locked["USDT"] == D(810)


def test_fee_asset_follows_the_fee_token():
    h = SimHarness(candles(ROWS))
    assert h.connector.fee_asset(PAIR, TradeType.BUY) == "BTC"
    assert h.connector.fee_asset(PAIR, TradeType.SELL) == "USDT"
    h = SimHarness(candles(ROWS), percent_token="USDT")
    assert h.connector.fee_asset(PAIR, TradeType.BUY) == "USDT"
