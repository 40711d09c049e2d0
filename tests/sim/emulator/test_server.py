"""EmulatorServer lifecycle, the step loop, the default exchange and the test fixture itself."""

from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

from birdterm.sim.emulator.default_exchange import (
    DEFAULT_DATA_DIR,
    build_default_exchange,
)
from birdterm.sim.emulator.exchange import Exchange
from birdterm.sim.emulator.faults import STAT_KEYS, FaultConfig
from birdterm.sim.emulator.server import EmulatorServer, wall_clock_ms

from tests.emulator_fixtures import TEST_API_KEY, running_emulator, wait_until


def _exchange(**kwargs) -> Exchange:
    return build_default_exchange(
        seed=1,
        clock=wall_clock_ms,
        balances={"USDT": Decimal(1000)},
        api_key="k1",
        secret="s1",
        history_days=0.01,
        **kwargs,
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "localhost", "::1", "192.168.1.2"])
async def test_start_refuses_any_host_but_loopback(host):
    server = EmulatorServer(_exchange(), host=host)
    with pytest.raises(ValueError, match=r"127\.0\.0\.1 only"):
        await server.start()
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.rest_url


async def test_urls_stats_and_restart_rules():
    server = EmulatorServer(_exchange())
    await server.start()
    try:
        assert server.rest_url == f"http://127.0.0.1:{server.port}"
        assert server.ws_api_url == f"ws://127.0.0.1:{server.port}/ws-api/v3"
        assert server.stream_url == f"ws://127.0.0.1:{server.port}"
        assert server.port > 0
        assert set(server.stats) == set(STAT_KEYS)
        assert server.faults == FaultConfig()
        with pytest.raises(RuntimeError, match="already started"):
            await server.start()
        async with (
            aiohttp.ClientSession() as session,
            session.get(server.rest_url + "/api/v3/ping") as resp,
        ):
            assert resp.status == 200
        assert server.stats["requests"] == server.stats["rest_requests"] == 1
    finally:
        await server.stop()
    await server.stop()  # a second stop is harmless
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(f"http://127.0.0.1:{server.port}/api/v3/ping")


def test_invalid_settings_are_refused():
    exchange = _exchange()
    with pytest.raises(ValueError, match="step_interval_ms"):
        EmulatorServer(exchange, step_interval_ms=0)
    with pytest.raises(ValueError, match="latency_ms"):
        EmulatorServer(exchange, faults=FaultConfig(latency_ms=(3, 1)))
    with pytest.raises(ValueError, match="market"):
        _exchange(market="imaginary")
    with pytest.raises(ValueError, match="history_days"):
        build_default_exchange(
            seed=1, clock=wall_clock_ms, balances={}, api_key="k", secret="s", history_days=-1
        )


async def test_step_loop_moves_the_market():
    async with running_emulator(seed=5) as emu:
        first = emu.exchange.depth("BTCUSDT", 1)["lastUpdateId"]
        await wait_until(lambda: emu.exchange.depth("BTCUSDT", 1)["lastUpdateId"] > first)
        assert emu.server.stats["step_errors"] == 0


async def test_step_errors_are_counted_and_the_loop_goes_on():
    class Flaky(Exchange):
        calls = 0

        def step(self) -> None:
            Flaky.calls += 1
            if Flaky.calls == 2:
                raise RuntimeError("boom")
            super().step()

    base = _exchange()
    flaky = Flaky(base.symbols, {}, wall_clock_ms)
    server = EmulatorServer(flaky, step_interval_ms=2)
    await server.start()
    try:
        await wait_until(lambda: Flaky.calls >= 5)
        assert server.stats["step_errors"] == 1
    finally:
        await server.stop()


def test_default_exchange_prices_and_account():
    exchange = _exchange(start_price=Decimal(40_000))
    btc = exchange.book_ticker("BTCUSDT")
    eth = exchange.book_ticker("ETHUSDT")
    assert Decimal(btc["bidPrice"]) < Decimal(40_000) <= Decimal(btc["askPrice"])
    assert Decimal(eth["bidPrice"]) < Decimal(2_000) <= Decimal(eth["askPrice"])
    assert exchange.balances_of("k1")["USDT"] == (Decimal(1000), Decimal(0))
    assert exchange.secrets() == {"k1": "s1"}
    mapping = _exchange(start_price={"ETHUSDT": Decimal(1500)})
    assert Decimal(mapping.book_ticker("ETHUSDT")["askPrice"]) >= Decimal(1500)
    assert Decimal(mapping.book_ticker("BTCUSDT")["askPrice"]) >= Decimal(60_000)


def test_recorded_market_needs_its_files(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="no recorded BTCUSDT data"):
        _exchange(market="recorded", data_dir=tmp_path)


async def test_recorded_market_over_the_network():
    if not DEFAULT_DATA_DIR.is_dir():
        pytest.skip("needs ../shared/data/hftbacktest (recorded Binance spot streams)")
    async with (
        running_emulator(market="recorded") as emu,
        aiohttp.ClientSession() as session,
    ):
        async with session.get(
            emu.rest_url + "/api/v3/ticker/bookTicker", params={"symbol": "BTCUSDT"}
        ) as resp:
            ticker = await resp.json()
        # The 2024-08-08 recording traded BTCUSDT around 61,000-62,000.
        assert Decimal(60_000) < Decimal(ticker["bidPrice"]) < Decimal(63_000)
        async with session.ws_connect(emu.stream_url + "/ws/btcusdt@depth@100ms") as ws:
            first, second = await ws.receive_json(), await ws.receive_json()
        assert second["U"] == first["u"] + 1


async def test_fixture_helpers():
    async with running_emulator(balances={"USDT": Decimal(5)}) as emu:
        assert emu.api_key == TEST_API_KEY
        assert emu.exchange.balances_of(emu.api_key)["USDT"] == (Decimal(5), Decimal(0))
        assert emu.rest_url == emu.server.rest_url
        query = emu.signed_query(symbol="BTCUSDT")
        assert query.startswith("symbol=BTCUSDT&timestamp=")
        assert len(query.rsplit("signature=", 1)[1]) == 64
        params = emu.signed_ws_params(symbol="BTCUSDT")
        assert set(params) == {"apiKey", "symbol", "timestamp", "signature"}
    assert await wait_until(lambda: 42) == 42

    async def later():
        return "yes"

    assert await wait_until(later) == "yes"
    with pytest.raises(TimeoutError, match=r"not met within 0\.05 s"):
        await wait_until(lambda: False, timeout=0.05)
