"""GridExecutor on a real simulated market: hand-computed levels, round trips, limits, stops.

Unless a test says otherwise: tick 0.01, step 0.0001, fees 0.1 % maker and taker charged in
USDT (so BTC amounts stay exact), market orders slip 1 bp, the wallet starts with 10 000 USDT
and 1 BTC, and the grid is BUY 90..98 in 5 levels (90, 92, 94, 96, 98) with 1 000 USDT, i.e.
200 USDT a level, and a 1 % take profit per level.
"""

from decimal import Decimal

import pytest
from pydantic import ValidationError

from birdterm.engine.executors.base import CloseType, ExecutorStatus
from birdterm.engine.executors.grid import GridExecutor, GridExecutorConfig, GridLevelState
from birdterm.engine.types import TradeType, TradingRule

from tests.engine.executors.harness import PAIR, D, SimHarness, candles

FEE = D("0.001")
# amount per level = 200 / price, rounded down to the 0.0001 step
AMOUNTS = {
    D(90): D("2.2222"),  # 200 / 90 = 2.22222...
    D(92): D("2.1739"),  # 200 / 92 = 2.17391...
    D(94): D("2.1276"),  # 200 / 94 = 2.12765...
    D(96): D("2.0833"),  # 200 / 96 = 2.08333...
    D(98): D("2.0408"),  # 200 / 98 = 2.04081...
}
FLAT = (100, 100, 100, 100)


def harness(rows, **kwargs) -> SimHarness:
    kwargs.setdefault("maker_fee", "0.001")
    kwargs.setdefault("taker_fee", "0.001")
    kwargs.setdefault("percent_token", "USDT")
    return SimHarness(candles(rows), **kwargs)


def grid_config(**overrides) -> GridExecutorConfig:
    fields = dict(trading_pair=PAIR, start_price=D(90), end_price=D(98), n_levels=5,
                  total_amount_quote=D(1000), take_profit=D("0.01"))  # fmt: skip
    fields.update(overrides)
    return GridExecutorConfig(**fields)


def resting(h: SimHarness) -> list[tuple[str, Decimal, Decimal]]:
    """(side, price, amount) of every order resting in the simulator, by price."""
    orders = h.connector._orders.values()
    return sorted((o.side.value, o.price, o.amount) for o in orders if o.resting)


def finish(h: SimHarness) -> None:
    h.assert_pnl_identity()
    assert all(v >= 0 for v in h.wallet.total.values()), h.wallet.total


def test_levels_are_evenly_spaced_and_sized_and_all_rest_below_the_mid():
    h = harness([FLAT, FLAT])
    grid = h.start(GridExecutor, grid_config())
    # step (98 - 90) / 4 = 2; every level is below the mid 100, so every buy rests
    assert [lv.price for lv in grid.levels] == list(AMOUNTS)
    assert [lv.amount for lv in grid.levels] == list(AMOUNTS.values())
    # take profits: level x 1.01, rounded up to the tick (a sell is never made cheaper)
    assert [lv.take_profit_price for lv in grid.levels] == [
        D("90.90"), D("92.92"), D("94.94"), D("96.96"), D("98.98")]  # fmt: skip
    assert resting(h) == [("BUY", p, a) for p, a in AMOUNTS.items()]
    assert {lv.state for lv in grid.levels} == {GridLevelState.OPEN_ORDER_PLACED}
    # 5 buys lock their cost plus the maker fee: 199.998 + 199.9988 + 199.9944 + 199.9968
    # + 199.9984 = 999.9864, x 1.001
    locked = sum((p * a for p, a in AMOUNTS.items()), D(0)) * (1 + FEE)
    assert h.wallet.locked["USDT"] == locked == D("1000.9863864")
    h.step()
    finish(h)


def test_quantized_levels_use_the_tick_and_odd_spacing():
    h = harness([FLAT, FLAT])
    grid = h.start(GridExecutor, grid_config(end_price=D(91), n_levels=4))
    # (91 - 90) / 3 = 0.3333...: 90, 90.333.. -> 90.33, 90.666.. -> 90.66 (buys round down), 91
    assert [lv.price for lv in grid.levels] == [D("90.00"), D("90.33"), D("90.66"), D("91.00")]
    # 250 USDT a level: 250 / 90.33 = 2.76762... -> 2.7676
    assert grid.levels[1].amount == D("2.7676")
    finish(h)


