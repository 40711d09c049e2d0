"""The WebSocket API at /ws-api/v3: request frames, session methods and user-data subscriptions.

Frames {"id", "method", "params"} answer {"id", "status", "result" | "error", "rateLimits"}.
API methods run through the same RequestFlow as REST. User data: `userDataStream.subscribe.
signature` (HMAC accepted) subscribes the signing key's events on this connection; they arrive as
{"subscriptionId": N, "event": {...}}. `session.logon` needs an Ed25519 key on Binance, so with the
emulator's HMAC keys it answers -4056, and `userDataStream.subscribe` (which needs a logon) -1002.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from birdterm.sim.emulator import errors
from birdterm.sim.emulator.endpoints import BY_WS_METHOD, Context, Endpoint
from birdterm.sim.emulator.errors import BinanceError
from birdterm.sim.emulator.faults import FaultInjector
from birdterm.sim.emulator.request_flow import Outcome, RequestFlow
from birdterm.sim.emulator.signing import RequestAuthenticator
from birdterm.sim.emulator.ws_outbox import CLOSE_TIMEOUT_S, HEARTBEAT_S, Outbox
from birdterm.sim.emulator.ws_session import SessionMethods, WsApiConnection

CONNECT_WEIGHT = 2


def ws_param_text(value: object) -> str:
    """A WS API param value as the text REST would carry (true/false, compact JSON arrays)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def http_error(err: BinanceError) -> web.Response:
    """A REST-style error answer (used before a socket is upgraded)."""
    headers = dict(err.headers)
    if err.retry_after is not None:
        headers["Retry-After"] = str(err.retry_after)
    return web.json_response(err.to_json(), status=err.http_status, headers=headers)


class WsApi:
    """Serves /ws-api/v3 sockets and routes the exchange's user events to subscriptions."""

    def __init__(
        self,
        flow: RequestFlow,
        faults: Callable[[], FaultInjector],
        stats: dict[str, int],
    ) -> None:
        self._flow = flow
        self._ctx: Context = flow.ctx
        self._faults = faults
        self._stats = stats
        self.connections: set[WsApiConnection] = set()

    # ---- sockets -----------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """GET /ws-api/v3: charge the connection weight, then serve request frames."""
        ip = request.remote or "127.0.0.1"
        try:
            self._ctx.limiter.charge(ip, CONNECT_WEIGHT)
        except BinanceError as err:
            return http_error(err)
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, compress=False, timeout=CLOSE_TIMEOUT_S)
        await ws.prepare(request)
        conn = WsApiConnection(
            Outbox(ws, request, self._faults, self._stats),
            ip,
            self._ctx.clock(),
            request.query.get("returnRateLimits", "true").lower() != "false",
        )
        endpoints = SessionMethods(conn).endpoints()
        self.connections.add(conn)
        self._stats["ws_api_connections"] += 1
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_frame(conn, endpoints, msg.data)
                if conn.outbox.closed:
                    break
        finally:
            self.connections.discard(conn)
            await conn.outbox.close()
        return ws

    def _on_frame(self, conn: WsApiConnection, endpoints: dict[str, Endpoint], text: str) -> None:
        self._stats["ws_api_requests"] += 1
        request_id: Any = None
        try:
            frame = orjson.loads(text)
        except orjson.JSONDecodeError:
            self._reply(conn, None, _bad(BinanceError(-1135, "Invalid JSON Request")), True)
            return
        if not isinstance(frame, dict):
            self._reply(conn, None, _bad(BinanceError(-1135, "Invalid JSON Request")), True)
            return
        request_id = frame.get("id")
        method = frame.get("method")
        params = frame.get("params", {})
        if not isinstance(method, str) or not method:
            self._reply(conn, request_id, _bad(errors.mandatory_param("method")), True)
            return
        if not isinstance(params, dict):
            self._reply(conn, request_id, _bad(errors.mandatory_param("params")), True)
            return
        show_limits = params.get("returnRateLimits", conn.return_rate_limits)
        method = method.removeprefix("v3/")
        endpoint = endpoints.get(method) or BY_WS_METHOD.get(method)
        if endpoint is None:
            err = BinanceError(-1020, "This operation is not supported.")
            self._reply(conn, request_id, _bad(err), show_limits is not False)
            return
        text_params = {k: ws_param_text(v) for k, v in params.items() if v is not None}
        api_key = params.get("apiKey")
        outcome = self._flow.run(
            endpoint,
            ip=conn.ip,
            params=text_params,
            key_hint=api_key if isinstance(api_key, str) else None,
            authenticate=lambda auth: _verify(auth, params),
        )
        self._reply(conn, request_id, outcome, show_limits is not False, endpoint.is_order)

    def _reply(
        self,
        conn: WsApiConnection,
        request_id: Any,
        outcome: Outcome,
        show_limits: bool,
        is_order: bool = False,
    ) -> None:
        if outcome.lost:
            return
        message: dict[str, Any] = {"id": request_id, "status": outcome.status}
        if outcome.error is not None:
            error: dict[str, Any] = outcome.error_json()
            if outcome.status in (418, 429) and outcome.error.retry_after is not None:
                now = self._ctx.clock()
                retry_at = self._ctx.limiter.banned_until(conn.ip) if outcome.status == 418 else 0
                error["data"] = {
                    "serverTime": now,
                    "retryAfter": retry_at or now + outcome.error.retry_after * 1000,
                }
            message["error"] = error
        else:
            message["result"] = outcome.result
        if show_limits:
            message["rateLimits"] = [
                entry
                for entry in self._ctx.limiter.usage(conn.ip, outcome.account)
                if entry["rateLimitType"] == "REQUEST_WEIGHT"
                or (is_order and entry["rateLimitType"] == "ORDERS")
            ]
        data = orjson.dumps(message)
        if outcome.latency_s > 0:
            asyncio.get_running_loop().call_later(outcome.latency_s, conn.outbox.send, data)
        else:
            conn.outbox.send(data)

    # ---- user data ---------------------------------------------------------------------

    def on_user_event(self, api_key: str, event: dict[str, Any]) -> None:
        """Exchange user listener: send the event to every subscription of `api_key`."""
        self._stats["user_events"] += 1
        faults = self._faults()
        copies = 2 if faults.user_event_duplicate() else 1
        delay = faults.user_event_delay_s()
        for conn in list(self.connections):
            for subscription_id, key in conn.subscriptions.items():
                if key != api_key:
                    continue
                data = orjson.dumps({"subscriptionId": subscription_id, "event": event})
                for _ in range(copies):
                    if delay > 0:
                        asyncio.get_running_loop().call_later(delay, conn.outbox.send, data)
                    else:
                        conn.outbox.send(data)


def _bad(err: BinanceError) -> Outcome:
    return Outcome(err.http_status, error=err)


def _verify(auth: RequestAuthenticator, params: dict[str, Any]) -> tuple[str, dict[str, str]]:
    verified = auth.verify_ws(params)
    api_key = verified["apiKey"]
    assert isinstance(api_key, str)  # verify_ws accepted it as a key
    return api_key, {k: ws_param_text(v) for k, v in verified.items() if v is not None}
