"""The connector's background supervision: the user-data stream coming up late, polls while it
is down, the market-data watchdog, no price, and a stop that leaves no task behind."""

import asyncio
from urllib.parse import urlsplit

import aiohttp
import pytest

from birdterm.engine.connectors.base import NoPriceError
from birdterm.engine.connectors.binance import reconcile
from birdterm.engine.connectors.binance.auth import BinanceAuth
from birdterm.engine.connectors.binance.connector import BinanceConnector
from birdterm.engine.connectors.binance.time_sync import TimeSync
from birdterm.engine.connectors.binance.ws_api import WsApiClient
from birdterm.engine.types import OrderState, OrderType, TradeType

from tests.engine.connectors.trading_fixtures import (
    API_KEY,
    API_SECRET,
    PAIR,
    D,
    RecordingListener,
    balances_match,
    quiet_emulator,
    started_connector,
    wait_until,
)


class Gate:
    """A TCP forwarder to the emulator that drops every connection until it is opened."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.open = False
        self.server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        await self.server.wait_closed()

    async def _serve(self, reader, writer) -> None:
        if not self.open:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    @staticmethod
    async def _pipe(src, dst) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            dst.close()


@pytest.mark.parametrize("transport", ["rest", "ws_api"])
async def test_user_stream_first_up_after_start_reconciles(transport):
    """The WS API is unreachable at start: the first subscription, later, is followed by a
    reconcile, so a fill that happened before it (and after the last REST poll) is seen."""
    async with quiet_emulator() as emu:
        url = urlsplit(emu.server.ws_api_url)
        gate = Gate(url.port)
        gate_port = await gate.start()
        settings = emu.settings(
            transport, ws_api_url=f"ws://127.0.0.1:{gate_port}{url.path}", poll_interval_s=300.0
        )
        connector = BinanceConnector(settings)
        try:
            await connector.start_network()
            assert not connector.ws.subscribed
            await wait_until(lambda: connector.stats["polls"] >= 1)  # the first REST poll
            listener = RecordingListener()
            oid = connector.place_order(
                listener, PAIR, TradeType.BUY, OrderType.LIMIT, D("0.1"), D("30005")
            )
            await wait_until(lambda: connector.tracker.get(oid).order.state is OrderState.OPEN)
            polls = connector.stats["polls"]
            emu.counter_order("SELL", D("30005"), D("0.1"))  # fills it on the exchange
            gate.open = True
            await wait_until(lambda: connector.ws.subscribed, timeout=20)
            assert connector.ws.reconnect_count == 0  # the first connection
            await wait_until(lambda: listener.done_of(oid) is not None)
            assert listener.done_of(oid) == (OrderState.FILLED, "")
            assert listener.filled_amount(oid) == D("0.1")
            assert connector.stats["polls"] > polls
            await wait_until(lambda: balances_match(connector, emu))
        finally:
            await connector.stop_network()
            await gate.stop()


async def test_first_connection_within_start_does_not_call_on_reconnected():
    async with quiet_emulator() as emu, aiohttp.ClientSession() as session:
        calls = []
        client = WsApiClient(
            session, emu.server.ws_api_url, BinanceAuth(API_KEY, API_SECRET), TimeSync()
        )
        client.on_reconnected = lambda: calls.append(client.connect_count)
        try:
            assert await client.start(wait_s=5.0)
            await client.drop_connection()
            await wait_until(lambda: calls)  # a reconnect still reconciles
            assert calls == [2]
        finally:
            await client.stop()


async def test_one_poll_and_one_balances_refresh_in_flight_while_paused(monkeypatch):
    """With the user-data stream down and every request paused (a 418 ban), the maintenance
    loop does not start a new reconcile every poll interval on top of the blocked one."""
    passes = []
    maintain = reconcile.maintain_orders

    def counted(*args):
        passes.append(1)
        return maintain(*args)

    monkeypatch.setattr(reconcile, "maintain_orders", counted)
    async with quiet_emulator() as emu, started_connector(emu, "rest", poll_interval_s=0.01) as c:
        await c.ws.stop()  # the user-data stream is down
        c.throttler.pause(120)  # what a 418 with Retry-After: 120 does

        def tasks(name):
            return [t for t in asyncio.all_tasks() if t.get_name() == name and not t.done()]

        await wait_until(lambda: tasks("binance-poll"))
        c.balance_book.tie_seen_at = 0.0  # same-ms balance updates: a REST refresh is due
        await wait_until(lambda: tasks("binance-balances"))
        c.balance_book.tie_seen_at = 0.0  # again, while the first refresh is blocked
        seen = len(passes)
        await wait_until(lambda: len(passes) >= seen + 20)  # many poll intervals later
        assert len(tasks("binance-poll")) == 1
        assert len(tasks("binance-balances")) == 1
        assert c.balance_book.tie_seen_at == 0.0  # still due: refreshed after the first


async def test_mid_price_without_a_price_raises_a_value_error():
    async with quiet_emulator() as emu:
        with pytest.raises(ValueError, match="start_network"):
            BinanceConnector(emu.settings("rest")).mid_price(PAIR)
        async with started_connector(emu, "rest") as c:
            assert c.mid_price(PAIR) == D("30005")
            c.market_data._on_reconnect()  # what a market-stream reconnect does: books resync
            with pytest.raises(ValueError, match="no price yet") as caught:
                c.mid_price(PAIR)
            assert isinstance(caught.value, NoPriceError)
            c.tick(1.0)  # watches are not evaluated without a price; nothing raises
            await wait_until(lambda: c.market_data.order_book(PAIR).mid_price is not None)


async def test_market_watchdog_survives_a_failing_pass_and_stop_does_not_raise():
    async with quiet_emulator() as emu:
        c = BinanceConnector(emu.settings("rest"))
        await c.start_network()
        try:
            md = c.market_data
            calls = []
            stale = md._stream_stale

            def failing_then_fine(now):
                calls.append(now)
                if len(calls) <= 3:
                    raise RuntimeError("a bug in one watchdog pass")
                return stale(now)

            md._stream_stale = failing_then_fine
            await wait_until(lambda: len(calls) >= 6)  # the watchdog goes on after failures
            assert not md._watchdog.done()
        finally:
            await c.stop_network()  # does not raise a watchdog's error


async def test_ws_client_stop_awaits_its_hooks():
    async with quiet_emulator() as emu, aiohttp.ClientSession() as session:
        client = WsApiClient(
            session, emu.server.ws_api_url, BinanceAuth(API_KEY, API_SECRET), TimeSync()
        )
        assert await client.start(wait_s=5.0)
        client._call_hook(asyncio.Event().wait)  # a hook that never ends by itself
        hooks = list(client._hooks)
        await client.stop()
        assert hooks and all(task.done() for task in hooks)


async def test_stop_network_stops_the_ws_client_before_the_tasks():
    """A reconcile started by the user-data stream's hook (blocked here in a throttler pause)
    is over, and no hook can start another task, before the connector's tasks are cancelled;
    none is left when stop_network returns."""
    async with quiet_emulator() as emu:
        c = BinanceConnector(emu.settings("rest"))
        await c.start_network()
        seen_at_cancel = []
        cancel_all = c._tasks.cancel_all

        async def recording_cancel_all():
            seen_at_cancel.append((c.ws._task, [t for t in hooks if not t.done()]))
            await cancel_all()

        c._tasks.cancel_all = recording_cancel_all
        try:
            c.throttler.pause(120)
            c.ws._call_hook(c.ws.on_reconnected)
            hooks = list(c.ws._hooks)
            assert hooks
        finally:
            await c.stop_network()
        assert seen_at_cancel == [(None, [])]
        assert all(task.done() for task in hooks)
        assert len(c._tasks) == 0
