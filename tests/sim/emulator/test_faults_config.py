"""FaultConfig validation and the seeded dice of FaultInjector (no network)."""

import re

import pytest

from birdterm.sim.emulator.faults import STAT_KEYS, FaultConfig, FaultInjector


def _stats() -> dict[str, int]:
    return dict.fromkeys(STAT_KEYS, 0)


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("lost_response_rate", 1.5, "lost_response_rate must be in [0, 1]"),
        ("server_error_rate", -0.1, "server_error_rate must be in [0, 1]"),
        ("ws_drop_rate", "x", "ws_drop_rate must be a number in [0, 1]"),
        ("depth_gap_rate", True, "depth_gap_rate must be a number"),
        ("latency_ms", (5, 1), "latency_ms must have min <= max"),
        ("latency_ms", (1,), "latency_ms must be a (min, max) pair"),
        ("user_event_delay_ms", (-1, 3), "user_event_delay_ms must hold ints >= 0"),
        ("rate_limit_burst_len", 0, "rate_limit_burst_len must be an int >= 1"),
        ("seed", 1.5, "seed must be an int"),
    ],
)
def test_validated_names_the_bad_field(field, value, fragment):
    config = FaultConfig(**{field: value})
    with pytest.raises(ValueError, match=re.escape(fragment)):
        config.validated()


def test_validated_returns_int_tuples():
    config = FaultConfig(latency_ms=[3, 7], user_event_delay_ms=(0, 0)).validated()
    assert config.latency_ms == (3, 7)
    assert config.user_event_delay_ms == (0, 0)
    assert not FaultConfig().any_active()
    assert FaultConfig(depth_gap_rate=0.1).any_active()
    assert FaultConfig(latency_ms=(0, 1)).any_active()


def _decisions(seed: int) -> list[tuple[bool, bool, float, bool]]:
    injector = FaultInjector(
        FaultConfig(
            seed=seed,
            lost_response_rate=0.3,
            ws_drop_rate=0.2,
            latency_ms=(1, 50),
            depth_gap_rate=0.5,
        ),
        _stats(),
    )
    return [
        (injector.lost_response(), injector.ws_drop(), injector.latency_s(), injector.depth_gap())
        for _ in range(200)
    ]


def test_same_seed_same_decisions_other_seed_other_decisions():
    assert _decisions(7) == _decisions(7)
    assert _decisions(7) != _decisions(8)


def test_each_kind_has_its_own_stream():
    # Drawing other kinds in between does not change the lost-response sequence.
    alone = FaultInjector(FaultConfig(seed=3, lost_response_rate=0.5), _stats())
    mixed = FaultInjector(FaultConfig(seed=3, lost_response_rate=0.5, ws_drop_rate=0.5), _stats())
    seq_alone = [alone.lost_response() for _ in range(100)]
    seq_mixed = []
    for _ in range(100):
        mixed.ws_drop()
        seq_mixed.append(mixed.lost_response())
    assert seq_alone == seq_mixed


def test_rates_zero_and_one():
    stats = _stats()
    never = FaultInjector(FaultConfig(), stats)
    assert not any(never.lost_response() or never.ws_drop() for _ in range(100))
    assert never.latency_s() == 0.0
    assert never.user_event_delay_s() == 0.0
    always = FaultInjector(FaultConfig(server_error_rate=1.0, depth_reorder_rate=1.0), stats)
    assert all(always.server_error_before() for _ in range(10))
    assert all(always.depth_reorder() for _ in range(10))
    assert stats["server_errors_before"] == 10
    assert stats["depth_reorders"] == 10
    assert stats["lost_responses"] == 0


def test_observed_rate_is_near_the_configured_rate():
    injector = FaultInjector(FaultConfig(seed=11, ws_drop_rate=0.25), _stats())
    hits = sum(injector.ws_drop() for _ in range(4000))
    assert 900 <= hits <= 1100


def test_burst_refuses_exactly_burst_len_requests():
    stats = _stats()
    injector = FaultInjector(
        FaultConfig(seed=2, rate_limit_burst_rate=1.0, rate_limit_burst_len=4), stats
    )
    assert [injector.rate_limit_burst() for _ in range(8)] == [True] * 8
    assert stats["rate_limit_bursts"] == 2
    assert stats["rate_limited_by_burst"] == 8
    stats = _stats()
    injector = FaultInjector(
        FaultConfig(seed=2, rate_limit_burst_rate=0.05, rate_limit_burst_len=3), stats
    )
    pattern = [injector.rate_limit_burst() for _ in range(2000)]
    assert stats["rate_limited_by_burst"] == 3 * stats["rate_limit_bursts"] == sum(pattern)
    # Refusals come in runs of exactly 3 (a new burst only starts after one ends).
    runs, run = [], 0
    for refused in [*pattern, False]:
        if refused:
            run += 1
        elif run:
            runs.append(run)
            run = 0
    assert all(length % 3 == 0 for length in runs)
    assert stats["rate_limit_bursts"] > 50


def test_latency_within_bounds_and_counted():
    stats = _stats()
    injector = FaultInjector(FaultConfig(seed=5, latency_ms=(10, 20)), stats)
    delays = [injector.latency_s() for _ in range(300)]
    assert min(delays) >= 0.010
    assert max(delays) <= 0.020
    assert len(set(delays)) == 11
    assert stats["latency_injected"] == 300