def test_a_level_buys_takes_profit_is_recycled_and_buys_again():
    h = harness([
        FLAT,
        (100, 100, 97.5, 97.5),  # down through 98: the level 98 buy fills at 98
        (97.5, 99.5, 97.5, 99.5),  # up through 98.98: its take profit fills
        (99.5, 99.5, 97.5, 97.5),  # the recycled buy fills again
        (97.5, 99.5, 97.5, 99.5),  # and its take profit again
        FLAT,
    ])  # fmt: skip
    grid = h.start(GridExecutor, grid_config())
    level = grid.levels[4]
    h.step()
    assert level.state is GridLevelState.CLOSE_ORDER_PLACED
    assert ("SELL", D("98.98"), D("2.0408")) in resting(h)
    h.step()
    # recycled at once: the mid (98.98 where the take profit filled) is above the level
    assert level.round_trips == 1 and level.state is GridLevelState.OPEN_ORDER_PLACED
    assert ("BUY", D("98.00"), D("2.0408")) in resting(h)
    h.step(2)
    assert level.round_trips == 2 and grid.round_trips() == 2
    # one trip: buy 2.0408 x 98 = 199.9984 (fee 0.1999984), sell 2.0408 x 98.98 = 201.998384
    # (fee 0.201998384): 201.998384 - 0.201998384 - 199.9984 - 0.1999984 = 1.597987216
    per_trip = D("1.597987216")
    report = grid.report()
    assert report.realized_pnl_quote == 2 * per_trip == D("3.195974432")
    assert report.extra["levels"][4]["realized_pnl_quote"] == "3.195974432"
    assert report.extra["levels"][4]["round_trips"] == 2
    assert report.extra["levels"][3]["round_trips"] == 0
    assert report.fees_quote == 2 * (D("0.1999984") + D("0.201998384"))
    h.orchestrator.stop(grid.id)
    h.connector.process_pending()
    assert grid.status is ExecutorStatus.TERMINATED and grid.close_type is CloseType.EARLY_STOP
    assert h.connector.open_order_count() == 0
    assert h.wallet.balance("USDT") == D(10_000) + 2 * per_trip
    assert h.wallet.balance("BTC") == D(1)
    finish(h)


def test_max_open_orders_rests_the_nearest_levels_and_places_the_next_on_a_fill():
    h = harness([
        FLAT,
        (100, 100, 97, 97),  # fills 98
        (97, 97, 95, 95),  # fills 96
        FLAT,
    ])  # fmt: skip
    grid = h.start(GridExecutor, grid_config(max_open_orders=2))
    # only the two levels nearest the mid 100 rest
    assert resting(h) == [("BUY", D("96.00"), D("2.0833")), ("BUY", D("98.00"), D("2.0408"))]
    assert grid.levels[2].state is GridLevelState.NOT_ACTIVE
    h.step()
    # 98 filled: its take profit rests (it does not count) and 94 takes the free slot
    assert resting(h) == [
        ("BUY", D("94.00"), D("2.1276")),
        ("BUY", D("96.00"), D("2.0833")),
        ("SELL", D("98.98"), D("2.0408")),
    ]
    h.step()
    assert resting(h) == [
        ("BUY", D("92.00"), D("2.1739")),
        ("BUY", D("94.00"), D("2.1276")),
        ("SELL", D("96.96"), D("2.0833")),
        ("SELL", D("98.98"), D("2.0408")),
    ]
    # back at 100 both take profits fill; the recycled 98 and 96 are nearer than 94 and 92,
    # which are cancelled to make room: the nearest two rest again
    h.step()
    assert grid.round_trips() == 2
    assert resting(h) == [("BUY", D("96.00"), D("2.0833")), ("BUY", D("98.00"), D("2.0408"))]
    # 98: 2.0408 x (98.98 - 98) = 1.999984, fees 0.1999984 + 0.201998384
    # 96: 2.0833 x (96.96 - 96) = 1.999968, fees 0.1999968 + 0.201996768
    expected = (D("1.999984") - D("0.1999984") - D("0.201998384")
                + D("1.999968") - D("0.1999968") - D("0.201996768"))  # fmt: skip
    assert grid.ledger.realized_pnl_quote == expected == D("3.195961648")
    finish(h)


