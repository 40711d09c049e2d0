"""Market data streams: raw /ws/<name>, combined /stream?streams=a/b, live SUBSCRIBE/UNSUBSCRIBE.

The exchange publishes depth@100ms diffs, trades, aggTrades, bookTicker and kline_1s; this hub
fans them out and adds what it can derive: `<symbol>@depth` (1000 ms diffs merged from the 100 ms
ones) and partial books `<symbol>@depth<5|10|20>[@100ms]`. Depth faults (gaps, reorders) apply
to every diff stream. Any valid Binance stream name can be subscribed; names nobody publishes
simply stay silent, as a quiet market would.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from birdterm.sim.emulator.endpoints import KLINE_INTERVALS
from birdterm.sim.emulator.faults import FaultInjector
from birdterm.sim.emulator.ws_outbox import CLOSE_TIMEOUT_S, HEARTBEAT_S, Outbox

MAX_STREAMS = 1024
_METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
_KIND_RE = re.compile(
    r"(trade|aggTrade|bookTicker|depth(5|10|20)?(@100ms)?|miniTicker|ticker|avgPrice"
    r"|ticker_(1h|4h|1d)|kline_(?P<interval>[0-9]+[smhdwM])(@\+08:00)?)"
)
_GLOBAL_STREAMS = frozenset(
    ["!miniTicker@arr", "!ticker@arr", "!ticker_1h@arr", "!ticker_4h@arr", "!ticker_1d@arr"]
)
_PARTIAL_RE = re.compile(r"(?P<symbol>[a-z0-9]+)@depth(?P<levels>5|10|20)(?P<fast>@100ms)?")
_ID_RE = re.compile(r"[A-Za-z0-9]{1,36}")


class StreamRequestError(Exception):
    """A control message the server refuses: {"error": {"code", "msg"}, "id"}."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


def is_valid_stream(name: str, symbols: set[str]) -> bool:
    """True for a Binance spot stream name on one of `symbols` (lowercase) or a global one."""
    if name in _GLOBAL_STREAMS:
        return True
    symbol, sep, kind = name.partition("@")
    match = _KIND_RE.fullmatch(kind) if sep else None
    if match is None or symbol not in symbols:
        return False
    interval = match.group("interval")
    return interval is None or interval in KLINE_INTERVALS


@dataclass(eq=False)
class StreamConnection:
    """One market-stream socket: its outbox, its streams (in subscription order), its mode."""

    outbox: Outbox
    combined: bool
    streams: dict[str, None] = field(default_factory=dict)


@dataclass
class _Merged:
    first_id: int
    last_id: int
    bids: dict[str, str] = field(default_factory=dict)
    asks: dict[str, str] = field(default_factory=dict)


