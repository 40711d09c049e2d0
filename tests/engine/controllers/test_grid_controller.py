"""GridController on a real simulated market: range around the mid, restart after a cooldown.

1 s candles, tick 0.01, step 0.0001, 0.1 % fees in USDT, market orders slip 1 bp.
"""

from pathlib import Path

import pytest
from pydantic import ValidationError

from birdterm.engine.candle_feed import CandleFeed
from birdterm.engine.controllers.base import ControllerContext
from birdterm.engine.controllers.grid import GridController, GridControllerConfig
from birdterm.engine.executors.base import CloseType
from birdterm.engine.executors.grid import GridExecutor

from tests.engine.executors.harness import PAIR, D, SimHarness, candles

FLAT = (100, 100, 100, 100)
HIGH = (110, 110, 110, 110)
CONFIGS = Path(__file__).resolve().parents[3] / "configs"


def make(rows, **overrides) -> tuple[SimHarness, GridController]:
    h = SimHarness(candles(rows), maker_fee="0.001", taker_fee="0.001", percent_token="USDT")
    fields = dict(id="grid", trading_pair=PAIR, range_pct=D("0.05"), n_levels=5,
                  total_amount_quote=D(1000), take_profit=D("0.01"))  # fmt: skip
    fields.update(overrides)
    context = ControllerContext(h.connector, h.orchestrator, {PAIR: CandleFeed(h.data, 1000)})
    return h, GridController(GridControllerConfig(**fields), context)


def the_grid(controller: GridController) -> GridExecutor:
    (grid,) = controller.executors
    assert isinstance(grid, GridExecutor)
    return grid


def finish(h: SimHarness) -> None:
    h.assert_pnl_identity()
    assert all(v >= 0 for v in h.wallet.total.values()), h.wallet.total


def test_range_pct_centres_the_grid_on_the_mid():
    h, ctl = make([FLAT, FLAT])
    h.decide(ctl)
    grid = the_grid(ctl)
    # 100 x 0.95 = 95 .. 100 x 1.05 = 105 in 5 levels: step 2.5
    assert [lv.price for lv in grid.levels] == [D(95), D("97.5"), D(100), D("102.5"), D(105)]
    # 200 USDT a level: 200 / 95 = 2.10526... -> 2.1052, 200 / 97.5 = 2.05128... -> 2.0512
    assert [lv.amount for lv in grid.levels][:2] == [D("2.1052"), D("2.0512")]
    # a BUY grid rests only below the mid: 100 itself would cross
    assert h.connector.open_order_count() == 2
    # only the grid's end matters (which wakes the controller): the hint is the data's end
    assert ctl.next_decision(h.connector.now()) == 2.0
    h.step()
    assert h.decide(ctl) == []
    finish(h)


def test_a_grid_that_ends_is_restarted_around_the_new_mid_after_the_cooldown():
    rows = [FLAT, FLAT, FLAT, (100, 110, 100, 110), HIGH, HIGH, HIGH, HIGH]
    h, ctl = make(rows, time_limit=3, cooldown=2)
    h.decide(ctl)  # t = 1: first grid, time limit at 1 + 3 = 4 s
    first = the_grid(ctl)
    h.step(3)  # rows 1..3: the rise to 110 passes 100, 102.5 and 105, whose buys now rest
    assert h.connector.open_order_count() == 5
    assert h.decide(ctl) == []  # t = 4
    h.step()  # the time watch fires at the candle opening at 4 s
    assert first.close_type is CloseType.TIME_LIMIT
    assert first.close_ts == 4.0
    assert not first.has_fills  # no buy was reached: nothing to close
    assert h.connector.open_order_count() == 0
    assert h.decide(ctl) == []  # t = 5: cooling until 4 + 2 = 6
    assert ctl.next_decision(5.0) == 6.0
    h.step()
    (action,) = h.decide(ctl)  # t = 6: new grid around the mid 110
    assert (action.config.start_price, action.config.end_price) == (D("104.50"), D("115.50"))
    second = the_grid(ctl)
    assert second is not first
    assert [lv.price for lv in second.levels] == [
        D("104.50"), D("107.25"), D("110.00"), D("112.75"), D("115.50")]  # fmt: skip
    assert h.connector.open_order_count() == 2  # 104.50 and 107.25
    finish(h)


def test_a_stopped_grid_closes_its_inventory_and_restarts_with_a_fixed_range():
    rows = [FLAT, (100, 100, 96, 96), (96, 96, 89, 89), (89, 89, 89, 89), FLAT, FLAT]
    h, ctl = make(rows, range_pct=None, start_price=D(95), end_price=D(99), limit_pct=D("0.05"))
    h.decide(ctl)
    grid = the_grid(ctl)
    assert grid.config.limit_price == D("90.25")  # 5 % below the range's start 95
    h.step(2)
    # 99 (amount 200 / 99 = 2.0202) and 98 (2.0408) and 97 (2.0618) filled on the way to 96;
    # 96 (2.0833) and 95 (2.1052) on the way to 89, then 90.25 stopped the grid
    assert grid.close_type is CloseType.STOP_LOSS
    assert grid.bought_base == D("2.0202") + D("2.0408") + D("2.0618") + D("2.0833") + D("2.1052")
    assert grid.ledger.base_amount == 0
    # sold at 90.25 less 1 bp = 90.240975 -> 90.24
    assert grid.exit_price() == D("90.24")
    h.step()
    (action,) = h.decide(ctl)  # no cooldown: the same fixed range again
    assert (action.config.start_price, action.config.end_price) == (D(95), D(99))
    finish(h)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"range_pct": D("0.05"), "start_price": D(90), "end_price": D(110)}, "not both"),
        ({"range_pct": None}, "give start_price and end_price, or range_pct"),
        ({"range_pct": None, "start_price": D(90)}, "needs both start_price and end_price"),
        ({"range_pct": None, "start_price": D(110), "end_price": D(90)}, "must be below"),
        ({"type": "pmm_simple"}, "Input should be 'grid'"),
    ],
)
def test_config_errors_say_what_is_valid(fields, message):
    base = dict(id="grid", trading_pair=PAIR, range_pct=D("0.05"),
                total_amount_quote=D(1000), take_profit=D("0.01"))  # fmt: skip
    base.update(fields)
    with pytest.raises(ValidationError, match=message):
        GridControllerConfig(**base)
