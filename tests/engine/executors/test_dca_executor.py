"""DCAExecutor: level prices and sizes, and hand-computed take-profit / stop-loss scenarios.

The executor starts at t=1.0 (after row 0). A candle is walked open -> nearer extreme ->
farther extreme -> close; a resting buy fills at its price when the path goes below it.
"""

import pytest
from pydantic import ValidationError

from birdterm.engine.executors.dca import DCAExecutor, DCAExecutorConfig
from birdterm.engine.types import OrderState, TradeType, TradingRule

from tests.engine.executors.harness import PAIR, D, SimHarness, candles

BUY, SELL = TradeType.BUY, TradeType.SELL


def config(**kwargs) -> DCAExecutorConfig:
    return DCAExecutorConfig(trading_pair=PAIR, **kwargs)


def assert_sane(h: SimHarness) -> None:
    h.assert_pnl_identity()
    for asset in ("USDT", "BTC"):
        assert h.wallet.balance(asset) >= 0
        assert h.wallet.available(asset) >= 0


@pytest.mark.parametrize(
    ("side", "spacing", "prices"),
    [
        (BUY, "arithmetic", ["100", "98", "96"]),  # 100 * (1 - i * 0.02)
        (BUY, "geometric", ["100", "98", "96.04"]),  # 100 * 0.98^i
        (SELL, "arithmetic", ["100", "102", "104"]),  # 100 * (1 + i * 0.02)
        (SELL, "geometric", ["100", "102", "104.04"]),  # 100 * 1.02^i
    ],
)
def test_generated_level_prices(side, spacing, prices):
    cfg = config(side=side, start_price=D(100), n_levels=3, step=D("0.02"), spacing=spacing,
                 amount_quote=D(300))  # fmt: skip
    assert cfg.level_prices() == [D(p) for p in prices]


def test_amount_quote_split_equal_and_geometric():
    equal = config(side=BUY, prices=(D(100), D(50)), amount_quote=D(300))
    assert equal.level_amounts() == [D("1.5"), D(3)]  # 150 quote at each level
    geometric = config(side=BUY, prices=(D(100), D(50), D(25)), amount_quote=D(700),
                       amount_distribution="geometric", amount_ratio=D(2))  # fmt: skip
    # weights 1 : 2 : 4 of 700 -> 100, 200, 400 quote -> 1, 4, 16 base
    assert geometric.level_amounts() == [D(1), D(4), D(16)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"amount_quote": D(1)}, "give `prices`, or all of"),
        ({"prices": (D(1),), "start_price": D(1), "amount_quote": D(1)}, "not both"),
        ({"prices": (D(1),)}, "exactly one of `amounts`"),
        ({"prices": (D(1), D(2)), "amounts": (D(1),)}, "1 amounts for 2 levels"),
        ({"start_price": D(100), "n_levels": 3, "step": D("0.5"), "amount_quote": D(1)},
         "must all be > 0"),
    ],
)  # fmt: skip
def test_config_errors(kwargs, message):
    with pytest.raises(ValidationError, match=message):
        config(side=BUY, **kwargs)


