"""PositionExecutor on hand-built candle paths: every barrier, partial fills, fees."""

from decimal import Decimal as D

import pytest

from birdterm.engine.executors.base import CloseType, ExecutorStatus
from birdterm.engine.executors.position import (
    PositionExecutor,
    PositionExecutorConfig,
    TrailingStop,
    TripleBarrier,
)
from birdterm.engine.types import OrderType, TradeType
from birdterm.sim.fill_model import FillModel

from tests.engine.executors.harness import PAIR, SimHarness, candles

NO_SLIP = FillModel(participation=1.0, slippage_bps=0)


def long_at_100(**barrier) -> PositionExecutorConfig:
    return PositionExecutorConfig(
        trading_pair=PAIR,
        side=TradeType.BUY,
        amount=D(1),
        entry_price=D(100),
        barrier=TripleBarrier(**barrier),
    )


# Row 0 sets the scene (price 101). Row 1 dips through 100: the entry fills at 100.
ENTRY = [(101, 101, 101, 101), (101, 101, 99.5, 100)]


def check_books(h: SimHarness) -> None:
    h.assert_pnl_identity()
    assert all(v >= 0 for v in h.wallet.total.values())


def test_take_profit_first():
    # row 2: open 100, low 99.8 (nearer), high 101.5 -> the TP limit sell at 101 trades through
    h = SimHarness(candles([*ENTRY, (100, 101.5, 99.8, 101.2)]), fill_model=NO_SLIP)
    ex = h.start(PositionExecutor, long_at_100(take_profit=D("0.01"), stop_loss=D("0.01")))
    h.run(ex)
    assert ex.close_type is CloseType.TAKE_PROFIT and ex.status is ExecutorStatus.TERMINATED
    r = ex.report(D(101))
    assert (r.entry_price, r.exit_price) == (D(100), D(101))
    assert r.realized_pnl_quote == D(1) and r.net_pnl_pct == D("0.01")  # (101-100)x1 on $100
    assert h.wallet.balance("USDT") == D(10_001) and h.wallet.balance("BTC") == D(1)
    check_books(h)


def test_stop_loss_first():
    # row 2: open 100, high 100.5 (nearer), low 98.5: the SL watch at 99 fires; market sell at 99
    h = SimHarness(candles([*ENTRY, (100, 100.5, 98.5, 99)]), fill_model=NO_SLIP)
    ex = h.start(PositionExecutor, long_at_100(take_profit=D("0.01"), stop_loss=D("0.01")))
    h.run(ex)
    assert ex.close_type is CloseType.STOP_LOSS
    assert ex.report(D(99)).realized_pnl_quote == D(-1)
    assert h.wallet.balance("USDT") == D(9_999)
    check_books(h)


def test_stop_loss_with_market_order_slippage():
    # SL at 99, market sell pays 10 bps: 99 x 0.999 = 98.901 -> 98.90 (ticks round down for a sell)
    h = SimHarness(
        candles([*ENTRY, (100, 100.5, 98.5, 99)]),
        fill_model=FillModel(participation=1.0, slippage_bps=10),
    )
    ex = h.start(PositionExecutor, long_at_100(stop_loss=D("0.01")))
    h.run(ex)
    assert ex.exit_price() == D("98.90")
    assert ex.report(D(99)).realized_pnl_quote == D("-1.10")
    check_books(h)


@pytest.mark.parametrize(
    ("pessimistic", "expected"), [(True, CloseType.STOP_LOSS), (False, CloseType.TAKE_PROFIT)]
)
def test_both_barriers_in_one_candle(pessimistic, expected):
    # row 2: open 100.5, high 101.5 is nearer than low 98.5, so the path meets the TP (101) first;
    # the pessimistic rule gives the stop loss (99) precedence inside one candle.
    fills = FillModel(participation=1.0, slippage_bps=0, pessimistic=pessimistic)
    h = SimHarness(candles([*ENTRY, (100.5, 101.5, 98.5, 100)]), fill_model=fills)
    ex = h.start(PositionExecutor, long_at_100(take_profit=D("0.01"), stop_loss=D("0.01")))
    h.run(ex)
    assert ex.close_type is expected
    pnl = D(-1) if expected is CloseType.STOP_LOSS else D(1)
    assert ex.report(D(100)).realized_pnl_quote == pnl
    check_books(h)


def test_time_limit_closes_at_market():
    # created at t=1 (row 0's close); time limit 3 s -> fires at the first candle opening at
    # t >= 4 s (row 4), at the price then (row 3's close 100.4)
    rows = [
        *ENTRY,
        (100, 100.5, 99.9, 100.2),
        (100.2, 100.6, 100.1, 100.4),
        (100.4, 100.5, 100.3, 100.4),
    ]
    h = SimHarness(candles(rows), fill_model=NO_SLIP)
    ex = h.start(PositionExecutor, long_at_100(take_profit=D("0.01"), time_limit=3))
    h.run(ex)
    assert ex.close_type is CloseType.TIME_LIMIT
    assert ex.close_ts == 4.0 and ex.exit_price() == D("100.4")
    assert ex.report(D("100.4")).realized_pnl_quote == D("0.4")
    check_books(h)


