"""MarketStream against a small real WebSocket server on 127.0.0.1 (frames the test controls).

The emulator tests in test_market_data_emulator.py drive it against the exchange emulator.
"""

import random
import socket

import aiohttp
import orjson
import pytest
from aiohttp import web

from birdterm.engine.connectors.binance.market_stream import MarketStream

from tests.emulator_fixtures import wait_until


class StreamServer:
    """Accepts /stream?streams=... connections; the test pushes frames and closes sockets."""

    def __init__(self) -> None:
        self.sockets: list[web.WebSocketResponse] = []
        self.queries: list[str] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.queries.append(request.query_string)
        self.sockets.append(ws)
        async for _msg in ws:
            pass
        return ws

    @property
    def live(self) -> web.WebSocketResponse:
        return self.sockets[-1]

    async def send(self, frame: object) -> None:
        await self.live.send_str(orjson.dumps(frame).decode())


@pytest.fixture
async def server():
    srv = StreamServer()
    app = web.Application()
    app.router.add_get("/stream", srv.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    srv.url = f"ws://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    yield srv
    for ws in srv.sockets:
        await ws.close()
    await runner.cleanup()


def depth(u: int) -> dict:
    return {"e": "depthUpdate", "E": 1, "s": "BTCUSDT", "U": u, "u": u, "b": [], "a": []}


async def test_frames_are_delivered_and_the_stream_reconnects_after_close_and_shutdown(server):
    received = []
    reconnects = []

    def on_message(stream, payload):
        if payload.get("u") == 13:
            raise RuntimeError("a broken handler must not kill the stream")
        received.append((stream, payload["u"]))

    async with aiohttp.ClientSession() as session:
        stream = MarketStream(
            session,
            server.url,
            ["btcusdt@depth@100ms", "btcusdt@trade"],
            on_message,
            on_reconnect=lambda: reconnects.append(stream.connect_count),
            initial_backoff_s=0.001,
            max_backoff_s=0.002,
        )
        assert stream.last_message_at is None
        await stream.start()
        await wait_until(lambda: stream.connected and len(server.sockets) == 1)
        assert server.queries == ["streams=btcusdt@depth@100ms/btcusdt@trade"]
        await server.send({"result": None, "id": 1})  # a control answer: ignored
        for u in (11, 12, 13, 14):
            await server.send({"stream": "btcusdt@depth@100ms", "data": depth(u)})
        await wait_until(lambda: len(received) == 3)
        assert [u for _s, u in received] == [11, 12, 14]  # 13 broke the handler
        assert {s for s, _u in received} == {"btcusdt@depth@100ms"}
        assert stream.message_count == 5 and stream.last_message_at is not None
        assert (stream.connect_count, stream.reconnect_count) == (1, 0)

        await server.live.close()  # the server drops us
        await wait_until(lambda: stream.connect_count == 2 and stream.connected)
        assert stream.reconnect_count == 1 and reconnects == [2]
        assert "closed by the server" in (stream.last_error or "")

        await server.send({"e": "serverShutdown", "E": 5})  # Binance sends it unwrapped
        await wait_until(lambda: stream.connect_count == 3 and stream.connected)
        assert stream.last_error == "serverShutdown"
        await server.send({"stream": "btcusdt@trade", "data": depth(99)})
        await wait_until(lambda: received[-1] == ("btcusdt@trade", 99))
        assert reconnects == [2, 3]
        await stream.stop()
        assert not stream.connected


async def test_a_silent_connection_is_reopened(server):
    async with aiohttp.ClientSession() as session:
        stream = MarketStream(
            session,
            server.url,
            ["btcusdt@trade"],
            lambda _s, _p: None,
            initial_backoff_s=0.001,
            idle_timeout_s=0.05,
        )
        await stream.start()
        await wait_until(lambda: stream.reconnect_count >= 1)
        assert stream.last_error == "no frame for 0.05 s"
        await stream.stop()


async def test_connect_failures_are_retried_with_backoff():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    async with aiohttp.ClientSession() as session:
        stream = MarketStream(
            session,
            f"ws://127.0.0.1:{port}",
            ["btcusdt@trade"],
            lambda _s, _p: None,
            initial_backoff_s=0.001,
            max_backoff_s=0.002,
        )
        await stream.start()
        attempts = []
        stream.backoff_s = lambda attempt: attempts.append(attempt) or 0.001  # type: ignore[method-assign]
        await wait_until(lambda: len(attempts) >= 3)
        assert attempts[:3] == [0, 1, 2]  # each failure waits longer
        assert (stream.last_error or "").startswith("connect failed")
        assert not stream.connected and stream.connect_count == 0
        await stream.stop()


def test_backoff_doubles_from_a_tenth_of_a_second_to_ten_seconds_with_jitter():
    stream = MarketStream(
        None,  # type: ignore[arg-type]
        "ws://127.0.0.1:1",
        ["btcusdt@trade"],
        lambda _s, _p: None,
        rng=random.Random(3),
    )
    waits = [stream.backoff_s(attempt) for attempt in range(10)]
    caps = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0, 10.0]
    for wait, cap in zip(waits, caps, strict=True):
        assert cap / 2 <= wait <= cap
    assert len({round(w / c, 6) for w, c in zip(waits, caps, strict=True)}) == 10  # jittered
    with pytest.raises(ValueError, match="at least one stream"):
        MarketStream(None, "ws://x", [], lambda _s, _p: None)  # type: ignore[arg-type]
