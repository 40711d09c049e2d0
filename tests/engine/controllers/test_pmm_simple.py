"""PmmSimple on a real simulated market: level prices and sizes, refresh, per-level cooldown.

Tick 0.01, step 0.0001, no fees unless stated, 1 s candles; the mid starts at 100. Levels:
buy_0 1 % below with 25 % of 1 000 USDT, buy_1 2 % below with 25 %, sell_0 1 % above with 50 %.
"""

from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from birdterm.engine.candle_feed import CandleFeed
from birdterm.engine.controllers.base import ControllerContext, StopExecutor
from birdterm.engine.controllers.pmm_simple import PmmSimple, PmmSimpleConfig
from birdterm.engine.executors.base import CloseType
from birdterm.engine.executors.position import TripleBarrier

from tests.engine.executors.harness import PAIR, D, SimHarness, candles

FLAT = (100, 100, 100, 100)
CONFIGS = Path(__file__).resolve().parents[3] / "configs"


def make(rows, **overrides) -> tuple[SimHarness, PmmSimple]:
    h = SimHarness(candles(rows), balances={"USDT": D(10_000), "BTC": D(10)})
    fields = dict(
        id="pmm", trading_pair=PAIR, buy_spreads=[D("0.01"), D("0.02")],
        sell_spreads=[D("0.01")], buy_amounts_pct=[D("0.25"), D("0.25")],
        sell_amounts_pct=[D("0.5")], total_amount_quote=D(1000), executor_refresh_time=5,
    )  # fmt: skip
    fields.update(overrides)
    context = ControllerContext(h.connector, h.orchestrator, {PAIR: CandleFeed(h.data, 1000)})
    return h, PmmSimple(PmmSimpleConfig(**fields), context)


def entries(controller: PmmSimple) -> dict[str, tuple[str, Decimal, Decimal]]:
    return {e.level_id: (e.side.value, e.config.entry_price, e.config.amount)
            for e in controller.executors}  # fmt: skip


def finish(h: SimHarness) -> None:
    h.assert_pnl_identity()
    assert all(v >= 0 for v in h.wallet.total.values()), h.wallet.total


def test_one_executor_per_level_at_the_exact_prices_and_sizes():
    h, pmm = make([FLAT, FLAT, FLAT])
    actions = h.decide(pmm)
    assert len(actions) == 3
    assert entries(pmm) == {
        "buy_0": ("BUY", D("99.00"), D("2.5252")),  # 100 x 0.99; 250 / 99 = 2.52525...
        "buy_1": ("BUY", D("98.00"), D("2.5510")),  # 100 x 0.98; 250 / 98 = 2.55102...
        "sell_0": ("SELL", D("101.00"), D("4.9504")),  # 100 x 1.01; 500 / 101 = 4.95049...
    }
    assert h.connector.open_order_count() == 3
    h.step()
    assert h.decide(pmm) == []  # every level is busy
    finish(h)


def test_unfilled_entries_are_refreshed_at_the_new_mid_after_the_refresh_time():
    drift = (100, 100.5, 100, 100.5)
    rows = [FLAT, drift] + [(100.5, 100.5, 100.5, 100.5)] * 7
    h, pmm = make(rows)
    h.decide(pmm)  # t = 1: created
    first = {e.id for e in pmm.executors}
    for _ in range(4):  # t = 2 .. 5: younger than 5 s
        h.step()
        assert h.decide(pmm) == []
    assert pmm.next_decision(h.connector.now()) == 6.0  # created at 1 + refresh 5
    h.step()  # t = 6: 5 s old and unfilled
    actions = h.decide(pmm)
    assert {a.executor_id for a in actions if isinstance(a, StopExecutor)} == first
    assert not list(pmm.executors)
    assert {e.close_type for e in h.orchestrator.closed} == {CloseType.EARLY_STOP}
    h.step()  # t = 7: no cooldown for levels that never traded: placed at the mid 100.5
    h.decide(pmm)
    assert entries(pmm) == {
        "buy_0": ("BUY", D("99.49"), D("2.5128")),  # 100.5 x 0.99 = 99.495 -> 99.49 (bid down)
        "buy_1": ("BUY", D("98.49"), D("2.5383")),  # 100.5 x 0.98 = 98.49; 250 / 98.49
        "sell_0": ("SELL", D("101.51"), D("4.9256")),  # 101.505 -> 101.51 (ask up); 500/101.51
    }
    finish(h)


