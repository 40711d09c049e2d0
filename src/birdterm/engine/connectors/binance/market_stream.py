"""One combined market-stream connection (`/stream?streams=a/b/c`) that keeps itself up.

Frames are `{"stream": name, "data": payload}`; each goes to `on_message(name, payload)`. The
connection is reopened after any close, error, `serverShutdown` event or a silence longer than
`idle_timeout_s` (the server pings every 20 s, so a live connection is never that quiet), with
exponential backoff and jitter: 0.1 s doubling up to 10 s, reset once a connection stayed up
for a healthy minute. Server pings are answered by aiohttp (autoping).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson

log = logging.getLogger("birdterm.binance.stream")


class MarketStream:
    """A self-reconnecting combined-stream client."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        stream_url: str,
        streams: list[str],
        on_message: Callable[[str, dict[str, Any]], None],
        *,
        on_reconnect: Callable[[], None] | None = None,
        initial_backoff_s: float = 0.1,
        max_backoff_s: float = 10.0,
        healthy_after_s: float = 60.0,
        idle_timeout_s: float = 60.0,
        rng: random.Random | None = None,
        time_fn: Callable[[], float] = time.monotonic,
    ) -> None:
        if not streams:
            raise ValueError("a market stream needs at least one stream name")
        self._session = session
        self.url = f"{stream_url.rstrip('/')}/stream?streams={'/'.join(streams)}"
        self.streams = list(streams)
        self.on_message = on_message
        self.on_reconnect = on_reconnect
        self._initial_backoff_s = initial_backoff_s
        self._max_backoff_s = max_backoff_s
        self._healthy_after_s = healthy_after_s
        self._idle_timeout_s = idle_timeout_s
        self._rng = rng or random.Random()
        self._time = time_fn
        self._task: asyncio.Task[None] | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._stopping = False
        self.connected = False
        self.last_message_at: float | None = None  # time_fn() of the last frame received
        self.connect_count = 0
        self.reconnect_count = 0
        self.message_count = 0
        self.last_error: str | None = None

    def backoff_s(self, attempt: int) -> float:
        """The wait before reconnect attempt `attempt` (0-based): doubling, capped, jittered."""
        base = min(self._max_backoff_s, self._initial_backoff_s * 2**attempt)
        return base * (0.5 + 0.5 * self._rng.random())

    async def start(self) -> None:
        """Start connecting in the background."""
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="binance-market-stream"
            )

    async def stop(self) -> None:
        """Close the connection and stop reconnecting."""
        self._stopping = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._close_ws()

    async def _close_ws(self) -> None:
        ws, self._ws = self._ws, None
        self.connected = False
        if ws is not None and not ws.closed:
            with contextlib.suppress(Exception):
                await ws.close()

    async def _run(self) -> None:
        attempt = 0
        while not self._stopping:
            try:
                self._ws = await self._session.ws_connect(self.url, autoping=True, max_msg_size=0)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                self.last_error = f"connect failed: {exc!r}"
                log.warning("market stream: %s", self.last_error)
                await asyncio.sleep(self.backoff_s(attempt))
                attempt += 1
                continue
            connected_at = self._time()
            self.connected = True
            self.connect_count += 1
            if self.connect_count > 1:
                self.reconnect_count += 1
                log.info("market stream: reconnected (%d)", self.reconnect_count)
                self._notify_reconnect()
            try:
                reason = await self._read(self._ws)
            finally:
                await self._close_ws()
            self.last_error = reason
            if self._stopping:
                break
            if self._time() - connected_at >= self._healthy_after_s:
                attempt = 0
            log.warning("market stream: %s; reconnecting", reason)
            await asyncio.sleep(self.backoff_s(attempt))
            attempt += 1

    def _notify_reconnect(self) -> None:
        if self.on_reconnect is not None:
            try:
                self.on_reconnect()
            except Exception:
                log.exception("market stream: on_reconnect hook failed")

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> str:
        """Deliver frames until the connection ends; return why it ended."""
        while True:
            try:
                msg = await ws.receive(timeout=self._idle_timeout_s)
            except TimeoutError:
                return f"no frame for {self._idle_timeout_s:g} s"
            if msg.type is aiohttp.WSMsgType.TEXT:
                self.last_message_at = self._time()
                self.message_count += 1
                if self._dispatch(msg.data):
                    return "serverShutdown"
            elif msg.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSING,
                aiohttp.WSMsgType.CLOSED,
            ):
                return f"closed by the server (code {ws.close_code})"
            elif msg.type is aiohttp.WSMsgType.ERROR:
                return f"connection error: {ws.exception()!r}"

    def _dispatch(self, raw: str) -> bool:
        """Hand one frame on; True when it announces a server shutdown."""
        try:
            frame = orjson.loads(raw)
        except orjson.JSONDecodeError:
            log.warning("market stream: unreadable frame %r", raw[:200])
            return False
        if not isinstance(frame, dict):
            return False
        payload = frame.get("data", frame)
        if isinstance(payload, dict) and payload.get("e") == "serverShutdown":
            return True
        stream = frame.get("stream")
        if stream is None:
            return False  # a control answer such as {"result": null, "id": 1}
        try:
            self.on_message(stream, payload)
        except Exception:
            log.exception("market stream: handler failed on %s", stream)
        return False
