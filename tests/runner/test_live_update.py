"""Live config updates: which fields may change, and a controller really using the new values
while keeping what it remembers (every controller type, on a simulated market)."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import pytest

from birdterm.engine.candle_feed import CandleFeed
from birdterm.engine.controllers.base import ControllerContext
from birdterm.engine.controllers.registry import CONTROLLER_TYPES, controller_class
from birdterm.runner import live_update
from birdterm.runner.live_update import (
    LiveUpdateError,
    apply_live,
    restart_changes,
    updatable_changes,
)
from birdterm.sim.backtest_config import load_controller_document

from tests.engine.executors.harness import PAIR, SimHarness, candles
from tests.helpers import REPO

D = Decimal


def example(type_name: str):
    """The controller config of configs/<type>.toml."""
    return load_controller_document(REPO / "configs" / f"{type_name}.toml").controller


def changed(config, **fields):
    return type(config).model_validate({**config.model_dump(), **fields})


def running(type_name: str, rows: int = 300):
    """A controller of `type_name` on a flat simulated market, and a session-like holder."""
    data = candles([(100, 100.5, 99.5, 100)] * rows)
    h = SimHarness(data, balances={"USDT": D(10_000), "BTC": D(10)})
    h.step(rows - 2)
    config = example(type_name)
    context = ControllerContext(h.connector, h.orchestrator, {PAIR: CandleFeed(h.data, 1000)})
    controller = controller_class(type_name)(config, context)
    session = SimpleNamespace(
        config=config,
        controller_id=config.id,
        state="running",
        driver=SimpleNamespace(controller=controller),
        document=load_controller_document(REPO / "configs" / f"{type_name}.toml"),
    )
    return h, controller, session


def test_updatable_changes_are_every_field_but_the_four_restart_fields():
    old = example("pmm_inventory")
    new = changed(
        old, take_profit=D("0.006"), buy_spreads=[D("0.001")], trading_pair="ETH-USDT",
        id="other", connector="binance",
    )  # fmt: skip
    assert updatable_changes(old, new) == {
        "buy_spreads": ([D("0.0005"), D("0.001"), D("0.002")], [D("0.001")]),
        "take_profit": (D("0.004"), D("0.006")),
    }
    assert restart_changes(old, new) == {
        "id": ("pmm_inventory_btc", "other"),
        "connector": ("binance_paper", "binance"),
        "trading_pair": ("BTC-USDT", "ETH-USDT"),
    }
    # the same values written differently are no change
    assert updatable_changes(old, changed(old, take_profit=D("0.0040"))) == {}
    # another controller type: nothing carries over, the type needs a restart
    other = example("pmm_simple")
    assert updatable_changes(old, other) == {}
    assert "type" in restart_changes(old, other)


def test_every_controller_attribute_is_known_as_derived_or_remembered():
    """A new attribute cached from the config must be added to live_update's tables."""
    for type_name in CONTROLLER_TYPES:
        _, controller, _ = running(type_name)
        known = (
            set(live_update._BASE)
            | set(live_update._DERIVED[type_name])
            | set(live_update._STATE[type_name])
        )
        assert set(vars(controller)) == known, type_name


@pytest.mark.parametrize("type_name", sorted(CONTROLLER_TYPES))
def test_update_interval_applies_to_every_controller_type(type_name):
    h, controller, session = running(type_name)
    listeners = list(h.orchestrator.listeners)
    new = changed(session.config, update_interval=7.5)
    lines = apply_live(session, new)
    assert controller.config is session.config
    assert controller.config.update_interval == 7.5
    assert session.document.controller is session.config
    assert h.orchestrator.listeners == listeners  # nothing registered twice
    assert lines[0] == f"{session.config.id}: update_interval 1.0 -> 7.5"
    assert "executors already running keep their settings" in lines[-1]
    h.decide(controller)  # and it still decides