class StreamHub:
    """Routes published market events to subscribed sockets, with the depth faults."""

    def __init__(
        self,
        symbols: Callable[[], set[str]],
        depth: Callable[[str, int], dict[str, Any]],
        faults: Callable[[], FaultInjector],
        stats: dict[str, int],
    ) -> None:
        self._symbols = symbols  # lowercase symbol names
        self._depth = depth
        self._faults = faults
        self._stats = stats
        self._subs: dict[str, set[StreamConnection]] = {}
        self.connections: set[StreamConnection] = set()
        self._held: dict[str, dict[str, Any]] = {}  # depth event waiting to be reordered
        self._merged: dict[str, _Merged] = {}  # "<sym>@depth" -> merged 100 ms diffs
        self._next_second_ms = 0
        self._partial_due: dict[str, int] = {}

    # ---- publishing --------------------------------------------------------------------

    def publish(self, stream: str, payload: dict[str, Any]) -> None:
        """Exchange market listener: deliver one event (depth diffs go through the faults)."""
        if payload.get("e") == "depthUpdate":
            if stream.endswith("@depth@100ms"):
                self._merge(stream[: -len("@100ms")], payload)
            self._publish_depth(stream, payload)
        else:
            self._fan_out(stream, payload)

    def _publish_depth(self, stream: str, payload: dict[str, Any]) -> None:
        faults = self._faults()
        if faults.depth_gap():
            return
        held = self._held.pop(stream, None)
        if held is None and faults.depth_reorder():
            self._held[stream] = payload
            return
        self._fan_out(stream, payload)
        if held is not None:
            self._fan_out(stream, held)

    def _merge(self, stream: str, payload: dict[str, Any]) -> None:
        if not self._subs.get(stream):
            self._merged.pop(stream, None)
            return
        merged = self._merged.get(stream)
        if merged is None:
            merged = self._merged[stream] = _Merged(payload["U"], payload["u"])
        merged.last_id = payload["u"]
        merged.bids.update((price, qty) for price, qty in payload["b"])
        merged.asks.update((price, qty) for price, qty in payload["a"])

    def tick(self, now_ms: int) -> None:
        """Publish the derived streams that are due (call often, e.g. after each step)."""
        if now_ms >= self._next_second_ms:
            self._next_second_ms = now_ms - now_ms % 1000 + 1000
            for stream, merged in list(self._merged.items()):
                del self._merged[stream]
                symbol = stream.partition("@")[0].upper()
                event = {
                    "e": "depthUpdate",
                    "E": now_ms,
                    "s": symbol,
                    "U": merged.first_id,
                    "u": merged.last_id,
                    "b": [[p, q] for p, q in merged.bids.items()],
                    "a": [[p, q] for p, q in merged.asks.items()],
                }
                self._publish_depth(stream, event)
        for stream, due in list(self._partial_due.items()):
            if now_ms < due:
                continue
            match = _PARTIAL_RE.fullmatch(stream)
            assert match is not None
            period = 100 if match.group("fast") else 1000
            self._partial_due[stream] = now_ms - now_ms % period + period
            book = self._depth(match.group("symbol").upper(), int(match.group("levels")))
            self._fan_out(stream, book)

    def _fan_out(self, stream: str, payload: dict[str, Any]) -> None:
        subscribers = self._subs.get(stream)
        if not subscribers:
            return
        raw = orjson.dumps(payload)
        combined: bytes | None = None
        for conn in subscribers:
            if conn.combined:
                if combined is None:
                    combined = b'{"stream":"%s","data":%s}' % (stream.encode(), raw)
                conn.outbox.send(combined)
            else:
                conn.outbox.send(raw)
        self._stats["stream_messages"] += len(subscribers)

    def announce_shutdown(self, now_ms: int) -> None:
        """Send {"e": "serverShutdown"} to every stream socket (clients should reconnect)."""
        raw = orjson.dumps({"e": "serverShutdown", "E": now_ms})
        for conn in self.connections:
            conn.outbox.send(raw)

    # ---- subscriptions -----------------------------------------------------------------

    def _subscribe(self, conn: StreamConnection, names: list[str]) -> None:
        for name in names:
            if name in conn.streams:
                continue
            conn.streams[name] = None
            self._subs.setdefault(name, set()).add(conn)
            if _PARTIAL_RE.fullmatch(name):
                self._partial_due.setdefault(name, 0)

    def _unsubscribe(self, conn: StreamConnection, names: list[str]) -> None:
        for name in names:
            if name not in conn.streams:
                continue
            del conn.streams[name]
            subscribers = self._subs.get(name)
            if subscribers is None:
                continue
            subscribers.discard(conn)
            if not subscribers:
                del self._subs[name]
                self._partial_due.pop(name, None)
                self._merged.pop(name, None)
                self._held.pop(name, None)

    def _check_names(self, names: object) -> list[str]:
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise StreamRequestError(2, "Invalid request: params must be a list of stream names")
        symbols = self._symbols()
        for name in names:
            if not is_valid_stream(name, symbols):
                raise StreamRequestError(2, "Invalid request: invalid stream")
        return names

    # ---- sockets -----------------------------------------------------------------------

    async def handle_raw(self, request: web.Request) -> web.StreamResponse:
        """GET /ws and /ws/<name>[/<name>...]: raw payloads."""
        path = request.match_info.get("names", "")
        return await self._serve(request, [n for n in path.split("/") if n], combined=False)

    async def handle_combined(self, request: web.Request) -> web.StreamResponse:
        """GET /stream?streams=a/b/c: payloads wrapped as {"stream", "data"}."""
        raw = request.query.get("streams", "")
        return await self._serve(request, [n for n in raw.split("/") if n], combined=True)

    async def _serve(
        self, request: web.Request, names: list[str], *, combined: bool
    ) -> web.StreamResponse:
        try:
            self._check_names(names)
        except StreamRequestError as exc:
            raise web.HTTPBadRequest(text=exc.msg) from None
        if len(names) > MAX_STREAMS:
            raise web.HTTPBadRequest(text=f"Too many streams (max {MAX_STREAMS})")
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, compress=False, timeout=CLOSE_TIMEOUT_S)
        await ws.prepare(request)
        conn = StreamConnection(Outbox(ws, request, self._faults, self._stats), combined)
        self.connections.add(conn)
        self._stats["stream_connections"] += 1
        self._subscribe(conn, names)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._control(conn, msg.data)
                if conn.outbox.closed:
                    break
        finally:
            self._unsubscribe(conn, list(conn.streams))
            self.connections.discard(conn)
            await conn.outbox.close()
        return ws

    def _control(self, conn: StreamConnection, text: str) -> None:
        request_id: Any = None
        try:
            try:
                request = orjson.loads(text)
            except orjson.JSONDecodeError:
                raise StreamRequestError(
                    3, "Invalid JSON: expected value at line 1 column 1"
                ) from None
            if not isinstance(request, dict):
                raise StreamRequestError(2, "Invalid request: expected a JSON object")
            request_id = request.get("id")
            _check_id(request)
            result = self._run_control(conn, request)
            reply: dict[str, Any] = {"result": result, "id": request_id}
        except StreamRequestError as exc:
            reply = {"error": {"code": exc.code, "msg": exc.msg}, "id": request_id}
        conn.outbox.send(orjson.dumps(reply))

    def _run_control(self, conn: StreamConnection, request: dict[str, Any]) -> Any:
        method = request.get("method")
        if method is None:
            raise StreamRequestError(2, "Invalid request: missing field `method`")
        if method not in _METHODS:
            expected = ", ".join(f"`{m}`" for m in _METHODS)
            raise StreamRequestError(
                2, f"Invalid request: unknown variant `{method}`, expected one of {expected}"
            )
        params = request.get("params", [])
        if method == "SUBSCRIBE":
            names = self._check_names(params)
            if len(set(conn.streams) | set(names)) > MAX_STREAMS:
                raise StreamRequestError(4, "Too many subscriptions")
            self._subscribe(conn, names)
            return None
        if method == "UNSUBSCRIBE":
            self._unsubscribe(conn, self._check_names(params))
            return None
        if method == "LIST_SUBSCRIPTIONS":
            return list(conn.streams)
        if not isinstance(params, list) or not params or not isinstance(params[0], str):
            raise StreamRequestError(2, "Invalid request: property name must be a string")
        if params[0] != "combined":
            raise StreamRequestError(0, "Unknown property")
        if method == "GET_PROPERTY":
            return conn.combined
        if len(params) != 2 or not isinstance(params[1], bool):
            raise StreamRequestError(1, "Invalid value type: expected Boolean")
        conn.combined = params[1]
        return None


def _check_id(request: dict[str, Any]) -> None:
    if "id" not in request:
        raise StreamRequestError(2, "Invalid request: request ID must be an unsigned integer")
    value = request["id"]
    if value is None:
        return
    if isinstance(value, bool):
        raise StreamRequestError(2, "Invalid request: request ID must be an unsigned integer")
    if isinstance(value, int) and 0 <= value < 2**63:
        return
    if isinstance(value, str) and _ID_RE.fullmatch(value):
        return
    raise StreamRequestError(2, "Invalid request: request ID must be an unsigned integer")