def test_a_level_that_traded_waits_its_cooldown_while_the_others_stay():
    rows = [
        FLAT,
        (100, 100, 98.5, 98.5),  # t = 1..2: buy_0 at 99 fills, buy_1 at 98 does not
        (98.5, 100, 98.5, 100),  # t = 2..3: its take profit 99 x 1.005 = 99.495 -> 99.50 fills
        FLAT, FLAT, FLAT, FLAT,
    ]  # fmt: skip
    barrier = TripleBarrier(take_profit=D("0.005"))
    h, pmm = make(rows, cooldown_time=3, executor_refresh_time=60, triple_barrier=barrier)
    h.decide(pmm)
    buy_0 = next(e for e in pmm.executors if e.level_id == "buy_0")
    h.step(2)
    assert buy_0.close_type is CloseType.TAKE_PROFIT
    assert buy_0.close_ts == 3.0  # filled in the candle 2..3 s, known at its close
    # 2.5252 x (99.50 - 99) = 1.2626, no fees
    assert buy_0.ledger.realized_pnl_quote == D("1.2626")
    assert h.decide(pmm) == []  # t = 3: cooling until 3 + 3 = 6
    assert pmm.next_decision(h.connector.now()) == 6.0
    h.step()
    assert h.decide(pmm) == []  # t = 4
    h.step()
    assert h.decide(pmm) == []  # t = 5
    assert set(entries(pmm)) == {"buy_1", "sell_0"}
    h.step()
    actions = h.decide(pmm)  # t = 6: buy_0 again, at the mid 100
    assert [a.config.level_id for a in actions] == ["buy_0"]
    assert entries(pmm)["buy_0"] == ("BUY", D("99.00"), D("2.5252"))
    assert h.wallet.balance("USDT") == D(10_000) + D("1.2626")
    finish(h)


def test_spreads_and_amounts_of_different_length_are_rejected():
    with pytest.raises(ValidationError) as err:
        PmmSimpleConfig(id="pmm", trading_pair=PAIR, buy_spreads=[D("0.01"), D("0.02")],
                        buy_amounts_pct=[D("0.5")], total_amount_quote=D(1000))  # fmt: skip
    assert "buy_spreads has 2 levels but buy_amounts_pct has 1; give one amount per spread" in (
        str(err.value)
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"sell_spreads": [D(0)], "sell_amounts_pct": [D("0.5")]}, "must be > 0 and < 1"),
        ({"buy_spreads": [D("0.01")], "buy_amounts_pct": [D("0.6")],
          "sell_spreads": [D("0.01")], "sell_amounts_pct": [D("0.6")]}, "add up to 1.2"),
        ({}, "at least one level"),
        ({"buy_spreads": [D("0.01")], "buy_amounts_pct": [D(1)], "entry_order_type": "MARKET"},
         "LIMIT or LIMIT_MAKER"),
    ],
)  # fmt: skip
def test_invalid_levels_say_what_is_valid(fields, message):
    with pytest.raises(ValidationError, match=message):
        PmmSimpleConfig(id="pmm", trading_pair=PAIR, total_amount_quote=D(1000), **fields)


def test_a_level_whose_executor_failed_backs_off_instead_of_retrying_every_tick():
    from collections import Counter

    from birdterm.engine.controllers.base import FAILURE_BACKOFF
    from birdterm.sim.backtest import BacktestEngine, MarketData
    from birdterm.sim.backtest_config import load_backtest_file
    from birdterm.sim.synthetic import synthetic_candles

    cfg, settings = load_backtest_file(CONFIGS / "pmm_simple.toml")
    # no BTC: every sell level is refused (spot sells need inventory)
    settings = settings.model_copy(update={"initial_balances": {"USDT": D(1000)}})
    data = MarketData(PAIR, synthetic_candles(7, 1_704_067_200_000, 3600, "1s", 30_000.0))
    run = BacktestEngine([cfg], [data], settings).run()
    failed = Counter(e.level_id for e in run.executors if e.close_type == "FAILED")
    sells = [lvl for lvl in failed if lvl.startswith("sell")]
    assert sells and all(failed[lvl] <= 3600 / FAILURE_BACKOFF + 1 for lvl in sells)
