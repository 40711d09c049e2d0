"""PositionHold: hand-computed break-even, realized/unrealized P&L, profit protection."""

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from birdterm.engine.executors.position_hold import PositionHold, PositionHoldError
from birdterm.engine.store import Store
from birdterm.engine.types import TradeType

BUY, SELL = TradeType.BUY, TradeType.SELL


def hold():
    return PositionHold("binance", "BTC-USDT", "pmm")


def three_buys_and_a_partial_sell():
    h = hold()
    assert h.add_fill(BUY, D("1"), D("100"), {"USDT": D("0.1")}) == 0
    assert h.add_fill(BUY, D("1"), D("90"), {"USDT": D("0.09")}) == 0
    assert h.add_fill(BUY, D("2"), D("80"), {"USDT": D("0.16")}) == 0
    return h


def test_break_even_after_several_buys_and_a_partial_sell():
    h = three_buys_and_a_partial_sell()
    # cost 100.1 + 90.09 + 160.16 = 350.35 for 4 BTC
    assert (h.base_amount, h.cost_quote) == (D("4"), D("350.35"))
    assert h.average_entry_price == D("87.5875")
    assert h.break_even_price() == D("87.5875")
    realized = h.add_fill(SELL, D("1.5"), D("95"), {"USDT": D("0.1425")}, timestamp=60.0)
    # proceeds 142.5 - 0.1425 = 142.3575; cost released 350.35 * 1.5 / 4 = 131.38125
    assert realized == D("10.97625")
    assert h.realized_pnl_quote == D("10.97625")
    assert (h.base_amount, h.cost_quote) == (D("2.5"), D("218.96875"))
    assert h.average_entry_price == D("87.5875")  # a sell does not move the average cost
    # the realized profit lowers break-even: (218.96875 - 10.97625) / 2.5
    assert h.break_even_price() == D("83.197")
    assert h.unrealized_pnl_quote(D("90")) == D("6.03125")
    # = all cash flows (-350.35 + 142.3575) plus 2.5 BTC at 90
    assert h.total_pnl_quote(D("90")) == D("17.0075")
    assert h.fees_quote == D("0.4925")
    assert h.updated_ts == 60.0


def test_profit_protection_blocks_a_losing_sell():
    h = three_buys_and_a_partial_sell()
    h.add_fill(SELL, D("1.5"), D("95"), {"USDT": D("0.1425")})
    assert not h.allows_sell(D("83.19"))
    assert h.allows_sell(D("83.197"))
    # paying a 0.1 % exit fee needs a higher price: 207.9925 / (2.5 * 0.999)
    break_even = h.break_even_price(D("0.001"))
    assert break_even == D("207.9925") / D("2.4975")
    assert not h.allows_sell(D("83.28"), D("0.001"))
    assert h.allows_sell(D("83.29"), D("0.001"))
    assert h.allows_buy(D("1000"))  # a long hold never blocks buys


def test_base_asset_fee_shrinks_what_a_buy_receives():
    h = hold()
    h.add_fill(BUY, D("1"), D("100"), {"BTC": D("0.001")})
    assert (h.base_amount, h.cost_quote) == (D("0.999"), D("100"))
    assert h.fees_quote == D("0.100")
    # selling all 0.999 at 100 loses exactly the fee
    h.add_fill(SELL, D("0.999"), D("100"))
    assert h.is_flat and h.cost_quote == 0
    assert h.realized_pnl_quote == D("-0.100")


def test_fill_larger_than_position_flips_it_to_a_short():
    h = hold()
    h.add_fill(BUY, D("1"), D("100"))
    assert h.add_fill(SELL, D("3"), D("110")) == D("10")
    assert (h.base_amount, h.cost_quote) == (D("-2"), D("-220"))
    assert h.average_entry_price == D("110")
    assert h.unrealized_pnl_quote(D("100")) == D("20")
    # buying 2 back at 115 gives back exactly the 10 realized
    assert h.break_even_price() == D("115")
    assert not h.allows_buy(D("116")) and h.allows_buy(D("115"))
    assert h.allows_sell(D("1"))  # a short hold never blocks sells
    assert h.add_fill(BUY, D("2"), D("115")) == D("-10")
    assert h.is_flat and h.realized_pnl_quote == 0
    assert h.break_even_price() is None and h.average_entry_price is None


def test_bad_fills_are_rejected_without_changes():
    h = hold()
    with pytest.raises(PositionHoldError, match="BNB cannot be booked; only BTC or USDT"):
        h.add_fill(BUY, D("1"), D("100"), {"BNB": D("0.01")})
    with pytest.raises(PositionHoldError, match="must both be > 0"):
        h.add_fill(SELL, D("0"), D("100"))
    assert h.is_flat and h.fees_quote == 0


def test_store_round_trip(tmp_path):
    h = three_buys_and_a_partial_sell()
    h.add_fill(SELL, D("1.5"), D("95"), {"USDT": D("0.1425")}, timestamp=60.0)
    with Store(tmp_path / "s.sqlite") as store:
        store.save_position_hold(h.to_record())
        [record] = store.load_position_holds()
    again = PositionHold.from_record(record)
    assert again == h
    assert again.break_even_price() == D("83.197")


fills = st.lists(
    st.tuples(
        st.sampled_from([BUY, SELL]),
        st.decimals(min_value=D("0.001"), max_value=D("5"), places=3),
        st.decimals(min_value=D("1"), max_value=D("1000"), places=2),
        st.decimals(min_value=D("0"), max_value=D("0.5"), places=4),
    ),
    min_size=1,
    max_size=30,
)


@given(fills, st.decimals(min_value=D("1"), max_value=D("1000"), places=2))
def test_realized_plus_unrealized_equals_cash_flows(fill_list, mark):
    h = hold()
    cash, base = D(0), D(0)
    for side, amount, price, fee in fill_list:
        h.add_fill(side, amount, price, {"USDT": fee})
        sign = 1 if side is BUY else -1
        cash -= sign * amount * price + fee
        base += sign * amount
    assert h.base_amount == base
    assert abs(h.total_pnl_quote(mark) - (cash + base * mark)) < D("1e-12")