def test_take_profit_on_the_average_replaced_after_the_second_fill():
    h = SimHarness(
        candles([
            (100, 100, 100, 100),
            (100, 100, 98.8, 99.5),  # level 0 (99) fills
            (99.5, 99.6, 97.9, 98.2),  # level 1 (98.01) fills; 97.02 is not reached
            (98.2, 99.5, 98.1, 99.4),  # low first, then up through the take profit 99.33
        ]),
        maker_fee="0.001", percent_token="USDT",
    )  # fmt: skip
    cfg = config(side=BUY, start_price=D(99), n_levels=3, step=D("0.01"),
                 amounts=(D("0.1"), D("0.2"), D("0.3")), take_profit=D("0.01"),
                 stop_loss=D("0.05"))  # fmt: skip
    ex = h.start(DCAExecutor, cfg)
    entries = [o for o in ex.orders.values() if o.role == "entry"]
    # 99 * (1 - i * 0.01): 99, 98.01, 97.02
    assert [(o.price, o.amount) for o in entries] == [
        (D("99.00"), D("0.1")), (D("98.01"), D("0.2")), (D("97.02"), D("0.3"))]  # fmt: skip
    h.step()
    (tp1,) = [o for o in ex.orders.values() if o.role == "take_profit"]
    assert (tp1.price, tp1.amount) == (D("99.99"), D("0.1"))  # 99 * 1.01
    h.step()
    # average after 2 of 3 levels: (0.1 * 99 + 0.2 * 98.01) / 0.3 = 29.502 / 0.3
    assert ex.entry_price() == D("98.34")
    tp1_now, tp2 = [o for o in ex.orders.values() if o.role == "take_profit"]
    assert tp1_now.state is OrderState.CANCELED
    # replaced for the whole position at 98.34 * 1.01 = 99.3234, rounded up to 99.33
    assert (tp2.price, tp2.amount, tp2.state) == (D("99.33"), D("0.3"), OrderState.OPEN)
    assert ex.report().extra == {"levels_filled": 2, "n_levels": 3, "average_price": D("98.34")}
    h.run(ex)
    r = ex.report()
    assert (r.close_type, r.close_ts, r.exit_price) == ("TAKE_PROFIT", 4.0, D("99.33"))
    assert entries[2].state is OrderState.CANCELED  # the last level was cancelled
    # fees (maker 0.1 % in USDT): 9.9 -> 0.0099, 19.602 -> 0.019602, 29.799 -> 0.029799
    assert r.fees_quote == D("0.059301")
    # (29.799 - 0.029799) - (29.502 + 0.0099 + 0.019602)
    assert r.realized_pnl_quote == D("0.237699")
    assert (r.held_base, r.net_pnl_quote) == (D(0), D("0.237699"))
    assert h.wallet.balance("USDT") == D("10000.237699")
    assert h.wallet.balance("BTC") == D(1)
    assert h.wallet.locked.get("USDT", D(0)) == 0
    assert h.orchestrator.hold("test", PAIR).is_flat
    assert_sane(h)


def test_stop_loss_on_the_average_with_base_fees():
    h = SimHarness(
        candles([
            (100, 100, 100, 100),
            (100, 100, 98.5, 98.8),  # level 0 (99) fills
            (98.8, 98.9, 97.5, 97.8),  # level 1 (98) fills
            (97.8, 97.9, 95.5, 96.2),  # level 2 (97) fills, then down through the new stop
        ]),
        maker_fee="0.001", taker_fee="0.001",  # in the asset received: BTC on buys, USDT on sells
    )  # fmt: skip
    cfg = config(side=BUY, prices=(D(99), D(98), D(97)), amounts=(D("0.1"), D("0.1"), D("0.2")),
                 take_profit=D("0.02"), stop_loss=D("0.02"))  # fmt: skip
    ex = h.start(DCAExecutor, cfg)
    h.step()
    # 0.1 bought, 0.0001 BTC fee: the take profit sells what is held, 0.0999, at 99 * 1.02
    tps = [o for o in ex.orders.values() if o.role == "take_profit"]
    assert [(o.amount, o.price) for o in tps] == [(D("0.0999"), D("100.98"))]
    h.step()
    # average (9.9 + 9.8) / 0.2 = 98.5: stop at 98.5 * 0.98 = 96.53, take profit 100.47
    assert ex.entry_price() == D("98.5")
    tps = [o for o in ex.orders.values() if o.role == "take_profit"]
    assert [(o.amount, o.price) for o in tps][-1] == (D("0.1998"), D("100.47"))
    h.run(ex)
    # row 3: level 2 fills at 97 -> average 39.1 / 0.4 = 97.75, stop re-armed at 95.795 (the
    # old stop at 96.53 is gone); the low 95.5 fires it at 95.795; the take profit (0.3996 @
    # 99.71) is cancelled, then 0.3996 sold at market: 95.795 * (1 - 0.0001) -> 95.78
    r = ex.report()
    assert (r.close_type, r.close_ts, r.entry_price) == ("STOP_LOSS", 4.0, D("97.75"))
    (close,) = [o for o in ex.orders.values() if o.role == "close"]
    assert (close.amount, close.filled_quote / close.filled) == (D("0.3996"), D("95.78"))
    tps = [o for o in ex.orders.values() if o.role == "take_profit"]
    assert [(o.price, o.state) for o in tps][-1] == (D("99.71"), OrderState.CANCELED)
    assert r.extra == {"levels_filled": 3, "n_levels": 3, "average_price": D("97.75")}
    # buy fees 0.0004 BTC at their prices = 0.0391; sell fee 0.3996 * 95.78 * 0.001 = 0.038273688
    assert r.fees_quote == D("0.0391") + D("0.038273688")
    # proceeds 38.273688 - 0.038273688 = 38.235414312; cost 39.1 (base fees shrank the amount)
    assert r.realized_pnl_quote == D("-0.864585688")
    assert r.held_base == 0
    assert h.wallet.balance("BTC") == D(1)  # + 0.4 - 0.0004 fees - 0.3996 sold
    assert h.wallet.balance("USDT") == D("10000") - D("39.1") + D("38.235414312")
    assert h.orchestrator.hold("test", PAIR).is_flat
    assert_sane(h)


