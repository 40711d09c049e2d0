"""REST routes (/api/v3/...): params from the query and/or form body, answers as Binance sends."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from birdterm.sim.emulator import errors
from birdterm.sim.emulator.endpoints import ENDPOINTS, Endpoint
from birdterm.sim.emulator.errors import BinanceError
from birdterm.sim.emulator.request_flow import RequestFlow, internal_error, retry_headers

API_KEY_HEADER = "X-MBX-APIKEY"
RouteHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def parse_params(query: str, body: str) -> dict[str, str]:
    """Params of a request: form body, then the query string (query wins); -1101 on repeats."""
    params: dict[str, str] = {}
    for raw in (body, query):
        seen: set[str] = set()
        for name, value in parse_qsl(raw, keep_blank_values=True):
            if name in seen:
                raise errors.duplicate_param(name)
            seen.add(name)
            params[name] = value
    return params


def json_response(status: int, body: object, headers: dict[str, str]) -> web.Response:
    """A JSON answer; a body that cannot be encoded becomes Binance's -1000."""
    try:
        data = orjson.dumps(body)
    except TypeError:
        status, data = 500, orjson.dumps(internal_error().to_json())
    return web.Response(body=data, status=status, headers=headers, content_type="application/json")


def make_handler(endpoint: Endpoint, flow: RequestFlow, stats: dict[str, int]) -> RouteHandler:
    """The aiohttp handler of one REST route."""

    async def handle(request: web.Request) -> web.StreamResponse:
        stats["rest_requests"] += 1
        query = request.rel_url.raw_query_string
        body = await request.text() if request.body_exists else ""
        try:
            params = parse_params(query, body)
        except BinanceError as err:
            return json_response(err.http_status, err.to_json(), {})
        api_key = request.headers.get(API_KEY_HEADER)
        outcome = flow.run(
            endpoint,
            ip=request.remote or "127.0.0.1",
            params=params,
            key_hint=api_key,
            authenticate=lambda auth: (str(api_key), auth.verify_rest(api_key, query, body)),
        )
        if outcome.latency_s > 0:
            await asyncio.sleep(outcome.latency_s)
        if outcome.lost:
            # The order was processed; the client sees the connection die without an answer.
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)
        body_json = outcome.error_json() if outcome.error is not None else outcome.result
        return json_response(outcome.status, body_json, retry_headers(outcome))

    return handle


async def _gone(_request: web.Request) -> web.Response:
    # listenKey user streams were retired on 2026-02-20 (NOTES §9); use the WS API instead.
    return web.json_response({"code": -1020, "msg": "This operation is not supported."}, status=410)


def add_rest_routes(app: web.Application, flow: RequestFlow, stats: dict[str, int]) -> None:
    """Register every /api/v3 route on `app`."""
    for endpoint in ENDPOINTS:
        app.router.add_route(
            endpoint.http_method, endpoint.path, make_handler(endpoint, flow, stats)
        )
    for method in ("POST", "PUT", "DELETE"):
        app.router.add_route(method, "/api/v3/userDataStream", _gone)