def test_trailing_stop_activation_and_trigger():
    # activation +1 % (101), delta 0.5 % of entry (0.5). Row 2 climbs to 102: activates at 101,
    # peak 102. Row 3 falls to 101.2: threshold 102 - 0.5 = 101.5 fires; market sell at 101.5
    rows = [*ENTRY, (100, 102, 99.9, 101.9), (101.9, 101.9, 101.2, 101.3)]
    h = SimHarness(candles(rows), fill_model=NO_SLIP)
    trail = TrailingStop(activation_price=D("0.01"), trailing_delta=D("0.005"))
    ex = h.start(PositionExecutor, long_at_100(trailing_stop=trail, stop_loss=D("0.05")))
    h.step(2)
    assert ex.is_active and ex.trailing_activated_ts == 3.0  # known at row 2's close
    h.run(ex)
    assert ex.close_type is CloseType.TRAILING_STOP
    assert ex.exit_price() == D("101.5") and ex.report(D(101)).realized_pnl_quote == D("1.5")
    check_books(h)


def test_partial_fills_over_several_candles_resize_the_take_profit():
    # participation 0.1 of volume 3 -> at most 0.3 BTC per candle: the entry fills 0.3, 0.3,
    # 0.3, 0.1 over rows 1-4; the take profit is re-sized after each fill and finally sells 1.0
    # at 101 in row 6 (volume 20 -> budget 2).
    dip = (100.5, 100.5, 99.5, 100.2, 3)
    rows = [
        (101, 101, 101, 101, 3),
        dip,
        dip,
        dip,
        dip,
        (100.2, 100.4, 100.1, 100.3, 3),
        (100.3, 101.6, 100.3, 101.5, 20),
    ]
    h = SimHarness(candles(rows), fill_model=FillModel(participation=0.1, slippage_bps=0))
    ex = h.start(PositionExecutor, long_at_100(take_profit=D("0.01")))
    h.step()
    assert ex.bought_base == D("0.3")
    tp = [o for o in ex.orders.values() if o.role == "take_profit" and o.is_open]
    assert [o.amount for o in tp] == [D("0.3")]
    h.step(3)
    assert ex.bought_base == D(1)
    tp = [o for o in ex.orders.values() if o.role == "take_profit" and o.is_open]
    assert [o.amount for o in tp] == [D(1)]
    h.run(ex)
    assert ex.close_type is CloseType.TAKE_PROFIT and ex.sold_base == D(1)
    assert ex.report(D(101)).realized_pnl_quote == D(1)
    check_books(h)


def test_fees_in_base_for_buys_and_quote_for_sells():
    # maker 0.1 %: the buy of 1 BTC at 100 receives 0.999 BTC (fee 0.001 BTC = 0.1 USDT);
    # the TP sells 0.999 at 101 = 100.899, less 0.100899 fee = 100.798101.
    # P&L = 100.798101 - 100 = 0.798101; fees = 0.1 + 0.100899 = 0.200899
    h = SimHarness(
        candles([*ENTRY, (100, 101.5, 99.8, 101.2)]), maker_fee="0.001", fill_model=NO_SLIP
    )
    ex = h.start(PositionExecutor, long_at_100(take_profit=D("0.01")))
    h.run(ex)
    r = ex.report(D(101))
    assert r.sold_base == D("0.999")
    assert r.realized_pnl_quote == D("0.798101") and r.fees_quote == D("0.200899")
    assert h.wallet.balance("USDT") == D("10000.798101") and h.wallet.balance("BTC") == D(1)
    check_books(h)


def test_fees_in_quote():
    # fees in USDT: buy pays 100 + 0.1; sells 1.0 at 101 = 101 - 0.101. P&L = 100.899 - 100.1
    h = SimHarness(
        candles([*ENTRY, (100, 101.5, 99.8, 101.2)]),
        maker_fee="0.001",
        fill_model=NO_SLIP,
        percent_token="USDT",
    )
    ex = h.start(PositionExecutor, long_at_100(take_profit=D("0.01")))
    h.run(ex)
    r = ex.report(D(101))
    assert r.sold_base == D(1) and r.realized_pnl_quote == D("0.799")
    assert r.fees_quote == D("0.201")
    check_books(h)


