"""Backtest metrics against hand-computed values and direct numpy formulas."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from birdterm.sim.metrics import (
    YEAR_MS,
    Drawdown,
    MetricsError,
    annualised_return_pct,
    calmar,
    expectancy,
    infer_periods_per_year,
    max_drawdown,
    profit_factor,
    returns_from_equity,
    sharpe,
    sortino,
    sqn,
    time_in_market,
    turnover,
    win_rate,
)
from birdterm.sim.metrics_report import ExecutorOutcome, Metrics, compute_metrics

MINUTE = 60_000
HAND_EQUITY = [100.0, 110.0, 99.0, 120.0, 90.0, 130.0]
HAND_PNLS = [10.0, -5.0, 20.0, -10.0, 5.0]


def minutes(n, start=1_700_000_000_000):
    return np.arange(n, dtype=np.int64) * MINUTE + start


def outcome(pnl, close_type="TAKE_PROFIT", opened=0, closed=MINUTE, volume=100.0, fees=0.1):
    return ExecutorOutcome(
        net_pnl_quote=pnl,
        net_pnl_pct=pnl / volume * 100.0 if volume else 0.0,
        close_type=close_type,
        open_timestamp_ms=opened,
        close_timestamp_ms=closed,
        filled_volume_quote=volume,
        fees_quote=fees,
    )


def brute_drawdown_pct(equity):
    """Largest (eq[i] - eq[j]) / eq[i] over i <= j, by broadcasting every pair."""
    eq = np.asarray(equity, dtype=float)
    drop = (eq[:, None] - eq[None, :]) / eq[:, None]
    return float(np.max(np.triu(drop), initial=0.0)) * 100.0


def assert_plain_finite(value):
    """Every number in a to_dict() result is a plain, finite int/float (or None)."""
    if isinstance(value, dict):
        for v in value.values():
            assert_plain_finite(v)
        return
    assert value is None or type(value) in (int, float)
    if isinstance(value, float):
        assert math.isfinite(value)


# ---- max drawdown ----------------------------------------------------------------------------


def test_max_drawdown_hand_series():
    dd = max_drawdown(HAND_EQUITY)
    assert dd == Drawdown(amount=30.0, pct=25.0, peak_index=3, trough_index=4, recovery_index=5)


def test_max_drawdown_not_recovered_by_the_end():
    dd = max_drawdown([100.0, 120.0, 90.0, 110.0])
    assert (dd.amount, dd.pct, dd.peak_index, dd.trough_index) == (30.0, 25.0, 1, 2)
    assert dd.recovery_index is None


def test_max_drawdown_episode_is_the_deepest_in_percent_not_in_quote():
    # 100 -> 50 loses 50 quote (50 %); 1000 -> 800 loses 200 quote but only 20 %.
    dd = max_drawdown([100.0, 50.0, 1000.0, 800.0, 900.0])
    assert dd == Drawdown(amount=50.0, pct=50.0, peak_index=0, trough_index=1, recovery_index=2)


def test_max_drawdown_peak_is_the_last_high_before_the_trough():
    dd = max_drawdown([120.0, 100.0, 120.0, 90.0, 125.0])
    assert dd == Drawdown(amount=30.0, pct=25.0, peak_index=2, trough_index=3, recovery_index=4)


def test_recovery_counts_reaching_the_peak_exactly():
    assert max_drawdown([100.0, 80.0, 100.0]).recovery_index == 2


@pytest.mark.parametrize(
    "equity",
    [[100.0], [100.0, 100.0, 100.0], [1.0, 2.0, 3.0], [100.0, 100.0 - 1e-11, 100.0 - 2e-11]],
    ids=str,
)
def test_no_drawdown_is_all_zero(equity):
    assert max_drawdown(equity) == Drawdown(0.0, 0.0, 0, 0, None)


def test_max_drawdown_matches_brute_force_on_a_random_walk():
    rng = np.random.default_rng(7)
    equity = 1000.0 * np.cumprod(1.0 + rng.normal(0.0, 0.01, 500))
    dd = max_drawdown(equity)
    assert dd.pct == pytest.approx(brute_drawdown_pct(equity), rel=1e-12)
    assert dd.amount == pytest.approx(equity[dd.peak_index] - equity[dd.trough_index])
    assert equity[dd.peak_index] == np.max(equity[: dd.trough_index + 1])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=1.0, max_value=1e6), min_size=1, max_size=40))
def test_max_drawdown_property(equity):
    dd = max_drawdown(equity)
    assert dd.pct == pytest.approx(brute_drawdown_pct(equity), rel=1e-9, abs=1e-9)
    assert dd.peak_index <= dd.trough_index
    if dd.recovery_index is not None:
        assert dd.recovery_index > dd.trough_index
        assert equity[dd.recovery_index] >= equity[dd.peak_index]


# ---- returns, Sharpe, Sortino ----------------------------------------------------------------


def test_returns_from_equity():
    np.testing.assert_allclose(returns_from_equity([100.0, 110.0, 99.0]), [0.1, -0.1])
    assert returns_from_equity([100.0]).size == 0


def test_sharpe_tiny_hand_series():
    # mean 0.02/3, sample variance 0.0007/3, so mean/std = 0.02/sqrt(0.0021); sqrt(4) = 2.
    assert sharpe([0.01, -0.01, 0.02], periods_per_year=4) == pytest.approx(
        2 * 0.02 / math.sqrt(0.0021), rel=1e-12
    )
    assert sharpe([0.01, -0.01, 0.02], periods_per_year=4) == pytest.approx(0.8728715609)


def test_sortino_tiny_hand_series_uses_all_periods_for_downside():
    # downside = sqrt((0 + 0.01^2 + 0) / 3): averaged over all three periods, not only the loser.
    value = sortino([0.01, -0.01, 0.02], periods_per_year=4)
    assert value == pytest.approx(2 * (0.02 / 3) / math.sqrt(0.0001 / 3), rel=1e-12)
    assert value == pytest.approx(4 / math.sqrt(3))


def test_sharpe_and_sortino_match_numpy_on_a_seeded_series():
    rng = np.random.default_rng(42)
    r = rng.normal(0.0001, 0.001, 2000)
    ppy = 525_600
    assert sharpe(r, ppy) == pytest.approx(np.mean(r) / np.std(r, ddof=1) * np.sqrt(ppy))
    rf = 0.05
    ex = r - rf / ppy
    assert sharpe(r, ppy, risk_free=rf) == pytest.approx(
        np.mean(ex) / np.std(ex, ddof=1) * np.sqrt(ppy)
    )
    target = 0.10
    ex = r - target / ppy
    downside = np.sqrt(np.mean(np.minimum(ex, 0.0) ** 2))
    assert sortino(r, ppy, target=target) == pytest.approx(np.mean(ex) / downside * np.sqrt(ppy))


@pytest.mark.parametrize(
    "returns", [[], [0.01], [0.0, 0.0, 0.0], [0.002, 0.002, 0.002, 0.002]], ids=str
)
def test_sharpe_is_none_without_spread(returns):
    assert sharpe(returns, 525_600) is None


def test_constant_growth_float_noise_gives_no_sharpe():
    equity = 100.0 * 1.001 ** np.arange(50)
    assert sharpe(returns_from_equity(equity), 525_600) is None
    assert sortino(returns_from_equity(equity), 525_600) is None


@pytest.mark.parametrize("returns", [[], [0.01, 0.02], [0.0, 0.0]], ids=str)
def test_sortino_is_none_without_downside(returns):
    assert sortino(returns, 525_600) is None


# ---- Calmar and annualised return ------------------------------------------------------------


def test_calmar_over_exactly_one_year():
    ts = np.linspace(0, YEAR_MS, 6).astype(np.int64)
    assert annualised_return_pct(HAND_EQUITY, ts, 100.0) == pytest.approx(30.0)
    assert calmar(HAND_EQUITY, ts, 100.0) == pytest.approx(30.0 / 25.0)


def test_calmar_annualises_simply_not_compounded():
    ts = np.linspace(0, YEAR_MS // 2, 6).astype(np.int64)
    assert annualised_return_pct(HAND_EQUITY, ts, 100.0) == pytest.approx(60.0)
    assert calmar(HAND_EQUITY, ts, 100.0) == pytest.approx(60.0 / 25.0)


def test_calmar_is_none_without_drawdown_or_span():
    assert calmar([100.0, 101.0, 102.0], minutes(3), 100.0) is None
    assert calmar([100.0], minutes(1), 100.0) is None
    assert annualised_return_pct([100.0], minutes(1), 100.0) is None


# ---- trade statistics ------------------------------------------------------------------------


def test_trade_statistics_on_hand_pnls():
    assert profit_factor(HAND_PNLS) == pytest.approx(35.0 / 15.0)
    assert win_rate(HAND_PNLS) == 0.6
    assert expectancy(HAND_PNLS) == pytest.approx(4.0)
    # sample variance of [10, -5, 20, -10, 5] around 4 is 570 / 4
    assert sqn(HAND_PNLS) == pytest.approx(math.sqrt(5) * 4.0 / math.sqrt(142.5))


def test_sqn_caps_the_trade_count_at_100():
    pnls = np.tile([1.0, -0.5, 2.0], 50)
    assert sqn(pnls) == pytest.approx(10.0 * np.mean(pnls) / np.std(pnls, ddof=1))


def test_all_wins():
    assert profit_factor([1.0, 2.0, 3.0]) is None
    assert win_rate([1.0, 2.0, 3.0]) == 1.0
    assert expectancy([1.0, 2.0, 3.0]) == 2.0
    assert sqn([1.0, 2.0, 3.0]) == pytest.approx(math.sqrt(3) * 2.0)


def test_all_losses_and_break_even():
    assert profit_factor([-1.0, -2.0]) == 0.0
    assert win_rate([-1.0, -2.0]) == 0.0
    assert win_rate([0.0, 10.0, -5.0]) == pytest.approx(1 / 3)
    assert profit_factor([0.0, 10.0, -5.0]) == 2.0


def test_no_trades_give_none():
    for metric in (profit_factor, win_rate, expectancy, sqn):
        assert metric([]) is None
    assert sqn([5.0]) is None
    assert sqn([5.0, 5.0, 5.0]) is None


# ---- time in market, turnover, sampling ------------------------------------------------------


@pytest.mark.parametrize(
    ("intervals", "expected"),
    [
        ([(10, 30), (20, 40), (60, 70)], 0.4),  # overlapping pair merged, plus one apart
        ([(60, 70), (20, 40), (10, 30)], 0.4),  # order does not matter
        ([(0, 10), (50, 60)], 0.2),  # disjoint
        ([(0, 10), (10, 20)], 0.2),  # touching
        ([(10, 90), (20, 30), (40, 50)], 0.8),  # nested
        ([(-50, 10), (90, 200)], 0.2),  # clipped to the span
        ([(0, 100)], 1.0),
        ([(40, 40)], 0.0),
        ([], 0.0),
    ],
)
def test_time_in_market(intervals, expected):
    assert time_in_market(np.array(intervals, dtype=np.int64), 0, 100) == pytest.approx(expected)


def test_time_in_market_zero_span_is_none():
    assert time_in_market(np.array([(5, 5)]), 5, 5) is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(-20, 220), st.integers(0, 80)), max_size=12))
def test_time_in_market_matches_a_per_millisecond_count(pairs):
    intervals = np.array([(a, a + w) for a, w in pairs], dtype=np.int64).reshape(-1, 2)
    covered = np.zeros(200, dtype=bool)
    for a, b in intervals:
        covered[max(a, 0) : max(min(b, 200), 0)] = True
    assert time_in_market(intervals, 0, 200) == pytest.approx(covered.mean())


def test_turnover():
    assert turnover(500.0, 100.0) == 5.0
    assert turnover(0.0, 100.0) == 0.0


@pytest.mark.parametrize(
    ("step", "ppy"), [(MINUTE, 525_600), (1000, 31_536_000), (3_600_000, 8760)]
)
def test_periods_per_year_from_the_sampling_step(step, ppy):
    assert infer_periods_per_year(np.arange(10, dtype=np.int64) * step) == ppy


def test_periods_per_year_ignores_a_gap():
    ts = np.concatenate((minutes(10), minutes(10, start=1_800_000_000_000)))
    assert infer_periods_per_year(ts) == 525_600
    assert infer_periods_per_year(minutes(1)) is None


# ---- compute_metrics -------------------------------------------------------------------------


def hand_outcomes(start):
    close_types = ["TAKE_PROFIT", "STOP_LOSS", "TAKE_PROFIT", "STOP_LOSS", "TIME_LIMIT"]
    traded = [
        outcome(p, ct, opened=start + i * MINUTE, closed=start + (i + 1) * MINUTE, fees=0.25)
        for i, (p, ct) in enumerate(zip(HAND_PNLS, close_types, strict=True))
    ]
    never_filled = outcome(0.0, "EARLY_STOP", opened=start, closed=start + 5 * MINUTE, volume=0.0)
    return [never_filled, *traded]


def test_compute_metrics_hand_scenario():
    ts = minutes(6)
    start = int(ts[0])
    m = compute_metrics(ts, HAND_EQUITY, 100.0, hand_outcomes(start))
    assert (m.start_ms, m.end_ms) == (start, start + 5 * MINUTE)
    assert m.net_pnl_quote == 30.0
    assert m.net_pnl_pct == pytest.approx(30.0)
    assert (m.max_drawdown_quote, m.max_drawdown_pct) == (30.0, 25.0)
    assert m.max_drawdown_peak_ms == start + 3 * MINUTE
    assert m.max_drawdown_trough_ms == start + 4 * MINUTE
    assert m.max_drawdown_recovery_ms == start + 5 * MINUTE
    assert m.periods_per_year == 525_600
    r = np.diff(HAND_EQUITY) / np.array(HAND_EQUITY[:-1])
    assert m.sharpe == pytest.approx(np.mean(r) / np.std(r, ddof=1) * np.sqrt(525_600))
    downside = np.sqrt(np.mean(np.minimum(r, 0.0) ** 2))
    assert m.sortino == pytest.approx(np.mean(r) / downside * np.sqrt(525_600))
    span_years = 5 * MINUTE / YEAR_MS
    assert m.annualised_return_pct == pytest.approx(30.0 / span_years)
    assert m.calmar == pytest.approx(30.0 / span_years / 25.0)
    # the executor that never filled is counted by close type but is no trade
    assert m.executors == 6
    assert m.close_types == {"EARLY_STOP": 1, "STOP_LOSS": 2, "TAKE_PROFIT": 2, "TIME_LIMIT": 1}
    assert list(m.close_types) == sorted(m.close_types)
    assert (m.trades, m.wins, m.losses) == (5, 3, 2)
    assert m.win_rate == 0.6
    assert (m.gross_profit_quote, m.gross_loss_quote) == (35.0, 15.0)
    assert m.profit_factor == pytest.approx(35.0 / 15.0)
    assert m.expectancy_quote == pytest.approx(4.0)
    assert m.expectancy_pct == pytest.approx(4.0)  # each trade filled 100 quote
    assert m.sqn == pytest.approx(math.sqrt(5) * 4.0 / math.sqrt(142.5))
    assert m.fees_quote == pytest.approx(5 * 0.25 + 0.1)
    assert m.volume_quote == 500.0
    assert m.turnover == 5.0
    assert m.time_in_market == 1.0


def test_compute_metrics_time_in_market_uses_only_filled_executors():
    ts = minutes(11)
    start = int(ts[0])
    outcomes = [
        outcome(1.0, opened=start, closed=start + 2 * MINUTE),
        outcome(-1.0, "STOP_LOSS", opened=start + MINUTE, closed=start + 3 * MINUTE),
        outcome(0.0, "EXPIRED", opened=start, closed=start + 10 * MINUTE, volume=0.0),
    ]
    m = compute_metrics(ts, np.full(11, 100.0), 100.0, outcomes)
    assert m.time_in_market == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("equity", "outcomes"),
    [
        ([100.0], []),  # a single sample
        ([100.0] * 5, []),  # flat, no trades
        ([100.0, 101.0, 102.0], [outcome(1.0), outcome(2.0)]),  # all wins, no drawdown
        ([100.0, 100.0], [outcome(3.0), outcome(3.0)]),  # identical trades
    ],
    ids=["single-point", "flat", "all-wins", "same-pnl"],
)
def test_edge_cases_never_produce_nan(equity, outcomes):
    m = compute_metrics(minutes(len(equity)), equity, 100.0, outcomes)
    assert_plain_finite(m.to_dict())
    assert m.max_drawdown_pct == 0.0
    assert m.max_drawdown_peak_ms is None
    assert m.calmar is None


def test_flat_equity_has_no_risk_figures():
    m = compute_metrics(minutes(5), [100.0] * 5, 100.0, [])
    assert m.sharpe is m.sortino is m.calmar is None
    assert (m.net_pnl_quote, m.net_pnl_pct, m.annualised_return_pct) == (0.0, 0.0, 0.0)


def test_no_trades_documented_values():
    m = compute_metrics(minutes(5), [100.0, 99.0, 101.0, 100.0, 102.0], 100.0, [])
    assert (m.executors, m.trades, m.wins, m.losses) == (0, 0, 0, 0)
    assert m.close_types == {}
    assert m.win_rate is m.profit_factor is m.expectancy_quote is m.sqn is None
    assert (m.fees_quote, m.volume_quote, m.turnover, m.time_in_market) == (0.0, 0.0, 0.0, 0.0)
    assert m.sharpe is not None


def test_single_point_documented_values():
    m = compute_metrics(minutes(1), [100.0], 100.0, [])
    assert m.periods_per_year is None
    assert m.annualised_return_pct is m.time_in_market is m.sortino is None
    assert m.net_pnl_quote == 0.0


def test_explicit_periods_per_year_is_used():
    m = compute_metrics(minutes(6), HAND_EQUITY, 100.0, [], periods_per_year=4)
    r = np.diff(HAND_EQUITY) / np.array(HAND_EQUITY[:-1])
    assert m.periods_per_year == 4
    assert m.sharpe == pytest.approx(np.mean(r) / np.std(r, ddof=1) * 2.0)


# ---- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"equity": HAND_EQUITY[:5]}, "equity"),
        ({"timestamps_ms": minutes(6)[::-1]}, "timestamps_ms"),
        ({"timestamps_ms": np.array([0, MINUTE, MINUTE, 3, 4, 5]) * MINUTE}, "timestamps_ms"),
        ({"timestamps_ms": minutes(6).astype(float)}, "timestamps_ms"),
        ({"equity": [100.0, 110.0, math.nan, 120.0, 90.0, 130.0]}, "equity"),
        ({"equity": [100.0, 110.0, math.inf, 120.0, 90.0, 130.0]}, "equity"),
        ({"equity": [100.0, 110.0, 0.0, 120.0, 90.0, 130.0]}, "equity"),
        ({"equity": []}, "equity"),
        ({"initial_value": 0.0}, "initial_value"),
        ({"initial_value": math.nan}, "initial_value"),
        ({"periods_per_year": -1.0}, "periods_per_year"),
        ({"outcomes": [(1.0, "TAKE_PROFIT")]}, "outcomes"),
    ],
    ids=str,
)
def test_compute_metrics_rejects_bad_input(kwargs, argument):
    args = {
        "timestamps_ms": minutes(6),
        "equity": HAND_EQUITY,
        "initial_value": 100.0,
        "outcomes": [],
    }
    if kwargs.get("equity") == []:
        args["timestamps_ms"] = np.array([], dtype=np.int64)
    args.update(kwargs)
    with pytest.raises(MetricsError, match=argument):
        compute_metrics(**args)


def test_metric_functions_name_their_bad_argument():
    with pytest.raises(MetricsError, match="pnls"):
        profit_factor([1.0, math.nan])
    with pytest.raises(MetricsError, match="returns"):
        sharpe([0.1, math.inf], 4)
    with pytest.raises(MetricsError, match="periods_per_year"):
        sortino([0.1, -0.1], 0)
    with pytest.raises(MetricsError, match="equity"):
        max_drawdown([[100.0, 90.0]])
    with pytest.raises(MetricsError, match="intervals"):
        time_in_market(np.array([(10, 5)]), 0, 100)
    with pytest.raises(MetricsError, match="end_ms"):
        time_in_market(np.array([(1, 5)]), 100, 0)
    assert issubclass(MetricsError, ValueError)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("net_pnl_quote", math.nan),
        ("fees_quote", math.inf),
        ("filled_volume_quote", -1.0),
        ("close_timestamp_ms", -1),
        ("open_timestamp_ms", 1.5),
    ],
)
def test_executor_outcome_rejects_bad_fields(field, value):
    fields = {
        "net_pnl_quote": 1.0,
        "net_pnl_pct": 1.0,
        "close_type": "TAKE_PROFIT",
        "open_timestamp_ms": 0,
        "close_timestamp_ms": 10,
        "filled_volume_quote": 100.0,
        "fees_quote": 0.1,
    }
    fields[field] = value
    with pytest.raises(MetricsError, match=f"ExecutorOutcome.{field}"):
        ExecutorOutcome(**fields)


# ---- to_dict and the summary -----------------------------------------------------------------

EXPECTED_KEYS = [
    "start_ms",
    "end_ms",
    "initial_value",
    "final_value",
    "net_pnl_quote",
    "net_pnl_pct",
    "annualised_return_pct",
    "max_drawdown_quote",
    "max_drawdown_pct",
    "max_drawdown_peak_ms",
    "max_drawdown_trough_ms",
    "max_drawdown_recovery_ms",
    "periods_per_year",
    "sharpe",
    "sortino",
    "calmar",
    "executors",
    "close_types",
    "trades",
    "wins",
    "losses",
    "win_rate",
    "gross_profit_quote",
    "gross_loss_quote",
    "profit_factor",
    "expectancy_quote",
    "expectancy_pct",
    "sqn",
    "fees_quote",
    "volume_quote",
    "turnover",
    "time_in_market",
]


def test_to_dict_is_plain_stable_and_ordered():
    ts = minutes(6)
    outcomes = hand_outcomes(int(ts[0]))
    m = compute_metrics(ts, np.array(HAND_EQUITY), np.float64(100.0), outcomes)
    d = m.to_dict()
    assert list(d) == EXPECTED_KEYS
    assert_plain_finite(d)
    assert json.dumps(d) == json.dumps(m.to_dict())
    again = compute_metrics(ts, HAND_EQUITY, 100.0, list(reversed(outcomes)))
    assert json.dumps(again.to_dict()) == json.dumps(d)
    assert list(d["close_types"]) == ["EARLY_STOP", "STOP_LOSS", "TAKE_PROFIT", "TIME_LIMIT"]


def test_to_dict_writes_no_negative_zero():
    m = compute_metrics(minutes(3), [100.0, 100.0, 100.0], 100.0, [])
    text = json.dumps(m.to_dict())
    assert "-0.0" not in text


def test_summary_rows():
    ts = minutes(6)
    m = compute_metrics(ts, HAND_EQUITY, 100.0, hand_outcomes(int(ts[0])))
    rows = dict(m.summary_rows())
    assert rows["Max drawdown"] == "-30.00 USDT (-25.00 %)"
    assert rows["Net P&L"] == "+30.00 USDT (+30.00 %)"
    assert rows["Win rate"] == "60.0 %"
    assert rows["Profit factor"] == "2.33"
    assert rows["Expectancy"] == "+4.00 USDT (+4.00 %) per trade"
    assert rows["Executors"] == "6 (EARLY_STOP 1, STOP_LOSS 2, TAKE_PROFIT 2, TIME_LIMIT 1)"
    assert rows["Trades"] == "5 (3 won, 2 lost)"
    assert rows["Turnover"] == "5.00x"
    assert rows["Time in market"] == "100.0 %"
    assert rows["Period"] == "2023-11-14 22:13 -> 2023-11-14 22:18 UTC (00:05:00)"
    btc = dict(m.summary_rows(quote_asset="BTC", decimals=4))
    assert btc["Fees paid"] == "1.3500 BTC"


def test_summary_rows_for_undefined_figures():
    m = compute_metrics(minutes(3), [100.0, 101.0, 102.0], 100.0, [outcome(1.0), outcome(2.0)])
    rows = dict(m.summary_rows())
    assert rows["Profit factor"] == "n/a (no losing trades)"
    assert rows["Max drawdown"] == "0.00 USDT (0.00 %)"
    assert rows["Calmar"] == "n/a"
    empty = dict(compute_metrics(minutes(1), [100.0], 100.0, []).summary_rows())
    assert empty["Profit factor"] == "n/a (no trades)"
    assert empty["Win rate"] == empty["Sharpe"] == empty["Time in market"] == "n/a"
    assert all(isinstance(label, str) and isinstance(text, str) for label, text in m.summary_rows())
    assert isinstance(m, Metrics)
