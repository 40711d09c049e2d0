"""OrderExecutor on a real simulated market: hand-computed fills, refreshes, expiry, rejection.

Candles are one second apart (row i opens at i s); the harness walks row 0 first, so executors
start at t=1.0 with the price at row 0's close. A time watch due at T fires at the start of the
first row opening at or after T, at the previous close.
"""

from decimal import Decimal

import pytest
from pydantic import ValidationError

from birdterm.engine.executors.order import OrderExecutor, OrderExecutorConfig
from birdterm.engine.types import OrderState, OrderType, TradeType
from birdterm.sim.fill_model import FillModel

from tests.engine.executors.harness import PAIR, D, SimHarness, candles

BUY, SELL = TradeType.BUY, TradeType.SELL


def config(**kwargs) -> OrderExecutorConfig:
    return OrderExecutorConfig(trading_pair=PAIR, **kwargs)


def assert_sane(h: SimHarness) -> None:
    h.assert_pnl_identity()
    for asset in ("USDT", "BTC"):
        assert h.wallet.balance(asset) >= 0
        assert h.wallet.available(asset) >= 0


def test_limit_buy_fills_and_completes_with_quote_fee():
    h = SimHarness(
        candles([
            (100, 100, 100, 100),
            (100, 100.5, 99.5, 100),  # never below 99: no fill
            (100, 100, 98.5, 99.2),  # trades through 99: fills at 99
        ]),
        maker_fee="0.001", percent_token="USDT",
    )  # fmt: skip
    ex = h.start(OrderExecutor, config(side=BUY, amount=D("0.5"), price=D("99")))
    h.run(ex)
    r = ex.report()
    assert (r.close_type, r.close_ts, r.entry_price) == ("COMPLETED", 3.0, D("99"))
    # 0.5 * 99 = 49.5 USDT, maker fee 0.1 % of it = 0.0495 USDT
    assert (r.bought_base, r.volume_quote, r.fees_quote) == (D("0.5"), D("49.5"), D("0.0495"))
    assert r.extra == {"refreshes": 0}
    assert h.wallet.balance("USDT") == D("10000") - D("49.5") - D("0.0495")  # 9950.4505
    assert h.wallet.balance("BTC") == D("1.5")
    # the bought inventory stays open: it moves to the position hold at cost 49.5495
    hold = h.orchestrator.hold("test", PAIR)
    assert (hold.base_amount, hold.cost_quote) == (D("0.5"), D("49.5495"))
    # valued at the last close 99.2: 49.6 - 49.5495
    assert h.orchestrator.pnl(lambda _p: D("99.2")).total == D("0.0505")
    assert_sane(h)


def test_market_order_pays_slippage_and_completes():
    h = SimHarness(candles([(100, 100, 100, 100), (100, 100, 100, 100)]),
                   fill_model=FillModel(participation=1.0, slippage_bps=10))  # fmt: skip
    ex = h.start(OrderExecutor, config(side=SELL, amount=D("0.2"), order_type=OrderType.MARKET))
    # a sell pays 10 bps below the mid: 100 * 0.999 = 99.9
    assert (ex.close_type.value, ex.entry_price(), ex.sold_base) == ("COMPLETED", D("99.9"),
                                                                    D("0.2"))  # fmt: skip
    assert h.wallet.balance("USDT") == D("10019.98")  # + 0.2 * 99.9
    assert h.orchestrator.hold("test", PAIR).base_amount == D("-0.2")
    assert_sane(h)


def test_refresh_replaces_at_the_new_mid_offset():
    h = SimHarness(
        candles([
            (100, 100, 100, 100),
            (100, 101, 99.5, 100.5),  # above 99: the first order rests
            (100.5, 102, 100.2, 102),  # the market runs away; closes at 102
            (102, 102, 100.5, 101),  # row 3 opens at t=3: the refresh is due first
        ]),
        maker_fee="0.001",  # in the asset received: BTC for a buy
    )  # fmt: skip
    cfg = config(side=BUY, amount=D("0.2"), price=D("99"), price_offset=D("0.01"),
                 refresh_interval=2)  # fmt: skip
    ex = h.start(OrderExecutor, cfg)
    h.run(ex)
    first, second = ex.orders.values()
    assert (first.price, first.state, first.created_ts) == (D("99"), OrderState.CANCELED, 1.0)
    # refresh at t=3.0 against the close of row 2: 102 * (1 - 0.01) = 100.98
    assert (second.price, second.amount, second.created_ts) == (D("100.98"), D("0.2"), 3.0)
    # row 3 walks 102 -> 102 (high) -> 100.5 (low): through 100.98, fills there
    assert second.state is OrderState.FILLED
    r = ex.report()
    assert (r.close_type, r.close_ts, r.extra) == ("COMPLETED", 4.0, {"refreshes": 1})
    # fee 0.2 * 0.001 = 0.0002 BTC, worth 0.0002 * 100.98 = 0.020196 USDT
    assert (r.fees_quote, r.held_base) == (D("0.020196"), D("0.1998"))
    assert h.wallet.balance("BTC") == D("1.1998")
    assert h.wallet.balance("USDT") == D("10000") - D("20.196")  # 0.2 * 100.98
    hold = h.orchestrator.hold("test", PAIR)
    assert (hold.base_amount, hold.cost_quote) == (D("0.1998"), D("20.196"))
    # at the close 101: 0.1998 * 101 - 20.196 = 20.1798 - 20.196
    assert h.orchestrator.pnl(lambda _p: D("101")).total == D("-0.0162")
    assert_sane(h)


