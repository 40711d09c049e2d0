"""TWAPExecutor on a real simulated market: schedule, taker slippage, maker leftovers.

The executor starts at t=1.0 (after row 0). A slice due at T fires at the start of the first row
opening at or after T, priced against the previous close.
"""

import pytest
from pydantic import ValidationError

from birdterm.engine.executors.twap import TWAPExecutor, TWAPExecutorConfig
from birdterm.engine.types import OrderState, OrderType, TradeType
from birdterm.sim.fill_model import FillModel

from tests.engine.executors.harness import PAIR, D, SimHarness, candles

BUY, SELL = TradeType.BUY, TradeType.SELL


def config(**kwargs) -> TWAPExecutorConfig:
    return TWAPExecutorConfig(trading_pair=PAIR, **kwargs)


def flat(*closes: float):
    return candles([(c, c, c, c) for c in closes])


def assert_sane(h: SimHarness) -> None:
    h.assert_pnl_identity()
    for asset in ("USDT", "BTC"):
        assert h.wallet.balance(asset) >= 0
        assert h.wallet.available(asset) >= 0


def test_taker_schedule_remainder_and_slippage():
    h = SimHarness(
        flat(100, 101, 102, 103, 104, 105, 106, 107, 108),
        taker_fee="0.001", percent_token="USDT",
        fill_model=FillModel(participation=1.0, slippage_bps=10),
    )  # fmt: skip
    cfg = config(side=BUY, total_amount=D("1.0003"), duration=9, n_slices=3)
    ex = h.start(TWAPExecutor, cfg)
    # 1.0003 / 3 = 0.33343.. -> 0.3334 on the 0.0001 step; the last takes 1.0003 - 2 * 0.3334
    assert ex.schedule == [(1.0, D("0.3334")), (4.0, D("0.3334")), (7.0, D("0.3335"))]
    h.run(ex)
    orders = list(ex.orders.values())
    # every slice buys at market 10 bps above the mid, rounded up to the tick:
    # t=1 mid 100 -> 100.10; t=4 mid 103 (close of row 3) -> 103.103 -> 103.11;
    # t=7 mid 106 -> 106.106 -> 106.11
    assert [(o.created_ts, o.order_type, o.amount, o.filled_quote / o.filled) for o in orders] == [
        (1.0, OrderType.MARKET, D("0.3334"), D("100.10")),
        (4.0, OrderType.MARKET, D("0.3334"), D("103.11")),
        (7.0, OrderType.MARKET, D("0.3335"), D("106.11")),
    ]
    notional = D("0.3334") * D("100.10") + D("0.3334") * D("103.11") + D("0.3335") * D("106.11")
    assert notional == D("103.137899")  # 33.37334 + 34.376874 + 35.387685
    r = ex.report()
    assert (r.close_type, r.close_ts, r.bought_base) == ("COMPLETED", 7.0, D("1.0003"))
    assert r.extra == {"slices_done": 3, "n_slices": 3, "average_price": notional / D("1.0003")}
    assert r.fees_quote == D("0.103137899")  # taker 0.1 % of the notional, in USDT
    assert h.wallet.balance("USDT") == D("10000") - notional - D("0.103137899")
    assert h.wallet.balance("BTC") == D("2.0003")
    hold = h.orchestrator.hold("test", PAIR)
    assert (hold.base_amount, hold.cost_quote) == (D("1.0003"), D("103.241036899"))
    assert_sane(h)