def test_activation_bounds_place_a_level_only_near_the_mid_and_cancel_it_when_left():
    h = harness([
        FLAT,
        (100, 100, 98.5, 98.5),  # reaches 98.98 = 98 x 1.01: level 98 comes within bounds
        (98.5, 100, 98.5, 100),  # leaves them above 98.98 again: its buy is cancelled
        (100, 100, 96.5, 96.5),  # down to 96.5: 98 placed at 98.98, filled; 96 placed at 96.96
        FLAT,
    ])  # fmt: skip
    grid = h.start(GridExecutor, grid_config(activation_bounds=D("0.01")))
    assert resting(h) == []  # 100 is more than 1 % above every level
    h.step()
    assert resting(h) == [("BUY", D("98.00"), D("2.0408"))]
    h.step()
    assert resting(h) == []
    assert grid.levels[4].state is GridLevelState.NOT_ACTIVE
    h.step()
    # 98 filled (take profit resting); 96 came within bounds at 96.96, 94 never (94.94)
    assert resting(h) == [("BUY", D("96.00"), D("2.0833")), ("SELL", D("98.98"), D("2.0408"))]
    assert grid.bought_base == D("2.0408")
    finish(h)


def test_limit_price_stops_the_grid_and_sells_the_inventory_at_market():
    h = harness([
        FLAT,
        (100, 100, 84, 84),  # every level fills on the way down, then 85 is reached
        FLAT,
    ])  # fmt: skip
    grid = h.start(GridExecutor, grid_config(limit_price=D(85)))
    h.step()
    assert grid.status is ExecutorStatus.TERMINATED
    assert grid.close_type is CloseType.STOP_LOSS
    assert h.connector.open_order_count() == 0  # the five take profits were cancelled
    inventory = sum(AMOUNTS.values(), D(0))
    assert inventory == D("10.6478")
    # proceeds 10.6478 x 84.99 = 904.956522, x 0.999 = 904.051565478; cost 1000.9863864
    # bought: sum(p x a) = 999.9864 plus 0.1 % maker fee
    cost = D("999.9864") * (1 + FEE)
    # sold at 85 less 1 bp slippage = 84.9915 -> 84.99 (a sell rounds down), 0.1 % taker fee
    proceeds = inventory * D("84.99") * (1 - FEE)
    assert grid.ledger.realized_pnl_quote == proceeds - cost == D("-96.934820922")
    assert grid.ledger.base_amount == 0
    assert h.wallet.balance("BTC") == D(1)
    assert h.wallet.balance("USDT") == D(10_000) + proceeds - cost
    finish(h)


def test_stop_loss_below_the_average_cost_closes_the_grid():
    h = harness([
        FLAT,
        (100, 100, 95, 95),  # fills 98 and 96
        (95, 95, 94.5, 94.5),  # above the stop: nothing
        (94.5, 94.5, 93, 93),  # reaches the stop before the 94 level
        FLAT,
    ])  # fmt: skip
    grid = h.start(GridExecutor, grid_config(stop_loss=D("0.03")))
    h.step(2)
    # held 2.0408 + 2.0833; cost (2.0408 x 98 + 2.0833 x 96) x 1.001 = 399.9952 x 1.001
    assert grid.ledger.base_amount == D("4.1241")
    assert grid.ledger.cost_quote == D("400.3951952")
    assert grid.status is ExecutorStatus.RUNNING
    h.step()
    # stop = 400.3951952 / 4.1241 x 0.97 = 94.1736...; the market sell pays 1 bp:
    # 94.1736... x 0.9999 = 94.164... -> 94.16
    stop = D("400.3951952") / D("4.1241") * D("0.97")
    assert D("94.17") < stop < D("94.18")
    assert grid.close_type is CloseType.STOP_LOSS
    assert grid.bought_base == D("4.1241")  # 94 was never reached
    proceeds = D("4.1241") * D("94.16") * (1 - FEE)
    assert grid.ledger.realized_pnl_quote == proceeds - D("400.3951952")
    assert h.connector.open_order_count() == 0
    finish(h)