def test_max_refreshes_then_expired_at_the_same_price():
    h = SimHarness(candles([(100, 100, 100, 100)] * 8))
    cfg = config(side=BUY, amount=D("0.1"), price=D("95"), refresh_interval=2, max_refreshes=1)
    ex = h.start(OrderExecutor, cfg)
    h.run(ex)
    # placed at 1.0, refreshed at 3.0 (same price: no offset), the refresh due at 5.0 expires
    assert [(o.price, o.created_ts, o.state) for o in ex.orders.values()] == [
        (D("95"), 1.0, OrderState.CANCELED),
        (D("95"), 3.0, OrderState.CANCELED),
    ]
    assert (ex.close_type.value, ex.close_ts, ex.refreshes, ex.has_fills) == (
        "EXPIRED", 5.0, 1, False)  # fmt: skip
    assert h.wallet.locked.get("USDT", D(0)) == 0
    assert h.orchestrator.hold("test", PAIR).is_flat
    assert_sane(h)


def test_expiry_keeps_a_partial_fill_in_the_position_hold():
    h = SimHarness(
        candles([
            (100, 100, 100, 100, 1.0),
            (100, 100, 98, 98.5, 1.0),  # budget 0.1 x volume 1.0 = 0.1: fills 0.1 at 99
            (99.5, 99.8, 99.2, 99.5, 1.0),  # not below 99
            (99.5, 99.6, 98.8, 99, 0.5),  # budget 0.1 x 0.5 = 0.05: fills 0.05 at 99
            (99, 99, 99, 99, 1.0),  # opens at t=4 >= 1 + 2.5: expired before it trades
        ]),
        maker_fee="0.001", percent_token="USDT",
        fill_model=FillModel(participation=0.1),
    )  # fmt: skip
    ex = h.start(OrderExecutor, config(side=BUY, amount=D("0.25"), price=D("99"),
                                       expire_after=2.5))  # fmt: skip
    h.run(ex)
    (order,) = ex.orders.values()
    assert (order.filled, order.state) == (D("0.15"), OrderState.CANCELED)
    r = ex.report()
    assert (r.close_type, r.close_ts, r.bought_base) == ("EXPIRED", 4.0, D("0.15"))
    # fees: (0.1 + 0.05) * 99 * 0.001 = 0.01485 USDT
    assert (r.volume_quote, r.fees_quote) == (D("14.85"), D("0.01485"))
    assert h.wallet.balance("USDT") == D("10000") - D("14.85") - D("0.01485")  # 9985.13515
    assert h.wallet.balance("BTC") == D("1.15")
    assert h.wallet.locked.get("USDT", D(0)) == 0  # the unfilled 0.1 was released
    hold = h.orchestrator.hold("test", PAIR)
    assert (hold.base_amount, hold.cost_quote) == (D("0.15"), D("14.86485"))
    assert h.orchestrator.pnl(lambda _p: D("99")).total == D("-0.01485")  # 14.85 - 14.86485
    assert_sane(h)


def test_limit_maker_that_would_cross_fails_with_the_reason():
    h = SimHarness(candles([(100, 100, 100, 100), (100, 100, 100, 100)]))
    cfg = config(side=BUY, amount=D("0.1"), price=D("101"), order_type=OrderType.LIMIT_MAKER)
    ex = h.start(OrderExecutor, cfg)
    assert ex.close_type is not None and ex.close_type.value == "FAILED"
    reason = (
        "BTC-USDT BUY 0.1 @ 101: LIMIT_MAKER BUY at 101 would immediately match (price now 100)"
    )
    assert ex.failure_reason == reason
    assert ex.report().extra == {"failure": reason, "refreshes": 0}
    assert not ex.has_fills and h.orchestrator.hold("test", PAIR).is_flat
    assert h.wallet.snapshot() == h.initial
    assert_sane(h)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"order_type": OrderType.LIMIT}, "needs a price or a price_offset"),
        ({"order_type": OrderType.MARKET, "price": Decimal(1)}, "only apply to LIMIT"),
        ({"price": Decimal(1), "max_refreshes": 2}, "max_refreshes needs a refresh_interval"),
        ({"price": Decimal(1), "amount": Decimal(0)}, "greater than 0"),
    ],
)
def test_config_errors_say_what_is_valid(kwargs, message):
    fields = {"side": BUY, "amount": Decimal("0.1"), **kwargs}
    with pytest.raises(ValidationError, match=message):
        config(**fields)