def test_short_position_take_profit():
    # sell 1 BTC at 102 (row 1 rises through it), TP buy-back 1 % lower at 100.98 (row 2)
    rows = [(101, 101, 101, 101), (101, 102.5, 101, 102), (102, 102.1, 100.5, 100.7)]
    h = SimHarness(candles(rows), fill_model=NO_SLIP)
    cfg = PositionExecutorConfig(
        trading_pair=PAIR,
        side=TradeType.SELL,
        amount=D(1),
        entry_price=D(102),
        barrier=TripleBarrier(take_profit=D("0.01")),
    )
    ex = h.start(PositionExecutor, cfg)
    h.run(ex)
    assert ex.close_type is CloseType.TAKE_PROFIT
    assert ex.exit_price() == D("100.98") and ex.report(D(101)).realized_pnl_quote == D("1.02")
    check_books(h)


def test_hold_after_moves_inventory_to_the_position_hold():
    # filled at t=2 (row 1); hold_after 2 s -> at the candle opening at t >= 4 the TP is
    # cancelled and the 1 BTC (cost 100) moves to the hold
    rows = [
        *ENTRY,
        (100, 100.4, 99.9, 100.2),
        (100.2, 100.3, 100.1, 100.2),
        (100.2, 100.3, 100.1, 100.2),
    ]
    h = SimHarness(candles(rows), fill_model=NO_SLIP)
    ex = h.start(PositionExecutor, long_at_100(take_profit=D("0.01"), hold_after=2))
    h.run(ex)
    assert ex.close_type is CloseType.POSITION_HOLD
    hold = h.orchestrator.hold("test", PAIR)
    assert hold.base_amount == D(1) and hold.cost_quote == D(100)
    assert h.connector.open_order_count() == 0
    check_books(h)


def test_early_stop_before_any_fill_cancels_the_entry():
    h = SimHarness(candles([(101, 101, 101, 101), (101, 101.2, 100.5, 101)]), fill_model=NO_SLIP)
    ex = h.start(PositionExecutor, long_at_100(take_profit=D("0.01")))
    assert h.wallet.locked["USDT"] == D(100)
    ex.early_stop()
    h.connector.process_pending()
    assert ex.close_type is CloseType.EARLY_STOP and not ex.is_active
    assert h.wallet.locked["USDT"] == 0 and h.connector.open_order_count() == 0


def test_early_stop_with_a_position_closes_it_at_market():
    h = SimHarness(candles([*ENTRY, (100, 100.3, 99.9, 100.2)]), fill_model=NO_SLIP)
    ex = h.start(PositionExecutor, long_at_100(take_profit=D("0.01")))
    h.step()
    ex.early_stop()
    h.connector.process_pending()
    assert ex.close_type is CloseType.EARLY_STOP and ex.exit_price() == D(100)
    check_books(h)


def test_limit_maker_entry_that_would_cross_fails_with_the_reason():
    h = SimHarness(candles([(101, 101, 101, 101), (101, 101, 101, 101)]), fill_model=NO_SLIP)
    cfg = PositionExecutorConfig(
        trading_pair=PAIR,
        side=TradeType.BUY,
        amount=D(1),
        entry_price=D(102),
        entry_order_type=OrderType.LIMIT_MAKER,
    )
    ex = h.start(PositionExecutor, cfg)
    assert ex.close_type is CloseType.FAILED
    assert "would immediately match" in ex.report(D(101)).extra["failure"]


def test_entry_without_funds_fails():
    h = SimHarness(
        candles([(101, 101, 101, 101), (101, 101, 101, 101)]),
        balances={"USDT": D(50)},
        fill_model=NO_SLIP,
    )
    ex = h.start(PositionExecutor, long_at_100())
    assert ex.close_type is CloseType.FAILED and "insufficient balance" in ex.failure_reason


def test_limit_entry_requires_a_price():
    with pytest.raises(ValueError, match="entry_price is required"):
        PositionExecutorConfig(trading_pair=PAIR, side=TradeType.BUY, amount=D(1))


def test_a_rejected_take_profit_is_not_resent_in_a_loop():
    # min amount 0.1 and a 0.1 % fee in base: the position is 0.0999, so every take profit is
    # below the minimum. The executor must not re-send it forever; its time limit closes it.
    from birdterm.engine.types import TradingRule

    rule = TradingRule(PAIR, D("0.01"), D("0.0001"), min_amount=D("0.05"))
    rows = [
        *ENTRY,
        (100, 100.4, 99.9, 100.2),
        (100.2, 100.3, 100.1, 100.2),
        (100.2, 100.3, 100.1, 100.2),
    ]
    h = SimHarness(candles(rows), maker_fee="0.001", fill_model=NO_SLIP, rule=rule)
    cfg = PositionExecutorConfig(
        trading_pair=PAIR,
        side=TradeType.BUY,
        amount=D("0.05"),
        entry_price=D(100),
        barrier=TripleBarrier(take_profit=D("0.01"), time_limit=3),
    )
    ex = h.start(PositionExecutor, cfg)
    h.run(ex)
    failed_tp = [o for o in ex.orders.values() if o.role == "take_profit"]
    assert len(failed_tp) == 1 and failed_tp[0].state.value == "FAILED"
    assert "below the minimum" in ex.failure_reason
    # the time limit's close (0.0499) would be below the minimum too: it is not sent, and the
    # inventory ends in the position hold
    assert ex.close_type is CloseType.TIME_LIMIT
    assert not [o for o in ex.orders.values() if o.role == "close"]
    assert h.orchestrator.hold("test", PAIR).base_amount == D("0.04995")
    check_books(h)


