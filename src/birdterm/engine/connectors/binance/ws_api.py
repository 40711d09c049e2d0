"""WsApiClient: Binance's WebSocket API (requests and the user-data stream) on one connection.

Requests are frames {"id", "method", "params"} answered by {"id", "status", "result" | "error"};
answers are matched by id. The user-data stream is the listenKey-free one (NOTES §9):
`userDataStream.subscribe.signature` on the connection, after which events arrive as
{"subscriptionId", "event"}. The connection is kept up for as long as the client runs:
after a drop (or a `serverShutdown` / `eventStreamTerminated`) it reconnects with exponential
backoff and jitter, subscribes again, and calls `on_reconnected` so the owner can reconcile
what it missed. So it does after the first subscription when `start` already returned without
one (the owner went on without the stream meanwhile). A request whose answer never came
(timeout, the connection dropped while waiting) raises RequestOutcomeUnknown: it may have been
executed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import orjson

from birdterm.engine.connectors.binance.auth import BinanceAuth
from birdterm.engine.connectors.binance.constants import ws_limit_id
from birdterm.engine.connectors.binance.errors import (
    BinanceAPIError,
    BinanceConnectorError,
    RateLimitedError,
    RequestOutcomeUnknown,
)
from birdterm.engine.connectors.binance.time_sync import TimeSync
from birdterm.engine.connectors.throttler import AsyncThrottler

log = logging.getLogger("birdterm.binance.ws_api")

SUBSCRIBE_METHOD = "userDataStream.subscribe.signature"
BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 10.0
HEALTHY_AFTER_S = 60.0  # a connection up this long resets the backoff


class WsApiNotConnected(BinanceConnectorError):
    """The WebSocket API is not connected: the request was not sent."""


EventCallback = Callable[[dict[str, Any]], None]
Hook = Callable[[], Awaitable[None] | None]


class WsApiClient:
    """One WebSocket API connection: id-correlated requests, user data, reconnects."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        auth: BinanceAuth | None,
        time_sync: TimeSync,
        *,
        throttler: AsyncThrottler | None = None,
        timeout_s: float = 10.0,
        recv_window_ms: int | None = None,
        user_data: bool = True,
        on_event: EventCallback | None = None,
        on_reconnected: Hook | None = None,
        on_disconnected: Hook | None = None,
        heartbeat_s: float = 20.0,
    ) -> None:
        if user_data and auth is None:
            raise ValueError("the user-data stream needs an API key (auth)")
        self._session = session
        self.url = url
        self.auth = auth
        self.time_sync = time_sync
        self.throttler = throttler
        self.timeout_s = timeout_s
        self.recv_window_ms = recv_window_ms
        self.user_data = user_data
        self.on_event = on_event
        self.on_reconnected = on_reconnected
        self.on_disconnected = on_disconnected
        self._heartbeat_s = heartbeat_s
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._ready = asyncio.Event()
        self._hooks: set[asyncio.Task[Any]] = set()
        # the owner has been without the stream (start returned not ready): the next
        # successful (re)connect calls on_reconnected even if it is the first one
        self._missed = False
        self.subscription_id: int | None = None
        self.connect_count = 0
        self.reconnect_count = 0
        self.last_message_at: float | None = None
        self.last_error: str = ""

    # ---- state -------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        """True while the socket is open."""
        return self._ws is not None and not self._ws.closed

    @property
    def subscribed(self) -> bool:
        """True while the user-data subscription is active on an open socket."""
        return self.connected and self.subscription_id is not None

    @property
    def ready(self) -> bool:
        """Connected, and subscribed when user data is wanted."""
        return self.subscribed if self.user_data else self.connected

    # ---- lifecycle ---------------------------------------------------------------------------
    async def start(self, wait_s: float | None = 10.0) -> bool:
        """Start the connection task; wait up to `wait_s` for it to be ready (True if it is)."""
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="binance-ws-api")
        if wait_s is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), wait_s)
        if not self.ready:
            self._missed = True  # the owner goes on without the stream: reconcile once up
        return self.ready

    async def stop(self) -> None:
        """Close the connection and stop reconnecting."""
        self._stopping = True
        ws = self._ws
        if ws is not None and not ws.closed:
            await ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        hooks = [task for task in self._hooks if task is not asyncio.current_task()]
        for task in hooks:
            task.cancel()
        if hooks:
            await asyncio.gather(*hooks, return_exceptions=True)
        self._fail_pending("the client stopped")

    async def drop_connection(self) -> None:
        """Close the socket as a network failure would (it reconnects by itself)."""
        ws = self._ws
        if ws is not None and not ws.closed:
            await ws.close()

    # ---- requests ----------------------------------------------------------------------------
    async def request(
        self, method: str, params: Mapping[str, Any] | None = None, *, signed: bool = False
    ) -> Any:
        """Send one request and return its `result`. Raises WsApiNotConnected (not sent),
        BinanceAPIError / RateLimitedError (refused), RequestOutcomeUnknown (no verdict)."""
        if not self.connected:
            raise WsApiNotConnected(f"{method}: the WebSocket API is not connected")
        if self.throttler is not None:
            async with self.throttler.acquire(ws_limit_id(method, params)):
                pass
        try:
            return await self._send(method, params, signed)
        except RateLimitedError as exc:
            if self.throttler is not None:
                self.throttler.pause(exc.retry_after_s)
            raise

    async def _send(self, method: str, params: Mapping[str, Any] | None, signed: bool) -> Any:
        ws = self._ws
        if ws is None or ws.closed:
            raise WsApiNotConnected(f"{method}: the WebSocket API is not connected")
        wire: dict[str, Any] = {k: v for k, v in (params or {}).items() if v is not None}
        if signed:
            if self.auth is None:
                raise ValueError(f"{method} is signed but this client has no API key")
            wire = self.auth.ws_params(wire, self.time_sync.server_ms(), self.recv_window_ms)
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        frame = {"id": request_id, "method": method, "params": wire}
        try:
            try:
                await ws.send_str(orjson.dumps(frame, default=str).decode())
            except (ConnectionError, aiohttp.ClientError, RuntimeError) as exc:
                raise RequestOutcomeUnknown(f"{method}: sending failed ({exc!r})") from exc
            try:
                answer = await asyncio.wait_for(future, self.timeout_s)
            except TimeoutError as exc:
                raise RequestOutcomeUnknown(f"{method}: no answer in {self.timeout_s:g} s") from exc
        finally:
            self._pending.pop(request_id, None)
        return _result(method, answer)

    # ---- connection loop ---------------------------------------------------------------------
    async def _run(self) -> None:
        backoff = BACKOFF_FIRST_S
        while not self._stopping:
            began = time.monotonic()
            try:
                await self._session_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure: reconnect, never die
                self.last_error = repr(exc)
                log.warning("ws api: connection failed: %r", exc)
            if self._stopping:
                break
            if time.monotonic() - began >= HEALTHY_AFTER_S:
                backoff = BACKOFF_FIRST_S
            delay = backoff * (0.5 + random.random() / 2)  # jitter: no reconnect stampede
            backoff = min(backoff * 2, BACKOFF_MAX_S)
            await asyncio.sleep(delay)

    async def _session_once(self) -> None:
        ws = await self._session.ws_connect(
            self.url, heartbeat=self._heartbeat_s, autoping=True, max_msg_size=0
        )
        self._ws = ws
        reader = asyncio.create_task(self._read(ws), name="binance-ws-api-reader")
        try:
            if self.user_data:
                result = await self.request(SUBSCRIBE_METHOD, {}, signed=True)
                self.subscription_id = int(result["subscriptionId"])
            self.connect_count += 1
            reconnected = self.connect_count > 1
            if reconnected:
                self.reconnect_count += 1
            what = "reconnected" if reconnected else "connected"
            log.info("ws api: %s (subscription %s)", what, self.subscription_id)
            self._ready.set()
            missed, self._missed = self._missed, False
            if (reconnected or missed) and self.on_reconnected is not None:
                self._call_hook(self.on_reconnected)
            await reader
        finally:
            was_ready = self._ready.is_set()
            self._ready.clear()
            self.subscription_id = None
            self._ws = None
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            if not ws.closed:
                await ws.close()
            self._fail_pending("the connection closed before the answer")
            if was_ready and self.on_disconnected is not None and not self._stopping:
                self._call_hook(self.on_disconnected)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                self.last_message_at = time.monotonic()
                try:
                    data = orjson.loads(message.data)
                except orjson.JSONDecodeError:
                    log.warning("ws api: unreadable frame %r", message.data[:200])
                    continue
                if not self._dispatch(data):
                    return  # the server said it ends this stream: reconnect
            elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR):
                return

    def _dispatch(self, data: Any) -> bool:
        """Route one frame; False when the connection should be replaced."""
        if not isinstance(data, dict):
            return True
        request_id = data.get("id")
        if request_id is not None and "status" in data:
            future = self._pending.get(request_id)
            if future is not None and not future.done():
                future.set_result(data)
            return True
        event = data.get("event") if "subscriptionId" in data else data
        if not isinstance(event, dict):
            return True
        kind = event.get("e")
        if kind == "serverShutdown":
            log.info("ws api: server shutting down; reconnecting")
            return False
        if kind == "eventStreamTerminated":
            log.warning("ws api: user-data stream terminated; reconnecting")
            return False
        if "subscriptionId" in data and self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                log.exception("ws api: user event handler failed on %s", kind)
        return True

    def _fail_pending(self, reason: str) -> None:
        for request_id, future in list(self._pending.items()):
            if not future.done():
                future.set_exception(RequestOutcomeUnknown(f"request {request_id}: {reason}"))
        self._pending.clear()

    def _call_hook(self, hook: Hook) -> None:
        try:
            outcome = hook()
        except Exception:
            log.exception("ws api: hook %r failed", hook)
            return
        if outcome is not None:
            task = asyncio.ensure_future(outcome)
            self._hooks.add(task)
            task.add_done_callback(self._hook_done)

    def _hook_done(self, task: asyncio.Future[Any]) -> None:
        self._hooks.discard(task)  # type: ignore[arg-type]
        if not task.cancelled() and task.exception() is not None:
            log.error("ws api: hook failed: %r", task.exception())


def _result(method: str, answer: Mapping[str, Any]) -> Any:
    status = int(answer.get("status", 0))
    if 200 <= status < 300:
        return answer.get("result")
    error = answer.get("error") or {}
    code = int(error.get("code", 0))
    msg = str(error.get("msg", ""))
    if status in (429, 418):
        data = error.get("data") or {}
        retry_ms = data.get("retryAfter") if isinstance(data, dict) else None
        wait = max(0.0, (int(retry_ms) - time.time() * 1000) / 1000) if retry_ms else 1.0
        raise RateLimitedError(wait, http_status=status, code=code, msg=msg)
    if status >= 500 or code == -1007:
        raise RequestOutcomeUnknown(
            f"{method}: status {status} [{code}] {msg}", http_status=status, code=code
        )
    raise BinanceAPIError(status, code, msg)