def test_pmm_inventory_rebuilds_levels_and_sizes_but_keeps_level_memory():
    h, controller, session = running("pmm_inventory")
    controller.levels[0].last_fill = 123.0
    controller.levels[1].retry_after = 456.0
    h.decide(controller)
    active = list(h.orchestrator.active.values())
    assert active
    new = changed(
        session.config, buy_spreads=[D("0.0005"), D("0.003")], take_profit=D("0.01"),
        total_amount_quote=D(2000), min_base_pct=D("0.2"),
    )  # fmt: skip
    apply_live(session, new)
    assert [(lv.id, lv.spread) for lv in controller.levels] == [
        ("buy_0", D("0.0005")), ("buy_1", D("0.003")),
        ("sell_0", D("0.0005")), ("sell_1", D("0.001")), ("sell_2", D("0.002")),
    ]  # fmt: skip
    assert controller._by_id["buy_1"] is controller.levels[1]
    assert controller.levels[0].last_fill == 123.0 and controller.levels[1].retry_after == 456.0
    assert controller.order_quote == D(2000) * D("0.06") / 5
    assert controller.barrier.take_profit == D("0.01")
    assert controller._min == 0.2
    for executor in active:  # running executors keep the barrier they started with
        assert executor.config.barrier.take_profit == D("0.004")
    # the level view is rebuilt from the running executors: no level quotes twice
    before = len(h.orchestrator.active)
    actions = h.decide(controller)
    placed = [a.config.level_id for a in actions if hasattr(a, "config")]
    pending = {e.config.level_id for e in active if e.is_active}
    assert not set(placed) & pending
    assert len(h.orchestrator.active) >= before


def test_pmm_simple_uses_the_new_levels_and_keeps_cooldowns():
    _, controller, session = running("pmm_simple")
    controller._cooldown_until["buy_0"] = 999.0
    new = changed(session.config, buy_spreads=[D("0.002"), D("0.004")])
    apply_live(session, new)
    assert [lv[2] for lv in controller._levels if lv[0].startswith("buy")] == [
        D("0.002"), D("0.004"),
    ]  # fmt: skip
    assert controller._cooldown_until == {"buy_0": 999.0}


def test_bollinger_new_bands_drop_cached_signals_and_new_interval_skips_past_candles():
    h, controller, session = running("bollinger", rows=600)
    controller.decide(h.connector.now())
    assert controller._signal_view is not None
    passed = controller._passed_row
    apply_live(session, changed(session.config, bb_std=3.0))
    assert controller._key == "bollinger:100:3.0"
    assert controller._signal_view is None  # recomputed with the new bands
    assert controller._passed_row == passed  # same candles: same memory
    apply_live(session, changed(session.config, interval="2m"))
    assert controller._interval_ms == 120_000
    assert controller.feed.interval_ms == 120_000
    assert controller._passed_row == controller.feed.closed_count(h.connector.now()) - 1
    assert controller.decide(h.connector.now()) == []  # nothing from a candle already past


def test_dca_and_grid_read_the_new_values():
    _, dca, session = running("dca")
    apply_live(session, changed(session.config, rsi_buy=25, cooldown=120))
    assert dca._signal_key().startswith("dca_signal_14_25")
    _, grid, gsession = running("grid")
    apply_live(gsession, changed(gsession.config, n_levels=4))
    assert grid.config.n_levels == 4


def test_restart_fields_are_not_applied_and_say_so():
    _, controller, session = running("pmm_inventory")
    old = session.config
    lines = apply_live(session, changed(old, trading_pair="ETH-USDT"))
    assert session.config is old and controller.config is old
    assert lines == [
        f"{old.id}: no field that can change live has changed",
        f"{old.id}: trading_pair BTC-USDT -> ETH-USDT needs a restart "
        f"(/stop {old.id}, then /start); not applied",
    ]
    # with other changes too, those are applied and the pair stays
    apply_live(session, changed(old, trading_pair="ETH-USDT", cooldown_time=30))
    assert session.config.trading_pair == "BTC-USDT"
    assert session.config.cooldown_time == 30


def test_a_stopped_session_refuses():
    _, _, session = running("grid")
    session.driver = None
    with pytest.raises(LiveUpdateError, match="is not running"):
        apply_live(session, changed(session.config, n_levels=4))