def test_fees_in_base_on_both_sides_leave_room_for_the_sell_fee():
    # fee token BTC: the buy of 1 at 100 receives 0.999 (fee 0.001 BTC). The take profit may
    # sell only what leaves room for its own fee: 0.999 / 1.001 = 0.998001... -> 0.998, fee
    # 0.000998 BTC; 0.000002 BTC is left for the position hold. Proceeds 0.998 x 101 = 100.798.
    h = SimHarness(
        candles([*ENTRY, (100, 101.5, 99.8, 101.2)]),
        maker_fee="0.001",
        fill_model=NO_SLIP,
        percent_token="BTC",
    )
    ex = h.start(PositionExecutor, long_at_100(take_profit=D("0.01")))
    h.run(ex)
    assert ex.close_type is CloseType.TAKE_PROFIT and ex.sold_base == D("0.998")
    assert h.orchestrator.hold("test", PAIR).base_amount == D("0.000002")
    # realized: 100.798 - 100 x (0.998998 / 0.999) of the cost
    expected = D("100.798") - D(100) * D("0.998998") / D("0.999")
    assert abs(ex.ledger.realized_pnl_quote - expected) < D("1e-20")
    assert h.wallet.balance("USDT") == D(10_000) - D(100) + D("100.798")
    check_books(h)


def test_a_limit_close_that_does_not_fill_goes_at_market_after_its_patience():
    # a LIMIT close priced away from the market (a sell at 105 with the price at 100) rests;
    # 60 s later it is cancelled and the position is closed at market (100)
    from birdterm.engine.executors.base import LIMIT_CLOSE_PATIENCE

    flat = (100, 100, 100, 100)
    h = SimHarness(candles([*ENTRY, *[flat] * 70]), fill_model=NO_SLIP)
    ex = h.start(PositionExecutor, long_at_100())
    h.step()
    assert ex.is_trading
    ex._begin_close(CloseType.TIME_LIMIT, OrderType.LIMIT, D(105))
    h.connector.process_pending()
    (close,) = [o for o in ex.orders.values() if o.role == "close"]
    assert (close.price, close.is_open) == (D(105), True)
    h.step(int(LIMIT_CLOSE_PATIENCE) + 1)  # the watch fires as the candle opening at 62 s starts
    assert ex.close_type is CloseType.TIME_LIMIT and not ex.is_active
    assert close.state.value == "CANCELED"
    assert ex.exit_price() == D(100) and ex.close_ts == 2.0 + LIMIT_CLOSE_PATIENCE
    check_books(h)


def test_a_limit_close_is_priced_towards_the_market():
    # a long closing with a LIMIT at 100.005 sells at 100.00 (rounded down), and fills
    h = SimHarness(candles([*ENTRY, (100, 100.2, 99.9, 100)]), fill_model=NO_SLIP)
    ex = h.start(PositionExecutor, long_at_100())
    h.step()
    ex._begin_close(CloseType.STOP_LOSS, OrderType.LIMIT, D("100.005"))
    h.connector.process_pending()
    assert ex.close_type is CloseType.STOP_LOSS and ex.exit_price() == D(100)


def test_a_short_buys_back_enough_to_cover_a_fee_charged_in_base():
    # sell 1 at 102, TP buy-back 1 % lower at 100.98. The buy's fee is charged in BTC, so it
    # buys 1 / 0.999 = 1.001001... -> 1.0011 (rounded up to the step) and receives 1.0000989:
    # the short is covered and 0.0000989 BTC of dust goes to the position hold
    rows = [(101, 101, 101, 101), (101, 102.5, 101, 102), (102, 102.1, 100.5, 100.7)]
    h = SimHarness(candles(rows), maker_fee="0.001", fill_model=NO_SLIP)
    cfg = PositionExecutorConfig(
        trading_pair=PAIR,
        side=TradeType.SELL,
        amount=D(1),
        entry_price=D(102),
        barrier=TripleBarrier(take_profit=D("0.01")),
    )
    ex = h.start(PositionExecutor, cfg)
    h.run(ex)
    assert ex.close_type is CloseType.TAKE_PROFIT and ex.bought_base == D("1.0011")
    assert h.orchestrator.hold("test", PAIR).base_amount == D("0.0000989")
    check_books(h)
