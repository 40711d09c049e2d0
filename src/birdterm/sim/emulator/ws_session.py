"""Per-connection WS API methods: session.* and userDataStream.* (weight 2 each).

Binance allows `session.logon` and `userDataStream.subscribe` only with Ed25519 keys; the
emulator's keys are HMAC, so logon answers -4056 after checking the signature, and a plain
subscribe (which needs a logon) -1002. `userDataStream.subscribe.signature` is the way in.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson

from birdterm.sim.emulator.endpoints import Context, Endpoint, Handler, Params, Security, int_param
from birdterm.sim.emulator.errors import BinanceError
from birdterm.sim.emulator.ws_outbox import Outbox

SESSION_WEIGHT = 2
MAX_SUBSCRIPTIONS = 1000


def _session_weight(_params: Params) -> int:
    return SESSION_WEIGHT


@dataclass(eq=False)
class WsApiConnection:
    """One WS API socket: its outbox, client IP, defaults and user-data subscriptions."""

    outbox: Outbox
    ip: str
    connected_since: int
    return_rate_limits: bool
    subscriptions: dict[int, str] = field(default_factory=dict)  # id -> api key
    next_subscription_id: int = 0


class SessionMethods:
    """The session and user-data-stream methods of one connection, as Endpoints."""

    def __init__(self, conn: WsApiConnection) -> None:
        self.conn = conn

    def endpoints(self) -> dict[str, Endpoint]:
        """Method name -> Endpoint for this connection."""
        methods: dict[str, tuple[Handler, Security]] = {
            "session.status": (self.status, "NONE"),
            "session.logout": (self.status, "NONE"),
            "session.logon": (self.logon, "SIGNED"),
            "session.subscriptions": (self.subscriptions, "NONE"),
            "userDataStream.subscribe": (self.subscribe, "NONE"),
            "userDataStream.subscribe.signature": (self.subscribe_signature, "SIGNED"),
            "userDataStream.unsubscribe": (self.unsubscribe, "NONE"),
        }
        return {
            name: Endpoint("WS", "/ws-api/v3", name, security, _session_weight, handler)
            for name, (handler, security) in methods.items()
        }

    def status(self, ctx: Context, _key: str | None, _params: Params) -> dict[str, Any]:
        """session.status / session.logout: never authorized (no Ed25519 keys here)."""
        return {
            "apiKey": None,
            "authorizedSince": None,
            "connectedSince": self.conn.connected_since,
            "returnRateLimits": self.conn.return_rate_limits,
            "serverTime": ctx.clock(),
            "userDataStream": bool(self.conn.subscriptions),
        }

    def logon(self, _ctx: Context, _key: str | None, _params: Params) -> dict[str, Any]:
        """session.logon: the signature was good, but Binance refuses HMAC keys here."""
        raise BinanceError(-4056, "HMAC_SHA256 API key is not supported.")

    def subscribe(self, _ctx: Context, _key: str | None, _params: Params) -> dict[str, Any]:
        """userDataStream.subscribe: needs a logged-on session, which HMAC keys cannot have."""
        raise BinanceError(-1002, "You are not authorized to execute this request.", 401)

    def subscribe_signature(
        self, _ctx: Context, key: str | None, _params: Params
    ) -> dict[str, Any]:
        """userDataStream.subscribe.signature: a new subscription of the signing key."""
        assert key is not None  # a SIGNED endpoint runs with its verified key
        if len(self.conn.subscriptions) >= MAX_SUBSCRIPTIONS:
            raise BinanceError(-1002, "Too many subscriptions.", 400)
        subscription_id = self.conn.next_subscription_id
        self.conn.next_subscription_id += 1
        self.conn.subscriptions[subscription_id] = key
        return {"subscriptionId": subscription_id}

    def unsubscribe(self, ctx: Context, _key: str | None, params: Params) -> dict[str, Any]:
        """userDataStream.unsubscribe: one subscription (subscriptionId) or all of them."""
        wanted = int_param(params, "subscriptionId")
        if wanted is None:
            removed = list(self.conn.subscriptions)
        elif wanted in self.conn.subscriptions:
            removed = [wanted]
        else:
            raise BinanceError(-1130, "Data sent for parameter 'subscriptionId' is not valid.")
        now = ctx.clock()
        loop = asyncio.get_running_loop()
        for subscription_id in removed:
            del self.conn.subscriptions[subscription_id]
            event = {"e": "eventStreamTerminated", "E": now}
            data = orjson.dumps({"subscriptionId": subscription_id, "event": event})
            # Sent after the answer, as Binance does.
            loop.call_soon(self.conn.outbox.send, data)
        return {}

    def subscriptions(self, _ctx: Context, _key: str | None, _params: Params) -> list[Any]:
        """session.subscriptions: the active subscription ids."""
        return [{"subscriptionId": sid} for sid in self.conn.subscriptions]