def test_maker_slices_with_leftovers_swept_at_market():
    h = SimHarness(
        candles([
            (100, 100, 100, 100, 1.0),
            (100, 100, 98.5, 99.5, 1.0),  # slice 0 (0.15 @ 99): budget 0.1 fills 0.1
            (99.5, 100, 99.5, 100, 1.0),  # closes at 100
            (100, 100.2, 98, 98.5, 1.0),  # t=3: slice 1 due; then 0.1 of it fills at 99
            (99.5, 100.5, 99.2, 100.5, 1.0),  # never below 99; closes at 100.5
            (100.5, 100.5, 100.5, 100.5, 1.0),  # t=5: the end; the rest goes at market
        ]),
        maker_fee="0.001", taker_fee="0.001",  # in the asset received: BTC
        fill_model=FillModel(participation=0.1, slippage_bps=5),
    )  # fmt: skip
    cfg = config(side=BUY, total_amount=D("0.3"), duration=4, n_slices=2, mode="maker",
                 maker_offset=D("0.01"))  # fmt: skip
    ex = h.start(TWAPExecutor, cfg)
    assert ex.schedule == [(1.0, D("0.15")), (3.0, D("0.15"))]
    h.run(ex)
    summary = [(o.role, o.created_ts, o.amount, o.price, o.filled, o.state)
               for o in ex.orders.values()]  # fmt: skip
    assert summary == [
        # slice 0 at 100 * 0.99; cancelled at t=3 with 0.05 unfilled
        ("maker", 1.0, D("0.15"), D("99.00"), D("0.1"), OrderState.CANCELED),
        # the rest at market: 100 * 1.0005 = 100.05
        ("market", 3.0, D("0.05"), None, D("0.05"), OrderState.FILLED),
        # slice 1 placed once the sweep is done, at the same mid 100
        ("maker", 3.0, D("0.15"), D("99.00"), D("0.1"), OrderState.CANCELED),
        # at t=5 against the close 100.5: 100.5 * 1.0005 = 100.550250 -> 100.56
        ("market", 5.0, D("0.05"), None, D("0.05"), OrderState.FILLED),
    ]
    assert ex.orders[list(ex.orders)[3]].filled_quote == D("0.05") * D("100.56")
    spent = D("0.1") * 99 + D("0.05") * D("100.05") + D("0.1") * 99 + D("0.05") * D("100.56")
    assert spent == D("29.8305")  # 9.9 + 5.0025 + 9.9 + 5.028
    r = ex.report()
    assert (r.close_type, r.close_ts) == ("COMPLETED", 5.0)
    assert r.extra == {"slices_done": 2, "n_slices": 2, "average_price": D("99.435")}
    # 0.1 % of each fill in BTC, valued at its price: 0.0099 + 0.0050025 + 0.0099 + 0.005028
    assert r.fees_quote == D("0.0298305")
    assert h.wallet.balance("USDT") == D("10000") - spent
    assert h.wallet.balance("BTC") == D("1.2997")  # + 0.3 - 0.0003 fees
    assert h.orchestrator.hold("test", PAIR).base_amount == D("0.2997")
    assert_sane(h)


def test_maker_slice_fully_filled_completes_before_the_end():
    h = SimHarness(
        candles([
            (100, 100, 100, 100),
            (100, 100, 98.5, 99.5),  # 0.1 @ 99 fills whole (participation 1)
            (99.5, 99.5, 99.5, 99.5),
            (99.5, 99.5, 98, 98.5),  # t=3: slice 1 at 99.5 * 0.99 = 98.505 -> 98.50; fills
            (98.5, 98.5, 98.5, 98.5),
        ]),
    )  # fmt: skip
    cfg = config(side=BUY, total_amount=D("0.2"), duration=4, n_slices=2, mode="maker",
                 maker_offset=D("0.01"))  # fmt: skip
    ex = h.start(TWAPExecutor, cfg)
    assert ex.schedule == [(1.0, D("0.1")), (3.0, D("0.1"))]
    h.run(ex)
    assert [(o.price, o.created_ts, o.state) for o in ex.orders.values()] == [
        (D("99.00"), 1.0, OrderState.FILLED), (D("98.50"), 3.0, OrderState.FILLED)]  # fmt: skip
    # everything filled at t=3, so it does not wait for the end at t=5
    r = ex.report()
    assert (r.close_type, r.close_ts, r.bought_base) == ("COMPLETED", 4.0, D("0.2"))
    assert r.extra["average_price"] == D("98.75")  # (9.9 + 9.85) / 0.2
    assert_sane(h)


def test_sell_taker_early_stop_cancels_the_rest():
    h = SimHarness(flat(100, 100, 100, 100, 100, 100), taker_fee="0.001",
                   fill_model=FillModel(participation=1.0, slippage_bps=0))  # fmt: skip
    ex = h.start(TWAPExecutor, config(side=SELL, total_amount=D("0.4"), duration=20, n_slices=4))
    h.step(2)
    h.orchestrator.stop(ex.id)
    r = ex.report()
    # one slice of 0.1 sold at 100 (fee 0.01 USDT, in the asset received); three never sent
    assert (r.close_type, r.sold_base, r.extra["slices_done"]) == ("EARLY_STOP", D("0.1"), 1)
    assert ex.watches == {} and h.connector.open_order_count() == 0
    assert h.wallet.balance("USDT") == D("10009.99")
    assert h.orchestrator.hold("test", PAIR).base_amount == D("-0.1")
    h.step(3)  # no slice fires after the stop
    assert len(ex.orders) == 1
    assert_sane(h)


def test_slices_below_the_step_size_fail_with_the_reason():
    h = SimHarness(flat(100, 100))
    ex = h.start(TWAPExecutor, config(side=BUY, total_amount=D("0.0003"), duration=10,
                                      n_slices=5))  # fmt: skip
    assert ex.close_type is not None and ex.close_type.value == "FAILED"
    assert "below the step size 0.0001" in ex.failure_reason
    assert "use fewer slices" in ex.failure_reason


def test_maker_mode_needs_an_offset():
    with pytest.raises(ValidationError, match="maker mode needs maker_offset > 0"):
        config(side=BUY, total_amount=D(1), duration=10, n_slices=2, mode="maker",
               maker_offset=D(0))  # fmt: skip