def test_sell_dca_take_profit_below_the_average():
    h = SimHarness(
        candles([
            (100, 100, 100, 100),
            (100, 101.5, 100, 101),  # level 0 (101) sells at 101
            (101, 101, 99.9, 100),  # down through 101 * 0.99 = 99.99
        ]),
    )  # fmt: skip
    cfg = config(side=SELL, start_price=D(101), n_levels=2, step=D("0.01"), spacing="geometric",
                 amounts=(D("0.2"), D("0.2")), take_profit=D("0.01"))  # fmt: skip
    ex = h.start(DCAExecutor, cfg)
    assert [o.price for o in ex.orders.values()] == [D("101.00"), D("102.01")]  # 101 * 1.01
    h.run(ex)
    r = ex.report()
    assert (r.close_type, r.entry_price, r.exit_price) == ("TAKE_PROFIT", D(101), D("99.99"))
    assert r.realized_pnl_quote == D("0.202")  # 0.2 * (101 - 99.99)
    assert h.wallet.balance("USDT") == D("10000.202")
    assert_sane(h)


def test_time_limit_without_fills_cancels_the_entries():
    h = SimHarness(candles([(100, 100, 100, 100)] * 6))
    cfg = config(side=BUY, prices=(D(95), D(90)), amount_quote=D(100), time_limit=3)
    ex = h.start(DCAExecutor, cfg)
    h.run(ex)
    assert (ex.close_type.value, ex.close_ts, ex.has_fills) == ("TIME_LIMIT", 4.0, False)
    assert all(o.state is OrderState.CANCELED for o in ex.orders.values())
    assert h.wallet.locked.get("USDT", D(0)) == 0
    assert_sane(h)


def test_early_stop_keeping_the_position_moves_it_to_the_hold():
    h = SimHarness(candles([(100, 100, 100, 100), (100, 100, 98, 99), (99, 99, 99, 99)]))
    cfg = config(side=BUY, prices=(D(99), D(97)), amounts=(D("0.1"), D("0.1")),
                 take_profit=D("0.05"))  # fmt: skip
    ex = h.start(DCAExecutor, cfg)
    h.step()
    h.orchestrator.stop(ex.id, keep_position=True)
    h.connector.process_pending()
    assert (ex.close_type.value, ex.is_active) == ("POSITION_HOLD", False)
    hold = h.orchestrator.hold("test", PAIR)
    assert (hold.base_amount, hold.cost_quote) == (D("0.1"), D("9.9"))
    assert h.connector.open_order_count() == 0
    assert_sane(h)


def test_a_rejected_take_profit_is_not_retried_in_a_loop():
    # 0.1 bought with a 0.0001 BTC fee leaves 0.0999, below the rule's minimum amount 0.1
    h = SimHarness(
        candles([(100, 100, 100, 100), (100, 100, 98, 99), (99, 99, 99, 99), (99, 99, 99, 99)]),
        maker_fee="0.001", rule=TradingRule(PAIR, D("0.01"), D("0.0001"), min_amount=D("0.1")),
    )  # fmt: skip
    cfg = config(side=BUY, prices=(D(99), D(90)), amounts=(D("0.1"), D("0.1")),
                 take_profit=D("0.01"), time_limit=2)  # fmt: skip
    ex = h.start(DCAExecutor, cfg)
    h.step()
    (tp,) = [o for o in ex.orders.values() if o.role == "take_profit"]
    assert tp.state is OrderState.FAILED
    assert "amount 0.0999 is below the minimum 0.1" in ex.failure_reason
    h.run(ex)
    # at the time limit a market close of 0.0999 would be below the minimum too: it is not
    # sent, and the 0.0999 goes to the position hold
    assert (ex.close_type.value, ex.close_ts) == ("TIME_LIMIT", 3.0)
    assert not [o for o in ex.orders.values() if o.role == "close"]
    assert h.orchestrator.hold("test", PAIR).base_amount == D("0.0999")
    assert_sane(h)
