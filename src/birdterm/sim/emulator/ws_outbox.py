"""The sending side of one server WebSocket: a queue, a writer task and the socket-drop fault."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiohttp import WSMsgType, web

from birdterm.sim.emulator.faults import FaultInjector

log = logging.getLogger(__name__)

# A client this far behind is cut off, as Binance does with slow consumers.
MAX_QUEUED = 20_000
HEARTBEAT_S = 20.0
CLOSE_TIMEOUT_S = 1.0  # a client that never answers our close frame is cut after this


class Outbox:
    """Queues text frames for one socket and writes them in order; may drop the socket."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.Request,
        faults: Callable[[], FaultInjector],
        stats: dict[str, int],
    ) -> None:
        self.ws = ws
        self._transport = request.transport
        self._faults = faults
        self._stats = stats
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.closed = False
        self._task = asyncio.get_running_loop().create_task(self._run())

    def send(self, data: bytes) -> None:
        """Queue one text frame (JSON bytes); ignored once the socket is closed."""
        if self.closed:
            return
        if self._queue.qsize() >= MAX_QUEUED:
            self._stats["slow_consumer_drops"] += 1
            self.drop()
            return
        self._queue.put_nowait(data)

    def drop(self) -> None:
        """Cut the connection without a close frame, like a network failure."""
        if self.closed:
            return
        self.closed = True
        self._queue.put_nowait(None)
        if self._transport is not None:
            self._transport.abort()

    async def close(self) -> None:
        """Stop writing and close the socket cleanly."""
        if not self.closed:
            self.closed = True
            self._queue.put_nowait(None)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        with contextlib.suppress(Exception):
            await self.ws.close()

    async def _run(self) -> None:
        while True:
            data = await self._queue.get()
            if data is None or self.closed:
                return
            if self._faults().ws_drop():
                self.drop()
                return
            try:
                await self.ws.send_frame(data, WSMsgType.TEXT)
            except (ConnectionError, RuntimeError) as exc:
                log.debug("emulator: websocket send failed: %s", exc)
                self.drop()
                return