def test_early_stop_keep_position_hands_the_inventory_to_the_hold():
    h = harness([FLAT, (100, 100, 97, 97), FLAT])
    grid = h.start(GridExecutor, grid_config())
    h.step()
    h.orchestrator.stop(grid.id, keep_position=True)
    h.connector.process_pending()
    assert grid.close_type is CloseType.POSITION_HOLD
    assert h.connector.open_order_count() == 0
    hold = h.orchestrator.hold("test", PAIR)
    # 2.0408 bought at 98 plus the 0.1999984 fee
    assert (hold.base_amount, hold.cost_quote) == (D("2.0408"), D("200.1983984"))
    h.step()
    finish(h)


def test_time_limit_closes_the_inventory_at_market():
    stay = (97, 97, 97, 97)
    h = harness([FLAT, (100, 100, 97, 97), stay, stay, stay])
    grid = h.start(GridExecutor, grid_config(time_limit=2.0))
    h.run(grid)
    assert grid.close_type is CloseType.TIME_LIMIT
    # 2.0408 sold at 97 less 1 bp = 96.9903 -> 96.99, taker fee 0.1 %
    proceeds = D("2.0408") * D("96.99") * (1 - FEE)
    assert grid.ledger.realized_pnl_quote == proceeds - D("200.1983984")
    finish(h)


def test_sell_grid_sells_above_the_mid_and_buys_back_lower():
    h = harness([
        FLAT,
        (100, 102.5, 100, 102.5),  # up through 102: the sell at 102 fills
        (102.5, 102.5, 100.5, 100.5),  # down through 100.98 = 102 x 0.99: bought back
        FLAT,
    ], balances={"USDT": D(1000), "BTC": D(10)})  # fmt: skip
    grid = h.start(GridExecutor, grid_config(
        side=TradeType.SELL, start_price=D(102), end_price=D(110)))  # fmt: skip
    # levels 102..110 step 2, rounded up (sells); 200 / 102 = 1.96078... -> 1.9607
    assert grid.levels[0].price == D("102") and grid.levels[0].amount == D("1.9607")
    assert grid.levels[0].take_profit_price == D("100.98")
    assert len(resting(h)) == 5 and {side for side, *_ in resting(h)} == {"SELL"}
    h.step(2)
    assert grid.round_trips() == 1
    # sold 1.9607 x 102 = 199.9914 (fee 0.1999914), bought back x 100.98 = 197.991486
    # (fee 0.197991486): 199.9914 - 0.1999914 - 197.991486 - 0.197991486 = 1.601931114
    assert grid.ledger.realized_pnl_quote == D("1.601931114")
    assert h.wallet.balance("BTC") == D(10)
    finish(h)


def test_base_asset_fees_leave_dust_for_the_hold():
    h = harness([FLAT, (100, 100, 97.5, 97.5), (97.5, 99.5, 97.5, 99.5), FLAT],
                percent_token=None)  # fmt: skip
    grid = h.start(GridExecutor, grid_config())
    h.step(2)
    # the buy of 2.0408 pays 0.0020408 BTC: 2.0387592 received, the take profit sells 2.0387
    assert grid.round_trips() == 1
    assert grid.sold_base == D("2.0387")
    h.orchestrator.stop(grid.id, keep_position=True)
    h.connector.process_pending()
    assert h.orchestrator.hold("test", PAIR).base_amount == D("0.0000592")
    finish(h)


def test_config_errors_say_what_is_valid():
    with pytest.raises(ValidationError, match="start_price 98 must be below end_price 90"):
        grid_config(start_price=D(98), end_price=D(90))
    with pytest.raises(ValidationError, match="limit_price 95 must be below start_price 90"):
        grid_config(limit_price=D(95))
    with pytest.raises(ValidationError, match="extra"):
        grid_config(levels=3)


def test_levels_below_the_minimum_notional_fail_the_grid_at_start():
    rule = TradingRule(PAIR, D("0.01"), D("0.0001"), min_notional=D(50))
    h = harness([FLAT, FLAT], rule=rule)
    grid = h.start(GridExecutor, grid_config(total_amount_quote=D(100)))  # 20 USDT a level
    assert grid.close_type is CloseType.FAILED
    assert "below the minimum notional 50" in grid.failure_reason
    assert h.connector.open_order_count() == 0
    finish(h)
